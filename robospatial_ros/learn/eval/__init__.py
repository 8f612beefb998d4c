"""Evaluation: the RoboSpatial-Home dataset layout, the official scoring rules and the harness."""

from robospatial_ros.learn.eval.dataset import EvalDataError, EvalItem, load_eval_items, write_eval_items
from robospatial_ros.learn.eval.harness import (
    EvalConfig,
    EvalReport,
    GeometricAnswerer,
    evaluate,
    score_predictions,
)
from robospatial_ros.learn.eval.scoring import ItemScore, score_item, where2place_fraction

__all__ = [
    "EvalConfig",
    "EvalDataError",
    "EvalItem",
    "EvalReport",
    "GeometricAnswerer",
    "ItemScore",
    "evaluate",
    "load_eval_items",
    "score_item",
    "score_predictions",
    "where2place_fraction",
    "write_eval_items",
]
