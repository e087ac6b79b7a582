"""`vintix-model convert`: a released Vintix checkpoint (original layout, see :mod:`vintix_model.original.layout`) into ours.

The source is a local folder or a Hub model repo (``dunnolab/Vintix``; downloaded with ``snapshot_download``, pinned
to the commit it resolved to). Everything is read and checked before anything is written: the three files, the
config (refused if our model cannot express it), the task and group names (refused if the registry cannot map
them), and the state_dict (``torch.load(map_location="cpu", weights_only=True)``, so a pickle cannot run code),
whose every key must map one to one onto ours with equal shapes (a strict load). The result is written into a
temporary sibling of ``--out`` and renamed, so a failed conversion leaves nothing that looks like a checkpoint.

The converted ``metadata.json`` records the source (repo or folder, commit, sha256 of each file), the group and
task maps and the original config; the model card (``README.md``) says the same.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vintix_data.preflight import check_output_folder
from vintix_model.model.checkpoint import WEIGHTS, CheckpointError, save_pretrained
from vintix_model.model.groups import GroupSpec
from vintix_model.original import layout as original


@dataclass
class Source:
    folder: Path
    repo: str  # Hub repo id, or the local folder
    revision: str | None  # the Hub commit the snapshot holds; None for a local folder
    sha256: dict[str, str]


def resolve_source(src: str, revision: str | None = None) -> Source:
    """A local original-layout folder, or a Hub model repo downloaded (its three files) at ``revision``."""
    from vintix_data.format import file_sha256

    path = Path(src).expanduser()
    if path.exists():
        if not path.is_dir():
            raise CheckpointError(f"{src}: not a folder (expected model.pth, config.json and metadata.json)")
        folder, repo, commit = path.resolve(), str(path.resolve()), None
    elif src.count("/") == 1 and not src.startswith((".", "/")):
        from vintix_data.hub.client import HubError, snapshot

        try:
            folder = snapshot(src, revision=revision, allow_patterns=list(original.ORIGINAL_FILES), repo_type="model")
        except HubError as e:
            raise CheckpointError(f"{src}: cannot download ({e})") from None
        repo, commit = src, folder.name  # a Hub snapshot folder is named by its commit
    else:
        raise CheckpointError(f"{src}: no such folder, and not a Hub model id of the form ORG/NAME")
    missing = [n for n in original.ORIGINAL_FILES if not (folder / n).is_file()]
    if missing:
        hint = " (it is already a vintix_model checkpoint)" if (folder / WEIGHTS).exists() else ""
        raise CheckpointError(
            f"{src}: not an original-layout Vintix checkpoint: no {', '.join(missing)}{hint}; expected "
            "model.pth, config.json and metadata.json as dunnolab/Vintix ships them"
        )
    return Source(folder, repo, commit, {n: file_sha256(folder / n) for n in original.ORIGINAL_FILES})


def _json(folder: Path, name: str) -> Any:
    try:
        return json.loads((folder / name).read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(
            f"{folder / name}: unreadable JSON ({type(e).__name__}: {str(e).splitlines()[0][:80]})"
        ) from None


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """``model.pth`` as a state_dict, with ``weights_only=True``: tensors and plain containers only, no code runs."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - UnpicklingError, RuntimeError (not a zip), EOFError ...: one line
        msg = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        raise CheckpointError(
            f"{path}: not a state_dict torch.load(weights_only=True) can read ({type(e).__name__}: {msg})"
        ) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state_dict of named tensors")
    return state


def _first(keys: list[str]) -> str:
    return f"{keys[0]!r}" + (f" (and {len(keys) - 1} more)" if len(keys) > 1 else "")


def build(state: dict[str, torch.Tensor], config: dict, metadata: dict):
    """Our model with the release's weights (strict: every key mapped, every shape equal); ``(model, key_map, tasks,
    group_map)``."""
    from vintix_model.model.vintix import Vintix

    cfg = original.model_config(config)
    tasks, group_map = original.map_tasks(metadata)
    groups = {}
    for t in tasks:
        groups.setdefault(t.group, GroupSpec(t.group, t.obs_dim, t.act_dim))
    metas = {t.spec.id: original.task_metadata(t, cfg.obs_norm) for t in tasks}
    with torch.device("meta"):
        model = Vintix(cfg, groups, metas)
    ours = model.state_dict()
    mapping = original.key_map(ours, {g: o for o, g in group_map.items()})
    missing = sorted(set(mapping) - set(state))
    extra = sorted(set(state) - set(mapping))
    if missing:
        raise CheckpointError(f"model.pth: missing key {_first(missing)} that config.json and metadata.json call for")
    if extra:
        raise CheckpointError(
            f"model.pth: unexpected key {_first(extra)}: no part of the model config.json and metadata.json describe"
        )
    converted = {}
    for orig, key in mapping.items():
        x, want = state[orig], ours[key].shape
        if x.shape != want and not (key in ("pad_action", "pad_reward") and x.numel() == want.numel() and x.dim() == 2):
            raise CheckpointError(
                f"model.pth: {orig!r} has shape {tuple(x.shape)}, config.json and metadata.json call "
                f"for {tuple(want)} (our {key})"
            )
        converted[key] = (x.reshape(want) if x.shape != want else x).to(torch.float32).contiguous()
    model.load_state_dict(converted, strict=True, assign=True)
    model.backbone.reset_buffers("cpu")
    return model.eval(), mapping, tasks, group_map


def check_out(out: Path) -> None:
    """``out`` is missing or an empty folder, and it and the folder of its temporary sibling can be written
    (``vintix_data.preflight``), before anything is downloaded or read."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CheckpointError(f"--out {out} exists and is not an empty folder; choose another --out")
    check_output_folder(out)
    if out.exists():  # the checkpoint is built beside it, then renamed onto it
        check_output_folder(out.parent, f"--out {out}: its parent")


def convert(src: str, out: str | Path, revision: str | None = None) -> dict[str, Any]:
    """Convert the release at ``src`` into a checkpoint folder ``out``; a summary of what was done."""
    from vintix_model.hub import render_card

    out = Path(out)
    check_out(out)
    source = resolve_source(src, revision)
    config = _json(source.folder, "config.json")
    metadata = _json(source.folder, "metadata.json")
    original.model_config(config)  # refuse an inexpressible config before reading the weights
    original.map_tasks(metadata)
    model, mapping, tasks, group_map = build(load_state_dict(source.folder / "model.pth"), config, metadata)
    record = {
        "format": "dunnolab/vintix original layout (model.pth, config.json, metadata.json)",
        "repo": source.repo,
        "revision": source.revision,
        "sha256": source.sha256,
        "group_map": group_map,
        "task_map": {t.original: t.spec.id for t in tasks},
        "obs_norm": model.config.obs_norm,
        "keys": len(mapping),
        "original_config": config,
    }
    tmp = out.parent / f".{out.name}.convert-tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_pretrained(model, tmp, {"converted_from": record, "step": None})
        (tmp / "README.md").write_text(render_card(tmp))
        for p in tmp.iterdir():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        if out.exists():
            out.rmdir()  # empty (checked above)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "out": str(out),
        "source": source.repo,
        "revision": source.revision,
        "parameters": model.num_parameters(),
        "keys": len(mapping),
        "tasks": len(tasks),
        "groups": group_map,
        "obs_norm": model.config.obs_norm,
    }
