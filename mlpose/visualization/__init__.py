"""Pictures: drawing poses (:mod:`~mlpose.visualization.draw`), the ``visualizer`` section's
backends for scalars and images (:mod:`~mlpose.visualization.visualizer`) and ``--show-dir``
pictures of evaluated samples (:mod:`~mlpose.visualization.show`)."""
from mlpose.visualization.draw import draw_pose, show_image
from mlpose.visualization.show import PredictionShow, check_display
from mlpose.visualization.visualizer import Visualizer, build_visualizer

__all__ = ["PredictionShow", "Visualizer", "build_visualizer", "check_display", "draw_pose", "show_image"]
