"""`verify`: download a published dataset revision and check it as a new user would meet it.

Catches the "published broken" class of failures before users do: every manifest sha256 on a fresh
download of the pinned commit, every `validate` check on that download, and `load_dataset` by repo id.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vintix_data.format import COLUMNS, DATA_DIR, META_DIR, file_sha256
from vintix_data.hub.client import REPO_TYPE, check_repo_id, endpoint, get_token, hub_errors, one_line
from vintix_data.hub.client import api as make_api
from vintix_data.hub.push import MANIFEST_DIGEST_LINE, card_problems


@dataclass
class VerifyReport:
    repo_id: str
    revision: str
    commit: str
    errors: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # one line: the checks a file that failed takes with it

    @property
    def ok(self) -> bool:
        return not self.errors


def verify(
    repo_id: str, revision: str | None = None, token: str | None = None, log: Callable[[str], None] = lambda s: None
) -> VerifyReport:
    """Download a published revision and check it as a new user would meet it (see the module docstring)."""
    from vintix_data.validate import skipped_line, validate

    check_repo_id(repo_id)
    rev = revision or "main"
    api = make_api(get_token(token))
    with hub_errors(repo_id, rev):
        commit = api.dataset_info(repo_id, revision=rev).sha
    report = VerifyReport(repo_id=repo_id, revision=rev, commit=commit)
    log(f"verifying {repo_id}@{rev} (commit {commit[:8]}) from {endpoint()}")
    with hub_errors(repo_id, rev, prefix="download failed: "):
        # a fresh download of the pinned commit: what the server sends now, not what an earlier run cached
        folder = Path(api.snapshot_download(repo_id, repo_type=REPO_TYPE, revision=commit, force_download=True))

    # 1. every file of the manifest, byte for byte
    flagged: set[str] = set()
    digests: dict[str, str] = {}  # name -> sha256, hashed once here and handed to validate
    data_rows = 0
    try:
        manifest = json.loads((folder / META_DIR / "manifest.json").read_text())
        entries = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        report.errors.append(f"{META_DIR}/manifest.json: missing or unreadable on the Hub ({type(e).__name__})")
        entries = []
    for e in entries:
        name = e.get("name", "?")
        p = folder / name
        if not p.is_file():
            report.errors.append(f"{name}: listed in the manifest but not in the repo")
            flagged.add(name)
            continue
        digest = digests[name] = file_sha256(p)
        if digest != e.get("sha256") or p.stat().st_size != e.get("size"):
            report.errors.append(
                f"{name}: sha256 on the Hub {digest[:12]}... (size {p.stat().st_size}) != manifest "
                f"{str(e.get('sha256'))[:12]}... (size {e.get('size')})"
            )
            flagged.add(name)
        if name.startswith(DATA_DIR + "/"):
            data_rows += int(e.get("rows", 0))
    report.figures["manifest_files"] = len(entries)
    report.figures["manifest_rows"] = data_rows
    if entries:
        _check_manifest_digest(api, repo_id, commit, folder, report)

    # 2. every check of validate, on the download
    v = validate(folder, hashes=digests)
    for line in v.errors:
        # validate's own manifest lines for files already reported above; its recomputations are kept
        if not any(line.startswith(n + ":") and "manifest" in line for n in flagged):
            report.errors.append(line)
    report.errors += card_problems(folder)
    report.figures["rows"] = v.figures.get("rows")
    report.figures["episodes"] = v.figures.get("episodes")
    report.figures["data_fingerprint"] = v.figures.get("data_fingerprint")
    skipped = v.figures.get("skipped")
    if skipped:  # a shard failed its hash or cannot be read: loading it by repo id would only repeat that
        report.skipped.append(skipped_line(len(skipped["checks"]) + 1, skipped["files"]))
        return report

    # 3. load_dataset by repo id, as users will
    cache = tempfile.mkdtemp(prefix="vintix-verify-")
    try:
        from datasets import load_dataset

        ds = load_dataset(repo_id, revision=commit, split="train", cache_dir=cache, token=get_token(token))
        report.figures["load_dataset_rows"] = ds.num_rows
        if tuple(ds.column_names) != COLUMNS:
            report.errors.append(f"load_dataset({repo_id!r}): columns {ds.column_names} != {list(COLUMNS)}")
        if entries and ds.num_rows != data_rows:
            report.errors.append(f"load_dataset({repo_id!r}): {ds.num_rows:,} rows, the manifest lists {data_rows:,}")
        del ds
    except Exception as e:  # noqa: BLE001 - whatever load_dataset raises is the finding
        report.errors.append(
            f"load_dataset({repo_id!r}, revision={commit[:8]!r}) failed: {type(e).__name__}: {one_line(e, 200)}"
        )
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return report


def _check_manifest_digest(api, repo_id: str, commit: str, folder: Path, report: VerifyReport) -> None:
    """The downloaded manifest must be the one the last ``vintix-data push`` in the history recorded (a manifest
    rewritten on the Hub to match edited files would otherwise vouch for them). Repos never pushed by vintix-data
    record none: noted in the figures, not an error."""
    digest = file_sha256(folder / META_DIR / "manifest.json")
    with hub_errors(repo_id, commit):
        for c in api.list_repo_commits(repo_id, repo_type=REPO_TYPE, revision=commit):
            recorded = [
                ln[len(MANIFEST_DIGEST_LINE) :].strip()
                for ln in (c.message or "").splitlines()
                if ln.startswith(MANIFEST_DIGEST_LINE)
            ]
            if recorded:
                report.figures["manifest_sha256"] = {
                    "downloaded": digest,
                    "recorded": recorded[0],
                    "commit": c.commit_id,
                }
                if recorded[0] != digest:
                    report.errors.append(
                        f"{META_DIR}/manifest.json: sha256 {digest[:12]}... != {recorded[0][:12]}... that "
                        f"vintix-data push recorded in commit {c.commit_id[:8]} (changed after the push)"
                    )
                return
    report.figures["manifest_sha256"] = {"downloaded": digest, "recorded": None}
