"""Heads: backbone features -> heatmaps, plus their loss and decoding."""
from mlpose.models.heads.heatmap_head import HeatmapHead, flip_heatmaps

__all__ = ["HeatmapHead", "flip_heatmaps"]
