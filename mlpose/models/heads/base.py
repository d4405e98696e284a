"""The head side of the model contract, shared by every codec family.

A head turns backbone (or neck) features into the outputs its codec decodes, computes its own
training loss from the codec's targets, maps the outputs of a horizontally flipped crop back
to the original frame for the flip test, and decodes outputs into keypoints through its codec.
The estimator, the training loop, export and the predictor only call these methods, so a new
codec family is a codec, a head and a loss: new files and registry entries (see "Model
contract" in docs/architecture.md).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from torch import Tensor, nn

from mlpose.errors import ConfigError
from mlpose.registry import CODECS, build

Outputs = Tensor | tuple[Tensor, ...]


def as_tuple(outputs: Outputs) -> tuple[Tensor, ...]:
    """A head's outputs as a tuple (one tensor -> a 1-tuple)."""
    return (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)


class PoseHead(nn.Module):
    """Base of the heads: the decoder, ``decode`` and the test-time option check.

    Subclasses set :attr:`output_names` and :attr:`test_cfg_defaults` and implement
    ``forward(feats) -> outputs``, :meth:`loss` and :meth:`flip_outputs`.

    Attributes:
        output_names: names of the forward outputs, in order (``('heatmaps',)``,
            ``('simcc_x', 'simcc_y')``): ONNX output names, ``test_cfg.output_heatmaps`` keys.
        test_cfg_defaults: the ``model.test_cfg`` keys this head reads (besides the
            estimator's ``flip_test`` and ``output_heatmaps``), with their defaults.
        train_cfg_defaults: the ``model.train_cfg`` keys its :meth:`loss` reads, with their
            defaults (MMPose passes ``model.train_cfg`` to the head's loss).
        train_cfg: those options as the estimator set them (the defaults until then).
        decoder: the codec, or None when the config gives no ``decoder``.
    """

    output_names: tuple[str, ...] = ()
    test_cfg_defaults: dict = {}
    train_cfg_defaults: dict = {}

    def __init__(self, decoder: dict | None = None):
        super().__init__()
        self.train_cfg = dict(self.train_cfg_defaults)
        self.decoder = build(decoder, CODECS, "model.head.decoder") if decoder else None

    def check_test_cfg(self, test_cfg: dict) -> None:
        """Raise a ConfigError for a ``model.test_cfg`` value this head cannot apply."""

    def loss(self, outputs: Outputs, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        """``loss_*`` terms and ``acc_pose``, 0-dim tensors on the device, from the outputs of a
        batch and the codec's batched targets; no host sync."""
        raise NotImplementedError

    def flip_outputs(self, outputs: Outputs, flip_indices: Sequence[int] | None, test_cfg: dict) -> Outputs:
        """The outputs of horizontally flipped crops mapped back to the original frame."""
        raise NotImplementedError

    def decode(self, outputs: Outputs) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in model-input pixels ``(B, K, 2)`` and scores ``(B, K)`` via the codec."""
        if self.decoder is None:
            raise ConfigError("model.head.decoder is not set; prediction needs a codec config")
        return self.decoder.decode(*(t.detach().float().cpu().numpy() for t in as_tuple(outputs)))
