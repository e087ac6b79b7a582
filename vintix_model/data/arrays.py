"""Training data: vintix datasets (Hub ids or folders, one code path) as memory-mapped arrays plus task metadata.

Each dataset goes through ``vintix_data.load`` (a Hub id becomes a revision-pinned snapshot, a folder stays a
folder), is checked with ``vintix-data validate`` and its parquet shards are decoded once into ``.npy`` files
under ``$VINTIX_CACHE/arrays/<task>-<manifest sha>/`` (content-addressed, written atomically). Training reads
those with ``numpy.load(mmap_mode="r")``: DataLoader workers share the page cache instead of each holding a
decoded copy, and a window is a slice. Normalization (observation mean/std) and the reward scale come from the
dataset's ``meta/stats.json`` and ``meta/info.json``; nothing is recomputed here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from vintix_data.errors import UserError
from vintix_model.model.groups import group_name

ARRAY_FILES = ("observation", "action", "demonstrator_action", "reward", "step", "history", "episode")


class DataError(UserError, ValueError):
    """A dataset that cannot be trained on (one-line message)."""


def cache_root() -> Path:
    root = os.environ.get("VINTIX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vintix"
    )
    return Path(root)


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``ORG/NAME@REVISION`` or a folder -> (source, revision)."""
    if "@" in ref and not Path(ref).exists():
        src, rev = ref.rsplit("@", 1)
        return src, rev or None
    return ref, None


def expand_suites(refs: list[str]) -> tuple[list[str], list[dict]]:
    """Each ``suite:ORG/SELECTION[@INDEX_REVISION]`` becomes one ``ORG/NAME@COMMIT`` per task, pinned by the
    organization's index (``vintix_data.suite``); other refs stay as given. Also returns what every suite resolved
    to (index commit, repo and commit per task), which the run's checkpoints record."""
    from vintix_data.suite import parse_suite_ref, resolve_suite

    out: list[str] = []
    suites: list[dict] = []
    for ref in refs:
        parsed = parse_suite_ref(ref)
        if parsed is None:
            out.append(ref)
            continue
        resolved = resolve_suite(*parsed)
        out += resolved.refs
        suites.append(resolved.describe())
    return out, suites


@dataclass
class TaskData:
    """One dataset = one task: metadata for the model and paths of its cached arrays."""

    task: str
    domain: str
    group: str
    obs_dim: int
    act_dim: int
    reward_scale: float
    obs_mean: list[float]
    obs_std: list[float]
    episode_sparsity: int
    rows: int
    histories: int
    source: dict[str, Any]
    folder: Path
    arrays: Path | None = None
    has_demonstrator_action: bool = True
    env: dict[str, Any] = field(
        default_factory=dict
    )  # env id, kwargs, episode limit, reference scores (for evaluation)
    obs_count: int = 0  # rows behind obs_mean/obs_std (stats.json's count)
    obs_std_ddof: int = 0  # stats.json's std is over the rows (ddof 0); 1 after use_obs_norm(..., "original")

    def meta(self) -> dict[str, Any]:
        """What ``metadata.json`` keeps per task (enough to normalize, scale and route at evaluation time)."""
        return {
            "group": self.group,
            "domain": self.domain,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "reward_scale": self.reward_scale,
            "obs_mean": self.obs_mean,
            "obs_std": self.obs_std,
            "episode_sparsity": self.episode_sparsity,
            "dataset": self.source,
            "obs_std_ddof": self.obs_std_ddof,
            **self.env,
        }


def ddof1_std(std, count: int) -> list[float]:
    """The sample std (ddof=1, the released Vintix's ``np.std(..., ddof=1)``) from a population std over ``count`` rows."""
    factor = np.sqrt(count / (count - 1)) if count > 1 else 1.0
    return [float(x) for x in np.asarray(std, np.float64) * factor]


def use_obs_norm(tasks: list[TaskData], mode: str) -> list[TaskData]:
    """Put the stats ``model.obs_norm`` asks for into the tasks (and so into metadata.json): ``original`` takes the
    std with ddof=1, as the released code computed it; the others keep stats.json's."""
    if mode == "original":
        for t in tasks:
            if t.obs_std_ddof == 0:
                t.obs_std, t.obs_std_ddof = ddof1_std(t.obs_std, t.obs_count), 1
    return tasks


def open_task(ref: str, episode_sparsity: int | None = None) -> TaskData:
    """Resolve and read one dataset's metadata (cheap: no data decoded yet)."""
    import vintix_data
    from vintix_data.loading import resolve
    from vintix_data.registry import UnknownTaskError, get_task

    src, revision = parse_ref(ref)
    local = Path(src).expanduser().exists()
    try:
        loaded = vintix_data.load(src, revision=revision, streaming=True)
        # streaming from the Hub fetches only the metadata; the shards of the same commit come next
        folder = Path(loaded.folder if local else resolve(src, revision=Path(loaded.folder).name)).resolve()
    except Exception as e:  # FormatError, Hub errors (not found, offline), datasets errors: all one line
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"dataset {ref}: cannot load ({type(e).__name__}: {msg})") from None
    info, stats = loaded.info, loaded.stats
    try:
        mean, std = stats["observation"]["mean"], stats["observation"]["std"]
    except (KeyError, TypeError):
        raise DataError(f"dataset {ref}: meta/stats.json has no observation mean/std") from None
    if len(mean) != info.obs_dim or len(std) != info.obs_dim:
        raise DataError(f"dataset {ref}: stats.json observation dims {len(mean)} != info.json obs_dim {info.obs_dim}")
    try:
        spec_sparsity = get_task(info.task).episode_sparsity
    except UnknownTaskError:
        spec_sparsity = 1
    manifest = folder / "meta" / "manifest.json"
    manifest_sha = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.exists() else None
    snapshot = None if local else folder.name  # a Hub snapshot folder is named by its commit
    source = {
        "source": src,
        "revision": revision,
        "resolved_revision": snapshot,
        "manifest_sha256": manifest_sha,
        "histories": info.histories,
        "steps_per_history": info.steps_per_history,
    }
    return TaskData(
        task=info.task,
        domain=info.domain,
        group=group_name(info.domain, info.obs_dim, info.act_dim, info.task),
        obs_dim=info.obs_dim,
        act_dim=info.act_dim,
        reward_scale=float(info.reward_scale),
        obs_mean=[float(x) for x in mean],
        obs_std=[float(x) for x in std],
        episode_sparsity=episode_sparsity or spec_sparsity,
        rows=info.total_steps,
        histories=info.histories,
        source=source,
        folder=folder,
        obs_count=int(stats["observation"].get("count") or 0),
        env={
            "env_id": info.env_id,
            "env_kwargs": info.env_kwargs,
            "episode_limit": info.episode_limit,
            "reference_scores": dataclasses.asdict(info.reference_scores),
            # latent-task data: evaluation hides the same columns and keeps one variation per run
            "hidden_observation": info.hidden_observation,
            "env_options": dict(info.extra.get("env_options") or {}),
        },
    )


def check_tasks(tasks: list[TaskData]) -> None:
    """One dataset per task, and one set of dims per group."""
    seen: dict[str, TaskData] = {}
    for t in tasks:
        if t.task in seen:
            other = seen[t.task]
            if (other.obs_dim, other.act_dim) != (t.obs_dim, t.act_dim):
                raise DataError(
                    f"datasets {other.source['source']} and {t.source['source']} are both task {t.task} but "
                    f"with different dims (obs/act {other.obs_dim}/{other.act_dim} vs {t.obs_dim}/{t.act_dim})"
                )
            raise DataError(
                f"datasets {other.source['source']} and {t.source['source']} are both task {t.task}; "
                "pass one dataset per task"
            )
        seen[t.task] = t


def validate_task(t: TaskData) -> None:
    from vintix_data.validate import validate

    report = validate(t.folder)
    if not report.ok:
        raise DataError(
            f"dataset {t.source['source']} fails validation ({len(report.errors)} problem(s), first: "
            f"{report.errors[0]}); see `vintix-data validate {t.folder}`"
        )


def build_arrays(t: TaskData, root: Path | None = None, verified: bool = False) -> Path:
    """Decode the shards once into ``.npy`` files (content-addressed by the manifest); return their folder.
    ``verified``: the caller has just checked every shard's sha256 against the manifest (``validate``)."""
    root = Path(root) if root is not None else cache_root() / "arrays"
    key = (
        t.source["manifest_sha256"]
        or hashlib.sha256(
            json.dumps(
                [
                    (p.name, p.stat().st_size, p.stat().st_mtime_ns)
                    for p in sorted((t.folder / "data").glob("*.parquet"))
                ]
            ).encode()
        ).hexdigest()
    )
    if t.source["manifest_sha256"]:
        check_shards(
            t,
            root / ".verified" / f"{key[:16]}-{hashlib.sha256(str(t.folder).encode()).hexdigest()[:16]}.json",
            verified,
        )
    final = root / f"{t.task}-{key[:16]}"
    if not (final / "done").exists():
        _write_arrays(t, final)
    t.arrays = final
    t.has_demonstrator_action = (final / "demonstrator_action.npy").exists()
    return final


def check_shards(t: TaskData, mark: Path, verified: bool) -> None:
    """The arrays are cached by the manifest's sha256: use (or build) them only while the folder's shards are the ones
    that manifest lists, or a shard edited without its manifest would train, silently, on the old arrays. Hashing
    every shard is a full read, so a check that passed is remembered (``mark``) with the shards' sizes and mtimes
    and done again only when those change."""
    from vintix_data.format import file_sha256

    shards = sorted((t.folder / "data").glob("*.parquet"))
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in shards]
    with contextlib.suppress(OSError, ValueError):
        if json.loads(mark.read_text()) == stamp:
            return
    where = f"dataset {t.source['source']}"
    try:
        entries = {
            e["name"]: e
            for e in json.loads((t.folder / "meta" / "manifest.json").read_text())["files"]
            if e["name"].startswith("data/")
        }
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{where}: meta/manifest.json unreadable ({type(e).__name__})") from None
    names = {f"data/{p.name}" for p in shards}
    if names != set(entries):
        raise DataError(
            f"{where}: the shards under data/ ({len(names)}) are not those its manifest lists ({len(entries)}); "
            f"see `vintix-data validate {t.folder}`"
        )
    for p in shards:
        e = entries[f"data/{p.name}"]
        if p.stat().st_size != e.get("size") or (not verified and file_sha256(p) != e.get("sha256")):
            raise DataError(
                f"{where}: data/{p.name} does not match its manifest (changed after the manifest was "
                f"written), so arrays cached for that manifest are not used; see `vintix-data validate {t.folder}`"
            )
    mark.parent.mkdir(parents=True, exist_ok=True)
    tmp = mark.with_name(f".{mark.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(stamp) + "\n")
    os.replace(tmp, mark)


def _write_arrays(t: TaskData, final: Path) -> None:
    shards = sorted((t.folder / "data").glob("*.parquet"))
    if not shards:
        raise DataError(f"dataset {t.source['source']}: no parquet shards under data/")
    n = sum(pq.ParquetFile(p).metadata.num_rows for p in shards)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    shapes = {
        "observation": ((n, t.obs_dim), np.float32),
        "action": ((n, t.act_dim), np.float32),
        "demonstrator_action": ((n, t.act_dim), np.float32),
        "reward": ((n,), np.float32),
        "step": ((n,), np.int32),
        "history": ((n,), np.int32),
        "episode": ((n,), np.int32),
    }
    out = {k: np.lib.format.open_memmap(tmp / f"{k}.npy", mode="w+", dtype=d, shape=s) for k, (s, d) in shapes.items()}
    has_demo, row = True, 0
    for p in shards:
        for batch in pq.ParquetFile(p).iter_batches(batch_size=65_536, columns=list(ARRAY_FILES)):
            m = batch.num_rows
            for k in ARRAY_FILES:
                col = batch.column(k)
                if k == "demonstrator_action" and col.null_count:
                    has_demo = False
                    continue
                if k in ("observation", "action", "demonstrator_action"):
                    values = col.flatten().to_numpy(zero_copy_only=False).reshape(m, -1)
                else:
                    values = col.to_numpy(zero_copy_only=False)
                if k != "demonstrator_action" or has_demo:
                    out[k][row : row + m] = values
            row += m
    for arr in out.values():
        arr.flush()
    del out
    if not has_demo:
        (tmp / "demonstrator_action.npy").unlink()
    (tmp / "done").write_text(json.dumps({"rows": n, "task": t.task}, allow_nan=False) + "\n")
    try:
        os.rename(tmp, final)
    except OSError:  # another process (rank) finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not (final / "done").exists():
            raise


def prepare(
    refs: list[str],
    episode_sparsity: int | None = None,
    validate: bool = True,
    target: str = "action",
    cache: Path | None = None,
    build: bool = True,
) -> list[TaskData]:
    """Open, check, validate and cache every dataset; the tasks in the order given."""
    if not refs:
        raise DataError("no datasets given")
    tasks = [open_task(r, episode_sparsity) for r in refs]
    check_tasks(tasks)
    if validate:
        for t in tasks:
            validate_task(t)
    if build:
        for t in tasks:
            build_arrays(t, cache, verified=validate)
            if target == "demonstrator_action" and not t.has_demonstrator_action:
                raise DataError(
                    f"dataset {t.source['source']} has no demonstrator_action (imported data?): "
                    "train with train.target=action"
                )
    return tasks
