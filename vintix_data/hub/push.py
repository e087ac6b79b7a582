"""``vintix-data push``: publish a dataset folder that passes ``validate`` to a Hub dataset repo as one commit.

Dot-files and dot-folders (such as the ``.vintix/`` resume state) are never uploaded; remote files under ``data/``,
``meta/`` and ``plots/`` that the folder no longer has are deleted in the same commit, so a stale shard cannot be
read by ``load_dataset``; then the commit is tagged. An unchanged folder makes no commit.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, FormatError, file_sha256
from vintix_data.hub.client import (
    REPO_TYPE,
    HubError,
    check_ref,
    check_repo_id,
    describe,
    endpoint,
    hub_errors,
    one_line,
    require_token,
)
from vintix_data.hub.client import api as make_api
from vintix_data.manifest import manifest_sha256

# dot-files and dot-folders at any depth (fnmatch's `*` crosses `/`): resume state, temporary files, caches
IGNORE_PATTERNS = [".*", "*/.*"]
# remote files here that the folder lacks are deleted by a push: the repo's dataset files mirror the folder
OWNED_PATTERNS = [f"{DATA_DIR}/*", f"{META_DIR}/*", "plots/*"]


def local_files(folder: Path) -> list[str]:
    """What a push uploads: every file of the folder except dot-files and anything in a dot-folder."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in sorted(files):
            if not f.startswith("."):
                out.append((Path(root) / f).relative_to(folder).as_posix())
    return sorted(out)


def card_problems(folder: Path) -> list[str]:
    """The card must exist and carry the ``configs`` that point ``load_dataset`` at the shards."""
    from huggingface_hub import DatasetCard

    readme = Path(folder) / "README.md"
    if not readme.is_file():
        return ["README.md: missing (the dataset card: its YAML `configs` tell load_dataset where the data is)"]
    try:
        card = DatasetCard.load(readme, repo_type=REPO_TYPE)
    except Exception as e:  # noqa: BLE001 - any parse failure is the same user problem
        return [f"README.md: unreadable card metadata ({one_line(e)})"]
    configs = card.data.to_dict().get("configs") or []
    paths = [
        f.get("path") if isinstance(f, dict) else f
        for c in configs
        if isinstance(c, dict)
        for f in (c.get("data_files") if isinstance(c.get("data_files"), list) else [c.get("data_files")])
    ]
    if not any(isinstance(p, str) and p.startswith(DATA_DIR + "/") for p in paths):
        return [
            f"README.md: the card's YAML has no `configs` entry pointing at {DATA_DIR}/ (load_dataset would read meta/ too)"
        ]
    return []


def publishable_problems(folder: Path) -> list[str]:
    """Everything that stops a folder from being pushed: ``validate`` failures and card problems."""
    from vintix_data.validate import validate

    report = validate(folder)
    return list(report.errors) + card_problems(folder)


@dataclass
class RemoteDiff:
    upload: list[str] = field(default_factory=list)  # new or changed
    unchanged: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    upload_bytes: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.upload or self.delete)


def remote_diff(api, repo_id: str, commit: str, folder: Path, files: list[str]) -> RemoteDiff:
    """Compare the folder with the files of a remote commit (LFS by sha256, regular files by git blob id)."""
    from huggingface_hub import RepoFile
    from huggingface_hub.utils.sha import git_hash

    remote = {
        f.path: f
        for f in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=commit, recursive=True)
        if isinstance(f, RepoFile)
    }
    diff = RemoteDiff()
    for rel in files:
        path = folder / rel
        r, size = remote.get(rel), path.stat().st_size
        same = False
        if r is not None and r.size == size:
            same = file_sha256(path) == r.lfs.sha256 if r.lfs is not None else git_hash(path.read_bytes()) == r.blob_id
        if same:
            diff.unchanged.append(rel)
        else:
            diff.upload.append(rel)
            diff.upload_bytes += size
    keep = set(files)
    diff.delete = sorted(p for p in remote if p not in keep and any(fnmatch.fnmatch(p, pat) for pat in OWNED_PATTERNS))
    return diff


@dataclass
class PushResult:
    repo_id: str
    url: str
    branch: str
    commit: str
    previous: str
    tag: str | None
    tag_created: bool
    diff: RemoteDiff
    private: bool

    @property
    def new_commit(self) -> bool:
        return self.commit != self.previous


# the line of a push commit's description that records the manifest's own sha256, which `verify` compares
MANIFEST_DIGEST_LINE = "manifest sha256: "


def commit_message(info: DatasetInfo, manifest_digest: str | None = None) -> tuple[str, str]:
    from vintix_data.version import __version__

    title = f"{info.task}: {info.histories} histories x {info.steps_per_history:,} steps (vintix {__version__})"
    demo = info.demonstrator or {}
    body = "\n".join(
        [
            f"task: {info.task} ({info.domain}, {info.split} split)",
            f"rows: {info.total_steps:,} = {info.histories} histories x {info.steps_per_history:,} steps; {info.episodes:,} episodes",
            f"demonstrator: {demo.get('spec', demo.get('id', 'unknown'))} (sha256 {demo.get('sha256') or 'n/a'})",
            f"schedule: {json.dumps(info.schedule, sort_keys=True) if info.schedule else 'unknown'}; seed {info.seed}",
            f"format {info.format_version}; pushed with vintix {__version__} (vintix-data push)",
        ]
        + ([MANIFEST_DIGEST_LINE + manifest_digest] if manifest_digest else [])
    )
    return title, body


def _check_access(api, repo_id: str) -> str | None:
    """The Hub answers and accepts the token (``whoami``); returns the user name when the endpoint tells it."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return str(api.whoami().get("name") or "") or None
    except HfHubHTTPError as e:
        if getattr(getattr(e, "response", None), "status_code", None) == 401:
            raise HubError(describe(e, repo_id, None)) from None
        return None  # an endpoint without whoami (or rate-limiting it): the push itself will tell
    except Exception as e:  # noqa: BLE001 - connection errors and the like
        raise HubError(describe(e, repo_id, None)) from None


def _head(api, repo_id: str, branch: str) -> str | None:
    with contextlib.suppress(Exception):
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        return {b.name: b.target_commit for b in refs.branches}.get(branch)
    return None


def push(
    folder: str | Path,
    repo_id: str,
    *,
    private: bool = False,
    tag: str | None = None,
    revision: str | None = None,
    token: str | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> PushResult:
    """Validate ``folder`` and publish it to the dataset repo ``repo_id`` (see the module docstring)."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if tag is not None:
        check_ref(tag, "--tag")
    branch = check_ref(revision, "--revision") if revision is not None else "main"
    token = require_token(token)
    if not folder.is_dir():
        raise HubError(f"{folder}: no such dataset folder")
    api = make_api(token)
    user = _check_access(api, repo_id)  # a bad token or an unreachable Hub is found before a long validation
    problems = publishable_problems(folder)
    if problems:
        raise HubError(
            f"{folder} fails validation ({len(problems)} problem{'s' * (len(problems) > 1)}); nothing was pushed",
            lines=problems,
        )
    try:
        info = DatasetInfo.load(folder)
    except FormatError as e:
        raise HubError(str(e)) from None
    files = local_files(folder)
    title, body = commit_message(info, manifest_sha256(folder))

    with hub_errors(repo_id, branch, prefix=f"push to {repo_id} failed: "):
        url = str(api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True))
        repo_private = bool(api.dataset_info(repo_id).private)
        if private and not repo_private:
            log(f"note: {repo_id} already exists and is public; --private does not change an existing repo")
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        branches = {b.name: b.target_commit for b in refs.branches}
        tags = {t.name: t.target_commit for t in refs.tags}
        if branch not in branches:
            if branch in tags:
                raise HubError(f"--revision {branch} is a tag of {repo_id}, not a branch; push to a branch")
            api.create_branch(repo_id, branch=branch, repo_type=REPO_TYPE, exist_ok=True)
            branches[branch] = _head(api, repo_id, branch) or branches.get("main")
            log(f"created branch {branch} of {repo_id}")
        head = branches[branch]
        diff = remote_diff(api, repo_id, head, folder, files)
        if tag is not None and tag in tags and (tags[tag] != head or diff.changed):
            why = (
                f"at commit {tags[tag][:8]}, not the head of {branch}"
                if tags[tag] != head
                else f"at commit {tags[tag][:8]}, whose files differ from this folder"
            )
            raise HubError(f"tag {tag} already exists on {repo_id} ({why}); tags are versions: choose a new --tag")
        log(
            f"{repo_id}@{branch} ({endpoint()}{', as ' + user if user else ''}): {len(diff.upload)} file(s) to upload ({_human(diff.upload_bytes)}), "
            f"{len(diff.unchanged)} unchanged, {len(diff.delete)} to delete"
        )

    try:
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type=REPO_TYPE,
            revision=branch,
            commit_message=title,
            commit_description=body,
            ignore_patterns=list(IGNORE_PATTERNS),
            delete_patterns=list(OWNED_PATTERNS),
            parent_commit=head,
        )
    except KeyboardInterrupt:
        raise
    except Exception as e:
        from huggingface_hub.errors import HfHubHTTPError

        now = _head(api, repo_id, branch)
        state = (
            f"nothing was committed: {repo_id}@{branch} is still at {head[:8]}"
            if now == head
            else f"{repo_id}@{branch} is now at {now[:8]}"
            if now
            else f"could not read {repo_id}@{branch} back"
        )
        status = getattr(getattr(e, "response", None), "status_code", None) if isinstance(e, HfHubHTTPError) else None
        hint = (
            "" if status in (401, 403) else "; run the same push again to resume (stored LFS files are not sent again)"
        )
        raise HubError(f"push to {repo_id} failed: {describe(e, repo_id, branch)}; {state}{hint}") from e
    tag_created = False
    if tag is not None and tag not in tags:
        with hub_errors(repo_id, branch, prefix=f"pushed commit {commit.oid[:8]} but could not tag it {tag}: "):
            api.create_tag(repo_id, tag=tag, tag_message=title, revision=commit.oid, repo_type=REPO_TYPE)
        tag_created = True
    return PushResult(
        repo_id=repo_id,
        url=url,
        branch=branch,
        commit=commit.oid,
        previous=head,
        tag=tag,
        tag_created=tag_created,
        diff=diff,
        private=repo_private,
    )


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
