"""Heatmap codecs (pure numpy): the only seam between data and model.

A codec's ``encode(keypoints, keypoints_visible)`` turns input-space keypoints into training
targets and ``decode(heatmaps)`` turns predicted heatmaps back into input-space keypoints.
"""
from mlpose.codecs.msra_heatmap import MSRAHeatmap
from mlpose.codecs.udp_heatmap import UDPHeatmap

__all__ = ["MSRAHeatmap", "UDPHeatmap"]
