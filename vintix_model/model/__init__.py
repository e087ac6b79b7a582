"""The Vintix network and its files on disk (docs/design.md §10). Import from the modules themselves: this
``__init__`` imports nothing, so reading a config does not load torch.

  config.py      ModelConfig, TrainConfig, the presets, YAML / ``--set`` overrides
  groups.py      which tasks share encoders and heads (GroupSpec, TaskDims, task sets)
  layers.py      the causal backbone: pre-norm blocks, QK LayerNorm, ALiBi (SDPA or flash-attn)
  vintix.py      Vintix: per-group encoders -> backbone -> per-group heads; GroupBatch, obs_normalizer
  checkpoint.py  model.safetensors + config.json + metadata.json: save, load, atomic run-folder checkpoints
"""
