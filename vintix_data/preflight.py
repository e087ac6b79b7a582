"""Checks that a run's paths and resources can hold what it is asked to write, before it writes anything.

Without them a bad ``--out`` (under ``/proc``, on a read-only file system, naming a file, not valid UTF-8), a full
disk or an absurd size (``--steps 10**12``) surfaced as a traceback, sometimes after hours of collection or after
``.vintix/state.json`` was already written. Each check raises :class:`PreflightError` (one line, exit code 2); none
of them leaves anything behind (the writability probe creates and removes one empty dot-folder).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from vintix_data.errors import UserError

# Upper bounds on a collection's size: beyond them a request is a typo (a history index is int32; 10^9 transitions per
# history is ~10,000x the paper's 100,000), refused before the disk and memory estimates are even asked.
MAX_HISTORIES = 100_000
MAX_STEPS = 1_000_000_000
# float64 temporaries of the epsilon table per transition of a history (t, t/horizon, the powers, the result), per process
EPSILON_BYTES_PER_STEP = 48


class PreflightError(UserError, ValueError):
    """A path or resource that cannot hold the requested run (one-line message)."""


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def check_text(value: str, option: str) -> None:
    """Every path and argument ends up in UTF-8 JSON (info.json, the card): refuse what cannot be written there."""
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        raise PreflightError(
            f"{option} {str(value)!a}: not valid UTF-8 (it could not be recorded in the "
            "dataset's metadata); choose a UTF-8 name"
        ) from None


def nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_output_folder(path: str | Path, option: str = "--out") -> Path:
    """``path`` is (or can become) a folder this process can write in: valid UTF-8, not a file, no file in its way,
    writable. Returns the folder that exists now (``path`` or its nearest existing ancestor)."""
    path = Path(path)
    check_text(str(path), option)
    if path.exists() and not path.is_dir():
        raise PreflightError(f"{option} {path} is a file, not a folder")
    return _writable_base(path, path, option)


def _writable_base(where: Path, path: Path, option: str) -> Path:
    """The nearest existing folder of ``where``, after a real write in it: a dot-folder made and removed. Asking
    ``os.access`` is not enough: root passes it for ``/proc`` and read-only permission bits, where writes fail."""
    base = nearest_existing(where)
    if not base.is_dir():
        raise PreflightError(f"{option} {path}: {base} is a file, not a folder")
    try:
        probe = tempfile.mkdtemp(prefix=".vintix-probe-", dir=base)
        os.rmdir(probe)
    except OSError as e:
        raise PreflightError(f"{option} {path}: cannot write in {base} ({e.strerror or type(e).__name__})") from None
    return base


OUTPUT_KINDS = ("folder", "staged", "file")


def check_output_path(path: str | Path, option: str = "--out", kind: str = "folder") -> Path:
    """The up-front check of a command's local output, by how the command writes it (one line, nothing left behind):

    - ``"folder"``: a folder written in place (``collect``, ``release``, a training run, ``eval``'s results):
      :func:`check_output_folder`.
    - ``"staged"``: a folder built under a hidden sibling name and renamed into place (``import-h5``,
      ``export-h5``, ``vintix-model convert``): the folder as above, and its parent, where the sibling, the rename
      and any file written beside it go.
    - ``"file"``: a file written to a temporary sibling and renamed (``demonstrator train``'s zip): not a folder, and
      its parent as above.

    Returns the existing folder the first write goes into. Without it a path under ``/proc`` or on a read-only file
    system surfaced as a traceback after the work (an import, an export, hours of training) was done."""
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"kind must be one of {OUTPUT_KINDS}, got {kind!r}")
    path = Path(path)
    check_text(str(path), option)
    if kind == "folder":
        return check_output_folder(path, option)
    if kind == "staged":
        check_output_folder(path, option)
    elif path.is_dir():
        raise PreflightError(f"{option} {path} is a folder, not a file")
    return _writable_base(Path(os.path.abspath(path)).parent, path, option)


def check_free_space(path: str | Path, need: int, what: str, option: str = "--out") -> None:
    """Refuse when the file system holding ``path`` has less free space than ``need`` bytes (an estimate)."""
    base = nearest_existing(Path(path))
    free = shutil.disk_usage(base).free
    if need > free:
        raise PreflightError(
            f"{option} {path}: {what} needs about {human_bytes(need)}, only {human_bytes(free)} free "
            f"on that file system"
        )


def available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``; else physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(need: int, what: str) -> None:
    avail = available_memory()
    if need > avail:
        raise PreflightError(f"{what} needs about {human_bytes(need)} of memory, only {human_bytes(avail)} available")


def check_collection_size(histories: int, steps: int) -> None:
    if histories > MAX_HISTORIES:
        raise PreflightError(f"--histories {histories:,} is more than the {MAX_HISTORIES:,} a collection may have")
    if steps > MAX_STEPS:
        raise PreflightError(f"--steps {steps:,} is more than the {MAX_STEPS:,} transitions a history may have")


def row_bytes(obs_dim: int, act_dim: int) -> int:
    """Uncompressed bytes of one transition: observation, action, demonstrator action (float32), epsilon, reward,
    the int columns and the flags (what an episode part holds, and a bound on a compressed shard's row)."""
    return 4 * (obs_dim + 2 * act_dim + 2) + 4 * 3 + 8 + 2


def collection_bytes(rows: int, obs_dim: int, act_dim: int) -> int:
    """Disk a collection needs at its peak, during finalize: the episode parts (uncompressed) plus the shards (at
    most as large), plus a margin for the metadata, card and plot."""
    return 2 * rows * row_bytes(obs_dim, act_dim) + (16 << 20)


def collection_memory(steps: int, workers: int, num_envs: int, episode_limit: int, obs_dim: int, act_dim: int) -> int:
    """Memory a collection needs: every process's epsilon table over one history, and the sub-envs' episode buffers."""
    buffers = num_envs * episode_limit * (8 * act_dim + row_bytes(obs_dim, act_dim))
    return workers * EPSILON_BYTES_PER_STEP * steps + buffers


__all__ = [
    "MAX_HISTORIES",
    "MAX_STEPS",
    "OUTPUT_KINDS",
    "PreflightError",
    "available_memory",
    "check_collection_size",
    "check_free_space",
    "check_memory",
    "check_output_folder",
    "check_output_path",
    "check_text",
    "collection_bytes",
    "collection_memory",
    "human_bytes",
    "nearest_existing",
    "row_bytes",
]
