"""Export: a dataset folder written back in the original layout (see ``legacy_h5``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from vintix_data.format import DatasetInfo, fixed_list_to_numpy, iter_batches
from vintix_data.legacy_h5.hashes import hash_list_path, write_hash_list
from vintix_data.legacy_h5.layout import DEFAULT_CHUNK_ROWS, DEMO_KEY, FLAVORS, LegacyH5Error, h5py_module
from vintix_data.legacy_h5.staging import check_out, publish, staging_path


def _h5_metadata(info: DatasetInfo) -> str:
    """The metadata JSON: an imported dataset's original text verbatim, else the keys the original reads."""
    src = info.extra.get("h5_source") or {}
    if src.get("metadata_text"):
        return src["metadata_text"]
    meta = {
        "task_name": info.task,
        "observation_shape": {"proprio": [info.obs_dim]},
        "action_dim": info.act_dim,
        "action_type": "continuous",
        "reward_scale": info.reward_scale,
        "episode_limit": info.episode_limit,
        "domain": info.domain,
    }
    return json.dumps(meta, indent=2, allow_nan=False) + "\n"


def _file_names(info: DatasetInfo) -> list[str]:
    files = (info.extra.get("h5_source") or {}).get("files") or []
    names = [f["name"] for f in files]
    if len(names) == info.histories and names == sorted(names) and len(set(names)) == len(names):
        return names
    width = max(5, len(str(info.histories - 1)))
    return [f"history_{h:0{width}d}.h5" for h in range(info.histories)]


def demo_key_for(info: DatasetInfo, flavor: str | None) -> str:
    """The dataset name of the demonstrator's actions: ``vintix-i`` ours (``demonstrator_action``), ``vintix-ii`` what
    Vintix II's loaders read (``demonstrator_actions``); by default the name an imported source used, else ours."""
    if flavor is None:
        return (info.extra.get("h5_source") or {}).get("demonstrator_key") or DEMO_KEY
    if flavor not in FLAVORS:
        raise LegacyH5Error(f"--flavor must be one of {', '.join(FLAVORS)}, got {flavor!r}")
    return FLAVORS[flavor]


def export_h5(
    folder: str | Path, out: str | Path, chunk_rows: int | None = None, flavor: str | None = None
) -> dict[str, Any]:
    """Write a dataset folder in the original layout at ``out`` (a task folder); returns a summary. ``flavor``
    ``vintix-ii`` needs demonstrator actions (Vintix II's loader reads them) and refuses a dataset without."""
    h5py = h5py_module()
    folder, out = Path(folder), Path(out)
    info = DatasetInfo.load(folder)
    demo_key = demo_key_for(info, flavor)
    if chunk_rows is None:
        files = (info.extra.get("h5_source") or {}).get("files") or []
        chunk_rows = files[0]["chunk_rows"] if files else DEFAULT_CHUNK_ROWS
    if chunk_rows < 1:
        raise LegacyH5Error(f"--chunk-rows must be >= 1, got {chunk_rows}")
    if not list((folder / "data").glob("*.parquet")):
        raise LegacyH5Error(f"{folder}: no data shards")
    check_out(out)
    if hash_list_path(out).exists():
        raise LegacyH5Error(
            f"{hash_list_path(out)}: already exists (an earlier export's hash list?); remove it or choose another --out"
        )
    names = _file_names(info)
    staging = staging_path(out, "export")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    meta_name = f"{out.name}.json"
    columns = ["history", "t", "step", "observation", "action", "demonstrator_action", "reward"]
    state = {"h": None, "file": None, "buf": [], "buffered": 0, "written": 0, "demo": None, "groups": 0}
    summary = {"files": [], "rows": 0}

    def write_chunk(arrays: dict[str, np.ndarray]) -> None:
        n = len(arrays["reward"])
        first = state["written"]
        g = state["file"].create_group(f"{first}-{first + n - 1}")
        for key in ("proprio_observation", "action", "reward", "step_num") + ((demo_key,) if state["demo"] else ()):
            g.create_dataset(key, data=arrays[key], track_times=False)
        state["written"] += n
        state["groups"] += 1

    def flush(final: bool) -> None:
        while state["buffered"] >= chunk_rows or (final and state["buffered"]):
            merged = {k: np.concatenate([b[k] for b in state["buf"]]) for k in state["buf"][0]}
            n = min(chunk_rows, len(merged["reward"]))
            write_chunk({k: v[:n] for k, v in merged.items()})
            rest = {k: v[n:] for k, v in merged.items()}
            state["buf"] = [rest] if len(rest["reward"]) else []
            state["buffered"] = len(rest["reward"])

    def close_file() -> None:
        if state["file"] is not None:
            flush(final=True)
            state["file"].close()
            summary["files"].append({"name": names[state["h"]], "rows": state["written"], "groups": state["groups"]})
            if state["written"] != info.steps_per_history:
                raise LegacyH5Error(
                    f"{folder}: history {state['h']} has {state['written']} rows, info.json says "
                    f"{info.steps_per_history}"
                )
            state["file"] = None

    try:
        for b in iter_batches(folder, columns=columns):
            hist = b.column("history").to_numpy()
            t = b.column("t").to_numpy()
            demo_col = b.column("demonstrator_action")
            if state["demo"] is None:
                state["demo"] = demo_col.null_count == 0
                if flavor == "vintix-ii" and not state["demo"]:
                    raise LegacyH5Error(
                        f"{folder}: no demonstrator_action (imported Vintix I data?); --flavor vintix-ii "
                        "writes the demonstrator actions Vintix II's loader reads"
                    )
            elif state["demo"] != (demo_col.null_count == 0):
                raise LegacyH5Error(f"{folder}: demonstrator_action is null in some rows and not in others")
            cuts = np.flatnonzero(np.diff(hist)) + 1
            for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(hist)]):
                h = int(hist[lo])
                if h != state["h"]:
                    close_file()
                    if h != (0 if state["h"] is None else state["h"] + 1) or h >= len(names):
                        raise LegacyH5Error(f"{folder}: history {h} out of order (rows must be sorted by (history, t))")
                    state.update(h=h, file=h5py.File(staging / names[h], "w"), buf=[], buffered=0, written=0, groups=0)
                if t[lo] != state["written"] + state["buffered"] or np.any(np.diff(t[lo:hi]) != 1):
                    raise LegacyH5Error(f"{folder}: history {h} t={t[lo]}: rows not contiguous in t")
                sl = b.slice(lo, hi - lo)
                part = {
                    "proprio_observation": fixed_list_to_numpy(sl.column("observation")).astype(np.float32, copy=False),
                    "action": fixed_list_to_numpy(sl.column("action")).astype(np.float32, copy=False),
                    "reward": sl.column("reward").to_numpy().astype(np.float32, copy=False),
                    "step_num": sl.column("step").to_numpy().astype(np.int32, copy=False),
                }
                if state["demo"]:
                    part[demo_key] = fixed_list_to_numpy(sl.column("demonstrator_action")).astype(
                        np.float32, copy=False
                    )
                state["buf"].append(part)
                state["buffered"] += hi - lo
                flush(final=False)
        close_file()
        if len(summary["files"]) != info.histories:
            raise LegacyH5Error(
                f"{folder}: {len(summary['files'])} histories in the shards, info.json says {info.histories}"
            )
        (staging / meta_name).write_text(_h5_metadata(info))
        publish(staging, out)
        summary["sha256_list"] = str(write_hash_list(out, hash_list_path(out)))  # for import-h5 --sha256
    except BaseException:
        if state["file"] is not None:
            state["file"].close()
        shutil.rmtree(staging, ignore_errors=True)
        raise
    summary.update(
        rows=sum(f["rows"] for f in summary["files"]),
        chunk_rows=chunk_rows,
        metadata=meta_name,
        demonstrator_action=bool(state["demo"]),
        demonstrator_key=demo_key if state["demo"] else None,
        out=str(out),
    )
    return summary
