"""LoRA SFT on a tiny random-init Qwen2.5-VL (real Qwen vocabulary) on CPU: what trains, what is saved, resuming."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from robospatial_ros.cli.train import add_train_parser
from robospatial_ros.core.errors import ConfigError, RoboSpatialError
from robospatial_ros.core.reasoning.vlm.base import VisualQuestion
from robospatial_ros.core.reasoning.vlm.hf import HFConfig, HFVLMClient
from robospatial_ros.core.reasoning.vlm.qwen import save_random_qwen_vl
from robospatial_ros.learn.train.config import RESOLVED_CONFIG, TrainDataError, TrainError, load_train_config
from robospatial_ros.learn.train.data import Record, mix_sources, read_manifest
from robospatial_ros.learn.train.sft import build_sft_trainer, run_sft
from robospatial_ros.learn.train.toydata import write_blocks_dataset

SIDE = 56  # px: 4 x 4 patches -> 4 image tokens after the 2 x 2 merge


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_qwen_vl(tmp_path_factory.mktemp("tiny-qwen"), "tiny", seed=0, max_pixels=SIDE * SIDE)


@pytest.fixture(scope="module")
def blocks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_blocks_dataset(tmp_path_factory.mktemp("blocks"), 8, seed=1, size_px=SIDE)


def settings(base_dir: Path, data: Path, out: Path, **more: object) -> dict:
    return {
        "model_path": str(base_dir),
        "data": [str(data)],
        "output_dir": str(out),
        "max_steps": 2,
        "save_steps": 2,
        "per_device_batch_size": 2,
        "gradient_checkpointing": False,
        "max_pixels": SIDE * SIDE,
        "min_pixels": SIDE * SIDE,
        "logging_steps": 1,
        "learning_rate": "5e-3",
        "progress": False,
        **more,
    }


@pytest.fixture(scope="module")
def first_run(base_dir, blocks, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "run"
    config = load_train_config(
        None,
        settings(
            base_dir,
            blocks,
            out,
            eval_data=str(blocks),
            eval_every_steps=2,
            eval_limit=2,
            eval_batch_size=2,
            eval_max_new_tokens=3,
        ),
    )
    return config, run_sft(config)


def base_name(peft_name: str) -> str:
    """A PeftModel parameter's name in the plain model."""
    return peft_name.removeprefix("base_model.model.").replace(".base_layer", "")


def test_sft_changes_only_the_adapter_weights(first_run, base_dir):
    from transformers import AutoModelForImageTextToText

    _, result = first_run
    base = AutoModelForImageTextToText.from_pretrained(base_dir, dtype=torch.float32).state_dict()
    trained = dict(result.model.named_parameters())
    lora = {n: p for n, p in trained.items() if "lora_" in n}
    frozen = {n: p for n, p in trained.items() if "lora_" not in n}
    assert len(lora) == 2 * 2 * 7  # 2 layers x 7 projections x (A, B): the language model only
    assert all("language_model" in n for n in lora)
    assert len(frozen) == len({n for n in base if n != "lm_head.weight"})  # every base tensor is accounted for
    for name, param in frozen.items():
        assert not param.requires_grad, name
        assert torch.equal(param.detach().cpu(), base[base_name(name)]), f"base weight {name} changed"
    # LoRA B starts at zero; training must have moved it.
    assert any(p.detach().abs().max() > 0 for n, p in lora.items() if "lora_B" in n)
    assert result.global_step == 2


def test_output_holds_the_adapter_and_no_full_weights(first_run):
    config, result = first_run
    out = result.output_dir
    for name in (
        "adapter_model.safetensors",
        "adapter_config.json",
        RESOLVED_CONFIG,
        "tokenizer.json",
        "preprocessor_config.json",
        "chat_template.jinja",
    ):
        assert (out / name).is_file(), name
    assert not list(out.rglob("model.safetensors")) and not list(out.rglob("pytorch_model*.bin"))
    assert (out / "checkpoint-2" / RESOLVED_CONFIG).is_file()  # beside every checkpoint
    assert load_train_config(out / RESOLVED_CONFIG) == config  # the resolved config reproduces the run
    adapter_bytes = (out / "adapter_model.safetensors").stat().st_size
    assert adapter_bytes < 1_000_000  # LoRA tensors only (the tiny base model is ~40 MB)


def test_the_adapter_loads_into_the_hf_backend(first_run, base_dir, blocks):
    _, result = first_run
    client = HFVLMClient(HFConfig(model_path=str(base_dir), adapter_path=str(result.output_dir), max_new_tokens=2))
    loaded = {n: p for n, p in client.model.named_parameters() if "lora_" in n}
    trained = {n: p for n, p in result.model.named_parameters() if "lora_" in n}
    assert loaded.keys() == trained.keys()
    assert all(torch.allclose(loaded[n].cpu(), trained[n].detach().cpu()) for n in loaded)
    image = torch.full((SIDE, SIDE, 3), 128, dtype=torch.uint8).numpy()
    assert isinstance(client.answer_texts([VisualQuestion(image, "Is the red block left of the blue block?")])[0], str)


def test_periodic_evaluation_logs_per_category_accuracy(first_run):
    config, result = first_run
    logged = [entry for entry in result.log_history if "eval/accuracy" in entry]
    assert [e["step"] for e in logged] == [2]  # every 2 steps; the end-of-run eval is the same step
    assert "eval/accuracy_configuration" in logged[0]
    report = json.loads((Path(config.output_dir) / "eval" / "step-2.json").read_text())
    assert report["num_total"] == 2 and set(report["category_stats"]) == {"configuration"}
    assert result.final_eval.num_total == 2


def test_resume_continues_the_step_count(first_run, tmp_path):
    from transformers import TrainerCallback

    config, _ = first_run
    out = tmp_path / "resumed"
    shutil.copytree(config.output_dir, out)

    class CountSteps(TrainerCallback):
        steps: list[int] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    resumed = load_train_config(
        None, {**settings(Path(config.model_path), Path(config.data[0]), out), "max_steps": 3, "resume": True}
    )
    result = run_sft(resumed, extra_callbacks=[CountSteps()])
    assert CountSteps.steps == [3]  # one new step, numbered after the checkpoint's two
    assert result.global_step == 3
    assert json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())["global_step"] == 2
    losses = [e["step"] for e in result.log_history if "loss" in e]
    assert losses == [1, 2, 3]  # the restored history continues


def test_loss_covers_only_the_answer_tokens(base_dir, blocks, tmp_path):
    config = load_train_config(None, settings(base_dir, blocks, tmp_path / "unused"))
    trainer, loaded, _ = build_sft_trainer(config)
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(rows)
    tokenizer = loaded.processor.tokenizer
    for row, ids, labels in zip(rows, batch["input_ids"], batch["labels"]):
        answer = row["completion"][0]["content"][0]["text"]
        assert tokenizer.decode(ids[labels != -100]) == f"{answer}<|im_end|>\n"
    assert batch["pixel_values"].shape[0] == 2 * 16  # 16 patches of 14 px per 56 px image


def test_mixing_ratios_set_each_sources_share():
    def source(tag: str, n: int) -> list[Record]:
        return [Record([], [], kind=tag, source=f"{tag}{i}") for i in range(n)]

    mixed = mix_sources([source("a", 4), source("b", 4)], [3.0, 1.0], seed=0)
    # total 8 records: a gets 0.75 * 8 = 6 (all 4 once, 2 repeated), b gets 0.25 * 8 = 2
    assert sorted(r.kind for r in mixed) == ["a"] * 6 + ["b"] * 2
    assert {r.source for r in mixed if r.kind == "a"} == {"a0", "a1", "a2", "a3"}
    assert len(mix_sources([source("a", 3), source("b", 2)], [], seed=0)) == 5
    thirds = mix_sources([source("a", 4), source("b", 3), source("c", 3)], [1.0, 1.0, 1.0], seed=0)
    assert len(thirds) == 10 and sorted({r.kind for r in thirds}) == ["a", "b", "c"]  # round() gave 9


def test_bad_inputs_are_one_line_errors(base_dir, blocks, tmp_path):
    with pytest.raises(TrainError, match="not a directory"):
        run_sft(load_train_config(None, settings(tmp_path / "nowhere", blocks, tmp_path / "o")))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(TrainDataError, match="no samples"):
        run_sft(load_train_config(None, settings(base_dir, empty, tmp_path / "o")))
    no_answer = tmp_path / "bad.jsonl"
    no_answer.write_text(json.dumps({"images": [], "messages": [{"role": "user", "content": "hi"}]}) + "\n")
    with pytest.raises(TrainDataError, match="bad.jsonl line 1"):
        read_manifest(no_answer)
    no_answer.write_text("\n[1, 2\n")  # a blank line is skipped, the bad one named
    with pytest.raises(TrainDataError, match="bad.jsonl line 2 is not valid JSON"):
        read_manifest(no_answer)
    with pytest.raises(ConfigError, match="unknown key"):
        load_train_config(None, {"learning_rat": 1e-3})
    with pytest.raises(ConfigError, match="one ratio per data source"):
        load_train_config(None, {"data": ["a", "b"], "data_ratios": [1.0]})


def test_yaml_and_dotted_overrides_reach_nested_settings(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump({"learning_rate": "1e-3", "lora": {"rank": 8, "alpha": 16}, "bf16": False}))
    config = load_train_config(path, {"lora.rank": 4, "grpo.reward_weights": [0.9, 0.1], "resume": "ckpt"})
    assert (config.learning_rate, config.lora.rank, config.lora.alpha) == (1e-3, 4, 16.0)
    assert config.grpo.reward_weights == (0.9, 0.1) and config.bf16 == "false" and config.resume == "ckpt"


def test_the_cli_reports_bad_input_as_a_robospatial_error(tmp_path):
    parser = argparse.ArgumentParser(prog="robospatial")
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        [
            "train",
            "sft",
            "--set",
            f"model_path={tmp_path / 'missing'}",
            "--set",
            f"data=[{tmp_path / 'd.jsonl'}]",
            "--output-dir",
            str(tmp_path / "o"),
        ]
    )
    with pytest.raises(RoboSpatialError, match="not found|not a directory"):
        args.func(args)
    with pytest.raises(SystemExit):  # curriculum needs its file
        parser.parse_args(["train", "curriculum"])


def save_tiny_llava(out: Path) -> Path:
    """A random-init LLaVA (CLIP tower + Llama LM) with the Qwen vocabulary plus <image>, saved with its processor."""
    import transformers

    from robospatial_ros.core.reasoning.vlm.qwen import qwen_tokenizer

    tok = qwen_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for p in m['content'] %}"
        "{% if p['type'] == 'image' %}<image>\n{% else %}{{ p['text'] }}{% endif %}{% endfor %} "
        "{% elif m['role'] == 'assistant' %}ASSISTANT: {{ m['content'][0]['text'] }}<|im_end|>{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
    )
    vision = transformers.CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=SIDE, patch_size=14
    )
    text = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
    )
    config = transformers.LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tok.convert_tokens_to_ids("<image>")
    )
    torch.manual_seed(0)
    transformers.LlavaForConditionalGeneration(config).save_pretrained(out)
    images = transformers.CLIPImageProcessorPil(size={"shortest_edge": SIDE}, crop_size={"height": SIDE, "width": SIDE})
    transformers.LlavaProcessor(
        image_processor=images,
        tokenizer=tok,
        patch_size=14,
        num_additional_image_tokens=1,
        vision_feature_select_strategy="default",  # drop CLS, as the model config does
        chat_template=tok.chat_template,
    ).save_pretrained(out)
    return out


def test_llava_style_models_train_and_load_the_same_way(blocks, tmp_path):
    base = save_tiny_llava(tmp_path / "llava")
    result = run_sft(load_train_config(None, settings(base, blocks, tmp_path / "out", save_steps=0)))
    assert result.global_step == 2
    assert (result.output_dir / "adapter_model.safetensors").is_file()
    assert not (result.output_dir / "model.safetensors").exists()
    client = HFVLMClient(HFConfig(model_path=str(base), adapter_path=str(result.output_dir), max_new_tokens=2))
    assert client.template == "llava"
    image = torch.full((SIDE, SIDE, 3), 128, dtype=torch.uint8).numpy()
    assert isinstance(client.answer_texts([VisualQuestion(image, "Is the red block left of the blue block?")])[0], str)


def test_sft_trains_on_the_hf_dataset_datagen_writes(base_dir, blocks, tmp_path):
    """hf/ holds each image once (an image table); training reads its rows, and images missing beside it
    are written once from the table."""
    from robospatial_ros.core.images import read_rgb
    from robospatial_ros.learn.datagen.records import Sample
    from robospatial_ros.learn.datagen.writers import write_samples
    from robospatial_ros.learn.train.data import read_source

    records = read_source(blocks)
    samples = [
        Sample("toy", r.task or "t", r.prompt[-1]["content"][-1]["text"], r.answer, [read_rgb(r.images[0])])
        for r in records
    ]
    out = tmp_path / "gen"
    write_samples(samples, out, formats=("hf",), progress=False)
    shutil.rmtree(out / "images")  # only hf/ is shipped: the images come from its table
    from_hf = read_source(out / "hf")
    assert [r.answer for r in from_hf] == [r.answer for r in records]
    assert all(Path(p).is_file() and "image_files" in p for r in from_hf for p in r.images)
    result = run_sft(load_train_config(None, settings(base_dir, out / "hf", tmp_path / "o", max_steps=1)))
    assert result.global_step == 1


def test_a_missing_logger_is_one_clear_line(tmp_path, capsys):
    from robospatial_ros.cli.main import main as cli_main

    with pytest.raises(ConfigError, match=r"report_to: tensorboard needs the tensorboard package \(pip install"):
        load_train_config(None, {"report_to": ["tensorboard"]})
    with pytest.raises(ConfigError, match="unknown logger"):
        load_train_config(None, {"report_to": ["nosuchlogger"]})
    code = cli_main(
        ["train", "sft", "--config", str(CONFIG_DIR / "train_sft.yaml"), "--set", "report_to=[tensorboard]"]
    )
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "pip install tensorboard" in err


CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


def test_shipped_configs_work_from_any_directory(tmp_path, monkeypatch):
    from robospatial_ros.learn.train.grpo import spatial_config_for

    monkeypatch.chdir(tmp_path)  # not the repository
    for name in ("train_grpo.yaml", "curriculum/stage3_grpo.yaml"):
        spatial = spatial_config_for(load_train_config(CONFIG_DIR / name))
        assert spatial is not None and spatial.grid_resolution_m == 0.01  # the package's tabletop settings
    # A relative path written in a config file is relative to that file.
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "spatial.yaml").write_text("grid_resolution_m: 0.05\n")
    (tmp_path / "cfg" / "train.yaml").write_text("grpo:\n  spatial_config: spatial.yaml\n")
    monkeypatch.chdir(tmp_path / "cfg" / "..")
    assert spatial_config_for(load_train_config(Path("cfg") / "train.yaml")).grid_resolution_m == 0.05
    with pytest.raises(ConfigError, match="not found"):
        spatial_config_for(load_train_config(None, {"grpo.spatial_config": "spatial.yaml"}))  # cwd: no such file


def test_a_curriculum_checks_every_stage_before_training(blocks, tmp_path):
    from robospatial_ros.learn.train.curriculum import run_curriculum_file

    stage = {"data": [str(blocks)], "finetune": "lora"}
    (tmp_path / "sft.yaml").write_text(yaml.safe_dump(stage))
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump({**stage, "grpo": {"spatial_config": "missing.yaml"}}))
    curriculum = {
        "output_dir": str(tmp_path / "run"),
        "model_path": str(tmp_path / "no-model-needed-yet"),
        "stages": [
            {"name": "one", "kind": "sft", "config": "sft.yaml"},
            {"name": "two", "kind": "sft", "config": "sft.yaml"},
            {"name": "three", "kind": "grpo", "config": "grpo.yaml"},
        ],
    }
    (tmp_path / "curriculum.yaml").write_text(yaml.safe_dump(curriculum))
    with pytest.raises(ConfigError, match="stage three: .*missing.yaml"):
        run_curriculum_file(tmp_path / "curriculum.yaml")
    assert not (tmp_path / "run").exists()  # nothing trained
    (tmp_path / "grpo.yaml").write_text(yaml.safe_dump({**stage, "data": [str(tmp_path / "nowhere")]}))
    with pytest.raises(TrainDataError, match="stage three: data source not found"):
        run_curriculum_file(tmp_path / "curriculum.yaml")
