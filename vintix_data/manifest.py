"""``meta/manifest.json``: size, sha256 (and rows, for parquet) of every file of a dataset folder that a reader trusts.

Not only the data: ``info.json`` (seed, reward scale, schedule), ``stats.json`` (the normalization the model
trains with), the episode table, the card and the plots are covered too, so an edit to any of them after the
manifest was written is a sha256 mismatch for ``validate`` and ``verify``. The manifest is written last; its own
digest goes into the push commit, where ``verify`` compares it with the manifest it downloads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from vintix_data.format import DATA_DIR, FORMAT_VERSION, META_DIR, atomic_write_text, file_sha256


def data_files(folder: Path) -> list[Path]:
    """The shards and the episode table."""
    folder = Path(folder)
    files = sorted((folder / DATA_DIR).glob("*.parquet"))
    ep = folder / META_DIR / "episodes.parquet"
    return files + ([ep] if ep.exists() else [])


# the files besides the data that a reader trusts: the manifest lists them too, so an edited seed, reward scale or
# statistic is a sha256 mismatch (validate also recomputes what it can from the rows: vintix_data/integrity.py)
TRUSTED_META = (f"{META_DIR}/info.json", f"{META_DIR}/stats.json", "README.md")
PLOTS_DIR = "plots"
# the manifest's entries whose bytes depend only on the data: equal data give equal entries whatever ran the
# collection (info.json records the date and command line; the card and plot show it)
DATA_ONLY = (DATA_DIR + "/", f"{META_DIR}/episodes.parquet", f"{META_DIR}/stats.json")


def manifest_files(folder: Path) -> list[Path]:
    """Every file the manifest covers: shards, episode table, info, stats, the card and the plots."""
    folder = Path(folder)
    meta = [folder / n for n in TRUSTED_META if (folder / n).is_file()]
    plots = sorted(p for p in (folder / PLOTS_DIR).glob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(set(data_files(folder) + meta + plots), key=lambda p: p.relative_to(folder).as_posix())


def build_manifest(folder: Path) -> dict[str, Any]:
    folder = Path(folder)
    entries = []
    for p in manifest_files(folder):
        entry = {"name": p.relative_to(folder).as_posix(), "size": p.stat().st_size, "sha256": file_sha256(p)}
        if p.suffix == ".parquet":
            entry["rows"] = pq.ParquetFile(p).metadata.num_rows
        entries.append(entry)
    return {"format_version": FORMAT_VERSION, "files": entries}


def write_manifest(folder: Path) -> dict[str, Any]:
    """Write ``meta/manifest.json``; the last file of a dataset folder (it covers the others, card and plot too)."""
    manifest = build_manifest(folder)
    atomic_write_text(Path(folder) / META_DIR / "manifest.json", manifest_text(manifest))
    return manifest


def manifest_text(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=True, allow_nan=False) + "\n"


def manifest_sha256(folder: Path) -> str | None:
    """The manifest's own digest (recorded in the push commit, checked by ``verify``); None without a manifest."""
    path = Path(folder) / META_DIR / "manifest.json"
    return file_sha256(path) if path.is_file() else None


def data_manifest(folder: Path) -> list[dict[str, Any]]:
    """The manifest's entries for the files that depend only on the data (see ``DATA_ONLY``)."""
    manifest = json.loads((Path(folder) / META_DIR / "manifest.json").read_text())
    return [e for e in manifest["files"] if any(e["name"] == d or (d.endswith("/") and e["name"].startswith(d))
                                                for d in DATA_ONLY)]
