"""Codecs (pure numpy): the only seam between data and model.

A codec's ``encode(keypoints, keypoints_visible)`` turns input-crop keypoints into the training
targets it names in ``target_keys`` (``instance_keys``: those with a leading instance axis), and
``decode(*outputs)`` turns the head's outputs (numpy, in the head's ``output_names`` order) back
into input-crop keypoints and scores. ``corner_aligned`` says whether crops put the box edges on
pixel centres (UDP). See "Model contract" in docs/architecture.md.
"""
from mlpose.codecs.msra_heatmap import MSRAHeatmap
from mlpose.codecs.udp_heatmap import UDPHeatmap

__all__ = ["MSRAHeatmap", "UDPHeatmap"]
