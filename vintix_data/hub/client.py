"""Publish a dataset folder to the Hugging Face Hub, and check what was published (docs/design.md §5, §9).

This module is the only place that talks to the Hub (``huggingface_hub`` calls only). The endpoint is
``huggingface_hub``'s (``HF_ENDPOINT``, so private deployments and mirrors work) and the token comes
from the usual places (``HF_TOKEN``, the ``hf auth login`` store).

- :func:`push` uploads a folder that passes ``validate`` as one commit (dot-files and dot-folders, such
  as the ``.vintix/`` resume state, are never uploaded; remote files under ``data/``, ``meta/`` and
  ``plots/`` that the folder no longer has are deleted in the same commit, so a stale shard cannot be
  read by ``load_dataset``), then tags it. An unchanged folder makes no commit.
- :func:`vintix_data.hub_verify.verify` downloads a published revision afresh, checks every sha256 of ``meta/manifest.json``,
  re-runs ``validate`` on the download and loads it with ``datasets.load_dataset`` by repo id.
- :func:`download_file` fetches one file of a model repo (``hub:`` demonstrators).

Every failure a user can cause or meet is a :class:`HubError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import fnmatch
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, FormatError, file_sha256
from vintix_data.errors import UserError

# dot-files and dot-folders at any depth (fnmatch's `*` crosses `/`): resume state, temporary files, caches
IGNORE_PATTERNS = [".*", "*/.*"]
# remote files here that the folder lacks are deleted by a push: the repo's dataset files mirror the folder
OWNED_PATTERNS = [f"{DATA_DIR}/*", f"{META_DIR}/*", "plots/*"]
REPO_TYPE = "dataset"
_REF_RE = re.compile(r"^(?!.*(\.\.|//|@\{))(?!.*\.lock$)(?!.*/$)[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")


class HubError(UserError):
    """A push, verify or download that cannot proceed: one line for the user."""

    def __init__(self, message: str, lines: list[str] | None = None):
        super().__init__(message)
        self.lines = lines or []  # details (e.g. validation failures), one line each, printed before the message


# -- inputs --------------------------------------------------------------------------------------

def endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT.rstrip("/")


def check_repo_id(repo_id: str, kind: str = "dataset") -> str:
    """``ORG/NAME`` with the Hub's naming rules, or a HubError."""
    example = "dunnolab/vintix-industrial-benchmark-50-v1" if kind == "dataset" else "sb3/ppo-Pendulum-v1"
    parts = repo_id.split("/") if isinstance(repo_id, str) else []
    if len(parts) != 2 or not all(_NAME_RE.match(p) for p in parts) or "--" in repo_id or ".." in repo_id \
            or repo_id.endswith(".git"):
        raise HubError(f"bad repo id {repo_id!r}: expected ORG/NAME (letters, digits, '-', '_', '.'), e.g. {example}")
    return repo_id


def check_ref(name: str, what: str) -> str:
    if not _REF_RE.match(name or ""):
        raise HubError(f"bad {what} {name!r}: use letters, digits, '.', '_', '-' (e.g. v1.0)")
    return name


def get_token(token: str | None = None) -> str | None:
    from huggingface_hub import get_token as hf_get_token

    return token or hf_get_token() or None


def require_token(token: str | None = None) -> str:
    token = get_token(token)
    if not token:
        raise HubError("no Hugging Face token found: run `hf auth login` (or set HF_TOKEN) with a token that can "
                       "write to the repo's organization")
    return token


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
        return [f"README.md: unreadable card metadata ({_one_line(e)})"]
    configs = card.data.to_dict().get("configs") or []
    paths = [f.get("path") if isinstance(f, dict) else f for c in configs if isinstance(c, dict)
             for f in (c.get("data_files") if isinstance(c.get("data_files"), list) else [c.get("data_files")])]
    if not any(isinstance(p, str) and p.startswith(DATA_DIR + "/") for p in paths):
        return [f"README.md: the card's YAML has no `configs` entry pointing at {DATA_DIR}/ (load_dataset would read meta/ too)"]
    return []


def publishable_problems(folder: Path) -> list[str]:
    """Everything that stops a folder from being pushed: ``validate`` failures and card problems."""
    from vintix_data.validate import validate

    report = validate(folder)
    return list(report.errors) + card_problems(folder)


# -- errors --------------------------------------------------------------------------------------

def _one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(e: BaseException, repo_id: str, revision: str | None) -> str:
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    where = f"{endpoint()}"
    if isinstance(e, RevisionNotFoundError):
        return f"revision {revision!r} not found in {repo_id} on {where}"
    if isinstance(e, GatedRepoError):
        return f"{repo_id} is gated on {where}: request access on its page first"
    if isinstance(e, RepositoryNotFoundError):
        return f"{repo_id}: no such repo on {where}, or it is private and your token cannot read it"
    if isinstance(e, EntryNotFoundError):
        return f"{repo_id}: file not found ({_one_line(e).split('Entry Not Found for url: ')[-1]})"
    if isinstance(e, HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        server = getattr(e, "server_message", None) or _one_line(e)
        if status == 401:
            return f"the Hub at {where} refused the token (401 {_one_line(Exception(server), 250)}): run `hf auth login` with a write token"
        if status == 403:
            return f"the token may not write to {repo_id} on {where} (403 {_one_line(Exception(server), 120)})"
        return f"the Hub at {where} answered {status}: {_one_line(Exception(server), 200)}"
    chain = [e]
    while chain[-1].__cause__ is not None and chain[-1].__cause__ not in chain:
        chain.append(chain[-1].__cause__)
    for x in chain:
        name = type(x).__name__
        if name in ("ConnectError", "ConnectTimeout", "LocalEntryNotFoundError", "OfflineModeIsEnabled") \
                or isinstance(x, (ConnectionRefusedError, TimeoutError)):
            return f"cannot reach the Hub at {where} ({name}: {_one_line(x, 150)})"
    root = chain[-1]
    if root is not e:  # e.g. "Error while uploading 'data/x.parquet' to the Hub." caused by a dropped connection
        return f"{_one_line(e, 150)} ({type(root).__name__}: {_one_line(root, 150)})"
    return f"{type(e).__name__}: {_one_line(e)}"


@contextlib.contextmanager
def _hub_errors(repo_id: str, revision: str | None = None, prefix: str = "") -> Iterator[None]:
    try:
        yield
    except HubError:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - the client raises many types; the user gets one line
        raise HubError(prefix + _describe(e, repo_id, revision)) from e


def _api(token: str | None):
    from huggingface_hub import HfApi

    from vintix_data import __version__

    return HfApi(token=token, library_name="vintix", library_version=__version__)


# -- push ----------------------------------------------------------------------------------------

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

    remote = {f.path: f for f in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=commit, recursive=True)
              if isinstance(f, RepoFile)}
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


def commit_message(info: DatasetInfo) -> tuple[str, str]:
    from vintix_data import __version__

    title = (f"{info.task}: {info.histories} histories x {info.steps_per_history:,} steps "
             f"(vintix {__version__})")
    demo = info.demonstrator or {}
    body = "\n".join([
        f"task: {info.task} ({info.domain}, {info.split} split)",
        f"rows: {info.total_steps:,} = {info.histories} histories x {info.steps_per_history:,} steps; {info.episodes:,} episodes",
        f"demonstrator: {demo.get('spec', demo.get('id', 'unknown'))} (sha256 {demo.get('sha256') or 'n/a'})",
        f"schedule: {json.dumps(info.schedule, sort_keys=True) if info.schedule else 'unknown'}; seed {info.seed}",
        f"format {info.format_version}; pushed with vintix {__version__} (vintix-data push)",
    ])
    return title, body


def _check_access(api, repo_id: str) -> str | None:
    """The Hub answers and accepts the token (``whoami``); returns the user name when the endpoint tells it."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return str(api.whoami().get("name") or "") or None
    except HfHubHTTPError as e:
        if getattr(getattr(e, "response", None), "status_code", None) == 401:
            raise HubError(_describe(e, repo_id, None)) from None
        return None  # an endpoint without whoami (or rate-limiting it): the push itself will tell
    except Exception as e:  # noqa: BLE001 - connection errors and the like
        raise HubError(_describe(e, repo_id, None)) from None


def _head(api, repo_id: str, branch: str) -> str | None:
    with contextlib.suppress(Exception):
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        return {b.name: b.target_commit for b in refs.branches}.get(branch)
    return None


def push(folder: str | Path, repo_id: str, *, private: bool = False, tag: str | None = None, revision: str | None = None,
         token: str | None = None, log: Callable[[str], None] = lambda s: None) -> PushResult:
    """Validate ``folder`` and publish it to the dataset repo ``repo_id`` (see the module docstring)."""
    folder = Path(folder)
    check_repo_id(repo_id)
    if tag is not None:
        check_ref(tag, "--tag")
    branch = check_ref(revision, "--revision") if revision is not None else "main"
    token = require_token(token)
    if not folder.is_dir():
        raise HubError(f"{folder}: no such dataset folder")
    api = _api(token)
    user = _check_access(api, repo_id)  # a bad token or an unreachable Hub is found before a long validation
    problems = publishable_problems(folder)
    if problems:
        raise HubError(f"{folder} fails validation ({len(problems)} problem{'s' * (len(problems) > 1)}); nothing was pushed",
                       lines=problems)
    try:
        info = DatasetInfo.load(folder)
    except FormatError as e:
        raise HubError(str(e)) from None
    files = local_files(folder)
    title, body = commit_message(info)

    with _hub_errors(repo_id, branch, prefix=f"push to {repo_id} failed: "):
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
            why = (f"at commit {tags[tag][:8]}, not the head of {branch}" if tags[tag] != head
                   else f"at commit {tags[tag][:8]}, whose files differ from this folder")
            raise HubError(f"tag {tag} already exists on {repo_id} ({why}); tags are versions: choose a new --tag")
        log(f"{repo_id}@{branch} ({endpoint()}{', as ' + user if user else ''}): {len(diff.upload)} file(s) to upload ({_human(diff.upload_bytes)}), "
            f"{len(diff.unchanged)} unchanged, {len(diff.delete)} to delete")

    try:
        commit = api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type=REPO_TYPE, revision=branch,
                                   commit_message=title, commit_description=body, ignore_patterns=list(IGNORE_PATTERNS),
                                   delete_patterns=list(OWNED_PATTERNS), parent_commit=head)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001
        from huggingface_hub.errors import HfHubHTTPError

        now = _head(api, repo_id, branch)
        state = (f"nothing was committed: {repo_id}@{branch} is still at {head[:8]}" if now == head else
                 f"{repo_id}@{branch} is now at {now[:8]}" if now else f"could not read {repo_id}@{branch} back")
        status = getattr(getattr(e, "response", None), "status_code", None) if isinstance(e, HfHubHTTPError) else None
        hint = "" if status in (401, 403) else "; run the same push again to resume (stored LFS files are not sent again)"
        raise HubError(f"push to {repo_id} failed: {_describe(e, repo_id, branch)}; {state}{hint}") from e
    tag_created = False
    if tag is not None and tag not in tags:
        with _hub_errors(repo_id, branch, prefix=f"pushed commit {commit.oid[:8]} but could not tag it {tag}: "):
            api.create_tag(repo_id, tag=tag, tag_message=title, revision=commit.oid, repo_type=REPO_TYPE)
        tag_created = True
    return PushResult(repo_id=repo_id, url=url, branch=branch, commit=commit.oid, previous=head, tag=tag,
                      tag_created=tag_created, diff=diff, private=repo_private)


def _human(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


# -- single files (hub: demonstrators) ---------------------------------------------------------------

def download_file(repo_id: str, filename: str, repo_type: str = "model", revision: str | None = None,
                  token: str | None = None) -> tuple[Path, str]:
    """``hf_hub_download`` one file; returns its local path and the commit it came from."""
    from huggingface_hub import hf_hub_download

    check_repo_id(repo_id, kind=repo_type)
    with _hub_errors(repo_id, revision):
        try:
            path = Path(hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision, token=get_token(token)))
        except Exception as e:
            from huggingface_hub.errors import EntryNotFoundError

            if isinstance(e, EntryNotFoundError):
                raise HubError(f"{repo_id} on {endpoint()} has no file {filename}") from None
            raise
    commit = path.parent.name if re.fullmatch(r"[0-9a-f]{40}", path.parent.name) else ""
    for parent in path.parents:  # .../snapshots/<commit>/sub/dir/file
        if parent.parent.name == "snapshots":
            commit = parent.name
            break
    return path, commit


def snapshot(repo_id: str, revision: str | None = None, allow_patterns: list[str] | None = None,
             token: str | None = None) -> Path:
    """A local snapshot of a dataset repo (``snapshot_download``: cached, revision-pinned, usable offline
    once cached); the folder's name is the commit it holds."""
    check_repo_id(repo_id)
    with _hub_errors(repo_id, revision):
        return Path(_api(get_token(token)).snapshot_download(repo_id, repo_type=REPO_TYPE, revision=revision,
                                                             allow_patterns=allow_patterns))
