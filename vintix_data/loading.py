"""Load a vintix dataset, from the Hub or a local folder, through one code path.

Both sources become a local folder first: a local folder as is, a Hub id through ``snapshot_download``
(cached by huggingface_hub, revision-pinned). Rows then come from ``datasets.load_dataset`` on that
folder, materialized (memory-mapped Arrow) or ``streaming=True`` (for a Hub id, streaming downloads only the
metadata and streams the rows by repo id, pinned to the snapshot's commit); ``info`` and ``stats`` are the typed
metadata the model side needs (observation normalization is read from ``stats``, never recomputed).

Why a local folder streams through our own reader (a ``datasets.IterableDataset`` built with ``from_generator``
over ``pyarrow.parquet.ParquetFile(path).iter_batches``, one shard per file) and not ``load_dataset(...,
streaming=True)``: ``datasets`` hands arrow a *Python* file object, so the scan holds buffers that need the GIL to
be freed, and an arrow pool thread frees them asynchronously after the iterator is closed; when that lands after
the interpreter has begun to finalize, the thread is torn down through C++ destructors and the process aborts
("terminate called without an active exception", exit 134; measured with datasets 5.2 / pyarrow 26.0.1 on a small
reach-v3 folder, reading one row: 11 of 25 runs with the iterator abandoned, 9 of 15 with it closed first; 0 of 20
either way with the shards opened by path, as here; gdb puts the abort in ``arrow::py::PyBuffer::~PyBuffer`` on a pool
thread, waiting for the GIL of a finalizing interpreter). Passing ``load_dataset`` options (``columns=``,
``features=`` ...) takes ``load_dataset``'s own streaming.

Why the cache folder: ``datasets`` caches a local folder's Arrow copy under the folder's *name* and does not notice
that another folder of that name, or the same folder re-collected, holds other files, so it would hand back another
dataset's rows. Each folder is therefore read with a ``cache_dir`` of its own content (the sha256 of its
``meta/manifest.json``, which lists every shard's sha256), and the rows ``datasets`` returns are counted against
the manifest and ``info.json`` (docs/design.md §9).
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, FormatError, file_sha256

FOLDER_CACHE = "vintix-folders"  # under the datasets cache: one cache_dir per folder content


def _close_all(iterators: weakref.WeakSet) -> None:
    for it in list(iterators):
        it.close()


@dataclass
class LoadedDataset:
    """The rows (``dataset``, or iterate ``rows``) plus typed metadata.

    Iterate ``rows`` (or the object itself) rather than ``dataset`` when streaming: those iterators are closed by
    :meth:`close`, on leaving a ``with`` block, and at the latest when the interpreter exits, while it is still
    whole. A streaming iterator that is abandoned half-way and left to the interpreter's teardown is finalized after
    ``pyarrow``/``datasets`` are gone (an "Exception ignored" traceback, or an abort).
    """

    dataset: Any  # datasets.Dataset, or datasets.IterableDataset when streaming
    info: DatasetInfo
    stats: dict[str, Any]
    folder: Path  # the local folder (a Hub snapshot for Hub ids): shards are under folder / "data"
    source: str  # what the caller passed
    _iterators: weakref.WeakSet = field(default_factory=weakref.WeakSet, init=False, repr=False, compare=False)

    def __post_init__(self):
        # runs at close(), when this object is collected, or at interpreter exit (atexit), whichever is first
        self._finalizer = weakref.finalize(self, _close_all, self._iterators)

    @property
    def shards(self) -> list[Path]:
        return sorted((self.folder / DATA_DIR).glob("*.parquet"))

    @property
    def rows(self) -> _Rows:
        """The dataset's rows (dicts), as iterators this object closes (see the class docstring)."""
        return _Rows(self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def close(self) -> None:
        """Close every iterator of ``rows`` still open (idempotent)."""
        _close_all(self._iterators)

    def __enter__(self) -> LoadedDataset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _Rows:
    def __init__(self, owner: LoadedDataset):
        self.owner = owner

    def __iter__(self) -> Iterator[dict[str, Any]]:
        gen = _rows(self.owner.dataset)
        self.owner._iterators.add(gen)
        return gen


def _rows(dataset) -> Iterator[dict[str, Any]]:
    it = iter(dataset)
    try:
        yield from it
    finally:
        close = getattr(it, "close", None)
        if close is not None:  # the streaming reader's generator: its files are closed now, not at teardown
            close()


STREAM_BATCH_ROWS = 1024  # rows decoded at a time by the local streaming reader


def _stream_shards(paths: list[str]) -> Iterator[dict[str, Any]]:
    """The rows of these parquet shards in order, read by path (arrow's own file, no Python file object)."""
    import pyarrow.parquet as pq

    for path in paths:
        with pq.ParquetFile(path) as pf:
            for batch in pf.iter_batches(batch_size=STREAM_BATCH_ROWS):
                yield from batch.to_pylist()


def _stream_shards_dataset(shards: list[Path], split: str, where: str):
    """A ``datasets.IterableDataset`` over a local folder's shards (why not ``load_dataset``: module docstring)."""
    import pyarrow.parquet as pq
    from datasets import Features, IterableDataset

    if split != "train":
        raise FormatError(f"{where}: a vintix dataset has one split, train; not {split!r}")
    paths = [str(p) for p in shards]
    features = Features.from_arrow_schema(pq.read_schema(paths[0]))
    return IterableDataset.from_generator(_stream_shards, features=features, gen_kwargs={"paths": paths})


def resolve(repo_or_dir: str | Path, revision: str | None = None, metadata_only: bool = False) -> Path:
    """A local folder for a dataset: the folder itself, or a snapshot of the Hub dataset repo."""
    path = Path(repo_or_dir).expanduser()
    if path.exists():
        if not path.is_dir():
            raise FormatError(f"{path} is a file, not a dataset folder")
        return path
    repo_id = str(repo_or_dir)
    if repo_id.count("/") != 1 or repo_id.startswith((".", "/")):
        raise FormatError(f"{repo_or_dir}: no such folder, and not a Hub dataset id of the form ORG/NAME")
    from vintix_data.hub import HubError, snapshot

    # a full snapshot holds every file the manifest covers (plots/ too), so `validate` can check it as a folder
    patterns = ["README.md", f"{META_DIR}/*"] + ([] if metadata_only else [f"{DATA_DIR}/*", "plots/*"])
    try:
        return snapshot(repo_id, revision=revision, allow_patterns=patterns)
    except HubError as e:
        raise FormatError(str(e)) from None


def content_key(folder: Path) -> str:
    """What a folder's ``datasets`` cache is keyed on: its manifest's sha256 (the manifest lists every shard's sha256
    and rows), or, for a folder without one, a sha256 over its shards' own digests."""
    manifest = Path(folder) / META_DIR / "manifest.json"
    if manifest.is_file():
        return file_sha256(manifest)
    h = hashlib.sha256()
    for p in sorted((Path(folder) / DATA_DIR).glob("*.parquet")):
        h.update(f"{file_sha256(p)}  {p.relative_to(folder).as_posix()}\n".encode())
    return h.hexdigest()


def _first_difference(on_disk: dict[str, tuple[int, int]], listed: dict[str, tuple[int, int]]) -> str:
    """The first shard where the folder and its manifest part, named with what differs (a size, a row count, a file)."""
    for name in sorted(set(on_disk) | set(listed)):
        if name not in listed:
            return f"{name} is not listed in {META_DIR}/manifest.json"
        if name not in on_disk:
            return f"{name}, listed in {META_DIR}/manifest.json, is missing"
        (size, rows), (want_size, want_rows) = on_disk[name], listed[name]
        if size != want_size:
            return f"{name} has {size:,} bytes, {META_DIR}/manifest.json lists {want_size:,}"
        if rows != want_rows:
            return f"{name} has {rows:,} rows, {META_DIR}/manifest.json lists {want_rows:,}"
    return "the shards differ from the manifest"  # unreachable: the dicts differ in some entry


def expected_rows(folder: Path, info: DatasetInfo, where: str) -> int:
    """The rows a folder holds, checked before ``datasets`` reads it: the shards on disk are the ones its manifest
    lists (names, sizes, rows in their footers), and they add up to ``info.json``'s total; raises FormatError."""
    import pyarrow.parquet as pq

    shards = sorted((Path(folder) / DATA_DIR).glob("*.parquet"))
    try:
        rows = {
            p.relative_to(folder).as_posix(): (p.stat().st_size, pq.ParquetFile(p).metadata.num_rows) for p in shards
        }
    except (OSError, ValueError) as e:  # pyarrow's errors subclass these
        raise FormatError(
            f"{where}: unreadable shard under {DATA_DIR}/ ({type(e).__name__}); see `vintix-data validate`"
        ) from None
    manifest = Path(folder) / META_DIR / "manifest.json"
    if manifest.is_file():
        try:
            listed = {
                e["name"]: (e["size"], e["rows"])
                for e in json.loads(manifest.read_text())["files"]
                if e["name"].startswith(DATA_DIR + "/")
            }
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise FormatError(f"{where}: {META_DIR}/manifest.json unreadable ({type(e).__name__})") from None
        if listed != rows:
            raise FormatError(
                f"{where}: {_first_difference(rows, listed)}; the folder fails validation (see `vintix-data validate`)"
            )
    total = sum(r for _, r in rows.values())
    if total != info.total_steps:
        raise FormatError(f"{where}: {total:,} rows in the shards, {META_DIR}/info.json says {info.total_steps:,}")
    return total


def load(
    repo_or_dir: str | Path,
    *,
    revision: str | None = None,
    split: str = "train",
    streaming: bool = False,
    **load_dataset_kwargs,
) -> LoadedDataset:
    """The dataset plus its typed ``info`` and ``stats``; accepts ``ORG/NAME`` or a local folder."""
    from datasets import config as datasets_config
    from datasets import load_dataset

    # streaming from the Hub reads the shards over HTTP: only the metadata is downloaded, and the rows come
    # from the same commit (a snapshot folder is named after its commit)
    hub_stream = streaming and not Path(repo_or_dir).expanduser().exists()
    folder = resolve(repo_or_dir, revision=revision, metadata_only=hub_stream)
    info = DatasetInfo.load(folder)
    try:
        stats = json.loads((folder / META_DIR / "stats.json").read_text())
    except (OSError, ValueError) as e:
        raise FormatError(f"{repo_or_dir}: {META_DIR}/stats.json missing or unreadable ({type(e).__name__})") from None
    if hub_stream:
        ds = load_dataset(str(repo_or_dir), revision=folder.name, split=split, streaming=True, **load_dataset_kwargs)
        return LoadedDataset(dataset=ds, info=info, stats=stats, folder=folder, source=str(repo_or_dir))
    rows = expected_rows(folder, info, str(repo_or_dir))
    root = Path(load_dataset_kwargs.pop("cache_dir", None) or datasets_config.HF_DATASETS_CACHE)
    if streaming and not load_dataset_kwargs:  # a cache_dir alone changes nothing for streaming
        loaded = LoadedDataset(dataset=None, info=info, stats=stats, folder=folder, source=str(repo_or_dir))
        loaded.dataset = _stream_shards_dataset(loaded.shards, split, str(repo_or_dir))
        return loaded
    cache = root / FOLDER_CACHE / content_key(folder)
    ds = load_dataset(str(folder), split=split, streaming=streaming, cache_dir=str(cache), **load_dataset_kwargs)
    got = None if streaming else ds.num_rows
    if got is not None and split == "train" and got != rows:
        raise FormatError(
            f"{repo_or_dir}: datasets returned {got:,} rows, the folder's shards hold {rows:,} (a stale "
            f"datasets cache under {cache}: delete it)"
        )
    return LoadedDataset(dataset=ds, info=info, stats=stats, folder=folder, source=str(repo_or_dir))
