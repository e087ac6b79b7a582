"""The released Vintix's checkpoint layout (``dunnolab/vintix``, ``Vintix.save_model``) and how it maps onto ours.

The release is a folder of three files: ``model.pth`` (a ``torch.save``d state_dict), ``config.json`` (the whole
training config, ``asdict(TrainConfig)``) and ``metadata.json`` (per task: ``observation_shape``, ``action_dim``,
``action_type``, ``group_name``, ``reward_scale``, ``obs_mean``/``obs_std``/``acs_mean``/``acs_std``). Its network
is ours with other names: the same per-group encoders (Linear, LeakyReLU, LayerNorm, Linear, LeakyReLU, LayerNorm)
and heads (3 x Linear + LeakyReLU, then Linear), the same two padding vectors, the same pre-norm blocks with QK
LayerNorm, packed QKV and ALiBi and no positional embedding, so conversion is a renaming of keys, checked both ways.

What differs and is kept as a setting rather than translated: the original normalizes observations as
``(obs - mean) / (std + 1e-6)`` with the std over its data with ddof=1 (``ModelConfig.obs_norm = "original"``). What
differs and cannot be expressed (a learned within-episode position embedding, action normalization, parallel
residuals, RMSNorm, the LLaMA MLP) is refused with one line. Names: the release's groups (``metaworld``,
``industrial_benchmark_overall``, ``halfcheetah_v4``, ``bidex_obs_417_acs_52_1`` ...) become ours through the tasks
they hold, and its task names through the registry (Meta-World ``*-v2`` -> our ``*-v3``, MuJoCo ``*-v4`` are the
paper's names of our tasks, evaluated on gymnasium's v4 layout they were trained on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from vintix_model.model.checkpoint import CheckpointError
from vintix_model.model.config import ModelConfig

ORIGINAL_FILES = ("model.pth", "config.json", "metadata.json")

# config.json fields the original's Vintix.init_model reads (all required there too)
CONFIG_FIELDS = (
    "action_emb_dim",
    "observation_emb_dim",
    "reward_emb_dim",
    "hidden_dim",
    "transformer_depth",
    "transformer_heads",
    "context_len",
    "attn_dropout",
    "residual_dropout",
    "normalize_qk",
    "bias",
    "parallel_residual",
    "shared_attention_norm",
    "norm_class",
    "mlp_class",
    "intermediate_size",
    "inner_ep_pos_enc",
    "norm_acs",
    "norm_obs",
)

# settings our model has no counterpart for: the value we can express, and what the other value would need
INEXPRESSIBLE = {
    "inner_ep_pos_enc": (False, "a learned within-episode position embedding (ours has ALiBi only)"),
    "norm_acs": (False, "normalized actions in and un-normalized actions out of the model"),
    "parallel_residual": (False, "parallel attention/MLP residuals (ours are sequential pre-norm blocks)"),
    "shared_attention_norm": (False, "one LayerNorm shared by attention and MLP"),
    "norm_class": ("LayerNorm", "another normalization layer (ours is LayerNorm)"),
    "mlp_class": ("GptNeoxMLP", "another MLP (ours is Linear, GELU, Linear as GptNeoxMLP)"),
}

# our state_dict key -> the original's, per part of the network ({g}: the group, {i}: a block, {k}: a layer index)
_KEY_RULES = [
    (r"encoders\.(?P<g>[^.]+)\.obs\.(?P<k>\d+)\.(?P<p>weight|bias)", "encoder.obs_encoders.{g}.layers.{k}.{p}"),
    (r"encoders\.(?P<g>[^.]+)\.act\.(?P<k>\d+)\.(?P<p>weight|bias)", "encoder.acs_encoders.{g}.layers.{k}.{p}"),
    (r"encoders\.(?P<g>[^.]+)\.rew\.(?P<k>\d+)\.(?P<p>weight|bias)", "encoder.rews_encoders.{g}.layers.{k}.{p}"),
    (r"heads\.(?P<g>[^.]+)\.net\.(?P<k>\d+)\.(?P<p>weight|bias)", "head.acs_decoders.{g}.layers.{k}.{p}"),
    (r"pad_action", "encoder.prev_acs_padding"),
    (r"pad_reward", "encoder.prev_rew_padding"),
    (r"backbone\.blocks\.(?P<i>\d+)\.ln1\.(?P<p>weight|bias)", "transformer.blocks.{i}.norm1.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.ln2\.(?P<p>weight|bias)", "transformer.blocks.{i}.norm2.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.attn\.qkv\.(?P<p>weight|bias)", "transformer.blocks.{i}.attention.in_proj.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.attn\.proj\.(?P<p>weight|bias)", "transformer.blocks.{i}.attention.out_proj.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.attn\.q_norm\.(?P<p>weight|bias)", "transformer.blocks.{i}.attention.q_norm.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.attn\.k_norm\.(?P<p>weight|bias)", "transformer.blocks.{i}.attention.k_norm.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.fc\.(?P<p>weight|bias)", "transformer.blocks.{i}.mlp.fc.{p}"),
    (r"backbone\.blocks\.(?P<i>\d+)\.fc_out\.(?P<p>weight|bias)", "transformer.blocks.{i}.mlp.proj.{p}"),
    (r"backbone\.ln_f\.(?P<p>weight|bias)", "transformer.ln_f.{p}"),
]
KEY_RULES = [(re.compile(pattern), template) for pattern, template in _KEY_RULES]


def original_key(ours: str, original_group: dict[str, str]) -> str:
    """The original's state_dict key of one of our keys (``original_group``: our group -> the release's)."""
    for pattern, template in KEY_RULES:
        m = pattern.fullmatch(ours)
        if m:
            parts = m.groupdict()
            if "g" in parts:
                parts["g"] = original_group[parts["g"]]
            return template.format(**parts)
    raise KeyError(f"no original counterpart for parameter {ours!r}")  # a part of ours the release lacks: a bug here


def key_map(our_keys, original_group: dict[str, str]) -> dict[str, str]:
    """original key -> our key, for every key of our model (a bijection: two of ours never share an original)."""
    out: dict[str, str] = {}
    for ours in our_keys:
        orig = original_key(ours, original_group)
        if orig in out:
            raise KeyError(f"{ours!r} and {out[orig]!r} both map to {orig!r}")
        out[orig] = ours
    return out


def model_config(config: dict[str, Any]) -> ModelConfig:
    """Our ModelConfig for the original's config.json; refuses (one line) what our model cannot express."""
    if not isinstance(config, dict):
        raise CheckpointError("config.json is not a JSON object")
    missing = [k for k in CONFIG_FIELDS if k not in config]
    if missing:
        raise CheckpointError(
            f"config.json lacks {', '.join(missing)} (the original's Vintix.init_model reads them); "
            "not an original-layout Vintix config"
        )
    for name, (ours, what) in INEXPRESSIBLE.items():
        if config[name] != ours:
            raise CheckpointError(
                f"config.json: {name} is {config[name]!r}, i.e. {what}; vintix_model cannot express "
                f"it (only {name}={ours!r}), so the checkpoint is not converted"
            )
    if config["attn_dropout"] != config["residual_dropout"]:
        raise CheckpointError(
            f"config.json: attn_dropout {config['attn_dropout']} != residual_dropout "
            f"{config['residual_dropout']}; vintix_model has one dropout rate"
        )
    width = config["observation_emb_dim"] + config["action_emb_dim"] + config["reward_emb_dim"]
    if config["hidden_dim"] != width:
        raise CheckpointError(
            f"config.json: hidden_dim {config['hidden_dim']} is not observation_emb_dim + "
            f"action_emb_dim + reward_emb_dim = {width} (the token width)"
        )
    try:
        cfg = ModelConfig(
            obs_emb=int(config["observation_emb_dim"]),
            act_emb=int(config["action_emb_dim"]),
            rew_emb=int(config["reward_emb_dim"]),
            n_layer=int(config["transformer_depth"]),
            n_head=int(config["transformer_heads"]),
            d_mlp=int(config["intermediate_size"] or 4 * width),
            context=int(config["context_len"]),
            qk_norm=bool(config["normalize_qk"]),
            bias=bool(config["bias"]),
            norm_eps=1e-5,
            dropout=float(config["residual_dropout"]),
            leaky_slope=0.01,
            head_layers=3,
            obs_norm="original" if config["norm_obs"] else "none",
        )
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"config.json: a model field is not a number ({e})") from None
    cfg.check()
    return cfg


@dataclass
class MappedTask:
    original: str  # the release's task name
    original_group: str
    spec: Any  # our registry TaskSpec
    group: str  # our group
    obs_dim: int
    act_dim: int
    info: dict[str, Any] = field(default_factory=dict)  # the release's metadata entry


def _dims(task: str, info: Any) -> tuple[int, int]:
    if not isinstance(info, dict):
        raise CheckpointError(f"metadata.json: task {task!r} is not a JSON object")
    missing = [k for k in ("group_name", "observation_shape", "action_dim", "reward_scale") if k not in info]
    if missing:
        raise CheckpointError(f"metadata.json: task {task!r} lacks {', '.join(missing)}")
    try:
        proprio = info["observation_shape"]["proprio"]
        if len(proprio) != 1:
            raise ValueError
        obs, act = int(proprio[0]), int(info["action_dim"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"metadata.json: task {task!r} has observation_shape {info.get('observation_shape')!r}; "
            "vintix_model takes {\"proprio\": [obs_dim]} only"
        ) from None
    if info.get("action_type", "continuous") != "continuous":
        raise CheckpointError(
            f"metadata.json: task {task!r} has action_type {info['action_type']!r}; vintix_model "
            "takes continuous actions only"
        )
    return obs, act


def registry_task(name: str):
    """Our registry task for one of the release's task names (Meta-World ``*-v2`` ids name our ``*-v3`` tasks,
    whose paper name is the unversioned one), or None."""
    from vintix_data.registry import UnknownTaskError, get_task

    try:
        return get_task(name)
    except UnknownTaskError:
        pass
    m = re.fullmatch(r"(.+)-v2", name)
    if m:
        try:
            spec = get_task(m.group(1))
        except UnknownTaskError:
            return None
        return spec if spec.paper_name.lower() == m.group(1).lower() else None
    return None


def map_tasks(metadata: dict[str, Any]) -> tuple[list[MappedTask], dict[str, str]]:
    """The release's tasks as ours, and its group -> our group; refuses a group or task the registry cannot map."""
    from vintix_model.model.groups import group_name, registry_task_dims

    if not isinstance(metadata, dict) or not metadata:
        raise CheckpointError("metadata.json holds no tasks (expected a JSON object: task name -> metadata)")
    tasks: list[MappedTask] = []
    group_map: dict[str, str] = {}
    reverse: dict[str, str] = {}
    dims: dict[str, tuple[int, int]] = {}
    for name, info in metadata.items():
        obs, act = _dims(name, info)
        orig_group = str(info["group_name"])
        spec = registry_task(name)
        if spec is None:
            raise CheckpointError(
                f"metadata.json: group {orig_group!r} cannot be mapped: its task {name!r} is not a "
                "task of the registry (vintix-data tasks lists them)"
            )
        expected = registry_task_dims(spec.id, mujoco_obs="v4")
        if (expected.obs_dim, expected.act_dim) != (obs, act):
            raise CheckpointError(
                f"metadata.json: task {name!r} (group {orig_group!r}) has dims {obs}/{act}, our task "
                f"{spec.id} has {expected.obs_dim}/{expected.act_dim}; group not mapped"
            )
        group = group_name(spec.domain, obs, act, spec.id)
        if group_map.setdefault(orig_group, group) != group:
            raise CheckpointError(
                f"metadata.json: group {orig_group!r} holds tasks of our groups {group_map[orig_group]} "
                f"and {group} ({name}); its encoder cannot be mapped to one of ours"
            )
        if reverse.setdefault(group, orig_group) != orig_group:
            raise CheckpointError(
                f"metadata.json: groups {reverse[group]!r} and {orig_group!r} both map to our group "
                f"{group}; one of ours cannot take two encoders"
            )
        if dims.setdefault(orig_group, (obs, act)) != (obs, act):
            raise CheckpointError(
                f"metadata.json: group {orig_group!r} has tasks of dims {dims[orig_group]} and {(obs, act)} ({name})"
            )
        if any(t.spec.id == spec.id for t in tasks):
            raise CheckpointError(f"metadata.json: task {name!r} is our {spec.id}, as another task of the file is")
        tasks.append(MappedTask(name, orig_group, spec, group, obs, act, dict(info)))
    return tasks, group_map


def task_metadata(t: MappedTask, obs_norm: str) -> dict[str, Any]:
    """Our ``metadata.json`` entry for a converted task: the release's stats (obs std with ddof=1) and reward scale,
    the registry's env facts, and where it came from."""
    from vintix_data.domains import adapter_for

    info = t.info
    mean, std = info.get("obs_mean"), info.get("obs_std")
    if obs_norm == "none" and (mean is None or std is None):
        mean, std = [0.0] * t.obs_dim, [1.0] * t.obs_dim
    for key, v in (("obs_mean", mean), ("obs_std", std)):
        if not isinstance(v, list) or len(v) != t.obs_dim:
            raise CheckpointError(
                f"metadata.json: task {t.original!r} {key} has {len(v) if isinstance(v, list) else v!r} "
                f"values, its observation_shape says {t.obs_dim}"
            )
    try:
        mean, std, reward_scale = [float(x) for x in mean], [float(x) for x in std], float(info["reward_scale"])
    except (TypeError, ValueError):
        raise CheckpointError(f"metadata.json: task {t.original!r} has non-numeric stats or reward_scale") from None
    # the env the release trained on, where the name says it (MuJoCo *-v4 -> gymnasium's v4 layout at evaluation)
    trained_on = adapter_for(t.spec).checkpoint_options(t.spec, t.original)
    return {
        "group": t.group,
        "domain": t.spec.domain,
        "obs_dim": t.obs_dim,
        "act_dim": t.act_dim,
        "reward_scale": reward_scale,
        "obs_mean": mean,
        "obs_std": std,
        "obs_std_ddof": 1,
        "episode_sparsity": t.spec.episode_sparsity,
        "dataset": None,
        "env_id": t.original if trained_on else t.spec.env_id,
        "env_kwargs": dict(t.spec.env_kwargs),
        "episode_limit": t.spec.episode_limit,
        "reference_scores": None,
        "hidden_observation": None,
        "env_options": {},
        "original_task": t.original,
        "original_group": t.original_group,
        "acs_mean": info.get("acs_mean"),
        "acs_std": info.get("acs_std"),
    }
