"""Codecs (pure numpy): the only seam between data and model.

A codec's ``encode(keypoints, keypoints_visible)`` turns input-space keypoints into training
targets and ``decode(*outputs)`` turns what the head predicts (heatmaps; SimCC x/y vectors)
back into input-space keypoints.
"""
from mlpose.codecs.msra_heatmap import MSRAHeatmap
from mlpose.codecs.simcc_label import SimCCLabel
from mlpose.codecs.udp_heatmap import UDPHeatmap

__all__ = ["MSRAHeatmap", "SimCCLabel", "UDPHeatmap"]
