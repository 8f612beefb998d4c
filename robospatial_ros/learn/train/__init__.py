"""Fine-tuning VLMs for spatial reasoning: LoRA SFT, GRPO with verifiable rewards, progressive curricula.

Built on transformers + peft + trl (their Trainers do the loops, checkpoints, accumulation and
devices); this package adds the data layout, the reward functions, evaluation with the
RoboSpatial harness during training, and the stage chaining.

    config.py      TrainConfig (one dataclass for SFT and GRPO), CurriculumConfig, errors
    data.py        Qwen-format JSONL manifests -> mixed records -> datasets for trl
    model.py       model / processor loading, the LoRA layout, merging
    rewards.py     yes_no / point_in_region / choice / format / accuracy rewards (trl signature)
    callbacks.py   resolved config per checkpoint; periodic eval-harness runs
    session.py     what SFT and GRPO runs share (arguments, resume, save)
    sft.py         run_sft(config)
    grpo.py        run_grpo(config)
    curriculum.py  run_curriculum_file(path, overrides)
    toydata.py     a synthetic two-block left/right dataset (tests, benchmarks, learning check)

Heavy dependencies (torch, transformers, peft, trl, datasets) are imported when a run starts.
"""
