"""File hash lists for the HDF5 layout: ``export-h5`` writes one, ``import-h5 --sha256 FILE`` checks against one.

The release's HDF5 files carry no checksums of their own, so a corrupted byte that still reads as a float cannot be
told from data; a list of known file hashes can. The list is in ``sha256sum`` format (``<hex>  <path>``, one file a
line), written beside the task folder as ``<folder>.sha256`` with paths relative to it, so ``sha256sum -c`` checks it
too and the task folder itself keeps the original layout (only ``*.h5`` and ``<folder name>.json``).
"""

from __future__ import annotations

import re
from pathlib import Path

from vintix_data.format import atomic_write_text, file_sha256
from vintix_data.legacy_h5.layout import LegacyH5Error

LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


def hash_list_path(out: Path) -> Path:
    return out.parent / f"{out.name}.sha256"


def write_hash_list(folder: Path, path: Path) -> Path:
    """``path`` lists every file of ``folder`` (the task folder just written), named ``<folder name>/<file>``."""
    lines = [f"{file_sha256(p)}  {folder.name}/{p.name}" for p in sorted(folder.iterdir()) if p.is_file()]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def read_hash_list(path: Path) -> dict[str, str]:
    """File name (the last part of each listed path) -> sha256."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise LegacyH5Error(f"--sha256 {path}: unreadable ({type(e).__name__})") from None
    hashes: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = LINE.match(line)
        if not m:
            raise LegacyH5Error(f"--sha256 {path} line {n}: not '<sha256>  <file>' (the sha256sum format)")
        hashes[Path(m.group(2)).name] = m.group(1).lower()
    if not hashes:
        raise LegacyH5Error(f"--sha256 {path}: lists no files")
    return hashes


def check_hashes(expected: dict[str, str], actual: dict[str, str], list_path: Path) -> None:
    """Every file import-h5 reads (``actual``: name -> sha256) must be listed with that hash, and every listed file
    must be there; one line naming the first file that differs."""
    for name, digest in sorted(actual.items()):
        if name not in expected:
            raise LegacyH5Error(f"{name}: not listed in --sha256 {list_path}")
        if expected[name] != digest:
            raise LegacyH5Error(
                f"{name}: sha256 {digest[:12]}... != {expected[name][:12]}... listed in --sha256 "
                f"{list_path} (the file changed since the list was made)"
            )
    missing = sorted(set(expected) - set(actual))
    if missing:
        raise LegacyH5Error(f"{missing[0]}: listed in --sha256 {list_path} but not in the source folder")


__all__ = ["check_hashes", "hash_list_path", "read_hash_list", "write_hash_list"]
