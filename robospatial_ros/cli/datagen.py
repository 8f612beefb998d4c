"""`robospatial datagen`: generate training data, write it in every format, mix it.

    robospatial datagen robospatial (--scenes FILE_OR_DIR... | --sim-episodes N) --out DIR [--paraphrase]
        [--workers N | --ray [ADDRESS]]
    robospatial datagen sat --episodes N --out DIR
    robospatial datagen ssrl (--images DIR | --sim-frames N) --out DIR
    robospatial datagen grounding --sim-episodes N --out DIR
    robospatial datagen mix --recipe RECIPE.yaml

Generators take --seed, --config YAML and --set KEY=VALUE (a key of a mapping field is set with
a dot: --set spatial.grid_resolution_m=0.05); writers take --shard-size, --formats, --no-progress
and --overwrite. Bad input raises a RoboSpatialError (the main CLI prints one line, exit 2).

`datagen robospatial` runs in shards (learn/datagen/shards.py): --workers N local processes, or --ray
(one Ray task per shard; ADDRESS "auto" joins a running cluster). The output is the same for any number
of workers; a failed run keeps its finished shards and the same command resumes from them.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from robospatial_ros.core.errors import ConfigError, RoboSpatialError, SceneError

C = TypeVar("C")
DEFAULT_FORMATS = "hf,qwen,llava,eval"


class DatagenCLIError(RoboSpatialError, ValueError):
    """A datagen command was given inconsistent arguments, or a generator is not installed."""


def add_datagen_parser(sub: argparse._SubParsersAction) -> None:
    """Register `datagen` and its sub-commands on the main parser's sub-parsers."""
    datagen = sub.add_parser(
        "datagen",
        help="generate RoboSpatial / SAT / SSRL training data, or mix datasets",
        description="Generate training data (JSONL for Qwen and LLaVA, a Hugging Face dataset, the "
        "RoboSpatial-Home eval layout) or mix generated and general data by a recipe.",
    )
    kinds = datagen.add_subparsers(dest="datagen_command", required=True)

    rs = kinds.add_parser("robospatial", help="configuration / compatibility / context questions with answers")
    source = rs.add_mutually_exclusive_group(required=True)
    scenes_help = (
        "scene JSON files or folders of them (RoboSpatial annotation shape; the image: the JSON's "
        "'image' key, else the same stem .png/.jpg)"
    )
    source.add_argument("--scenes", nargs="+", metavar="FILE", help=scenes_help)
    source.add_argument("--sim-episodes", type=int, metavar="N", help="seeded MuJoCo tabletop layouts instead")
    rs.add_argument("--paraphrase", action="store_true", help="reword questions with alternative templates")
    parallel = rs.add_mutually_exclusive_group()
    parallel.add_argument("--workers", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    parallel.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run the shards as Ray tasks (pip install 'robospatial_ros[ray]'): on the running Ray instance or a "
        "new local one, or ADDRESS ('auto' joins a cluster; --out and the scenes must be on storage every node sees)",
    )
    _add_common(rs, "config/datagen_robospatial.yaml")
    rs.set_defaults(func=cmd_robospatial)

    sat = kinds.add_parser("sat", help="SAT-style dynamic questions (ego/object motion, perspective) from the sim")
    sat.add_argument("--episodes", type=int, required=True, metavar="N", help="seeded tabletop episodes")
    _add_common(sat, "SATConfig keys")
    sat.set_defaults(func=cmd_sat)

    ssrl = kinds.add_parser("ssrl", help="Spatial-SSRL self-supervised tasks from images (and depth)")
    frames = ssrl.add_mutually_exclusive_group(required=True)
    frames.add_argument("--images", metavar="DIR", help="folder of .png/.jpg (depth: <stem>_depth.png)")
    frames.add_argument("--sim-frames", type=int, metavar="N", help="N rendered RGB-D tabletop frames instead")
    _add_common(ssrl, "SSRLConfig keys")
    ssrl.set_defaults(func=cmd_ssrl)

    ground = kinds.add_parser("grounding", help="'locate every object' items with bbox_2d JSON answers (sim)")
    ground.add_argument("--sim-episodes", type=int, required=True, metavar="N", help="seeded tabletop layouts")
    _add_common(ground, "GroundingConfig keys")
    ground.set_defaults(func=cmd_grounding)

    mix = kinds.add_parser("mix", help="mix datasets by a recipe into one Qwen-format training JSONL")
    mix.add_argument("--recipe", required=True, metavar="FILE", help="recipe YAML (see config/mix_example.yaml)")
    mix.set_defaults(func=cmd_mix)


def _add_common(p: argparse.ArgumentParser, config_help: str) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--seed", type=int, help="random seed (default: the config's, else 0)")
    p.add_argument("--config", metavar="YAML", help=f"generator settings ({config_help})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    p.add_argument("--shard-size", type=int, default=1000, metavar="N", help="JSONL lines per shard")
    p.add_argument("--formats", default=DEFAULT_FORMATS, help=f"comma-separated subset of {DEFAULT_FORMATS}")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--overwrite", action="store_true", help="replace generated data already in --out")


# --- config --------------------------------------------------------------------------------------


def load_generator_config(cls: type[C], path: str | None, items: list[str], extra: dict[str, Any]) -> C:
    """Defaults < YAML < --set items < `extra`; 'spatial.grid_resolution_m=...' sets one key of the
    mapping field `spatial`, keeping its other keys from the YAML (configio merges dotted keys)."""
    from robospatial_ros.cli.overrides import load_with_overrides

    return load_with_overrides(cls, path, items, extra)


def _seed(args: argparse.Namespace, config: Any) -> int:
    seed = args.seed if args.seed is not None else getattr(config, "seed", 0)
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    return int(seed)


def _write(args: argparse.Namespace, samples: Iterator[Any], info: dict[str, Any]) -> int:
    from robospatial_ros.learn.datagen.writers import write_samples

    # The generators show progress (episodes, scenes, frames); a second bar counting samples would clash.
    summary = write_samples(
        samples,
        Path(args.out),
        shard_size=args.shard_size,
        formats=args.formats.split(","),
        progress=False,
        info=info,
        overwrite=args.overwrite,
    )
    print(summary.describe())
    return 0


def _config_info(config: Any) -> dict[str, Any]:
    from robospatial_ros.core.configio import to_mapping

    return to_mapping(config)


def _config(cls: type[C], args: argparse.Namespace, **extra: Any) -> C:
    """The generator config: defaults < --config YAML < --set < `extra` (and --no-progress)."""
    if args.no_progress:
        extra["progress"] = False
    return load_generator_config(cls, args.config, args.set, extra)


# --- commands ------------------------------------------------------------------------------------


def cmd_robospatial(args: argparse.Namespace) -> int:
    from robospatial_ros.learn.datagen.episodes import check_count
    from robospatial_ros.learn.datagen.robospatial import RoboSpatialGenConfig, RoboSpatialGenError, RoboSpatialJob
    from robospatial_ros.learn.datagen.shards import RunOptions, run_sharded

    config = _config(RoboSpatialGenConfig, args, **({"paraphrases": True} if args.paraphrase else {}))
    seed = _seed(args, config)
    config = dataclasses.replace(config, seed=seed)
    if args.scenes:
        paths = _scene_paths(args.scenes)
        if not paths:
            raise RoboSpatialGenError("no scene files given")
        for path in paths:  # fail on a missing file before generating anything
            if not path.is_file():
                raise SceneError(f"scene file not found: {path}")
        job = RoboSpatialJob(config, seed, scene_paths=tuple(str(p) for p in paths))
        source: dict[str, Any] = {"scenes": [str(p) for p in paths]}
        spatial = config.spatial_config("scene")
    else:
        episodes = check_count("--sim-episodes", args.sim_episodes)
        job = RoboSpatialJob(config, seed, episodes=episodes)
        source = {"sim_episodes": episodes}
        spatial = config.spatial_config("sim")
    info = {
        "generator": "robospatial",
        "seed": seed,
        "source": source,
        "config": _config_info(config),
        "spatial_config": _config_info(spatial),
    }
    options = RunOptions(
        Path(args.out),
        formats=tuple(args.formats.split(",")),
        shard_size=args.shard_size,
        workers=args.workers,
        executor="ray" if args.ray is not None else "local",
        ray_address=args.ray or "",
        overwrite=args.overwrite,
        progress=config.progress,
    )
    summary = run_sharded(job, options, info)
    print(summary.describe())
    _write_spatial_yaml(Path(args.out), spatial)
    return 0


def _scene_paths(items: list[str]) -> list[Path]:
    """Scene JSON files: the files given, and the *.json files of folders given (sorted)."""
    paths: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise DatagenCLIError(f"no .json scene files in {p}")
            paths += found
        else:
            paths.append(p)
    return paths


def _write_spatial_yaml(out_dir: Path, spatial: Any) -> None:
    """out_dir/spatial_config.yaml: the settings the answers follow (`robospatial eval --config` it)."""
    import yaml

    from robospatial_ros.core.configio import to_mapping

    header = "# SpatialConfig the answers were generated with: pass it to `robospatial eval/ask --config`.\n"
    (out_dir / "spatial_config.yaml").write_text(header + yaml.safe_dump(to_mapping(spatial), sort_keys=False))


def cmd_sat(args: argparse.Namespace) -> int:
    from robospatial_ros.learn.datagen.sat import SATConfig, sat_samples

    return _write_episodes(args, "sat", _config(SATConfig, args), "--episodes", sat_samples)


def cmd_ssrl(args: argparse.Namespace) -> int:
    from robospatial_ros.learn.datagen.episodes import check_count
    from robospatial_ros.learn.datagen.ssrl import SSRLConfig, image_folder_frames, sim_frames, ssrl_samples

    config = _config(SSRLConfig, args)
    seed = _seed(args, config)
    if args.images:
        frames = image_folder_frames(Path(args.images))
        source: dict[str, Any] = {"images": str(args.images)}
    else:
        n = check_count("--sim-frames", args.sim_frames)
        frames = sim_frames(n, seed)
        source = {"sim_frames": n}
    samples = ssrl_samples(frames, config, seed)
    info = {"generator": "ssrl", "seed": seed, "source": source, "config": _config_info(config)}
    return _write(args, samples, info)


def cmd_grounding(args: argparse.Namespace) -> int:
    from robospatial_ros.learn.datagen.grounding import GroundingConfig, grounding_sim_samples

    return _write_episodes(args, "grounding", _config(GroundingConfig, args), "--sim-episodes", grounding_sim_samples)


def _write_episodes(
    args: argparse.Namespace, generator: str, config: Any, flag: str, samples: Callable[[Any, int, int], Iterator[Any]]
) -> int:
    """Write a seeded-episode generator's samples; `flag` ('--episodes') names the count argument and
    its key under the manifest's `source` ('episodes')."""
    from robospatial_ros.learn.datagen.episodes import check_count

    seed = _seed(args, config)
    key = flag.removeprefix("--").replace("-", "_")
    episodes = check_count(flag, getattr(args, key))
    info = {"generator": generator, "seed": seed, "source": {key: episodes}, "config": _config_info(config)}
    return _write(args, samples(config, episodes, seed), info)


def cmd_mix(args: argparse.Namespace) -> int:
    from robospatial_ros.learn.datagen.mixing import mix_datasets

    summary = mix_datasets(args.recipe)
    print(summary.describe())
    return 0
