"""One writer per folder: an exclusive ``flock`` on ``FOLDER/.vintix.lock``.

Two processes writing the same dataset folder (two ``collect --resume``, a resume racing a release unit) or the same
training run folder would rename each other's temporary files away and die with raw ``FileNotFoundError``s, or worse,
interleave. The lock makes the second one stop at once with one line naming the holder's pid. ``flock`` is released
by the kernel when the holder dies (even by SIGKILL), so a crash never leaves a folder locked; forked workers inherit
the lock with the descriptor, so it stays held while any of them runs.

The lock file is removed on release while still locked; a process that opened the old file meanwhile sees that the
path no longer names the inode it locked and tries again, so there is never more than one holder. A dot-file, so
``push`` never uploads it while a run holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from vintix_data.errors import UserError

LOCK_NAME = ".vintix.lock"


class LockedError(UserError, RuntimeError):
    """The folder is being written by another process (one-line message naming its pid)."""


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "another process"


@contextlib.contextmanager
def exclusive_lock(folder: str | Path, what: str) -> Iterator[Path]:
    """Hold the folder's lock for the ``with`` block (creating the folder if needed; a folder created here and still
    empty at the end is removed again). ``what`` names this use in the error the second process gets, e.g.
    ``"collect"``. Raises :class:`LockedError` at once, without waiting, when another process holds it."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockedError(
                f"{folder} is in use by {_holder(path)} (another {what} or process writing it); "
                f"wait for it to finish or stop it, then run again"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file we opened as it released it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield folder
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if created:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if nothing else was written into it
        os.close(fd)


__all__ = ["LOCK_NAME", "LockedError", "exclusive_lock"]
