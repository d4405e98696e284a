"""mlpose: top-down heatmap pose estimation experiments tracked in MLflow."""
__version__ = "0.1.0"
