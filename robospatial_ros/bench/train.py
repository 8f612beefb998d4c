"""robospatial bench train: SFT tokens/s and GRPO steps/s of the training toolkit, and a learning check.

Speed (default): a random-init Qwen2.5-VL of `--size` (tiny, or 3b = Qwen2.5-VL-3B's shape, built
offline with the real Qwen vocabulary) trains on synthetic left/right images, once through
`robospatial train` (our TrainConfig defaults) and once through trl with its own defaults on the
same data and the same LoRA layout (SFT: `messages` rows, loss on every token; GRPO: the same
batch, group size and completion length, every other GRPOConfig default). The first step is
warm-up and not timed. Tokens are the non-padding tokens trl counts (`num_tokens`).

Learning check (`--learning-check`): fine-tunes the tiny model on rendered two-block left/right
questions and scores a held-out set through the eval harness before and after; chance is 50 %.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from robospatial_ros.core.reasoning.vlm.qwen import save_random_qwen_vl
from robospatial_ros.core.tables import format_table
from robospatial_ros.learn.train.config import TrainConfig, load_train_config
from robospatial_ros.learn.train.toydata import write_blocks_dataset


def _step_timer() -> Any:
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        """Wall time of each optimizer step and trl's cumulative token count at each log."""

        def __init__(self) -> None:
            self.ends: list[float] = []
            self.tokens: dict[int, float] = {}

        def on_step_begin(self, args, state, control, **kwargs) -> None:
            if not self.ends:
                self.ends.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kwargs) -> None:
            self.ends.append(time.perf_counter())

        def on_log(self, args, state, control, logs=None, **kwargs) -> None:
            if logs and "num_tokens" in logs:
                self.tokens[state.global_step] = float(logs["num_tokens"])

        def rates(self) -> tuple[float, float]:
            """(steps/s, tokens/s) over steps 2..N (step 1 is warm-up)."""
            steps = [b - a for a, b in zip(self.ends, self.ends[1:])][1:]
            if not steps:
                return float("nan"), float("nan")
            tokens = self.tokens.get(len(self.ends) - 1, 0.0) - self.tokens.get(1, 0.0)
            return 1.0 / statistics.mean(steps), tokens / sum(steps)

    return StepTimer()


def _no_gpu() -> bool:
    """trl's default bf16 refuses to start on a CPU unless told so (use_cpu): the only non-default we set."""
    import torch

    return not torch.cuda.is_available()


def _config(args: argparse.Namespace, model: Path, data: Path, out: Path, **more: Any) -> TrainConfig:
    return load_train_config(
        None,
        {
            "model_path": str(model),
            "data": [str(data)],
            "output_dir": str(out),
            "max_steps": args.steps,
            "per_device_batch_size": args.batch,
            "save_steps": 0,
            "logging_steps": 1,
            "max_pixels": args.image_px**2,
            "min_pixels": args.image_px**2,
            "progress": False,
            "eval_at_end": False,
            **more,
        },
    )


def _ours_sft(args: argparse.Namespace, model: Path, data: Path, out: Path) -> tuple[float, float]:
    from robospatial_ros.learn.train.sft import run_sft

    timer = _step_timer()
    run_sft(_config(args, model, data, out), extra_callbacks=[timer])
    return timer.rates()


def _plain_arguments(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    """The trl config fields both plain-trl baselines set: run length, batch, no saving, no reporting."""
    return {
        "output_dir": str(out),
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch,
        "logging_steps": 1,
        "report_to": "none",
        "save_strategy": "no",
        "use_cpu": _no_gpu(),
    }


def _trl_sft(args: argparse.Namespace, model: Path, data: Path, out: Path) -> tuple[float, float]:
    """trl's SFTTrainer and SFTConfig defaults; only the run length, batch and LoRA layout are ours."""
    import trl

    from robospatial_ros.learn.train.data import load_records, normalized_messages, to_dataset
    from robospatial_ros.learn.train.model import load_model, load_processor, peft_config

    config = _config(args, model, data, out)
    rows = [{"images": r.images, "messages": normalized_messages(r.messages)} for r in load_records(config)]
    timer = _step_timer()
    sft = trl.SFTConfig(**_plain_arguments(args, out))
    trainer = trl.SFTTrainer(
        model=load_model(model, config, bool(sft.bf16)),
        args=sft,
        train_dataset=to_dataset(rows),
        processing_class=load_processor(model, config, "qwen"),
        peft_config=peft_config(config),
        callbacks=[timer],
    )
    trainer.train()
    return timer.rates()


def _grpo_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {"grpo.num_generations": args.generations, "grpo.max_completion_length": args.completion_tokens}


def _ours_grpo(args: argparse.Namespace, model: Path, data: Path, out: Path) -> tuple[float, float]:
    from robospatial_ros.learn.train.grpo import run_grpo

    timer = _step_timer()
    run_grpo(_config(args, model, data, out, **_grpo_settings(args)), extra_callbacks=[timer])
    return timer.rates()


def _trl_grpo(args: argparse.Namespace, model: Path, data: Path, out: Path) -> tuple[float, float]:
    import trl

    from robospatial_ros.learn.train.data import grpo_dataset, load_records
    from robospatial_ros.learn.train.model import load_model, load_processor, peft_config
    from robospatial_ros.learn.train.rewards import accuracy_reward, format_reward

    config = _config(args, model, data, out, **_grpo_settings(args))
    timer = _step_timer()
    grpo = trl.GRPOConfig(
        **_plain_arguments(args, out),
        num_generations=args.generations,
        max_completion_length=args.completion_tokens,
    )
    trainer = trl.GRPOTrainer(
        model=load_model(model, config, bool(grpo.bf16)),
        reward_funcs=[accuracy_reward, format_reward],
        args=grpo,
        train_dataset=grpo_dataset(load_records(config), "", config.grpo.prompt_suffix),
        processing_class=load_processor(model, config, "qwen"),
        peft_config=peft_config(config),
        callbacks=[timer],
    )
    trainer.train()
    return timer.rates()


def _guarded(fn: Any, *fn_args: Any) -> tuple[float, float] | str:
    try:
        return fn(*fn_args)
    except Exception as exc:  # a default the hardware cannot run (e.g. bf16) is a table entry, not a crash
        return f"failed: {' '.join(str(exc).split())[:80]}"


def speed(args: argparse.Namespace) -> int:
    import torch

    where = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        print(f"building a random-init {args.size} Qwen2.5-VL ...", flush=True)
        model = save_random_qwen_vl(scratch / "model", args.size, max_pixels=args.image_px**2)
        data = write_blocks_dataset(scratch / "data", max(64, 4 * args.batch * args.steps), size_px=args.image_px)
        rows = []
        for label, fn in (("SFT, ours", _ours_sft), ("SFT, trl defaults", _trl_sft)):
            result = _guarded(fn, args, model, data, scratch / label.replace(" ", "_"))
            tokens = result if isinstance(result, str) else f"{result[1]:.0f}"
            rows.append((label, "tokens/s", tokens))
        if not args.no_grpo:
            for label, fn in (("GRPO, ours", _ours_grpo), ("GRPO, trl defaults", _trl_grpo)):
                result = _guarded(fn, args, model, data, scratch / label.replace(" ", "_"))
                steps = result if isinstance(result, str) else f"{result[0]:.3f}"
                rows.append((label, "steps/s", steps))
    print(
        f"\ntraining throughput, {args.size} random-init Qwen2.5-VL, {args.image_px}x{args.image_px} images, "
        f"batch {args.batch}, {args.steps} steps (first untimed), {where}"
    )
    if not args.no_grpo:
        print(f"GRPO: {args.generations} completions per prompt, {args.completion_tokens} new tokens max")
    print(format_table([("run", "unit", "rate"), *rows]))
    return 0


def learning_check(args: argparse.Namespace) -> int:
    """Held-out accuracy of the tiny model before and after SFT on rendered left/right questions."""
    from robospatial_ros.learn.train.callbacks import evaluate_model
    from robospatial_ros.learn.train.model import load_model, load_processor
    from robospatial_ros.learn.train.sft import run_sft

    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(args.out) if args.out else Path(scratch_dir)
        model = save_random_qwen_vl(scratch / "model", "tiny", seed=args.seed, max_pixels=args.image_px**2)
        shape = {"size_px": args.image_px, "relations": tuple(args.relations), "shuffle_names": args.shuffle_names}
        train = write_blocks_dataset(scratch / "train", args.train, seed=args.seed + 1, **shape)
        held_out = write_blocks_dataset(scratch / "eval", args.eval, seed=args.seed + 2, **shape)
        config = _config(
            args,
            model,
            train,
            scratch / "run",
            eval_data=str(held_out),
            eval_at_end=True,
            eval_max_new_tokens=3,
            eval_batch_size=25,
            learning_rate=args.lr,
            finetune=args.finetune,
            gradient_checkpointing=False,
            logging_steps=max(1, args.steps // 10),
            lr_scheduler="constant_with_warmup",
            warmup_ratio=0.05,
            seed=args.seed,
            adam_beta2=args.adam_beta2,
            **{"lora.target_modules": ["all-linear"]},
        )
        before = evaluate_model(
            load_model(model, config, False), load_processor(model, config, "qwen"), config, "qwen", None
        )
        started = time.perf_counter()
        result = run_sft(config)
        minutes = (time.perf_counter() - started) / 60
    after = result.final_eval
    losses = [(e["step"], e["loss"]) for e in result.log_history if "loss" in e]
    print(
        f"\nlearning check: tiny random-init Qwen2.5-VL, {args.finetune} fine-tuning, {args.train} training / "
        f"{args.eval} held-out two-block left/right questions ({args.image_px}x{args.image_px}), "
        f"{args.steps} steps of {args.batch}, lr {args.lr}, {minutes:.1f} min"
    )
    print("loss by step: " + ", ".join(f"{s}: {v:.3f}" for s, v in losses))
    print(
        format_table(
            [
                ("held-out set", "accuracy %", "ill-formed"),
                ("before training", f"{before.accuracy_pct:.1f}", str(before.illformed_responses)),
                ("after training", f"{after.accuracy_pct:.1f}", str(after.illformed_responses)),
                ("chance", "50.0", ""),
            ]
        )
    )
    return 0 if after.accuracy_pct > args.pass_pct else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="robospatial bench train", description=__doc__)
    parser.add_argument("--size", default="tiny", choices=["tiny", "3b"], help="random-init model shape (speed)")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (speed: 6; learning check: 300)")
    parser.add_argument("--batch", type=int, default=None, help="per-device batch (speed: 4; learning check: 8)")
    parser.add_argument("--image-px", type=int, default=None, help="square image side (speed: 112; check: 28)")
    parser.add_argument("--generations", type=int, default=4, help="GRPO completions per prompt")
    parser.add_argument("--completion-tokens", type=int, default=16, help="GRPO max new tokens")
    parser.add_argument("--no-grpo", action="store_true", help="SFT only")
    check = parser.add_argument_group("learning check")
    check.add_argument("--learning-check", action="store_true", help="train the tiny model and score a held-out set")
    check.add_argument("--train", type=int, default=512, help="training questions")
    check.add_argument("--eval", type=int, default=200, help="held-out questions")
    check.add_argument("--lr", type=float, default=3e-3)
    check.add_argument("--adam-beta2", type=float, default=0.95)
    check.add_argument("--finetune", choices=["lora", "full"], default="full")
    check.add_argument("--relations", nargs="+", default=["left"], choices=["left", "right"])
    check.add_argument("--shuffle-names", action="store_true", help="ask about either colour first")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--pass-pct", type=float, default=60.0, help="exit 1 unless held-out accuracy exceeds this")
    check.add_argument("--out", help="keep the model, data and run here (default: a temporary directory)")
    args = parser.parse_args(argv)
    if args.learning_check:
        args.steps, args.batch, args.image_px = args.steps or 300, args.batch or 8, args.image_px or 28
        return learning_check(args)
    args.steps, args.batch, args.image_px = args.steps or 6, args.batch or 4, args.image_px or 112
    return speed(args)


if __name__ == "__main__":
    raise SystemExit(main())
