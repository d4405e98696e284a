"""Top-down pose estimator: preprocessor -> backbone -> (neck) -> heatmap head.

See the model contract in ``docs/architecture.md``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.models.heads.heatmap_head import flip_heatmaps
from mlpose.models.init import check_init_cfg, load_pretrained
from mlpose.models.preprocessor import PoseDataPreprocessor
from mlpose.registry import MODELS, build

DEFAULT_TEST_CFG = dict(
    flip_test=True, flip_mode="heatmap", shift_heatmap=True, output_heatmaps=False
)
META_KEYS = ("id", "img_id", "category_id", "bbox_score", "area", "center", "scale", "dataset_name")
GT_KEYS = (("keypoints", "gt_keypoints"), ("keypoints_visible", "gt_visible"), ("bbox", "bbox"), ("head_size", "head_size"))


@MODELS.register()
class TopdownPoseEstimator(nn.Module):
    """Predicts K keypoint heatmaps for each person crop.

    Args:
        backbone: backbone config (``MODELS``), e.g. ``dict(type='ResNet', depth=50)``.
        head: head config (``MODELS``), e.g. ``dict(type='HeatmapHead', ...)``.
        data_preprocessor: ``dict(type='PoseDataPreprocessor', ...)``; ``None`` means ImageNet
            mean/std with BGR -> RGB.
        neck: optional neck config (``MODELS``).
        train_cfg: reserved; must be empty or ``None``.
        test_cfg: inference options; keys left out take ``flip_test=True``,
            ``flip_mode='heatmap'``, ``shift_heatmap=True``, ``output_heatmaps=False``.
        init_cfg: optional ``dict(type='Pretrained', checkpoint=PATH_OR_URL, prefix=None)`` for
            the whole model (see :mod:`mlpose.models.init`), applied by :meth:`init_weights` after
            the submodules' own.
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
        if train_cfg:
            raise ConfigError(f"model.train_cfg={train_cfg!r}: no model-level train options exist")
        unknown = set(test_cfg or {}) - set(DEFAULT_TEST_CFG)
        if unknown:
            raise ConfigError(
                f"model.test_cfg: unknown keys {sorted(unknown)}; "
                f"accepted: {', '.join(DEFAULT_TEST_CFG)}"
            )
        self.test_cfg = {**DEFAULT_TEST_CFG, **(test_cfg or {})}
        if self.test_cfg["flip_mode"] != "heatmap":
            mode = self.test_cfg["flip_mode"]
            raise ConfigError(f"model.test_cfg.flip_mode={mode!r} unsupported; use 'heatmap'")
        self.init_cfg = check_init_cfg(init_cfg, "TopdownPoseEstimator")
        self.metainfo = metainfo or {}
        if data_preprocessor is None:
            self.data_preprocessor = PoseDataPreprocessor()
        else:
            self.data_preprocessor = build(data_preprocessor, MODELS, "model.data_preprocessor")
        self.backbone = build(backbone, MODELS, "model.backbone")
        self.neck = build(neck, MODELS, "model.neck") if neck else None
        self.head = build(head, MODELS, "model.head")
        self._check_heatmap_size()

    def _check_heatmap_size(self) -> None:
        """Fail at build time when the network's output does not match the codec's heatmaps."""
        codec = getattr(self.head, "decoder", None)
        sized = all(hasattr(p, "output_size") for p in (self.backbone, self.head))
        if codec is None or self.neck is not None or not sized:
            return
        input_size = tuple(codec.input_size)
        got = self.head.output_size(self.backbone.output_size(input_size))
        if got != tuple(codec.heatmap_size):
            raise ConfigError(
                f"model: the network turns a {input_size} (w, h) input into {got} heatmaps but "
                f"model.head.decoder.heatmap_size is {tuple(codec.heatmap_size)}; change "
                "model.head.deconv_out_channels/deconv_kernel_sizes (each deconv doubles) "
                "or the codec"
            )

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

    def forward(self, inputs: Tensor) -> Tensor:
        """Heatmaps ``(B, K, h, w)`` of a uint8 BGR batch ``(B, 3, H, W)``."""
        return self.head(self.extract_feat(self.data_preprocessor(inputs)))

    def loss(self, inputs: Tensor, heatmaps: Tensor, keypoint_weights: Tensor) -> dict[str, Tensor]:
        """Training loss of a batch.

        Args:
            inputs: uint8 ``(B, 3, H, W)`` images.
            heatmaps: float target heatmaps ``(B, K, h, w)``.
            keypoint_weights: float ``(B, K)`` target weights.

        Returns:
            ``dict(loss, loss_kpt, acc_pose)``, 0-dim tensors on the device; ``loss`` (the sum of
            every ``loss_*`` term) is what to backpropagate.
        """
        return self.loss_from_heatmaps(self.forward(inputs), heatmaps, keypoint_weights)

    def loss_from_heatmaps(
        self, pred: Tensor, heatmaps: Tensor, keypoint_weights: Tensor
    ) -> dict[str, Tensor]:
        """:meth:`loss` from already predicted heatmaps ``(B, K, h, w)``.

        The trainer calls the (DDP-wrapped) model's ``forward`` itself, so gradient sync hooks
        run, and then this method.
        """
        terms = self.head.loss(
            pred, heatmaps.to(pred.device, non_blocking=True),
            keypoint_weights.to(pred.device, non_blocking=True),
        )
        total = sum(v for k, v in terms.items() if k.startswith("loss"))
        return dict(loss=total, **terms)

    @torch.no_grad()
    def predict_heatmaps(self, inputs: Tensor, flip_indices: Sequence[int] | None = None) -> Tensor:
        """Test-time heatmaps ``(B, K, h, w)``, averaged with the flipped image's when flip_test.

        The two views run one after the other, as MMPose does: the activations of one batch of
        B are alive at a time, not those of a ``2B`` batch (res50 256x192, B=32, CPU: the
        ``mlpose test`` peak halves; the throughput is the same). Call ``eval()`` first so
        BatchNorm uses running statistics.
        """
        cfg = self.test_cfg
        plain = self.forward(inputs)
        if not cfg["flip_test"]:
            return plain
        flipped = flip_heatmaps(self.forward(inputs.flip(-1)), flip_indices, cfg["flip_mode"], cfg["shift_heatmap"])
        return (plain + flipped) * 0.5

    def heatmaps_to_predictions(self, heatmaps: Tensor, metas: Sequence[dict]) -> list[dict]:
        """Decode heatmaps with the head's codec and map keypoints to image pixels.

        A keypoint at input-crop pixel ``p`` maps to ``p / input_size * scale + center -
        scale / 2`` using each meta's ``input_size`` (w, h), ``center`` and ``scale``; with a
        corner-aligned (UDP) codec, whose crops put the box edges on the first and last pixel
        centres, ``input_size - 1`` takes the place of ``input_size``.

        Args:
            heatmaps: ``(B, K, h, w)``.
            metas: B meta dicts (see the data contract).

        Returns:
            B dicts with ``keypoints`` float32 ``(K, 2)`` image pixels, ``keypoint_scores``
            float32 ``(K,)`` (heatmap maxima) and the meta's identifying fields.
        """
        if len(metas) != heatmaps.shape[0]:
            raise ValueError(f"{len(metas)} metas for a batch of {heatmaps.shape[0]}")
        keypoints, scores = self.head.decode(heatmaps)
        codec_size = getattr(self.head.decoder, "input_size", None)
        corner = float(getattr(self.head.decoder, "corner_aligned", False))
        maps = heatmaps.detach().float().cpu().numpy() if self.test_cfg["output_heatmaps"] else None
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
            if maps is not None:
                pred["heatmaps"] = maps[i]
            preds.append(pred)
        return preds

    def predict(self, inputs: Tensor, metas: Sequence[dict]) -> list[dict]:
        """Image-space predictions of a uint8 batch; see :meth:`heatmaps_to_predictions`."""
        flip_indices = None
        if self.test_cfg["flip_test"]:
            flip_indices = metas[0].get("flip_indices", self.metainfo.get("flip_indices"))
            if flip_indices is None:
                raise ConfigError(
                    "flip test needs flip_indices in the sample meta or the dataset metainfo; "
                    "set model.test_cfg.flip_test=False or give the dataset flip pairs"
                )
        return self.heatmaps_to_predictions(self.predict_heatmaps(inputs, flip_indices), metas)
