"""Load a vintix dataset, from the Hub or a local folder, through one code path.

Both sources become a local folder first: a local folder as is, a Hub id through ``snapshot_download``
(cached by huggingface_hub, revision-pinned). Rows then come from ``datasets.load_dataset`` on that
folder, materialized (memory-mapped Arrow) or ``streaming=True`` (for a Hub id, streaming downloads only the
metadata and streams the rows by repo id, pinned to the snapshot's commit); ``info`` and ``stats`` are the typed
metadata the model side needs (observation normalization is read from ``stats``, never recomputed).
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, FormatError


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
    def rows(self) -> "_Rows":
        """The dataset's rows (dicts), as iterators this object closes (see the class docstring)."""
        return _Rows(self)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)

    def close(self) -> None:
        """Close every iterator of ``rows`` still open (idempotent)."""
        _close_all(self._iterators)

    def __enter__(self) -> "LoadedDataset":
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


def load(repo_or_dir: str | Path, *, revision: str | None = None, split: str = "train", streaming: bool = False,
         **load_dataset_kwargs) -> LoadedDataset:
    """The dataset plus its typed ``info`` and ``stats``; accepts ``ORG/NAME`` or a local folder."""
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
    else:
        ds = load_dataset(str(folder), split=split, streaming=streaming, **load_dataset_kwargs)
    return LoadedDataset(dataset=ds, info=info, stats=stats, folder=folder, source=str(repo_or_dir))
