"""Output folders of import and export: a hidden staging sibling, renamed to ``--out`` once complete."""

from __future__ import annotations

import os
from pathlib import Path

from vintix_data.legacy_h5.layout import LegacyH5Error
from vintix_data.preflight import check_output_path


def staging_path(out: Path, what: str) -> Path:
    return out.parent / f".{out.name}.{what}-{os.getpid()}.tmp"


def check_out(out: Path) -> None:
    """Refuse a taken ``--out``, and one that could not be written (under /proc, read-only, ...) with the same
    one-line check ``collect`` runs. It creates nothing: the staging folder's ``mkdir(parents=True)`` makes the
    parent once the input has been checked, so a refused input leaves no empty folder behind."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LegacyH5Error(f"{out}: already exists and is not an empty folder; choose a new --out")
    check_output_path(out, "--out", kind="staged")


def publish(staging: Path, out: Path) -> None:
    if out.exists():
        out.rmdir()  # empty (checked before); a non-empty one was refused
    os.rename(staging, out)
