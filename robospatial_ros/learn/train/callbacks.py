"""Trainer callbacks: the resolved config beside every checkpoint, and periodic RoboSpatial evaluation.

`HarnessEvalCallback` runs `eval.harness.evaluate` on a held-out RoboSpatial-Home-layout directory
with the model being trained, answering through the hf backend's own prompt and generation code
(`InTrainingAnswerer` is an `HFVLMClient` around the live model), and logs the overall and
per-category accuracy (`eval/accuracy`, `eval/accuracy_<category>`) to the Trainer's log (and so
to TensorBoard / W&B and trainer_state.json). Only the main process evaluates; under DDP the other
ranks wait at the next gradient synchronisation. (Under DeepSpeed ZeRO-3 generation needs every
rank: leave eval_every_steps at 0 there and evaluate the saved adapter afterwards.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from robospatial_ros.core.reasoning.vlm.hf import HFConfig, HFVLMClient
from robospatial_ros.learn.train.config import TrainConfig, write_resolved_config

log = logging.getLogger(__name__)


def _trainer_callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class InTrainingAnswerer(HFVLMClient):
    """The hf backend's answering code around the live (training) model, asking with a prompt suffix."""

    name = "in-training"
    question_suffix = ""

    def prompt_text(self, question: str) -> str:
        return super().prompt_text(question + self.question_suffix)


def evaluate_model(
    model: Any, processor: Any, config: TrainConfig, template: str, out_json: Path | None, grpo: bool = False
) -> Any:
    """EvalReport of `model` on config.eval_data (eval mode and left padding only for the duration).

    GRPO runs ask with their prompt suffix and score the <answer> content, as they were trained."""
    from robospatial_ros.learn.eval.harness import EvalConfig, evaluate

    hf = HFConfig(
        model_path=config.model_path or ".",
        max_new_tokens=config.eval_max_new_tokens,
        batch_size=config.eval_batch_size,
        system_prompt=config.system_prompt,
        min_pixels=config.min_pixels,
        max_pixels=config.max_pixels,
    )
    answerer = InTrainingAnswerer.from_loaded(model, processor, hf, template)
    answerer.question_suffix = config.grpo.prompt_suffix if grpo else ""
    eval_config = EvalConfig(
        data_dir=Path(config.eval_data),
        limit=config.eval_limit or None,
        batch_size=config.eval_batch_size,
        output_json=out_json,
        extract_answers=grpo,
    )
    tokenizer = processor.tokenizer
    was_training, side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    try:
        return evaluate(answerer, eval_config, progress=config.progress)
    finally:
        tokenizer.padding_side = side
        model.train(was_training)


def report_metrics(report: Any) -> dict[str, float]:
    metrics = {"eval/accuracy": report.accuracy_pct, "eval/illformed": float(report.illformed_responses)}
    for name, stats in report.per_category.items():
        metrics[f"eval/accuracy_{name}"] = stats.accuracy_pct
    return metrics


def make_callbacks(config: TrainConfig, processor: Any, template: str, grpo: bool = False) -> list[Any]:
    """The callbacks every run gets: resolved config per checkpoint, and the eval harness when configured."""
    base = _trainer_callback_base()

    class ResolvedConfigCallback(base):  # type: ignore[misc, valid-type]
        """Writes resolved_config.yaml into each checkpoint directory as it is saved."""

        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            if state.is_world_process_zero:
                checkpoint = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                if checkpoint.is_dir():
                    write_resolved_config(config, checkpoint)

    class HarnessEvalCallback(base):  # type: ignore[misc, valid-type]
        """Evaluates every eval_every_steps steps and at the end; logs per-category accuracy."""

        def __init__(self) -> None:
            self.trainer: Any = None  # set by the caller: logging goes through Trainer.log
            self.last_step = -1
            self.reports: dict[int, Any] = {}

        def _run(self, state: Any, control: Any, model: Any) -> None:
            if not state.is_world_process_zero or state.global_step == self.last_step:
                return
            self.last_step = state.global_step
            out = Path(config.output_dir) / "eval" / f"step-{state.global_step}.json"
            report = evaluate_model(model, processor, config, template, out, grpo)
            self.reports[state.global_step] = report
            log.info("eval at step %d:\n%s", state.global_step, report.table())
            if self.trainer is not None:
                self._log(report_metrics(report), control, model)

        def _log(self, metrics: dict[str, float], control: Any, model: Any) -> None:
            """Trainer.log, in eval mode (trl's trainers then attach their eval-mode metrics, none, instead of
            taking the pending training ones), keeping the step's own loss log due after this callback
            (Trainer.log clears control.should_log)."""
            should_log, was_training = control.should_log, model.training
            model.eval()
            try:
                self.trainer.log(metrics)
            finally:
                model.train(was_training)
                control.should_log = should_log

        def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            every = config.eval_every_steps
            if every and state.global_step % every == 0:
                self._run(state, control, model)

        def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
            if config.eval_at_end:
                self._run(state, control, model)

    callbacks: list[Any] = [ResolvedConfigCallback()]
    if config.eval_data:
        callbacks.append(HarnessEvalCallback())
    return callbacks


def attach(trainer: Any, callbacks: list[Any]) -> Any:
    """Give callbacks that log a reference to the trainer; returns the eval callback (or None)."""
    evaluator = None
    for cb in callbacks:
        if hasattr(cb, "trainer"):
            cb.trainer = trainer
            evaluator = cb
    return evaluator
