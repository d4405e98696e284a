"""SimCC codec (Li et al. 2022): each keypoint as two 1-D classification targets, one per axis.

The x axis of a ``w`` pixel crop is split into ``Wx = round(w * simcc_split_ratio)`` bins (and
y likewise); bin ``i`` is centred on input pixel ``i / simcc_split_ratio``. RTMPose and
SimCC-ResNet predict one logit vector per axis and keypoint; decoding takes the argmax per
axis. Same numbers as MMPose's ``SimCCLabel`` (rounding, 3-sigma validity, DARK refinement),
computed for all instances and keypoints at once.
"""
from __future__ import annotations

import cv2
import numpy as np

from mlpose.codecs.msra_heatmap import check_encode_inputs, check_size
from mlpose.errors import ConfigError
from mlpose.registry import CODECS

SMOOTHING_TYPES = ("gaussian", "standard")


def _check_sigma(sigma) -> np.ndarray:
    try:
        pair = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (2,)).copy()
    except (TypeError, ValueError):
        raise ConfigError(f"SimCCLabel.sigma: expected a number or (sigma_x, sigma_y), got {sigma!r}") from None
    if not (pair > 0).all():
        raise ConfigError(f"SimCCLabel.sigma: expected positive values, got {sigma!r}")
    return pair


def simcc_maximum(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax bin per axis and its score (MMPose ``get_simcc_maximum``).

    Args:
        simcc_x: ``(B, K, Wx)`` x-axis vectors.
        simcc_y: ``(B, K, Wy)`` y-axis vectors.

    Returns:
        locs: ``(B, K, 2)`` float32 ``(x, y)`` in bins, ``-1`` where the score is ``<= 0``.
        scores: ``(B, K)`` the smaller of the two axes' maxima.
    """
    locs = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], axis=-1).astype(np.float32)
    scores = np.minimum(simcc_x.max(-1), simcc_y.max(-1))
    locs[scores <= 0] = -1
    return locs, scores


def dark_kernel_size(sigma: float) -> int:
    """MMPose's modulation blur size for a SimCC sigma: ``(20 sigma - 7) // 3``, made odd downwards."""
    size = int((sigma * 20 - 7) // 3)
    return size - int(size % 2 == 0)


def blur1d(simcc: np.ndarray, kernel_size: int) -> np.ndarray:
    """Gaussian-blur each vector (zero padding) and rescale it to keep its original maximum.

    MMPose ``gaussian_blur1d`` runs ``cv2.GaussianBlur(ksize=(kernel_size, 1), sigma=0)`` on each
    zero-padded vector; here one call blurs every vector as a row of one image (a height-1
    kernel keeps the rows apart), giving the same numbers.

    Args:
        simcc: ``(B, K, W)`` vectors (not modified).
        kernel_size: odd kernel size in bins.

    Returns:
        ``(B, K, W)`` float32.
    """
    border = (kernel_size - 1) // 2
    rows = simcc.reshape(-1, simcc.shape[-1]).astype(np.float32)
    padded = np.pad(rows, ((0, 0), (border, border)))
    blurred = cv2.GaussianBlur(padded, (kernel_size, 1), 0)[:, border:-border].reshape(simcc.shape)
    orig_max = simcc.max(-1, keepdims=True)
    new_max = blurred.max(-1, keepdims=True)
    # an all-zero vector stays zero instead of becoming 0/0
    ratio = np.divide(orig_max, new_max, out=np.zeros_like(new_max), where=new_max != 0)
    return blurred * ratio


def refine_simcc_dark(locs: np.ndarray, simcc: np.ndarray, kernel_size: int) -> np.ndarray:
    """One Newton step of a 2nd-order Taylor fit on the log of the blurred vector (MMPose
    ``refine_simcc_dark``): blur, clip to ``[1e-3, 50]``, log, edge-pad by 2, then
    ``loc -= f'/f''`` with 2-bin central differences at ``int(loc + 2.5)`` of the padded vector.

    Args:
        locs: ``(B, K)`` argmax bins of one axis (``-1`` where nothing was found).
        simcc: ``(B, K, W)`` that axis' vectors.
        kernel_size: odd blur size (:func:`dark_kernel_size`).

    Returns:
        ``(B, K)`` float32 refined bins.
    """
    logs = np.log(np.clip(blur1d(simcc, kernel_size), 1e-3, 50.0))
    logs = np.pad(logs, ((0, 0), (0, 0), (2, 2)), mode="edge")
    px = (locs + 2.5).astype(np.int64)[..., None]

    def at(offset: int) -> np.ndarray:
        # index -1 (from a -1 location) wraps to the last bin, as MMPose's take_along_axis does
        return np.take_along_axis(logs, px + offset, axis=-1)[..., 0]

    dx = 0.5 * (at(1) - at(-1))
    dxx = 1e-9 + 0.25 * (at(2) - 2 * at(0) + at(-2))
    return (locs - dx / dxx).astype(np.float32)


@CODECS.register()
class SimCCLabel:
    """Keypoints <-> per-axis SimCC label vectors.

    Args:
        input_size: ``(w, h)`` of the network input crop in pixels.
        smoothing_type: ``'gaussian'`` (a Gaussian around the keypoint's bin) or ``'standard'``
            (one-hot, optionally label-smoothed).
        sigma: Gaussian standard deviation in bins, one number or ``(sigma_x, sigma_y)``
            (RTMPose 256x192: ``(4.9, 5.66)``).
        simcc_split_ratio: bins per input pixel.
        label_smooth_weight: ``'standard'`` only: probability mass spread over the other bins.
        normalize: divide Gaussian labels by ``sigma * sqrt(2 pi)`` (unit area).
        use_dark: refine decoded bins with DARK (blur, log, Taylor step).
        decode_visibility: must be False (RTMW's visibility decoding is not supported).
        decode_beta: unused unless ``decode_visibility``.
    """

    #: crops span 0..w (pixel edges), not pixel centres 0..w-1
    corner_aligned = False
    target_keys = ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights")
    instance_keys = ("keypoint_x_labels", "keypoint_y_labels", "keypoint_weights")

    def __init__(
        self,
        input_size: tuple[int, int],
        smoothing_type: str = "gaussian",
        sigma: float | tuple[float, float] = 6.0,
        simcc_split_ratio: float = 2.0,
        label_smooth_weight: float = 0.0,
        normalize: bool = True,
        use_dark: bool = False,
        decode_visibility: bool = False,
        decode_beta: float = 150.0,
    ):
        self.input_size = check_size(input_size, "input_size", "SimCCLabel")
        if smoothing_type not in SMOOTHING_TYPES:
            raise ConfigError(f"SimCCLabel.smoothing_type={smoothing_type!r}: use one of {', '.join(SMOOTHING_TYPES)}")
        self.smoothing_type = smoothing_type
        self.sigma = _check_sigma(sigma)
        if not float(simcc_split_ratio) > 0:
            raise ConfigError(f"SimCCLabel.simcc_split_ratio: expected a positive number, got {simcc_split_ratio!r}")
        self.simcc_split_ratio = float(simcc_split_ratio)
        if not 0.0 <= float(label_smooth_weight) <= 1.0:
            raise ConfigError(f"SimCCLabel.label_smooth_weight={label_smooth_weight!r}: expected a value in [0, 1]")
        if smoothing_type == "gaussian" and label_smooth_weight > 0:
            raise ConfigError("SimCCLabel.label_smooth_weight only applies to smoothing_type='standard'")
        self.label_smooth_weight = float(label_smooth_weight)
        if decode_visibility:
            raise ConfigError("SimCCLabel.decode_visibility=True (RTMW) is not supported; set it to False")
        self.decode_beta = float(decode_beta)
        self.normalize = bool(normalize)
        self.use_dark = bool(use_dark)
        self.simcc_size = tuple(int(np.around(s * self.simcc_split_ratio)) for s in self.input_size)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Label vectors of each instance's keypoints.

        A keypoint falls into bin ``round(p * simcc_split_ratio)`` (numpy's half-to-even
        rounding, as MMPose). It gets all-zero labels when invisible (``visible < 0.5``, its
        weight is left as given) or, being visible, when its 3-sigma window ('gaussian') or its
        bin ('standard') lies outside the axis (weight 0).

        Args:
            keypoints: ``(N, K, 2)`` keypoints ``(x, y)`` in input-crop pixels.
            keypoints_visible: ``(N, K)`` visibility in ``[0, 1]``; ``None`` means all visible.

        Returns:
            dict of float32 arrays: ``keypoint_x_labels`` ``(N, K, Wx)``, ``keypoint_y_labels``
            ``(N, K, Wy)`` and ``keypoint_weights`` ``(N, K)``.
        """
        kp, vis = check_encode_inputs(keypoints, keypoints_visible)
        bins = np.around(kp * self.simcc_split_ratio).astype(np.int64)  # (N, K, 2)
        size = np.array(self.simcc_size)
        visible = vis >= 0.5
        if self.smoothing_type == "gaussian":
            radius = self.sigma * 3
            inside = ((bins - radius < size) & (bins + radius + 1 >= 0)).all(-1)
        else:
            inside = ((bins >= 0) & (bins < size)).all(-1)
        weights = np.where(visible & ~inside, np.float32(0.0), vis).astype(np.float32)
        valid = (visible & inside)[..., None]
        labels = [self._axis_labels(bins[..., axis], self.simcc_size[axis], self.sigma[axis]) * valid
                  for axis in (0, 1)]
        return dict(keypoint_x_labels=labels[0].astype(np.float32),
                    keypoint_y_labels=labels[1].astype(np.float32), keypoint_weights=weights)

    def _axis_labels(self, bins: np.ndarray, length: int, sigma: float) -> np.ndarray:
        """``(N, K, length)`` labels of one axis for ``(N, K)`` integer bins."""
        grid = np.arange(length, dtype=np.float32)
        if self.smoothing_type == "gaussian":
            labels = np.exp(-((grid - bins[..., None]) ** 2) / (2 * sigma**2))
            return labels / (sigma * np.sqrt(2 * np.pi)) if self.normalize else labels
        spread = self.label_smooth_weight / (length - 1) if self.label_smooth_weight > 0 else 0.0
        return np.where(grid == bins[..., None], 1.0 - self.label_smooth_weight, spread)

    def decode(self, simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints and scores from predicted (or encoded) vectors.

        Args:
            simcc_x: ``(B, K, Wx)`` or ``(K, Wx)`` x-axis vectors (logits or labels).
            simcc_y: ``(B, K, Wy)`` or ``(K, Wy)`` y-axis vectors.

        Returns:
            keypoints: ``(B, K, 2)`` float32 ``(x, y)`` in input-crop pixels (argmax bin, DARK
                refined with ``use_dark``, divided by the split ratio); ``-1 / ratio`` where
                the score is ``<= 0``.
            scores: ``(B, K)`` float32, the smaller of the two axes' maxima.
        """
        sx, sy = (np.asarray(v, dtype=np.float32) for v in (simcc_x, simcc_y))
        if sx.ndim == 2 and sy.ndim == 2:
            sx, sy = sx[None], sy[None]
        if sx.ndim != 3 or sy.ndim != 3 or sx.shape[:2] != sy.shape[:2]:
            raise ValueError(f"simcc_x/simcc_y must be (B, K, Wx)/(B, K, Wy), got {sx.shape} and {sy.shape}")
        locs, scores = simcc_maximum(sx, sy)
        if self.use_dark:
            for axis, vectors in enumerate((sx, sy)):
                locs[..., axis] = refine_simcc_dark(locs[..., axis], vectors, dark_kernel_size(self.sigma[axis]))
        return locs / np.float32(self.simcc_split_ratio), scores.astype(np.float32)

    def __repr__(self) -> str:
        return (f"SimCCLabel(input_size={self.input_size}, sigma={tuple(self.sigma)}, "
                f"simcc_split_ratio={self.simcc_split_ratio}, normalize={self.normalize}, "
                f"use_dark={self.use_dark})")
