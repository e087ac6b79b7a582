"""Checkpoints on disk: ``model.safetensors`` + ``config.json`` + ``metadata.json`` (save, load, atomic writes).

* ``config.json``: the model config and the groups (name -> obs/act dims): enough to rebuild the network.
* ``metadata.json``: per task its group, dims, observation mean/std, reward scale, episode sparsity and the
  dataset it came from (source, requested and resolved revision, manifest sha256); the training config; step.

A training run folder holds ``checkpoints/step-XXXXXXX/`` and a ``latest`` pointer; every loader here accepts
a checkpoint folder, a run folder (its latest checkpoint) or a Hub model id (downloaded through the data side's
Hub client, ``vintix_data.hub.client``). Publishing is in ``vintix_model.hub``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from vintix_data.errors import UserError
from vintix_model.model.config import ConfigError, ModelConfig, model_config_from_dict, to_dict
from vintix_model.model.groups import GroupSpec

WEIGHTS, CONFIG, METADATA, STATE = "model.safetensors", "config.json", "metadata.json", "training_state.pt"
LATEST = "latest"


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be found, read or used (one-line message)."""


def vintix_version() -> str:
    from vintix_data.version import __version__

    return __version__


def save_pretrained(model, folder: str | Path, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights, config and metadata into ``folder`` (callers make the folder itself atomic)."""
    from safetensors.torch import save_file

    from vintix_data.jsonio import dumps

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / WEIGHTS), metadata={"format": "pt"})
    config = {
        "model_type": "vintix",
        "vintix_version": vintix_version(),
        "model": to_dict(model.config),
        "groups": {name: g.to_dict() for name, g in model.groups.items()},
    }
    (folder / CONFIG).write_text(dumps(config, indent=2) + "\n")  # strict JSON (vintix_data/jsonio.py)
    meta = {"tasks": model.tasks, "groups": config["groups"], "parameters": model.num_parameters(), **(metadata or {})}
    (folder / METADATA).write_text(dumps(meta, indent=2) + "\n")
    return folder


def checkpoint_dir(path: str | Path) -> Path:
    """A checkpoint folder itself, or the one a run folder's ``latest`` names."""
    path = Path(path).expanduser()
    if (path / WEIGHTS).exists():
        return path
    latest = path / LATEST
    if latest.exists():
        target = path / latest.read_text().strip()
        if (target / WEIGHTS).exists():
            return target
        raise CheckpointError(f"{path}: 'latest' names {target.name}, which has no {WEIGHTS}")
    raise CheckpointError(f"{path}: no {WEIGHTS} and no '{LATEST}' pointer (not a checkpoint or training run folder)")


def resolve(id_or_dir: str | Path, revision: str | None = None) -> Path:
    path = Path(id_or_dir).expanduser()
    if path.exists():
        return checkpoint_dir(path)
    repo = str(id_or_dir)
    if repo.count("/") != 1 or repo.startswith((".", "/")):
        raise CheckpointError(f"{id_or_dir}: no such folder, and not a Hub model id of the form ORG/NAME")
    from vintix_data.hub.client import HubError, snapshot

    try:
        return snapshot(
            repo, revision=revision, allow_patterns=[WEIGHTS, CONFIG, METADATA, "README.md"], repo_type="model"
        )
    except HubError as e:
        raise CheckpointError(f"{id_or_dir}: cannot download ({e})") from None


def read_config(folder: Path) -> tuple[ModelConfig, dict[str, GroupSpec], dict[str, Any]]:
    try:
        config = json.loads((folder / CONFIG).read_text())
        metadata = json.loads((folder / METADATA).read_text()) if (folder / METADATA).exists() else {}
        model_cfg = model_config_from_dict(config["model"])
        groups = {n: GroupSpec(n, int(g["obs_dim"]), int(g["act_dim"])) for n, g in config["groups"].items()}
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as e:
        raise CheckpointError(f"{folder}: unreadable {CONFIG}/{METADATA} ({type(e).__name__}: {e})") from None
    return model_cfg, groups, metadata


def load_pretrained(model_cls, id_or_dir: str | Path, revision: str | None = None, device: str | torch.device = "cpu"):
    """A ``model_cls`` (:class:`vintix_model.model.vintix.Vintix`) with the weights of a checkpoint folder, run folder or Hub id."""
    from safetensors.torch import load_file

    folder = resolve(id_or_dir, revision)
    model_cfg, groups, metadata = read_config(folder)
    with torch.device("meta"):
        model = model_cls(model_cfg, groups, metadata.get("tasks", {}))
    try:
        state = load_file(str(folder / WEIGHTS), device=str(device))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own and OS errors on a bad file: one line
        raise CheckpointError(f"{folder / WEIGHTS}: unreadable ({type(e).__name__})") from None
    expected = {k: v.shape for k, v in model.state_dict().items()}
    missing, unexpected = set(expected) - set(state), set(state) - set(expected)
    wrong = [k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k])]
    if missing or unexpected or wrong:
        first = sorted(missing)[:1] or sorted(unexpected)[:1] or wrong[:1]
        raise CheckpointError(
            f"{folder}: weights do not match config.json ({len(missing)} missing, {len(unexpected)} "
            f"unexpected, {len(wrong)} wrong shape; e.g. {first[0]})"
        )
    model.load_state_dict(state, assign=True)
    model.backbone.reset_buffers(device)
    model.metadata = metadata
    model.folder = folder  # where the weights came from (a Hub snapshot folder for a Hub id)
    return model.eval()


def atomic_checkpoint(run_dir: Path, name: str, write) -> Path:
    """Write a checkpoint into a temporary folder, rename it into ``checkpoints/name``, then repoint ``latest``.

    A crash at any point leaves the previous checkpoint and ``latest`` intact (rename and replace are atomic).
    """
    ckpts = run_dir / "checkpoints"
    ckpts.mkdir(parents=True, exist_ok=True)
    final = ckpts / name
    tmp = ckpts / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    write(tmp)
    for p in tmp.iterdir():
        with open(p, "rb") as f:
            os.fsync(f.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    pointer = run_dir / f".{LATEST}.tmp"
    pointer.write_text(f"checkpoints/{name}\n")
    os.replace(pointer, run_dir / LATEST)
    return final
