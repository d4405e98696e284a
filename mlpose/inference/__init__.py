"""Using a trained model: pose prediction on whole images (:mod:`~mlpose.inference.predictor`),
reading images, folders, videos and detections (:mod:`~mlpose.inference.sources`), results and
pictures (:mod:`~mlpose.inference.outputs`), the MLflow pyfunc pose model
(:mod:`~mlpose.inference.pyfunc`, imported on use: it loads MLflow) and ONNX/TorchScript export
(:mod:`~mlpose.inference.export`).

No detector is bundled: person boxes come from a COCO-results detections file or are the whole
image.
"""
from mlpose.inference.predictor import ImageTask, Person, PosePredictor, check_boxes

__all__ = ["ImageTask", "Person", "PosePredictor", "check_boxes"]
