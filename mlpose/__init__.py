"""mlpose: top-down pose estimation experiments (heatmap and SimCC models, MMPose's zoo) tracked in MLflow."""
__version__ = "0.1.0"
