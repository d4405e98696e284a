"""Necks: backbone features -> the features a head takes."""
from mlpose.models.necks.feature_map_processor import FeatureMapProcessor

__all__ = ["FeatureMapProcessor"]
