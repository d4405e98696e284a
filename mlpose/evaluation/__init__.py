"""Evaluation: COCO OKS AP/AR, PCK/AUC/EPE, evaluators (one or several datasets), names.

Typical use (what the engine does with ``val_evaluator``)::

    evaluator = build_evaluator(cfg.val_evaluator, dataset.metainfo)
    for batch in loader:
        evaluator.process(model.predict(batch['inputs'], batch['meta']))
    metrics = evaluator.compute()          # {'coco/AP': 0.71, 'coco/AP (M)': ...}
    mlflow.log_metrics({mlflow_key(k): v for k, v in metrics.items()})
"""
from mlpose.evaluation.coco_metric import CocoMetric
from mlpose.evaluation.evaluator import (BaseMetric, Evaluator, MultiDatasetEvaluator,
                                         build_evaluator)
from mlpose.evaluation.names import is_valid_mlflow_key, mlflow_key, resolve_metric_name
from mlpose.evaluation.nms import oks_matrix, oks_nms, soft_oks_nms
from mlpose.evaluation.pck import AUC, EPE, PCKAccuracy

__all__ = [
    "AUC", "EPE", "BaseMetric", "CocoMetric", "Evaluator", "MultiDatasetEvaluator",
    "PCKAccuracy", "build_evaluator", "is_valid_mlflow_key", "mlflow_key", "oks_matrix",
    "oks_nms", "resolve_metric_name", "soft_oks_nms",
]
