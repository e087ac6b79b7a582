"""``vintix-data validate DIR --upgrade-manifest``: bring a dataset folder's manifest forward to the current layout.

Folders made before the manifest covered ``info.json``, ``stats.json``, the card and the plots (and before it recorded
the data fingerprint) fail ``validate`` on "not listed in the manifest". Listing those files now must not vouch for
them blindly, so the folder is validated first, every check that recomputes metadata from the rows included (stats,
episode table, counts, seed-derived reset seeds, the registry's reward scale, the learning curve): only when nothing
but the missing entries is wrong is the manifest rewritten, atomically and under the folder's lock. The card and
the plot cannot be recomputed; they are listed as they are (docs/design.md §9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vintix_data.errors import UsageError, UserError
from vintix_data.format import META_DIR
from vintix_data.locking import exclusive_lock
from vintix_data.manifest import manifest_files, write_manifest

NOT_LISTED = ": not listed in the manifest"


class UpgradeRefused(UserError, ValueError):
    """The folder's rows disagree with its metadata (or something else fails): the manifest was left as it was."""


@dataclass(frozen=True)
class Upgrade:
    folder: Path
    added: tuple[str, ...]  # files the manifest lists now and did not before
    data_fingerprint: str | None  # recorded now (None: it was there already)
    rows: int = 0
    episodes: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added) or self.data_fingerprint is not None

    def line(self) -> str:
        if not self.changed:
            return f"{self.folder}: {META_DIR}/manifest.json is already in the current layout; nothing to add"
        what = list(self.added) + ([f"the data fingerprint {self.data_fingerprint}"] if self.data_fingerprint else [])
        listed = ", ".join(what[:-1]) + " and " + what[-1] if len(what) > 1 else what[0]
        return (
            f"upgraded {self.folder / META_DIR / 'manifest.json'}: added {listed} (validated first: "
            f"{self.rows:,} rows, {self.episodes:,} episodes)"
        )


def upgrade_manifest(folder: str | Path) -> Upgrade:
    """Validate ``folder`` from its rows, then list every file the current layout covers; raises UpgradeRefused."""
    from vintix_data.validate import validate

    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"no such dataset folder: {folder}")
    path = folder / META_DIR / "manifest.json"
    try:
        old = json.loads(path.read_text())
        listed = {e["name"] for e in old["files"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UpgradeRefused(
            f"{folder}: no readable {META_DIR}/manifest.json to upgrade ({type(e).__name__}); "
            "a folder without one is not a dataset this command can vouch for"
        ) from None
    with exclusive_lock(folder, "validate --upgrade-manifest"):
        missing = tuple(
            n for n in (p.relative_to(folder).as_posix() for p in manifest_files(folder)) if n not in listed
        )
        report = validate(folder)
        problems = [e for e in report.errors if not any(e == n + NOT_LISTED for n in missing)]
        if problems or report.skipped:
            first = problems[0] if problems else report.skipped[0]
            raise UpgradeRefused(
                f"{folder}: not upgraded, the folder fails validation ({len(problems)} problem(s), "
                f"first: {first}); {META_DIR}/manifest.json is unchanged"
            )
        if not missing and old.get("data_fingerprint"):
            return Upgrade(folder, (), None, report.figures.get("rows", 0), report.figures.get("episodes", 0))
        new = write_manifest(folder, hashes=report.digests)
    return Upgrade(
        folder,
        missing,
        None if old.get("data_fingerprint") else new["data_fingerprint"],
        report.figures.get("rows", 0),
        report.figures.get("episodes", 0),
    )
