"""Progressive training (SpatialLadder style): stages run in order, each from the previous stage's merged weights.

A typical ladder: grounding SFT (answers as bbox JSON) -> spatial understanding SFT -> GRPO with
verifiable rewards. After a stage, its LoRA adapter is folded into the weights it trained on
(`merge_and_unload`) and saved to OUTPUT/NN-name/merged/, a full model by necessity: the next stage
trains a fresh adapter on top of it. The final stage's adapter is the deliverable and loads with
HFConfig(model_path=<previous stage's merged/>, adapter_path=<final stage dir>) (written to
OUTPUT/deliverable.json). `finetune: full` stages save full models and are chained directly.

With `resume: true`, stages holding a stage_done.json are skipped and an interrupted stage
continues from its last checkpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robospatial_ros.core.errors import RoboSpatialError
from robospatial_ros.learn.train.config import (
    CurriculumConfig,
    CurriculumStage,
    TrainConfig,
    TrainError,
    load_curriculum,
    load_train_config,
    split_curriculum_overrides,
)
from robospatial_ros.learn.train.model import merge_and_save
from robospatial_ros.learn.train.session import TrainResult, release_memory

log = logging.getLogger(__name__)
DONE_MARKER = "stage_done.json"
DELIVERABLE = "deliverable.json"


@dataclass
class StageOutcome:
    name: str
    output_dir: Path  # the stage's adapter (or full model)
    base_model: Path  # what it trained on
    merged_dir: Path | None  # its merged full model (None for the last stage unless merge_last)
    global_step: int
    full: bool = False  # finetune: full (output_dir is itself a full model)


def stage_dir(curriculum: CurriculumConfig, index: int, stage: CurriculumStage) -> Path:
    return Path(curriculum.output_dir) / f"{index + 1:02d}-{stage.name}"


def stage_config(
    curriculum: CurriculumConfig, index: int, base_model: str, stage_overrides: Mapping[str, Any]
) -> TrainConfig:
    """The stage's TrainConfig: its file < its inline overrides < CLI overrides < the chain's model/output."""
    stage = curriculum.stages[index]
    values = {**stage.overrides, **stage_overrides, "output_dir": str(stage_dir(curriculum, index, stage))}
    if base_model:
        values["model_path"] = base_model
    if curriculum.resume:
        values["resume"] = True
    return load_train_config(curriculum.stage_config_path(stage), values)


def _run_stage(kind: str, config: TrainConfig) -> TrainResult:
    if kind == "sft":
        from robospatial_ros.learn.train.sft import run_sft

        return run_sft(config)
    from robospatial_ros.learn.train.grpo import run_grpo

    return run_grpo(config)


def _is_main_process() -> bool:
    from accelerate import PartialState

    return PartialState().is_main_process


def _wait_for_everyone() -> None:
    from accelerate import PartialState

    PartialState().wait_for_everyone()


def _finish_stage(result: TrainResult, config: TrainConfig, merge: bool) -> Path | None:
    """Merge (main process only; other ranks wait), write the stage marker, return the merged dir."""
    out = Path(config.output_dir)
    merged = None
    if config.finetune == "full":  # already a full model: chain it directly
        merged = out
    elif merge:
        merged = out / "merged"
        if _is_main_process():
            merge_and_save(result.model, result.processor, merged)
    if _is_main_process():
        marker = {
            "global_step": result.global_step,
            "base_model": config.model_path,
            "merged": str(merged) if merged else None,
        }
        (out / DONE_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    _wait_for_everyone()
    return merged


def _finished(directory: Path) -> dict[str, Any] | None:
    marker = directory / DONE_MARKER
    return json.loads(marker.read_text(encoding="utf-8")) if marker.is_file() else None


def run_curriculum(
    curriculum: CurriculumConfig, stage_overrides: Mapping[str, Any] | None = None
) -> list[StageOutcome]:
    """Run every stage in order; returns what each produced and writes OUTPUT/deliverable.json."""
    base = curriculum.model_path
    outcomes: list[StageOutcome] = []
    last = len(curriculum.stages) - 1
    for index, stage in enumerate(curriculum.stages):
        config = stage_config(curriculum, index, base, stage_overrides or {})
        merge = index < last or curriculum.merge_last
        done = _finished(Path(config.output_dir)) if curriculum.resume else None
        if done is not None and (done["merged"] or not merge):  # a full stage records itself as merged
            log.info("stage %s already finished; skipping", stage.name)
            merged, step = (Path(done["merged"]) if done["merged"] else None), int(done["global_step"])
        else:
            log.info("stage %d/%d: %s (%s) from %s", index + 1, last + 1, stage.name, stage.kind, config.model_path)
            result = _run_stage(stage.kind, config)
            merged, step = _finish_stage(result, config, merge), result.global_step
            del result
            release_memory()
        outcomes.append(
            StageOutcome(
                stage.name, Path(config.output_dir), Path(config.model_path), merged, step, config.finetune == "full"
            )
        )
        base = str(merged) if merged else base
    if _is_main_process():
        write_deliverable(curriculum, outcomes[-1])
    return outcomes


def write_deliverable(curriculum: CurriculumConfig, final: StageOutcome) -> Path:
    """OUTPUT/deliverable.json: the hf backend settings that load the curriculum's result."""
    entry = (
        {"model_path": str(final.output_dir), "adapter_path": ""}
        if final.full
        else {"model_path": str(final.base_model), "adapter_path": str(final.output_dir)}
    )
    path = Path(curriculum.output_dir) / DELIVERABLE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
    return path


def run_curriculum_file(path: str | Path, overrides: Mapping[str, Any] | None = None) -> list[StageOutcome]:
    """Load a curriculum YAML (curriculum keys from `overrides`, the rest to every stage), check every
    stage, then run it."""
    mine, rest = split_curriculum_overrides(dict(overrides or {}))
    curriculum = load_curriculum(path, mine)
    check_stages(curriculum, rest)
    return run_curriculum(curriculum, rest)


def check_stages(curriculum: CurriculumConfig, stage_overrides: Mapping[str, Any]) -> None:
    """Fail before the first stage trains on what a later one would fail on: a missing stage file, an
    invalid stage config (loggers included), missing training or eval data, a GRPO spatial config that
    does not load. (The models of later stages do not exist yet: they are the earlier stages' output.)"""
    from robospatial_ros.learn.train.data import check_source
    from robospatial_ros.learn.train.grpo import spatial_config_for

    for index, stage in enumerate(curriculum.stages):
        where = f"stage {stage.name}"
        if not curriculum.stage_config_path(stage).is_file():
            raise TrainError(f"{where}: config file not found: {curriculum.stage_config_path(stage)}")
        try:
            config = stage_config(curriculum, index, curriculum.model_path, stage_overrides)
            for source in config.data:
                check_source(source)
            if config.eval_data and not Path(config.eval_data).is_dir():
                raise TrainError(f"eval_data directory not found: {config.eval_data}")
            if stage.kind == "grpo":
                spatial_config_for(config)
        except RoboSpatialError as exc:
            raise type(exc)(f"{where}: {exc}") if _plain(exc) else exc from None


def _plain(exc: BaseException) -> bool:
    """Whether the error's class rebuilds from a message alone (to prefix the stage's name)."""
    try:
        type(exc)("x")
    except TypeError:
        return False
    return True
