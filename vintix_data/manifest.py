"""``meta/manifest.json``: size, sha256 (and rows, for parquet) of every file of a dataset folder that a reader trusts.

Not only the data: ``info.json`` (seed, reward scale, schedule), ``stats.json`` (the normalization the model
trains with), the episode table, the card and the plots are covered too, so an edit to any of them after the
manifest was written is a sha256 mismatch for ``validate`` and ``verify``. The manifest is written last; its own
digest goes into the push commit, where ``verify`` compares it with the manifest it downloads.

The manifest's digest identifies the published folder, which records dates and a command line; the *data
fingerprint* identifies the data: equal data <=> equal fingerprint (docs/design.md §5). It is the sha256 of the
text ``"<sha256>  <path>\n"`` (``sha256sum``'s format), one line per data file (the shards, ``meta/episodes.parquet``,
``meta/stats.json``), sorted by path; in a dataset folder, ``sha256sum data/*.parquet meta/episodes.parquet
meta/stats.json | sha256sum`` prints it.
"""

from __future__ import annotations

import hashlib
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


def is_data_only(name: str) -> bool:
    """A manifest name whose bytes depend only on the data (see ``DATA_ONLY``): the files the fingerprint covers."""
    return any(name == d or (d.endswith("/") and name.startswith(d)) for d in DATA_ONLY)


def fingerprint(digests: dict[str, str]) -> str:
    """The data fingerprint of the data-only files among ``digests`` (path -> sha256; see the module docstring)."""
    lines = "".join(f"{digests[n]}  {n}\n" for n in sorted(n for n in digests if is_data_only(n)))
    return hashlib.sha256(lines.encode()).hexdigest()


def data_digests(folder: Path, hashes: dict[str, str] | None = None) -> dict[str, str]:
    """path -> sha256 of the data-only files of a folder (``hashes``: digests already computed for these files)."""
    folder = Path(folder)
    files = data_files(folder) + [p for p in [folder / META_DIR / "stats.json"] if p.is_file()]
    names = [p.relative_to(folder).as_posix() for p in files]
    return {n: (hashes or {}).get(n) or file_sha256(p) for n, p in zip(names, files)}


def folder_fingerprint(folder: Path, hashes: dict[str, str] | None = None) -> str:
    """The data fingerprint of the files on disk."""
    return fingerprint(data_digests(folder, hashes))


def manifest_fingerprint(manifest: dict[str, Any]) -> str | None:
    """The fingerprint a manifest's entries give; None for a manifest that does not list every data-only kind of file
    (the layout before the manifest covered ``stats.json``)."""
    digests = {e["name"]: e["sha256"] for e in manifest.get("files", []) if is_data_only(e["name"])}
    kinds = {n if not n.startswith(DATA_DIR + "/") else DATA_DIR + "/" for n in digests}
    return fingerprint(digests) if kinds == set(DATA_ONLY) else None


def recorded_fingerprint(folder: Path) -> str | None:
    """The fingerprint a folder's manifest records (or its entries give), without hashing the files; None without one."""
    try:
        manifest = json.loads((Path(folder) / META_DIR / "manifest.json").read_text())
        return manifest.get("data_fingerprint") or manifest_fingerprint(manifest)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def manifest_files(folder: Path) -> list[Path]:
    """Every file the manifest covers: shards, episode table, info, stats, the card and the plots."""
    folder = Path(folder)
    meta = [folder / n for n in TRUSTED_META if (folder / n).is_file()]
    plots = sorted(p for p in (folder / PLOTS_DIR).glob("*") if p.is_file() and not p.name.startswith("."))
    return sorted(set(data_files(folder) + meta + plots), key=lambda p: p.relative_to(folder).as_posix())


def build_manifest(folder: Path, hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """The manifest of the files on disk (``hashes``: path -> sha256 already computed for some of them)."""
    folder = Path(folder)
    entries = []
    for p in manifest_files(folder):
        name = p.relative_to(folder).as_posix()
        entry = {"name": name, "size": p.stat().st_size, "sha256": (hashes or {}).get(name) or file_sha256(p)}
        if p.suffix == ".parquet":
            entry["rows"] = pq.ParquetFile(p).metadata.num_rows
        entries.append(entry)
    manifest = {"format_version": FORMAT_VERSION, "files": entries}
    manifest["data_fingerprint"] = manifest_fingerprint(manifest)
    return manifest


def write_manifest(folder: Path, hashes: dict[str, str] | None = None) -> dict[str, Any]:
    """Write ``meta/manifest.json``; the last file of a dataset folder (it covers the others, card and plot too)."""
    manifest = build_manifest(folder, hashes)
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
    return [e for e in manifest["files"] if is_data_only(e["name"])]


def check_manifest(folder: Path, report, hashes: dict[str, str] | None = None) -> tuple[list[Path], list[str]]:
    """``validate``'s manifest checks: every file it lists is there with its size and sha256, every file a reader
    trusts is listed, and a recorded data fingerprint is the one its entries give. Returns the shards that pass and
    the names of listed shards that do not (each reported once here; ``hashes``: digests already computed)."""
    path = Path(folder) / META_DIR / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
        entries = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.fail("manifest", f"{META_DIR}/manifest.json: missing or unreadable ({type(e).__name__})")
        return sorted((Path(folder) / DATA_DIR).glob("*.parquet")), []
    listed = {e["name"] for e in entries}
    for p in manifest_files(folder):  # the shards and every file a reader trusts (info, stats, episodes, card, plots)
        if p.relative_to(folder).as_posix() not in listed:
            report.fail("manifest", f"{p.relative_to(folder).as_posix()}: not listed in the manifest")
    digests: dict[str, str] = {}
    bad: list[str] = []
    for e in entries:
        p = Path(folder) / e["name"]
        if not p.exists():
            problem = "listed in the manifest but missing"
        elif p.stat().st_size != e["size"]:
            problem = f"size {p.stat().st_size} != manifest {e['size']}"
        else:
            digests[e["name"]] = (hashes or {}).get(e["name"]) or file_sha256(p)
            problem = (
                None
                if digests[e["name"]] == e["sha256"]
                else "sha256 does not match the manifest (corrupted or modified)"
            )
        if problem:
            report.fail("manifest", f"{e['name']}: {problem}")
            bad += [e["name"]] if e["name"].startswith(DATA_DIR + "/") else []
    if hasattr(report, "digests"):  # handed on (validate --upgrade-manifest), so no file is hashed twice
        report.digests.update(digests)
    recorded, derived = manifest.get("data_fingerprint"), manifest_fingerprint(manifest)
    if recorded is not None and recorded != derived:
        report.fail(
            "manifest",
            f"{META_DIR}/manifest.json: data_fingerprint {str(recorded)[:16]}... is not the "
            f"{str(derived)[:16]}... its own entries give (edited by hand?)",
        )
    if not bad:  # the fingerprint of the data on disk (hashing only what the loop above did not)
        report.figures["data_fingerprint"] = folder_fingerprint(folder, {**(hashes or {}), **digests})
    return sorted(
        Path(folder) / e["name"] for e in entries if e["name"].startswith(DATA_DIR + "/") and e["name"] not in bad
    ), bad
