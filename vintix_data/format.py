"""The published dataset layout (docs/design.md §5): row schema, shards, metadata files, manifest.

A dataset folder *is* the Hub dataset repo: ``load_dataset(folder)`` works on it, and ``push`` uploads
it as is. Everything here is written atomically (temporary name, then ``os.replace``) so a crash never
leaves a file that looks complete, and everything that depends only on the data is byte-stable:
equal data give identical shards, ``episodes.parquet`` and ``manifest.json``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vintix_data.errors import UserError

FORMAT_VERSION = "1.0"
DATA_DIR = "data"
META_DIR = "meta"
STATE_DIR = ".vintix"  # resume state; push ignores dot-folders
RELEASE_FORMAT = (
    "vintix-release/1"  # release.json of a release root (vintix-data release writes it, push ROOT reads it)
)
MAX_SHARD_BYTES = 256 * 1024 * 1024
ROW_GROUP_ROWS = 65_536
COLUMNS = (
    "history",
    "episode",
    "step",
    "t",
    "observation",
    "action",
    "demonstrator_action",
    "epsilon",
    "reward",
    "terminated",
    "truncated",
)


class FormatError(UserError, ValueError):
    """A dataset folder or file that does not follow the format (one-line message)."""


def row_schema(obs_dim: int, act_dim: int) -> pa.Schema:
    return pa.schema(
        [
            pa.field("history", pa.int32(), nullable=False),
            pa.field("episode", pa.int32(), nullable=False),
            pa.field("step", pa.int32(), nullable=False),
            pa.field("t", pa.int64(), nullable=False),
            pa.field("observation", pa.list_(pa.float32(), obs_dim), nullable=False),
            pa.field("action", pa.list_(pa.float32(), act_dim), nullable=False),
            pa.field("demonstrator_action", pa.list_(pa.float32(), act_dim)),
            pa.field("epsilon", pa.float32()),
            pa.field("reward", pa.float32(), nullable=False),
            pa.field("terminated", pa.bool_(), nullable=False),
            pa.field("truncated", pa.bool_(), nullable=False),
        ]
    )


def episodes_schema(obs_dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("history", pa.int32()),
            ("episode", pa.int32()),
            ("first_row", pa.int64()),
            ("length", pa.int32()),
            ("return", pa.float64()),
            ("mean_epsilon", pa.float32()),
            ("terminated", pa.bool_()),
            ("truncated", pa.bool_()),
            ("final_observation", pa.list_(pa.float32(), obs_dim)),
            ("reset_seed", pa.int64()),
            # the task variation the episode ran (Meta-World: index into MT1's 50 goal/object variations); null elsewhere
            ("variation", pa.int32()),
        ]
    )


def _fixed_list(x: np.ndarray) -> pa.FixedSizeListArray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float32()), x.shape[1])


@dataclass
class EpisodeData:
    """One completed (or history-final, cut) episode, as the collector produces it."""

    history: int
    episode: int
    t0: int  # t of the first transition
    reset_seed: int
    observation: np.ndarray  # (L, obs_dim) float32
    action: np.ndarray  # (L, act_dim) float32
    demonstrator_action: np.ndarray | None
    epsilon: np.ndarray | None  # (L,) float32
    reward: np.ndarray  # (L,) float32
    terminated: np.ndarray  # (L,) bool
    truncated: np.ndarray  # (L,) bool
    final_observation: np.ndarray  # (obs_dim,) float32

    def __len__(self) -> int:
        return len(self.reward)

    def to_table(self, schema: pa.Schema) -> pa.Table:
        n = len(self)
        cols = {
            "history": pa.array(np.full(n, self.history, np.int32)),
            "episode": pa.array(np.full(n, self.episode, np.int32)),
            "step": pa.array(np.arange(n, dtype=np.int32)),
            "t": pa.array(np.arange(self.t0, self.t0 + n, dtype=np.int64)),
            "observation": _fixed_list(self.observation),
            "action": _fixed_list(self.action),
            "demonstrator_action": _fixed_list(self.demonstrator_action)
            if self.demonstrator_action is not None
            else pa.nulls(n, schema.field("demonstrator_action").type),
            "epsilon": pa.array(self.epsilon, pa.float32()) if self.epsilon is not None else pa.nulls(n, pa.float32()),
            "reward": pa.array(self.reward, pa.float32()),
            "terminated": pa.array(self.terminated, pa.bool_()),
            "truncated": pa.array(self.truncated, pa.bool_()),
        }
        return pa.table(cols, schema=schema)

    # -- resume parts: one .npz per episode, written atomically --------------------------------
    def save_part(self, path: Path) -> None:
        arrays = {
            k: getattr(self, k)
            for k in ("observation", "action", "reward", "terminated", "truncated", "final_observation")
        }
        if self.demonstrator_action is not None:
            arrays["demonstrator_action"] = self.demonstrator_action
        if self.epsilon is not None:
            arrays["epsilon"] = self.epsilon
        arrays["ids"] = np.array([self.history, self.episode, self.t0, self.reset_seed], np.int64)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)

    @classmethod
    def load_part(cls, path: Path) -> EpisodeData:
        with np.load(path) as z:
            h, k, t0, seed = (int(v) for v in z["ids"])
            return cls(
                h,
                k,
                t0,
                seed,
                z["observation"],
                z["action"],
                z.get("demonstrator_action"),
                z.get("epsilon"),
                z["reward"],
                z["terminated"],
                z["truncated"],
                z["final_observation"],
            )


# -- metadata ------------------------------------------------------------------------------------


@dataclass
class ReferenceScores:
    """Per-episode returns of the baselines: measured here (same seeds) and the paper's (Appendix H)."""

    random_mean: float | None = None
    random_std: float | None = None
    demonstrator_mean: float | None = None
    demonstrator_std: float | None = None
    episodes: int = 0
    paper_random_mean: float | None = None
    paper_random_std: float | None = None
    paper_expert_mean: float | None = None
    paper_expert_std: float | None = None
    # the noise-mixed demonstrator at the mean eps of a history's first / last tenth of steps, on the same seeds:
    # what `validate` holds those tenths to (a short history's first tenth may already run at eps 0.9, a history
    # with f < 0.1 may end above eps 0); None where that eps is 1 (= random) or 0 (= demonstrator)
    first_tenth_epsilon: float | None = None
    first_tenth_mean: float | None = None
    first_tenth_std: float | None = None
    # "learner": the first tenth was measured by running it with the reward-driven learner (collect --behaviour
    # learner; vintix_data.collect.learner_reference), its std that of per-run first-tenth means; None: the mixture
    first_tenth_behaviour: str | None = None
    last_tenth_epsilon: float | None = None
    last_tenth_mean: float | None = None
    last_tenth_std: float | None = None
    # success rates of the same reference episodes where the env reports success (Meta-World); None elsewhere
    random_success_rate: float | None = None
    demonstrator_success_rate: float | None = None


@dataclass
class DatasetInfo:
    """``meta/info.json``: everything needed to read, trust and reproduce a dataset."""

    task: str
    domain: str
    split: str
    env_id: str
    env_kwargs: dict[str, Any]
    observation_space: dict[str, Any]
    action_space: dict[str, Any]
    obs_dim: int
    act_dim: int
    reward_scale: float
    episode_limit: int
    histories: int
    steps_per_history: int
    total_steps: int
    episodes: int
    num_shards: int
    schedule: dict[str, Any] | None
    demonstrator: dict[str, Any]
    reference_scores: ReferenceScores
    seed: int | None
    provenance: dict[str, Any]
    observation_names: list[str] | None = None
    source: str = "collect"  # "collect" or "import-h5"
    format_version: str = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    # latent-task data (vintix_data.hiding): {"components": [...], "indices": [...], "fill": x}; None: fully observed
    hidden_observation: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        """The dataset's name: ``vintix-<task>``, with ``-hidden-<components>`` for latent-task data."""
        hidden = self.hidden_observation
        return f"vintix-{self.task}" + ("-hidden-" + "-".join(hidden["components"]) if hidden else "")

    @property
    def goal_blind(self) -> bool:
        """Actions from a goal-blind behaviour (``collect --behaviour decoy|random``), not mixed from
        ``demonstrator_action``; the reward-driven learner's are (``mixed_from``) and are checked like a demonstrator's."""
        behaviour = self.extra.get("behaviour")
        return isinstance(behaviour, dict) and bool(behaviour) and behaviour.get("mixed_from") != "demonstrator_action"

    def to_json(self) -> str:
        from vintix_data.jsonio import dumps  # strict JSON: infinite bounds as null (vintix_data/jsonio.py)

        return dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DatasetInfo:
        d = dict(d)
        d["reference_scores"] = ReferenceScores(**d.get("reference_scores", {}))
        from vintix_data.jsonio import restore_space_bounds  # null bounds -> -inf / +inf

        for key in ("observation_space", "action_space"):
            d[key] = restore_space_bounds(d.get(key))
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def load(cls, folder: Path) -> DatasetInfo:
        path = Path(folder) / META_DIR / "info.json"
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            raise FormatError(f"{folder}: no {META_DIR}/info.json (not a vintix dataset folder)") from None
        except (ValueError, TypeError) as e:
            raise FormatError(f"{path}: unreadable ({e})") from None


def space_dict(space) -> dict[str, Any]:
    return {
        "type": type(space).__name__,
        "shape": list(space.shape),
        "dtype": str(space.dtype),
        "low": np.asarray(space.low).tolist(),
        "high": np.asarray(space.high).tolist(),
    }


class RunningStats:
    """Streaming mean/std/min/max/count per feature (float64 accumulators; Chan's parallel update)."""

    def __init__(self, dim: int):
        self.n = 0
        self.mean = np.zeros(dim)
        self.m2 = np.zeros(dim)
        self.min = np.full(dim, np.inf)
        self.max = np.full(dim, -np.inf)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64).reshape(len(x), -1)
        if len(x) == 0:
            return
        n_b, mean_b = len(x), x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * n_b / n
        self.m2 = self.m2 + m2_b + delta**2 * self.n * n_b / n
        self.n = n
        self.min = np.minimum(self.min, x.min(0))
        self.max = np.maximum(self.max, x.max(0))

    def to_dict(self) -> dict[str, Any]:
        std = np.sqrt(self.m2 / max(self.n, 1))
        return {
            "mean": self.mean.tolist(),
            "std": std.tolist(),
            "min": self.min.tolist(),
            "max": self.max.tolist(),
            "count": int(self.n),
        }


# -- files ---------------------------------------------------------------------------------------


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd")
    os.replace(tmp, path)


def rows_per_shard(obs_dim: int, act_dim: int, max_bytes: int = MAX_SHARD_BYTES) -> int:
    """Rows per shard so that an uncompressed shard stays under ``max_bytes`` (a function of dims only)."""
    row_bytes = 4 * (obs_dim + 2 * act_dim + 2) + 4 * 3 + 8 + 2
    return max(ROW_GROUP_ROWS, max_bytes // row_bytes)


def shard_name(i: int, n: int) -> str:
    return f"train-{i:05d}-of-{n:05d}.parquet"


def shard_write_options(schema: pa.Schema) -> dict[str, Any]:
    """Parquet options of the data shards: zstd pages; float columns BYTE_STREAM_SPLIT (each float's 4 bytes in
    4 streams, which zstd compresses far better than plain or dictionary pages), ``t`` and ``step`` delta-coded,
    dictionaries only for the other integer and bool columns. On Industrial Benchmark this takes a transition
    from ~66 to ~35 bytes, below a zip of the original HDF5 release (``benchmarks/loader_vs_h5.py``)."""
    names = set(schema.names)
    floats = [
        f"{f.name}.list.element" if pa.types.is_fixed_size_list(f.type) else f.name
        for f in schema
        if pa.types.is_floating(f.type.value_type if pa.types.is_fixed_size_list(f.type) else f.type)
    ]
    return {
        "compression": "zstd",
        "use_byte_stream_split": floats,
        "use_dictionary": [c for c in ("history", "episode", "terminated", "truncated") if c in names],
        "column_encoding": {c: "DELTA_BINARY_PACKED" for c in ("t", "step") if c in names},
    }


def write_shards(
    folder: Path, tables: Iterable[pa.Table], schema: pa.Schema, total_rows: int, per_shard: int
) -> list[Path]:
    """Stream row tables (already sorted by (history, t)) into ``data/train-XXXXX-of-YYYYY.parquet``.

    Incoming tables (one episode each from the collector) are buffered into row groups of ``ROW_GROUP_ROWS``
    rows: written as they come, every episode would be its own row group (6,000 row groups of 250 rows per IB
    dataset, ~14 more bytes per transition and ~10x the write time)."""
    n_shards = max(1, -(-total_rows // per_shard))
    data = Path(folder) / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    paths: list[tuple[Path, Path]] = []  # (final, temporary) per shard
    writer: Any = None  # the open shard's pq.ParquetWriter, from the first table on
    written, shard = 0, -1
    pending: list[pa.Table] = []
    pending_rows = 0

    def flush(final: bool = False) -> None:
        nonlocal pending, pending_rows
        while pending_rows >= ROW_GROUP_ROWS or (final and pending_rows):
            merged = pa.concat_tables(pending)
            n = min(ROW_GROUP_ROWS, pending_rows)
            writer.write_table(merged.slice(0, n), row_group_size=ROW_GROUP_ROWS)
            pending, pending_rows = ([merged.slice(n)] if pending_rows > n else []), pending_rows - n

    def open_next():
        nonlocal writer, shard
        if writer is not None:
            flush(final=True)
            writer.close()
            os.replace(paths[-1][1], paths[-1][0])
        shard += 1
        final = data / shard_name(shard, n_shards)
        tmp = final.with_name(f".{final.name}.tmp")
        paths.append((final, tmp))
        writer = pq.ParquetWriter(tmp, schema, **shard_write_options(schema))

    for table in tables:
        offset = 0
        while offset < table.num_rows:
            if writer is None or written == per_shard * (shard + 1):
                open_next()
            take = min(table.num_rows - offset, per_shard * (shard + 1) - written)
            pending.append(table.slice(offset, take))
            pending_rows += take
            flush()
            offset += take
            written += take
    if writer is None:
        open_next()
    flush(final=True)
    writer.close()
    os.replace(paths[-1][1], paths[-1][0])
    if written != total_rows:
        raise FormatError(f"wrote {written} rows, expected {total_rows}")
    return [p for p, _ in paths]


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def iter_batches(
    folder: Path, columns: list[str] | None = None, batch_size: int = ROW_GROUP_ROWS
) -> Iterator[pa.RecordBatch]:
    """Stream the shards of a dataset folder in row order."""
    for p in sorted((Path(folder) / DATA_DIR).glob("*.parquet")):
        yield from pq.ParquetFile(p).iter_batches(batch_size=batch_size, columns=columns)


def flat_dim(space) -> int:
    """Values per row for a gymnasium space: the product of its shape (a Box's; a space without a shape has none)."""
    if space.shape is None:
        raise TypeError(f"{type(space).__name__} has no shape: a row holds a flat Box observation or action")
    return int(np.prod(space.shape))


def fixed_list_to_numpy(col: pa.Array) -> np.ndarray:
    """A FixedSizeList<float32> column as an (n, d) array (zero-copy where possible)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    d = col.type.list_size
    return col.flatten().to_numpy(zero_copy_only=False).reshape(-1, d)
