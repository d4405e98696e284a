"""Top-down pose estimator: preprocessor -> backbone -> (neck) -> head, for every codec.

The estimator names no target or output kind: the head computes its loss from the codec's
targets, flips and decodes its own outputs (see the model contract in ``docs/architecture.md``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.models.heads.base import Outputs, as_tuple
from mlpose.models.init import check_init_cfg, load_pretrained
from mlpose.models.preprocessor import PoseDataPreprocessor
from mlpose.registry import MODELS, build

#: the test options of the estimator itself; a head adds its own (``head.test_cfg_defaults``)
DEFAULT_TEST_CFG = dict(flip_test=True, output_heatmaps=False)
META_KEYS = ("id", "img_id", "category_id", "bbox_score", "area", "center", "scale", "dataset_name")
GT_KEYS = (("keypoints", "gt_keypoints"), ("keypoints_visible", "gt_visible"), ("bbox", "bbox"), ("head_size", "head_size"))


@MODELS.register()
class TopdownPoseEstimator(nn.Module):
    """Predicts the keypoints of each person crop through its head and the head's codec.

    Args:
        backbone: backbone config (``MODELS``), e.g. ``dict(type='ResNet', depth=50)``.
        head: head config (``MODELS``), e.g. ``dict(type='HeatmapHead', ...)``.
        data_preprocessor: ``dict(type='PoseDataPreprocessor', ...)``; ``None`` means ImageNet
            mean/std with BGR -> RGB.
        neck: optional neck config (``MODELS``).
        train_cfg: training options of the head's loss, its ``train_cfg_defaults`` keys
            (``HeatmapHead``: ``compute_acc=True``).
        test_cfg: inference options; keys left out take ``flip_test=True``,
            ``output_heatmaps=False`` (the head's outputs in each prediction) and the head's
            ``test_cfg_defaults`` (``HeatmapHead``: ``flip_mode='heatmap'``, ``shift_heatmap=True``).
        init_cfg: optional ``dict(type='Pretrained', checkpoint=PATH, prefix=None)`` for the
            whole model, applied by :meth:`init_weights` after the submodules' own.
        metainfo: dataset metainfo; its ``flip_indices`` are used when a meta lacks them.
    """

    def __init__(
        self,
        backbone: dict,
        head: dict,
        data_preprocessor: dict | None = None,
        neck: dict | None = None,
        train_cfg: dict | None = None,
        test_cfg: dict | None = None,
        init_cfg: dict | None = None,
        metainfo: dict | None = None,
    ):
        super().__init__()
        self.init_cfg = check_init_cfg(init_cfg, "TopdownPoseEstimator")
        self.metainfo = metainfo or {}
        if data_preprocessor is None:
            self.data_preprocessor = PoseDataPreprocessor()
        else:
            self.data_preprocessor = build(data_preprocessor, MODELS, "model.data_preprocessor")
        self.backbone = build(backbone, MODELS, "model.backbone")
        self.neck = build(neck, MODELS, "model.neck") if neck else None
        self.head = build(head, MODELS, "model.head")
        unknown = set(train_cfg or {}) - set(self.head.train_cfg_defaults)
        if unknown:
            raise ConfigError(f"model.train_cfg: unknown keys {sorted(unknown)} for {type(self.head).__name__}; "
                              f"accepted: {', '.join(self.head.train_cfg_defaults) or 'none'}")
        self.head.train_cfg = {**self.head.train_cfg_defaults, **(train_cfg or {})}
        defaults = {**DEFAULT_TEST_CFG, **self.head.test_cfg_defaults}
        unknown = set(test_cfg or {}) - set(defaults)
        if unknown:
            raise ConfigError(f"model.test_cfg: unknown keys {sorted(unknown)} for {type(self.head).__name__}; "
                              f"accepted: {', '.join(defaults)}")
        self.test_cfg = {**defaults, **(test_cfg or {})}
        self.head.check_test_cfg(self.test_cfg)
        self._check_feature_size()

    def _check_feature_size(self) -> None:
        """Fail at build time when the backbone's last feature map does not fit the head's
        codec (heads that can tell define ``check_feature_size``)."""
        codec = self.head.decoder
        check = getattr(self.head, "check_feature_size", None)
        if codec is None or check is None or self.neck is not None or not hasattr(self.backbone, "output_size"):
            return
        check(self.backbone.output_size(tuple(codec.input_size)))

    def init_weights(self) -> None:
        """Load the configured pretrained weights (backbone/neck/head, then the whole model).

        Call once when starting a fresh run, not when resuming from a checkpoint.
        """
        for part in (self.backbone, self.neck, self.head):
            if part is not None and hasattr(part, "init_weights"):
                part.init_weights()
        if self.init_cfg is not None:
            load_pretrained(self, self.init_cfg)

    def extract_feat(self, inputs: Tensor) -> tuple[Tensor, ...]:
        """Backbone (+ neck) features of an already normalised float batch."""
        feats = self.backbone(inputs)
        return self.neck(feats) if self.neck is not None else feats

    def forward(self, inputs: Tensor) -> Outputs:
        """The head's outputs (``head.output_names``; heatmaps ``(B, K, h, w)`` for a heatmap
        head) for a uint8 BGR batch ``(B, 3, H, W)``."""
        return self.head(self.extract_feat(self.data_preprocessor(inputs)))

    def loss(self, inputs: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training loss of a batch.

        Args:
            inputs: uint8 ``(B, 3, H, W)`` images.
            targets: the codec's batched training targets (``batch['targets']``).

        Returns:
            ``dict(loss, loss_kpt, acc_pose, ...)``, 0-dim tensors on the device; ``loss`` (the
            sum of every ``loss_*`` term) is what to backpropagate.
        """
        return self.loss_from_outputs(self.forward(inputs), targets)

    def loss_from_outputs(self, outputs: Outputs, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """:meth:`loss` from already computed outputs.

        The trainer calls the (DDP-wrapped) model's ``forward`` itself, so gradient sync hooks
        run, and then this method.
        """
        terms = self.head.loss(outputs, targets)
        total = sum(v for k, v in terms.items() if k.startswith("loss"))
        return dict(loss=total, **terms)

    @torch.no_grad()
    def predict_outputs(self, inputs: Tensor, flip_indices: Sequence[int] | None = None) -> Outputs:
        """Test-time outputs, averaged with the flipped crop's (mapped back by the head) when
        ``flip_test``.

        The two views run one after the other, as MMPose does: the activations of one batch of
        B are alive at a time, not those of a ``2B`` batch (res50 256x192, B=32, CPU: the
        ``mlpose test`` peak halves; the throughput is the same). Call ``eval()`` first so
        BatchNorm uses running statistics.
        """
        plain = self.forward(inputs)
        if not self.test_cfg["flip_test"]:
            return plain
        flipped = self.head.flip_outputs(self.forward(inputs.flip(-1)), flip_indices, self.test_cfg)
        if isinstance(plain, Tensor):
            return (plain + flipped) * 0.5
        return tuple((a + b) * 0.5 for a, b in zip(plain, flipped))

    def outputs_to_predictions(self, outputs: Outputs, metas: Sequence[dict]) -> list[dict]:
        """Decode outputs with the head's codec and map keypoints to image pixels.

        A keypoint at input-crop pixel ``p`` maps to ``p / input_size * scale + center -
        scale / 2`` using each meta's ``input_size`` (w, h), ``center`` and ``scale``; with a
        corner-aligned (UDP) codec, whose crops put the box edges on the first and last pixel
        centres, ``input_size - 1`` takes the place of ``input_size``.

        Args:
            outputs: the head's outputs for B crops.
            metas: B meta dicts (see the data contract).

        Returns:
            B dicts with ``keypoints`` float32 ``(K, 2)`` image pixels, ``keypoint_scores``
            float32 ``(K,)`` and the meta's identifying fields (and, with
            ``test_cfg.output_heatmaps``, each head output under its name).
        """
        batch = as_tuple(outputs)[0].shape[0]
        if len(metas) != batch:
            raise ValueError(f"{len(metas)} metas for a batch of {batch}")
        keypoints, scores = self.head.decode(outputs)
        codec_size = getattr(self.head.decoder, "input_size", None)
        corner = float(getattr(self.head.decoder, "corner_aligned", False))
        raw = {}
        if self.test_cfg["output_heatmaps"]:
            raw = {name: t.detach().float().cpu().numpy() for name, t in zip(self.head.output_names, as_tuple(outputs))}
        preds = []
        for i, meta in enumerate(metas):
            input_size = np.asarray(meta.get("input_size", codec_size), dtype=np.float32)
            center = np.asarray(meta["center"], dtype=np.float32)
            scale = np.asarray(meta["scale"], dtype=np.float32)
            kpts = keypoints[i] / (input_size - corner) * scale + center - 0.5 * scale
            pred = dict(
                keypoints=kpts.astype(np.float32),
                keypoint_scores=np.asarray(scores[i], dtype=np.float32),
            )
            pred.update({k: meta.get(k) for k in META_KEYS})
            # ground truth travels with the prediction for metrics that need no annotation file
            pred.update({dst: meta[src] for src, dst in GT_KEYS if src in meta})
            pred.update({name: value[i] for name, value in raw.items()})
            preds.append(pred)
        return preds

    def predict(self, inputs: Tensor, metas: Sequence[dict]) -> list[dict]:
        """Image-space predictions of a uint8 batch; see :meth:`outputs_to_predictions`."""
        flip_indices = None
        if self.test_cfg["flip_test"]:
            flip_indices = metas[0].get("flip_indices", self.metainfo.get("flip_indices"))
            if flip_indices is None:
                raise ConfigError(
                    "flip test needs flip_indices in the sample meta or the dataset metainfo; "
                    "set model.test_cfg.flip_test=False or give the dataset flip pairs"
                )
        return self.outputs_to_predictions(self.predict_outputs(inputs, flip_indices), metas)
