"""The model zoo as users see it: ``mlpose zoo`` lists the recipes of ``experiments/`` (backbone,
head, codec, input size, parameters, GFLOPs, MMPose's published COCO AP where a recipe mirrors one
of its configs); ``mlpose zoo check CONFIG...`` tells for any config files whether each loads,
builds, runs forward and trains one iteration. Both are registry-driven: a new family's components
and recipes show up without edits here.
"""
from __future__ import annotations

from .check import CheckResult, check_config, check_configs, expand_configs, run_check
from .measure import Measure, measure_config, measure_model
from .published import PUBLISHED_AP
from .recipes import Recipe, find_recipes, zoo_table
from .train_once import on_generated_data, train_once

__all__ = ["CheckResult", "check_config", "check_configs", "expand_configs", "run_check", "Measure",
           "measure_config", "measure_model", "PUBLISHED_AP", "Recipe", "find_recipes", "zoo_table",
           "on_generated_data", "train_once"]
