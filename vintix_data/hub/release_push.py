"""``vintix-data push ROOT --org ORG``: publish a release root (every dataset, then the index, then a Collection).

A release root is what ``vintix-data release`` writes: ``release.json`` (the selection, the task list in registry
order, the settings) and one finished dataset folder per task under ``datasets/<task>/``. Each dataset goes to its
own repo ``ORG/vintix-<task>`` through the single-folder :func:`vintix_data.hub.push.push` (validated, one commit,
tagged), so every guarantee of that push holds per dataset. The publication is resumable at the dataset level: a
dataset whose files already equal the head of its repo is not validated or uploaded again (it was validated when
it was pushed), only tagged if the tag is new, so re-running an interrupted push continues where it stopped.

A task whose folder is missing or fails validation is reported (one line) and left out; a Hub failure (token,
network, a tag that already names other content) stops the push before the index, with the count of datasets
already published. The index (:mod:`vintix_data.hub.index`) is then merged with the previous one (tasks of other
releases of the same organization stay listed) and committed only if it changed; last, the repos are grouped in
a Hub Collection, created once and added to without duplicates on every re-push.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from vintix_data.format import RELEASE_FORMAT, DatasetInfo, FormatError
from vintix_data.hub.client import REPO_TYPE, HubError, check_ref, check_repo_id, hub_errors, one_line, require_token
from vintix_data.hub.client import api as make_api
from vintix_data.hub.index import (
    INDEX_FILE,
    IndexEntry,
    dataset_repo,
    index_repo,
    order_entries,
    read_index,
    write_index_folder,
)
from vintix_data.hub.push import local_files, push, remote_diff

COLLECTION_TITLE = "Vintix datasets"


@dataclass
class Release:
    """``ROOT/release.json``, as far as publishing needs it."""

    root: Path
    selection: list[str]
    tasks: list[str]
    settings: dict
    raw: dict

    def folder(self, task: str) -> Path:
        return self.root / "datasets" / task


def is_release_root(path: str | Path) -> bool:
    return (Path(path) / "release.json").is_file()


def read_release(root: str | Path) -> Release:
    root = Path(root)
    path = root / "release.json"
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise HubError(f"{path}: unreadable release manifest ({type(e).__name__}: {one_line(e, 120)})") from None
    if not isinstance(raw, dict) or raw.get("format") != RELEASE_FORMAT:
        got = raw.get("format") if isinstance(raw, dict) else type(raw).__name__
        raise HubError(f"{path}: format {got!r} is not {RELEASE_FORMAT!r} (not a vintix release root)")
    tasks = raw.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, str) and t and "/" not in t for t in tasks):
        raise HubError(f"{path}: 'tasks' must be a non-empty list of task ids")
    return Release(
        root=root,
        selection=[str(s) for s in raw.get("selection") or []],
        tasks=list(tasks),
        settings=dict(raw.get("settings") or {}),
        raw=raw,
    )


@dataclass
class TaskPush:
    task: str
    repo_id: str
    status: str  # "pushed" (new commit), "unchanged" (already on the Hub), "skipped" (not published)
    commit: str | None = None
    detail: str = ""


@dataclass
class ReleasePushResult:
    org: str
    tag: str | None
    tasks: list[TaskPush] = field(default_factory=list)
    index_repo: str = ""
    index_commit: str = ""
    index_new_commit: bool = False
    index_tasks: int = 0
    collection_slug: str = ""
    collection_url: str = ""
    collection_added: int = 0

    def count(self, status: str) -> int:
        return sum(t.status == status for t in self.tasks)


def _refs(api, repo_id: str) -> tuple[dict, dict] | None:
    """Branches and tags of a repo, or None when it does not exist yet."""
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    except RepositoryNotFoundError:
        return None
    return {b.name: b.target_commit for b in refs.branches}, {t.name: t.target_commit for t in refs.tags}


def already_published(api, repo_id: str, folder: Path, tag: str | None) -> str | None:
    """The head commit of ``repo_id`` when it holds exactly this folder's files (and ``tag`` is free or on it;
    a free tag is created there); otherwise None: the folder goes through the full push."""
    with hub_errors(repo_id, "main", prefix=f"push to {repo_id} failed: "):
        refs = _refs(api, repo_id)
        if refs is None or "main" not in refs[0]:
            return None
        branches, tags = refs
        head = branches["main"]
        if tag is not None and tag in tags and tags[tag] != head:
            return None  # the full push explains the conflict
        if remote_diff(api, repo_id, head, folder, local_files(folder)).changed:
            return None
        if tag is not None and tag not in tags:
            api.create_tag(
                repo_id,
                tag=tag,
                revision=head,
                repo_type=REPO_TYPE,
                tag_message=f"{folder.name}: already at {head[:8]}",
            )
    return head


class SkipTask(Exception):
    """A task of the release that cannot be published (missing or invalid folder): reported, left out."""


def _publish_one(
    api, item: TaskPush, folder: Path, tag: str | None, private: bool, token: str, log: Callable[[str], None]
) -> IndexEntry:
    try:
        check_repo_id(item.repo_id)
    except HubError as e:
        raise SkipTask(str(e)) from None
    if not folder.is_dir():
        raise SkipTask(f"no dataset folder {folder} (not collected, or removed)")
    try:
        info = DatasetInfo.load(folder)
    except FormatError as e:
        raise SkipTask(one_line(e, 200)) from None
    if info.task != item.task:
        raise SkipTask(f"{folder}/meta/info.json is task {info.task}, not {item.task}")
    commit = already_published(api, item.repo_id, folder, tag)
    if commit is not None:
        item.status, item.commit, item.detail = "unchanged", commit, f"already at {commit[:8]}"
    else:
        try:
            pushed = push(folder, item.repo_id, private=private, tag=tag, token=token, log=log)
        except HubError as e:
            if e.lines:
                raise SkipTask(f"fails validation ({len(e.lines)} problem(s), first: {e.lines[0]})") from None
            raise
        item.commit = pushed.commit
        item.status = "pushed" if pushed.new_commit else "unchanged"
        item.detail = f"new commit {pushed.commit[:8]}" if pushed.new_commit else f"already at {pushed.commit[:8]}"
    return IndexEntry.of(folder, item.repo_id, item.commit, tag)


def push_release(
    root: str | Path,
    org: str,
    *,
    tag: str | None = None,
    private: bool = False,
    token: str | None = None,
    log: Callable[[str], None] = lambda s: None,
    on_task: Callable[[TaskPush], None] = lambda t: None,
) -> ReleasePushResult:
    """Publish every dataset of a release root, then the index and the Collection (see the module docstring)."""
    try:
        check_repo_id(index_repo(org))
    except HubError:
        raise HubError(
            f"bad --org {org!r}: an organization or user name (letters, digits, '-', '_', '.'), e.g. dunnolab"
        ) from None
    if tag is not None:
        check_ref(tag, "--tag")
    release = read_release(root)
    token = require_token(token)
    api = make_api(token)
    result = ReleasePushResult(org=org, tag=tag, index_repo=index_repo(org))
    entries: list[IndexEntry] = []
    for task in release.tasks:
        item = TaskPush(task, dataset_repo(org, task), "skipped")
        try:
            entries.append(_publish_one(api, item, release.folder(task), tag, private, token, log))
        except SkipTask as e:
            item.detail = f"{e}; not pushed"
        except HubError as e:
            done = result.count("pushed") + result.count("unchanged")
            raise HubError(
                f"{task}: {e}; {done} of {len(release.tasks)} datasets pushed so far and the index is "
                "not updated: run the same push again to resume (published datasets are skipped)"
            ) from e
        result.tasks.append(item)
        on_task(item)
    if not entries:
        raise HubError(
            f"no dataset of {release.root} could be pushed ({len(release.tasks)} skipped); the index is not written"
        )
    publish_index(api, result, release, entries, private, log)
    collect_repos(api, result, release, private, log)
    return result


def publish_index(
    api,
    result: ReleasePushResult,
    release: Release,
    entries: list[IndexEntry],
    private: bool,
    log: Callable[[str], None],
) -> None:
    """Merge this push's rows into the organization's index and commit it when it changed (then tag it)."""
    from huggingface_hub import hf_hub_download

    repo_id, tag = result.index_repo, result.tag
    with hub_errors(repo_id, "main", prefix=f"push of the index {repo_id} failed: "):
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        branches, tags = _refs(api, repo_id)
        head = branches["main"]
        previous: list[IndexEntry] = []
        if any(
            f.path == INDEX_FILE
            for f in api.list_repo_tree(repo_id, repo_type=REPO_TYPE, revision=head, recursive=True)
        ):
            previous = read_index(
                Path(hf_hub_download(repo_id, INDEX_FILE, repo_type=REPO_TYPE, revision=head, token=api.token))
            )
        mine = {e.task for e in entries}
        kept = [e for e in previous if e.task not in mine]
        merged = order_entries(entries + kept)
        work = Path(tempfile.mkdtemp(prefix="vintix-index-"))
        try:
            write_index_folder(work, result.org, merged, release.raw)
            diff = remote_diff(api, repo_id, head, work, local_files(work))
            if tag is not None and tag in tags and (tags[tag] != head or diff.changed):
                raise HubError(
                    f"tag {tag} already exists on {repo_id} at commit {tags[tag][:8]}, whose index differs; "
                    "tags are versions: choose a new --tag (the datasets are pushed; re-run with it)"
                )
            commit = head
            if diff.changed:
                commit = api.upload_folder(
                    repo_id=repo_id,
                    folder_path=str(work),
                    repo_type=REPO_TYPE,
                    revision="main",
                    commit_message=f"index: {len(merged)} tasks ({len(entries)} from this release)",
                    commit_description=f"selection: {' '.join(release.selection)}",
                    delete_patterns=["data/*"],
                    parent_commit=head,
                ).oid
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.index_commit, result.index_new_commit, result.index_tasks = commit, commit != head, len(merged)
        if tag is not None and tag not in tags:
            api.create_tag(
                repo_id, tag=tag, revision=commit, repo_type=REPO_TYPE, tag_message=f"index of {len(merged)} tasks"
            )
    log(
        f"index {repo_id}: {len(merged)} task(s), {len(entries)} from this release and {len(kept)} kept from the "
        f"previous index; " + (f"new commit {commit[:8]}" if result.index_new_commit else f"unchanged at {head[:8]}")
    )


def collect_repos(api, result: ReleasePushResult, release: Release, private: bool, log: Callable[[str], None]) -> None:
    """Group the index and every published dataset repo in the organization's Collection (no duplicates)."""
    repos = [result.index_repo] + [t.repo_id for t in result.tasks if t.status != "skipped"]
    with hub_errors(result.index_repo, None, prefix="the Collection could not be updated: "):
        collection = api.create_collection(
            COLLECTION_TITLE,
            namespace=result.org,
            private=private,
            exists_ok=True,
            description=f"Vintix learning-history datasets; the index is {result.index_repo}",
        )
        present = {(i.item_type, i.item_id) for i in api.get_collection(collection.slug).items}
        notes = {t.repo_id: t.task for t in result.tasks}
        for repo_id in repos:
            if ("dataset", repo_id) not in present:
                note = (
                    "the index: every task, its repo and pinned commit"
                    if repo_id == result.index_repo
                    else notes[repo_id]
                )
                api.add_collection_item(collection.slug, repo_id, "dataset", note=note, exists_ok=True)
                result.collection_added += 1
    result.collection_slug, result.collection_url = collection.slug, collection.url
    log(
        f"collection {collection.slug}: {result.collection_added} repo(s) added, {len(repos) - result.collection_added} already there"
    )
