"""Import: a task folder in the original layout into a validated dataset folder (see ``legacy_h5``)."""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vintix_data.domains import DomainUnavailableError, make_env, resolve
from vintix_data.format import (
    DatasetInfo,
    ReferenceScores,
    RunningStats,
    file_sha256,
    row_schema,
    rows_per_shard,
    space_dict,
    write_shards,
)
from vintix_data.legacy_h5.hashes import check_hashes, read_hash_list
from vintix_data.legacy_h5.layout import ImportNotValid, LegacyH5Error, h5py_module
from vintix_data.legacy_h5.scan import SourceFile, SourceScan, read_metadata, scan_source
from vintix_data.legacy_h5.staging import check_out, publish, staging_path
from vintix_data.registry import TaskSpec, UnknownTaskError, get_task


def resolve_task(task: str | None, metadata_task: Any, meta_path: Path) -> TaskSpec:
    """``--task`` or, without it, the metadata's ``task_name``; both through the registry, which is
    case-insensitive (the original's ``ShadowHandBlockStack`` is our ``shadowhandblockstack``)."""
    from_meta = None
    if isinstance(metadata_task, str):
        try:
            from_meta = get_task(metadata_task)
        except UnknownTaskError:
            from_meta = None
    if task is None:
        if from_meta is None:
            raise LegacyH5Error(f"{meta_path}: task_name {metadata_task!r} is not a known task; pass --task")
        return from_meta
    spec = get_task(task)
    if from_meta is not None and from_meta.id != spec.id:
        raise LegacyH5Error(f"{meta_path}: task_name {metadata_task!r} is task {from_meta.id}, not --task {spec.id}")
    return spec


def _spaces(spec: TaskSpec, obs_dim: int, act_dim: int, meta_path: Path) -> tuple[dict, dict, str]:
    """Observation/action spaces from the task's environment when it can be built here, else unbounded."""
    try:
        env = make_env(spec)
        obs_space, act_space = env.observation_space, env.action_space
        env.close()
    except (DomainUnavailableError, ImportError, OSError):  # the domain cannot run here (Bi-DexHands needs IsaacGym)
        if (spec.obs_dim, spec.act_dim) != (obs_dim, act_dim):
            raise LegacyH5Error(
                f"{meta_path}: observation/action dims {obs_dim}/{act_dim} differ from task {spec.id}'s "
                f"{spec.obs_dim}/{spec.act_dim}"
            ) from None
        unknown = lambda d: {
            "type": "Box",
            "shape": [d],
            "dtype": "float32",
            "low": [-math.inf] * d,  # noqa: E731
            "high": [math.inf] * d,
        }
        return unknown(obs_dim), unknown(act_dim), "unknown: the environment cannot be built here; bounds left open"
    o, a = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
    if (o, a) != (obs_dim, act_dim):
        raise LegacyH5Error(
            f"{meta_path}: observation/action dims {obs_dim}/{act_dim} differ from task {spec.id}'s environment {o}/{a}"
        )
    return space_dict(obs_space), space_dict(act_space), "from the task's environment"


def _episode_limit(spec: TaskSpec, scan: SourceScan, steps: int, override: int | None) -> tuple[int, str]:
    longest, where = 0, None
    for sf in scan.files:
        starts = sf.starts[sf.starts < steps]
        lengths = np.diff(np.r_[starts, steps])
        # The last episode of a history may be cut; it can only be shorter than the limit, never longer.
        if len(lengths) and lengths.max() > longest:
            longest, where = int(lengths.max()), sf
    if override is not None:
        if override < 1:
            raise LegacyH5Error(f"--episode-limit must be >= 1, got {override}")
        limit, source = override, "--episode-limit"
    elif resolve(spec).adapter.episode_limit_is_mean:
        limit, source = spec.episode_limit, "registry (the paper's mean episode length)"
        if longest > limit:
            limit, source = longest, "the longest episode in the data (the registry only has the paper's mean length)"
    else:
        limit, source = spec.episode_limit, "registry"
    if limit and longest > limit:
        raise LegacyH5Error(
            f"{where.path}: an episode of {longest} steps is longer than the episode limit {limit} of "
            f"{spec.id} ({source}); wrong --task, or pass --episode-limit"
        )
    return limit, source


class _Writer:
    """Rows of one source file, chunk by chunk, as row tables; episodes and stats on the side."""

    def __init__(self, schema: pa.Schema, limit: int, steps: int, has_demo: bool, obs_dim: int, act_dim: int):
        self.schema, self.limit, self.steps, self.has_demo = schema, limit, steps, has_demo
        self.stats = {"observation": RunningStats(obs_dim), "action": RunningStats(act_dim), "reward": RunningStats(1)}
        if has_demo:
            self.stats["demonstrator_action"] = RunningStats(act_dim)
        self.episodes: list[dict] = []
        self.row = 0  # global row index of the next row

    def tables(self, history: int, sf: SourceFile) -> Iterator[pa.Table]:
        h5py = h5py_module()
        steps = self.steps
        starts = sf.starts[sf.starts < steps]
        open_rewards: list[np.ndarray] = []
        first_row = self.row
        with h5py.File(sf.path, "r") as f:
            for c in sf.chunks:
                if c.first >= steps:
                    break
                n = min(c.last + 1, steps) - c.first
                g = f[c.name]
                obs = np.asarray(g["proprio_observation"][:n], np.float32)
                act = np.asarray(g["action"][:n], np.float32)
                rew = np.asarray(g["reward"][:n], np.float32).reshape(n)
                step = np.asarray(g["step_num"][:n], np.int32)
                demo = np.asarray(g[sf.demo_key][:n], np.float32) if self.has_demo else None
                t = np.arange(c.first, c.first + n, dtype=np.int64)
                episode = (np.searchsorted(starts, t, side="right") - 1).astype(np.int32)
                end = np.isin(t + 1, starts) | (t == steps - 1)
                truncated = end & ((step.astype(np.int64) + 1 >= self.limit) | (t == steps - 1))
                terminated = end & ~truncated
                for name, x in (("observation", obs), ("action", act), ("reward", rew), ("demonstrator_action", demo)):
                    if x is not None:
                        self.stats[name].update(x)
                # episode returns: each summed at once over the whole episode, as the collector does
                cuts = np.flatnonzero(end) + 1
                lo = 0
                for hi in cuts:
                    open_rewards.append(rew[lo:hi])
                    r = np.concatenate(open_rewards) if len(open_rewards) > 1 else open_rewards[0]
                    e = int(episode[hi - 1])
                    self.episodes.append(
                        {
                            "history": history,
                            "episode": e,
                            "first_row": first_row + int(starts[e]),
                            "length": len(r),
                            "return": float(r.sum(dtype=np.float64)),
                            "mean_epsilon": None,
                            "terminated": bool(terminated[hi - 1]),
                            "truncated": bool(truncated[hi - 1]),
                            "final_observation": None,
                            "reset_seed": None,
                            "variation": None,
                        }
                    )
                    open_rewards, lo = [], hi
                if lo < n:
                    open_rewards.append(rew[lo:].copy())
                cols = {
                    "history": pa.array(np.full(n, history, np.int32)),
                    "episode": pa.array(episode),
                    "step": pa.array(step),
                    "t": pa.array(t),
                    "observation": _fixed(obs),
                    "action": _fixed(act),
                    "demonstrator_action": _fixed(demo)
                    if demo is not None
                    else pa.nulls(n, self.schema.field("demonstrator_action").type),
                    "epsilon": pa.nulls(n, pa.float32()),
                    "reward": pa.array(rew),
                    "terminated": pa.array(terminated),
                    "truncated": pa.array(truncated),
                }
                self.row += n
                yield pa.table(cols, schema=self.schema)
        assert not open_rewards, "the last row of a history always closes an episode"


def _fixed(x: np.ndarray) -> pa.FixedSizeListArray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float32()), x.shape[1])


def import_h5(
    src: str | Path,
    out: str | Path,
    task: str | None = None,
    *,
    episode_limit: int | None = None,
    truncate_histories: bool = False,
    chunk_check: bool = False,
    command: list[str] | None = None,
    scan: SourceScan | None = None,
    sha256_list: str | Path | None = None,
) -> tuple[DatasetInfo, Any]:
    """Convert a task folder in the original layout into a validated dataset folder at ``out``.

    Returns ``(info, validation report)``. Raises :class:`LegacyH5Error` on bad input before anything is
    written, and :class:`ImportNotValid` when the written folder does not validate (then ``out`` is untouched).
    """
    src, out = Path(src), Path(out)
    check_out(out)
    hashes = None
    if sha256_list is not None and src.is_dir():  # every file checked against the list before any is read as HDF5
        expected = read_hash_list(Path(sha256_list))
        meta_path = read_metadata(src)[0]
        hashes = {
            p.name: file_sha256(p)
            for p in sorted(src.iterdir())
            if p.is_file() and (p.name.endswith(".h5") or p == meta_path)
        }
        check_hashes(expected, hashes, Path(sha256_list))
    scan = scan or scan_source(src, chunk_check=chunk_check, hash_files=hashes is None)
    for sf in scan.files if hashes else []:
        sf.sha256 = hashes[sf.name]
    from vintix_data.collect.finalize import provenance, write_episodes_and_stats, write_info_manifest_plot_card
    from vintix_data.validate import ValidationConfig, validate

    spec = resolve_task(task, scan.metadata.get("task_name"), scan.metadata_path)
    obs_space, act_space, spaces_note = _spaces(spec, scan.obs_dim, scan.act_dim, scan.metadata_path)
    lengths = {sf.name: sf.rows for sf in scan.files}
    steps = min(lengths.values())
    if len(set(lengths.values())) > 1 and not truncate_histories:
        longest = max(scan.files, key=lambda sf: sf.rows)
        shortest = min(scan.files, key=lambda sf: sf.rows)
        raise LegacyH5Error(
            f"{shortest.path}: {shortest.rows} rows but {longest.name} has {longest.rows}; every history of "
            f"a dataset has the same length: pass --truncate-histories to cut all to {steps}"
        )
    limit, limit_source = _episode_limit(spec, scan, steps, episode_limit)

    staging = staging_path(out, "import")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    published = False
    try:
        schema = row_schema(scan.obs_dim, scan.act_dim)
        writer = _Writer(schema, limit, steps, scan.has_demo, scan.obs_dim, scan.act_dim)

        def tables():
            for h, sf in enumerate(scan.files):
                yield from writer.tables(h, sf)

        total = steps * len(scan.files)
        shards = write_shards(staging, tables(), schema, total, rows_per_shard(scan.obs_dim, scan.act_dim))
        write_episodes_and_stats(staging, writer.episodes, writer.stats, scan.obs_dim)
        refs = ReferenceScores(
            paper_random_mean=spec.random_mean,
            paper_random_std=spec.random_std,
            paper_expert_mean=spec.expert_mean,
            paper_expert_std=spec.expert_std,
        )
        meta_sha = file_sha256(scan.metadata_path)
        info = DatasetInfo(
            task=spec.id,
            domain=spec.domain,
            split=spec.split,
            env_id=spec.env_id,
            env_kwargs=dict(spec.env_kwargs),
            observation_space=obs_space,
            action_space=act_space,
            obs_dim=scan.obs_dim,
            act_dim=scan.act_dim,
            reward_scale=spec.reward_scale,
            episode_limit=limit,
            histories=len(scan.files),
            steps_per_history=steps,
            total_steps=total,
            episodes=len(writer.episodes),
            num_shards=len(shards),
            schedule=None,
            demonstrator={
                "kind": "unknown",
                "id": "unknown (imported from the original HDF5 layout)",
                "sha256": None,
                "measured_mean_return": None,
                "normalized_score_paper": None,
            },
            reference_scores=refs,
            seed=None,
            provenance=provenance(command or ["vintix-data", "import-h5", str(src)]),
            observation_names=resolve(spec).observation_names(),
            source="import-h5",
            extra={
                "source_files": [f"{sf.name} sha256:{sf.sha256}" for sf in scan.files]
                + [f"{scan.metadata_path.name} sha256:{meta_sha}"],
                "h5_source": {
                    "folder": str(src.resolve()),
                    "metadata_file": scan.metadata_path.name,
                    "metadata_sha256": meta_sha,
                    "metadata": scan.metadata,
                    "metadata_text": scan.metadata_path.read_text(),
                    "layout": f"vintix-ii ({scan.demo_key})" if scan.has_demo else "vintix-i",
                    "demonstrator_key": scan.demo_key,  # the name it had there; export-h5 writes it back under it
                    "files": [
                        {
                            "name": sf.name,
                            "sha256": sf.sha256,
                            "size": sf.path.stat().st_size,
                            "rows": sf.rows,
                            "chunks": len(sf.chunks),
                            "chunk_rows": sf.chunks[0].rows,
                        }
                        for sf in scan.files
                    ],
                    "truncated_to_rows": steps if len(set(lengths.values())) > 1 else None,
                },
                "episode_limit_source": limit_source,
                "spaces": spaces_note,
                "end_flags": "reconstructed from step_num: an episode followed by step_num 0 is truncated when its length "
                "reaches episode_limit, else terminated; a history's last episode is truncated",
                "missing_fields": ["epsilon", "final_observation", "reset_seed"]
                + ([] if scan.has_demo else ["demonstrator_action"]),
            },
        )
        write_info_manifest_plot_card(staging, info)
        report = validate(staging, ValidationConfig())
        if not report.ok:
            raise ImportNotValid(report.errors, staging)
        publish(staging, out)
        published = True
        return info, report
    except ImportNotValid:
        published = True  # keep the staging folder for inspection
        raise
    finally:
        if not published and staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
