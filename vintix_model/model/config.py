"""Typed model and training configuration, the two presets, and YAML / ``--set`` overrides.

``paper`` is the paper's model (docs/design.md §10): 20 pre-norm blocks of width 1024 = 511 observation + 511 action
+ 2 reward embedding, 16 heads, MLP 4096, context 8192; AdamW lr 3e-4, betas (0.9, 0.99), weight decay 0.1,
bf16. Its batch (8 windows x 2 accumulation steps per device) and warm-up fraction (0.5%) are the released
code's defaults. ``tiny`` is a 2-layer, width-128 model that trains on two CPU cores in about a minute.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vintix_data.errors import UserError

OBS_NORMS = ("vintix", "original", "none")


class ConfigError(UserError, ValueError):
    """A bad preset, field or value (one-line message)."""


@dataclass
class ModelConfig:
    obs_emb: int = 511  # token = concat(obs [obs_emb], previous action [act_emb], previous reward [rew_emb])
    act_emb: int = 511
    rew_emb: int = 2
    n_layer: int = 20
    n_head: int = 16
    d_mlp: int = 4096
    context: int = 8192  # tokens (= env steps) per training window
    qk_norm: bool = True
    bias: bool = True
    norm_eps: float = 1e-5
    dropout: float = 0.0
    leaky_slope: float = 0.01  # LeakyReLU in encoders and heads
    head_layers: int = 3  # hidden Linear(d_model) + LeakyReLU layers of each action head
    # False: every token's previous-action input is zero, so the context carries observations and rewards only. On
    # latent-task data from a privileged demonstrator the executed actions point at the hidden goal, and a model that
    # reads the goal off them reads it off its *own* actions at evaluation (benchmarks/icrl.py); rewards cannot lie.
    action_input: bool = True
    # How observations are normalized with their task's stats (metadata.json): "vintix" divides by std with std <= 1e-6
    # taken as 1; "original" is the released Vintix's (obs - mean) / (std + 1e-6) with std over the data with ddof=1
    # (converted checkpoints; on Meta-World the two differ by up to 1.1 in inputs); "none" feeds raw observations.
    obs_norm: str = "vintix"

    @property
    def d_model(self) -> int:
        return self.obs_emb + self.act_emb + self.rew_emb

    def check(self) -> None:
        for name in ("obs_emb", "act_emb", "rew_emb", "n_layer", "n_head", "d_mlp", "context"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ConfigError(
                f"model width {self.d_model} (obs_emb + act_emb + rew_emb) is not divisible by n_head {self.n_head}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if self.obs_norm not in OBS_NORMS:
            raise ConfigError(f"model.obs_norm must be one of {', '.join(OBS_NORMS)}, got {self.obs_norm!r}")


@dataclass
class TrainConfig:
    steps: int = 100_000  # optimizer steps
    batch_size: int = 8  # windows per micro-batch on each process
    grad_accum: int = 2  # micro-batches per optimizer step
    lr: float = 3e-4
    min_lr_ratio: float = 0.0  # cosine decays to lr * min_lr_ratio
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.1  # on Linear weights only
    warmup_ratio: float = 0.005  # linear warm-up over this fraction of the steps ...
    warmup_steps: int | None = None  # ... unless given in steps
    grad_clip: float | None = None  # max global grad norm; None: no clipping
    stride: int = 257  # start a window every `stride` kept transitions of a history
    first_windows: int = 0  # extra copies per epoch of each history's window at t = 0 (cold starts; the note's D2)
    episode_sparsity: int | None = None  # keep every k-th episode; None: the registry's per-task value (MuJoCo 2)
    mixing: str = "uniform"  # "uniform" over tasks (the paper's text) or "proportional" to windows (released code)
    target: str = "action"  # "action" (Algorithm Distillation) or "demonstrator_action" (DPT-style, Vintix II)
    # latent-goal data: give each window a fresh goal, rewards and labels recomputed for it (vintix_model.relabel):
    # "none", "uniform" (over the goal space) or "dataset" (the dataset's own variations)
    relabel: str = "none"
    seed: int = 0
    num_workers: int = 4  # DataLoader worker processes
    precision: str = "auto"  # "auto" (bf16 autocast on CUDA, fp32 elsewhere), "bf16" or "fp32"
    attention: str = "auto"  # "auto" (flash-attn on CUDA when installed, else SDPA), "sdpa" or "flash"
    cpu_threads: int | None = None  # torch intra-op threads when training on CPU; None: torch's default
    log_every: int = 10
    save_every: int = 1000
    keep_checkpoints: int = 2
    validate: bool = True  # run vintix-data's validation on every dataset before training

    @property
    def warmup(self) -> int:
        return self.warmup_steps if self.warmup_steps is not None else int(self.steps * self.warmup_ratio)

    def check(self) -> None:
        for name in ("steps", "batch_size", "grad_accum", "stride", "log_every", "save_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(
                f"train.lr must be > 0 and train.min_lr_ratio in [0, 1], got {self.lr}, {self.min_lr_ratio}"
            )
        if self.first_windows < 0:
            raise ConfigError(f"train.first_windows must be >= 0, got {self.first_windows}")
        if self.num_workers < 0 or (self.episode_sparsity is not None and self.episode_sparsity < 1):
            raise ConfigError("train.num_workers must be >= 0 and train.episode_sparsity >= 1")
        if self.cpu_threads is not None and self.cpu_threads < 1:
            raise ConfigError(f"train.cpu_threads must be >= 1 (or null), got {self.cpu_threads}")
        choices = {
            "mixing": ("uniform", "proportional"),
            "target": ("action", "demonstrator_action"),
            "relabel": ("none", "uniform", "dataset"),
            "precision": ("auto", "bf16", "fp32"),
            "attention": ("auto", "sdpa", "flash"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(f"train.{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ConfigError(f"train.grad_clip must be > 0 (or null), got {self.grad_clip}")


PRESETS: dict[str, tuple[ModelConfig, TrainConfig]] = {
    "paper": (ModelConfig(), TrainConfig()),
    "tiny": (
        ModelConfig(obs_emb=63, act_emb=63, rew_emb=2, n_layer=2, n_head=4, d_mlp=512, context=512),
        # one intra-op thread: the tiny model's ops are small, and on 2 cores shared with other jobs torch's default
        # 2 threads ran 8x slower (benchmarks/train_throughput.py: 1,197 vs 10,073 tokens/s); on idle cores 2 threads
        # are 2x faster (25,110 vs 12,535): `--set train.cpu_threads=null` there
        TrainConfig(
            steps=300,
            batch_size=4,
            grad_accum=1,
            lr=1e-3,
            min_lr_ratio=0.1,
            warmup_steps=30,
            grad_clip=1.0,
            stride=64,
            num_workers=1,
            log_every=10,
            save_every=100,
            cpu_threads=1,
        ),
    ),
}


def preset(name: str) -> tuple[ModelConfig, TrainConfig]:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    model, train = PRESETS[name]
    return dataclasses.replace(model), dataclasses.replace(train)


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert a parsed YAML value against a dataclass field's annotation."""
    text = str(annotation)  # annotations are strings here (`from __future__ import annotations`)
    optional = "None" in text
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where} cannot be null")
    if text.startswith("tuple"):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ConfigError(f"{where} must be a pair of numbers, got {value!r}")
        return tuple(float(v) for v in value)
    base = text.replace(" | None", "").strip()
    if base == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if base == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported field type {text}")


def apply_overrides(model: ModelConfig, train: TrainConfig, overrides: dict[str, dict[str, Any]]) -> None:
    """Set fields from ``{"model": {...}, "train": {...}}`` in place, with type checks."""
    for section, values in overrides.items():
        sections: dict[str, ModelConfig | TrainConfig] = {"model": model, "train": train}
        target = sections.get(section)
        if target is None:
            raise ConfigError(f"unknown config section {section!r}; use model.FIELD or train.FIELD")
        if not isinstance(values, dict):
            raise ConfigError(f"config section {section!r} must be a mapping")
        fields = {f.name: f for f in dataclasses.fields(target)}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"unknown field {section}.{key}; known: {', '.join(fields)}")
            setattr(target, key, _coerce(value, fields[key].type, f"{section}.{key}"))


def parse_set(items: list[str]) -> dict[str, dict[str, Any]]:
    """``["model.n_layer=4", "train.lr=1e-3"]`` -> ``{"model": {"n_layer": 4}, "train": {"lr": 0.001}}`` (YAML values)."""
    import yaml

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or not name:
            raise ConfigError(f"--set {item!r}: expected SECTION.FIELD=VALUE, e.g. model.n_layer=4")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: value is not valid YAML") from None
        if isinstance(value, str) and "e" in value.lower():  # YAML 1.1 reads "1e-3" as a string
            with contextlib.suppress(ValueError):
                value = float(value)
        out.setdefault(section, {})[name] = value
    return out


def load_yaml(path: Path) -> dict[str, dict[str, Any]]:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: cannot read config ({type(e).__name__})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'model' and/or 'train' sections")
    return data


def resolve(
    preset_name: str, config_file: Path | None = None, sets: list[str] | None = None, steps: int | None = None
) -> tuple[ModelConfig, TrainConfig]:
    """Preset, then the YAML file, then ``--set`` items, then ``--steps``; checked."""
    model, train = preset(preset_name)
    if config_file is not None:
        apply_overrides(model, train, load_yaml(config_file))
    if sets:
        apply_overrides(model, train, parse_set(sets))
    if steps is not None:
        train.steps = steps
    model.check()
    train.check()
    return model, train


def to_dict(cfg: Any) -> dict[str, Any]:
    d = dataclasses.asdict(cfg)
    return json.loads(json.dumps(d))  # tuples -> lists, plain JSON types


def model_config_from_dict(d: dict[str, Any]) -> ModelConfig:
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"config.json has unknown model fields: {', '.join(sorted(unknown))}")
    return ModelConfig(**d)


def train_config_from_dict(d: dict[str, Any]) -> TrainConfig:
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    d = {k: v for k, v in d.items() if k in names}
    if "betas" in d:
        d["betas"] = tuple(d["betas"])
    return TrainConfig(**d)


__all__ = [
    "OBS_NORMS",
    "ConfigError",
    "ModelConfig",
    "TrainConfig",
    "PRESETS",
    "preset",
    "resolve",
    "apply_overrides",
    "parse_set",
    "to_dict",
    "model_config_from_dict",
    "train_config_from_dict",
]
