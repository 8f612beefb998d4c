"""`robospatial eval`: score a backend, or saved predictions, on a RoboSpatial-Home style dataset.

    robospatial eval --data DIR [--backend geometric|hf|openai|...] [--config BACKEND.yaml] [--set KEY=VALUE]
    robospatial eval --data DIR --predictions FILE.jsonl
    common: [--limit N] [--batch-size N] [--workers N] [--category NAME ...] [--output FILE.json]
            [--extract-answer] [--no-progress]

Prints a per-category accuracy table (official RoboSpatial-Home rules) and writes the full report
as JSON with --output. With --workers N, N processes ask at once, each building its own backend
(the report is the same as one process's). --predictions reports predictions that name no item and
lines lacking a question or img, and then exits 1. Heavy modules are imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robospatial_ros.core.errors import ConfigError, RoboSpatialError

if TYPE_CHECKING:
    from robospatial_ros.core.reasoning.vlm.base import TextAnswerer

GEOMETRIC = "geometric"


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    """Register the `eval` subcommand (sets func=run_eval)."""
    p = sub.add_parser(
        "eval",
        help="score a backend or saved predictions with the official RoboSpatial-Home rules",
        description="Evaluate on DIR/annotations.json (the RoboSpatial-Home layout, also written by "
        "`robospatial datagen`): binary answers must start with the right yes/no, a context answer's "
        "first point must lie in the ground-truth polygon. Context items with a mask also report the "
        "Where2Place fraction of points inside it.",
    )
    p.add_argument("--data", required=True, metavar="DIR", help="dataset directory holding annotations.json")
    source = p.add_mutually_exclusive_group()
    # default None, not "geometric": argparse's exclusivity check ignores a value that *is* the default,
    # and an interned "geometric" typed by the user would be.
    source.add_argument("--backend", metavar="NAME", help="answering backend (default: geometric, needs scenes)")
    source.add_argument(
        "--predictions", metavar="FILE.jsonl", help='score saved answers: lines {"question", "img", "answer"}'
    )
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items (after --category)")
    p.add_argument("--batch-size", type=int, default=8, metavar="N", help="questions per backend call (default 8)")
    p.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes asking at once, each with its own backend"
    )
    p.add_argument("--category", action="append", dest="categories", metavar="NAME", help="keep a category (repeat)")
    p.add_argument("--output", metavar="FILE.json", help="write the full report (per-item results) here")
    p.add_argument("--config", metavar="FILE.yaml", help="backend config (geometric: SpatialConfig keys)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one backend setting")
    p.add_argument(
        "--extract-answer",
        action="store_true",
        help="score the last <answer>...</answer> of each text (reasoning models) instead of the raw text",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run_eval)


DATASET_SPATIAL_CONFIG = "spatial_config.yaml"  # written by robospatial datagen: the settings its answers used


def make_answerer(
    name: str, config_path: str | Path | None, overrides: dict[str, Any], data_dir: Path | None = None
) -> TextAnswerer:
    """The TextAnswerer for a backend name: geometric here, the others from the VLM backends module.

    The spatial settings of geometric (and of hybrid/verify) default to the dataset's own
    `spatial_config.yaml` when it has one, so generated data is judged by the rules it was made with.
    """
    from robospatial_ros.core.configio import load_config
    from robospatial_ros.core.spatial.config import SpatialConfig

    own = data_dir / DATASET_SPATIAL_CONFIG if data_dir is not None else None
    own = own if own is not None and own.is_file() else None
    if name == GEOMETRIC:
        from robospatial_ros.learn.eval.harness import GeometricAnswerer

        return GeometricAnswerer(load_config(SpatialConfig, config_path or own, overrides))
    try:
        from robospatial_ros.core.reasoning.backends import make_text_answerer
    except ImportError as exc:
        raise RoboSpatialError(f"backend {name} is not available ({exc})") from None
    return make_text_answerer(name, config_path, overrides, load_config(SpatialConfig, own))


def run_eval(args: argparse.Namespace) -> int:
    """Run the evaluation the parsed arguments describe, print the table; 0 on success, 1 when a
    predictions file held malformed lines or predictions for no item (the table says which)."""
    from functools import partial

    from robospatial_ros.cli.overrides import parse_overrides
    from robospatial_ros.learn.eval.dataset import load_eval_items
    from robospatial_ros.learn.eval.harness import EvalConfig, evaluate, evaluate_parallel, score_predictions

    overrides = parse_overrides(args.set)
    config = EvalConfig(
        data_dir=Path(args.data),
        limit=args.limit,
        batch_size=args.batch_size,
        categories=args.categories,
        output_json=Path(args.output) if args.output else None,
        extract_answers=args.extract_answer,
        workers=args.workers,
    )
    if args.predictions:
        if args.config or overrides:
            raise ConfigError("--config and --set configure a backend; they do not apply to --predictions")
        report = score_predictions(Path(args.predictions), config)
    else:
        # Check the dataset before building the backend (loading a model can take minutes).
        items = load_eval_items(config.data_dir, config.limit, config.categories)
        name = args.backend or GEOMETRIC
        if config.workers > 1:
            factory = partial(make_answerer, name, args.config, overrides, config.data_dir)
            make_answerer(name, args.config, overrides, config.data_dir)  # a bad config fails here, once
            report = evaluate_parallel(factory, name, config, progress=not args.no_progress, items=items)
        else:
            answerer = make_answerer(name, args.config, overrides, config.data_dir)
            report = evaluate(answerer, config, progress=not args.no_progress, items=items)
    print(report.table())
    if config.output_json is not None:
        print(f"report written to {config.output_json}")
    return 0 if report.clean else 1
