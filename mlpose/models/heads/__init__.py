"""Heads: backbone features -> heatmaps or SimCC vectors, plus their loss and decoding."""
from mlpose.models.heads.heatmap_head import HeatmapHead, flip_heatmaps
from mlpose.models.heads.rtmcc_head import RTMCCHead
from mlpose.models.heads.simcc_head import SimCCHead, flip_vectors

__all__ = ["HeatmapHead", "RTMCCHead", "SimCCHead", "flip_heatmaps", "flip_vectors"]
