"""A small, strict Hugging Face Hub for tests: stdlib ``http.server``, state in memory.

It answers the routes that ``huggingface_hub`` (``create_repo``, ``upload_folder`` over classic LFS with
``HF_HUB_DISABLE_XET=1``, ``create_tag``/``create_branch``, ``snapshot_download``, ``hf_hub_download``,
``HfFileSystem``), ``datasets.load_dataset("<org>/<name>")`` and the collections API (``create_collection``,
``get_collection``, ``list_collections``, ``add_collection_item``, ``update_collection_item``,
``delete_collection_item``, ``update_collection_metadata``, ``delete_collection``) call, for model and dataset
repos, and it is strict where a lenient fake would hide bugs:

- writes need ``Authorization: Bearer <token>`` (any non-empty token, or only those in ``tokens``); a token
  it does not accept is refused with 401 on every route, as the Hub does; private repos are invisible without;
- LFS uploads go to signed, per-repo URLs; the server checks each body's sha256 and size before storing it,
  and a commit may only reference LFS objects stored in that repo; a regular (non-LFS) file must be text
  under 10 MiB;
- ``parentCommit`` must be the branch head; paths with ``..``, a leading ``/`` or ``.git/`` are refused;
- errors carry the ``X-Error-Code`` headers the clients rely on (``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``); unknown routes get a fast 404;
- the README's YAML is checked by ``/api/validate-yaml`` (a mapping; ``configs``/``license``/
  ``task_categories``/``tags`` of the right shapes);
- collections: a second collection with the same title in a namespace is a 409 carrying the existing ``slug``
  (what ``exists_ok`` reads), an item already in a collection is a 409, a repo item must exist, a private
  collection is invisible without a token, and ``list_collections`` shows at most 4 items per collection, as the
  Hub does (``get_collection`` has them all).

Tests drive it in process (``HubServer().start()``) and look at ``state``; faults are injected with
``state.drop_lfs_puts`` (connections closed mid-upload) and ``state.tamper`` (stored bytes changed in
place). Standalone: ``python tests/hub_server.py --port 0`` prints the endpoint and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

LFS_MIN_SIZE = 10 * 1024 * 1024  # the Hub's rule: files this large (or binary) go through LFS
SAMPLE_BYTES = 512
USER = "vintix-tester"
GITATTRIBUTES = b"*.parquet filter=lfs diff=lfs merge=lfs -text\n*.zip filter=lfs diff=lfs merge=lfs -text\n"
TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
NAME_RE = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REF_RE = re.compile(r"^(?!.*(\.\.|//|@\{))(?!.*\.lock$)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass(frozen=True)
class Entry:
    """A file of a commit: regular (``blob``) or LFS (``lfs_oid`` = sha256 of the content)."""

    size: int
    oid: str  # git blob id of the content, or of the LFS pointer
    blob: bytes | None = None
    lfs_oid: str | None = None


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    date: str
    files: dict[str, Entry]


@dataclass
class Repo:
    type: str  # "model" | "dataset" | "space"
    id: str
    private: bool
    created: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)  # this repo's LFS store: sha256 -> content

    def resolve(self, rev: str) -> Commit | None:
        oid = self.branches.get(rev) or self.tags.get(rev)
        if oid is None and re.fullmatch(r"[0-9a-f]{7,40}", rev):
            hits = [c for c in self.commits if c.startswith(rev)]
            oid = hits[0] if len(hits) == 1 else None
        return self.commits.get(oid) if oid else None

    def history(self, rev: str = "main") -> list[Commit]:
        out, c = [], self.resolve(rev)
        while c is not None:
            out.append(c)
            c = self.commits.get(c.parent) if c.parent else None
        return out


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, body: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.body = status, message, code, body


class HubState:
    """Everything the server holds; methods take the lock. Tests read and fault-inject here."""

    def __init__(self, tokens: set[str] | None = None):
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.tokens = tokens
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization header)
        self.drop_lfs_puts = 0  # > 0: close that many LFS PUT connections mid-body; -1: all of them
        self.dropped_puts = 0
        self.secret = secrets.token_bytes(16)
        self._counter = 0
        self.collections: dict[str, dict] = {}  # slug -> {"title", "description", "namespace", "private", "items", ...}

    # -- for tests ---------------------------------------------------------------------------------
    def repo(self, repo_type: str, repo_id: str) -> Repo:
        return self.repos[(repo_type, repo_id)]

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The bytes the server would serve for every file of a revision."""
        with self.lock:
            repo = self.repo(repo_type, repo_id)
            return {p: self.content(repo, e) for p, e in repo.resolve(revision).files.items()}

    def tamper(self, repo_type: str, repo_id: str, path: str, data: bytes, revision: str = "main") -> None:
        """Change the stored bytes of a file in place (storage corruption: the recorded oid stays)."""
        with self.lock:
            repo = self.repo(repo_type, repo_id)
            e = repo.resolve(revision).files[path]
            if e.lfs_oid is not None:
                repo.lfs[e.lfs_oid] = data
            else:
                for c in self.repo(repo_type, repo_id).commits.values():
                    if c.files.get(path) is e:
                        c.files[path] = Entry(size=e.size, oid=e.oid, blob=data)

    def content(self, repo: Repo, e: Entry) -> bytes:
        return e.blob if e.lfs_oid is None else repo.lfs[e.lfs_oid]

    # -- auth ----------------------------------------------------------------------------------------
    def user(self, authorization: str | None) -> str | None:
        if not authorization or not authorization.startswith("Bearer "):
            return None
        token = authorization[len("Bearer ") :].strip()
        if not token or (self.tokens is not None and token not in self.tokens):
            return None
        return USER

    def need_write(self, authorization: str | None) -> str:
        if not authorization:
            raise HubError(401, "You must be authenticated to write to the Hub (no Authorization header).")
        user = self.user(authorization)
        if user is None:
            raise HubError(
                401,
                "Invalid credentials in Authorization header",
                body={"error": "Invalid credentials in Authorization header"},
            )
        return user

    def readable(self, repo_type: str, repo_id: str, authorization: str | None) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None or (repo.private and self.user(authorization) is None):
            raise HubError(
                401 if repo is not None else 404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound"
            )
        return repo

    def commit_of(self, repo: Repo, rev: str) -> Commit:
        c = repo.resolve(rev)
        if c is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return c

    # -- writes ----------------------------------------------------------------------------------------
    def new_commit(
        self, repo: Repo, parent: Commit | None, title: str, description: str, files: dict[str, Entry]
    ) -> Commit:
        self._counter += 1
        tree = sorted((p, e.oid) for p, e in files.items())
        oid = hashlib.sha1(
            json.dumps([parent.oid if parent else None, title, description, tree, self._counter]).encode()
        ).hexdigest()
        c = Commit(oid, parent.oid if parent else None, title, description, _now(), files)
        repo.commits[oid] = c
        return c

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> tuple[Repo, bool]:
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return self.repos[(repo_type, repo_id)], False
            repo = Repo(repo_type, repo_id, private, _now())
            init = self.new_commit(repo, None, "initial commit", "", {".gitattributes": regular_entry(GITATTRIBUTES)})
            repo.branches["main"] = init.oid
            self.repos[(repo_type, repo_id)] = repo
            return repo, True

    def url_sig(self, repo: Repo, oid: str, size: int) -> str:
        return hmac.new(self.secret, f"{repo.type}/{repo.id}/{oid}:{size}".encode(), "sha256").hexdigest()[:32]


def regular_entry(data: bytes) -> Entry:
    return Entry(size=len(data), oid=git_blob_sha1(data), blob=data)


def check_path(path: str) -> str:
    if (
        not isinstance(path, str)
        or not path
        or path.startswith("/")
        or "\\" in path
        or path.endswith("/")
        or any(part in ("", ".", "..") for part in path.split("/"))
        or path.split("/")[0] == ".git"
    ):
        raise HubError(400, f"Invalid path in commit: {path!r}")
    return path


def validate_card_yaml(content: str, repo_type: str) -> list[str]:
    """The Hub's metadata check, for what a dataset card may hold."""
    if not content.startswith("---"):
        return []
    m = re.match(r"^---\s*\n(.*?)\n---\s*(\n|$)", content, re.DOTALL)
    if m is None:
        return ["README.md: the YAML front matter is not closed by '---'"]
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        return [f"YAML parse error: {str(e).splitlines()[0]}"]
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return ["YAML metadata must be a mapping"]
    errors = []

    def str_or_list(key):
        v = meta.get(key)
        if v is not None and not (isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v))):
            errors.append(f'"{key}" must be a string or a list of strings')

    for key in ("license", "task_categories", "tags", "size_categories", "language", "pretty_name"):
        str_or_list(key)
    configs = meta.get("configs")
    if configs is not None:
        if repo_type != "dataset" or not isinstance(configs, list):
            errors.append('"configs" must be a list (dataset repos only)')
        else:
            names = []
            for i, cfg in enumerate(configs):
                if not isinstance(cfg, dict) or not isinstance(cfg.get("config_name"), str):
                    errors.append(f'"configs[{i}].config_name" must be a string')
                    continue
                names.append(cfg["config_name"])
                files = cfg.get("data_files")
                ok = isinstance(files, str) or (
                    isinstance(files, list)
                    and all(
                        isinstance(f, str)
                        or (
                            isinstance(f, dict)
                            and isinstance(f.get("split"), str)
                            and (
                                isinstance(f.get("path"), str)
                                or (isinstance(f.get("path"), list) and all(isinstance(x, str) for x in f["path"]))
                            )
                        )
                        for f in files
                    )
                )
                if files is not None and not ok:
                    errors.append(
                        f'"configs[{i}].data_files" must be a path, a list of paths or a list of {{split, path}}'
                    )
            if len(set(names)) != len(names):
                errors.append('"configs": config names must be unique')
    return errors


_REPO = r"/api/(models|datasets|spaces)/([^/]+)/([^/]+)"
_ROUTES = [
    ("POST", r"/api/repos/create", "create_repo"),
    ("POST", r"/api/validate-yaml", "validate_yaml"),
    ("GET", r"/api/whoami-v2", "whoami"),
    ("GET", _REPO + r"(?:/revision/([^/]+))?", "repo_info"),
    ("GET", _REPO + r"/tree/([^/]+)(?:/(.*))?", "tree"),
    ("POST", _REPO + r"/paths-info/([^/]+)", "paths_info"),
    ("GET", _REPO + r"/refs", "refs"),
    ("GET", _REPO + r"/commits/([^/]+)", "commits"),
    ("POST", _REPO + r"/preupload/([^/]+)", "preupload"),
    ("POST", _REPO + r"/commit/([^/]+)", "commit"),
    ("POST", _REPO + r"/tag/([^/]+)", "tag"),
    ("POST", _REPO + r"/branch/([^/]+)", "branch"),
    ("POST", r"/(?:(datasets|spaces)/)?([^/]+)/([^/]+)\.git/info/lfs/objects/batch", "lfs_batch"),
    ("PUT", r"/_lfs/(model|dataset|space)/([^/]+)/([^/]+)/upload/([0-9a-f]{64})", "lfs_put"),
    ("POST", r"/_lfs/(model|dataset|space)/([^/]+)/([^/]+)/verify/([0-9a-f]{64})", "lfs_verify"),
    ("GET", r"/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", "resolve"),
    ("HEAD", r"/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)", "resolve"),
    ("GET", r"/api/collections", "list_collections"),
    ("POST", r"/api/collections", "create_collection"),
    ("GET", r"/api/collections/([^/]+)/([^/]+)", "get_collection"),
    ("PATCH", r"/api/collections/([^/]+)/([^/]+)", "update_collection"),
    ("DELETE", r"/api/collections/([^/]+)/([^/]+)", "delete_collection"),
    ("POST", r"/api/collections/([^/]+)/([^/]+)/items", "add_collection_item"),
    ("PATCH", r"/api/collections/([^/]+)/([^/]+)/items/([0-9a-f]{24})", "update_collection_item"),
    ("DELETE", r"/api/collections/([^/]+)/([^/]+)/items/([0-9a-f]{24})", "delete_collection_item"),
]
ROUTES = [(m, re.compile("^" + p + "$"), h) for m, p, h in _ROUTES]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "vintix-test-hub/1.0"
    state: HubState  # set on the subclass made by HubServer

    def log_message(self, format, *args):  # noqa: A002 - quiet: tests read state.requests instead
        pass

    # -- plumbing ------------------------------------------------------------------------------------
    def _dispatch(self):
        split = urlsplit(self.path)
        self.query = parse_qs(split.query)
        self.state.requests.append((self.command, split.path, self.headers.get("Authorization")))
        self._body = None
        try:
            auth = self.headers.get("Authorization")
            if auth and self.state.user(auth) is None:  # the Hub refuses a bad token even where none is needed
                raise HubError(401, "Invalid credentials in Authorization header")
            for method, rx, name in ROUTES:
                m = rx.match(split.path) if method == self.command else None
                if m:
                    groups = [unquote(g) if g is not None else None for g in m.groups()]
                    return getattr(self, "h_" + name)(*groups)
            raise HubError(404, f"Not found: {self.command} {split.path}")
        except HubError as e:
            self._drain()
            headers = {}
            if e.code:
                headers["X-Error-Code"] = e.code
            headers["X-Error-Message"] = e.message
            self.send_json(e.status, e.body or {"error": e.message}, headers)
        except _Dropped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = _dispatch

    def body(self) -> bytes:
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    n = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if n == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    chunks.append(self.rfile.read(n))
                    self.rfile.readline()
                self._body = b"".join(chunks)
            else:
                self._body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        return self._body

    def _drain(self):
        if self._body is None and self.command in ("POST", "PUT"):
            self.body()

    def json_body(self) -> dict:
        try:
            data = json.loads(self.body() or b"null")
        except ValueError:
            raise HubError(400, "Malformed JSON body") from None
        if not isinstance(data, dict):
            raise HubError(400, "JSON body must be an object")
        return data

    def send_json(self, status: int, obj, headers: dict | None = None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v.encode("ascii", "replace").decode() if isinstance(v, str) else str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    @property
    def auth(self) -> str | None:
        return self.headers.get("Authorization")

    @property
    def base(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def prefix(self, repo_type: str) -> str:
        return "" if repo_type == "model" else f"{repo_type}s/"

    def repo_for_write(self, kind: str, ns: str, name: str) -> Repo:
        self.state.need_write(self.auth)
        repo = self.state.repos.get((TYPES[kind], f"{ns}/{name}"))
        if repo is None:
            raise HubError(404, f"Repository not found: {ns}/{name}", "RepoNotFound")
        return repo

    def entry_json(self, path: str, e: Entry | None, commit: Commit, repo: Repo, expand: bool) -> dict:
        if e is None:  # a directory
            oid = hashlib.sha1(
                json.dumps(sorted((p, x.oid) for p, x in commit.files.items() if p.startswith(path + "/"))).encode()
            ).hexdigest()
            d = {"type": "directory", "oid": oid, "path": path, "size": 0}
        else:
            d = {"type": "file", "oid": e.oid, "size": e.size, "path": path}
            if e.lfs_oid is not None:
                d["lfs"] = {"oid": e.lfs_oid, "size": e.size, "pointerSize": len(lfs_pointer(e.lfs_oid, e.size))}
        if expand:
            last = commit
            for c in repo.history(commit.oid):
                parent = repo.commits.get(c.parent) if c.parent else None
                if parent is None or parent.files.get(path) != c.files.get(path):
                    last = c
                    break
            d["lastCommit"] = {"id": last.oid, "title": last.title, "date": last.date}
        return d

    def listing(self, commit: Commit, base: str, recursive: bool) -> list[tuple[str, Entry | None]]:
        dirs, files = set(), []
        pre = base + "/" if base else ""
        for p in sorted(commit.files):
            if not p.startswith(pre):
                continue
            rest = p[len(pre) :].split("/")
            for i in range(1, len(rest)):
                if recursive or i == 1:
                    dirs.add(pre + "/".join(rest[:i]))
            if recursive or len(rest) == 1:
                files.append((p, commit.files[p]))
        return sorted([(d, None) for d in dirs] + files, key=lambda x: x[0])

    # -- repos -----------------------------------------------------------------------------------------
    def h_whoami(self):
        if self.state.user(self.auth) is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        self.send_json(
            200,
            {
                "type": "user",
                "name": USER,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"role": "write"}},
            },
        )

    def h_create_repo(self):
        user = self.state.need_write(self.auth)
        data = self.json_body()
        name, org = data.get("name"), data.get("organization") or user
        repo_type = data.get("type") or "model"
        if repo_type not in TYPES.values():
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        if not isinstance(name, str) or not NAME_RE.match(name) or not NAME_RE.match(str(org)):
            raise HubError(400, f"Invalid repo name {org}/{name}")
        private = data.get("visibility") == "private" or bool(data.get("private"))
        repo, created = self.state.create_repo(repo_type, f"{org}/{name}", private)
        url = f"{self.base}/{self.prefix(repo_type)}{repo.id}"
        if not created:
            raise HubError(
                409,
                f"You already created this {repo_type} repo",
                body={"error": f"You already created this {repo_type} repo", "url": url},
            )
        self.send_json(200, {"url": url, "name": repo.id, "id": repo.id})

    def h_validate_yaml(self):
        data = self.json_body()
        content = data.get("content")
        if not isinstance(content, str):
            raise HubError(400, '"content" must be a string')
        errors = validate_card_yaml(content, data.get("repoType") or "model")
        if errors:
            raise HubError(400, errors[0], body={"errors": [{"message": m} for m in errors], "warnings": []})
        self.send_json(200, {"errors": [], "warnings": []})

    def h_repo_info(self, kind, ns, name, rev):
        with self.state.lock:
            repo = self.state.readable(TYPES[kind], f"{ns}/{name}", self.auth)
            c = self.state.commit_of(repo, rev or "main")
            card = None
            readme = c.files.get("README.md")
            if readme is not None:
                m = re.match(
                    r"^---\s*\n(.*?)\n---", self.state.content(repo, readme).decode(errors="replace"), re.DOTALL
                )
                try:
                    card = yaml.safe_load(m.group(1)) if m else None
                except yaml.YAMLError:
                    card = None
            self.send_json(
                200,
                {
                    "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24],
                    "id": repo.id,
                    "author": ns,
                    "sha": c.oid,
                    "private": repo.private,
                    "gated": False,
                    "disabled": False,
                    "createdAt": repo.created,
                    "lastModified": c.date,
                    "tags": [],
                    "downloads": 0,
                    "likes": 0,
                    "cardData": card if isinstance(card, dict) else None,
                    "siblings": [{"rfilename": p} for p in sorted(c.files)],
                },
            )

    def h_tree(self, kind, ns, name, rev, path):
        with self.state.lock:
            repo = self.state.readable(TYPES[kind], f"{ns}/{name}", self.auth)
            c = self.state.commit_of(repo, rev)
            path = (path or "").strip("/")
            if path and path in c.files:
                raise HubError(400, f"{path} is a file, not a directory")
            if path and not any(p.startswith(path + "/") for p in c.files):
                raise HubError(404, f"{path} does not exist on {rev}", "EntryNotFound")
            recursive = self.query.get("recursive", ["false"])[0].lower() in ("1", "true")
            expand = self.query.get("expand", ["false"])[0].lower() in ("1", "true")
            self.send_json(200, [self.entry_json(p, e, c, repo, expand) for p, e in self.listing(c, path, recursive)])

    def h_paths_info(self, kind, ns, name, rev):
        form = parse_qs(self.body().decode())
        with self.state.lock:
            repo = self.state.readable(TYPES[kind], f"{ns}/{name}", self.auth)
            c = self.state.commit_of(repo, rev)
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
            out = []
            for p in form.get("paths", []):
                p = p.strip("/")
                if p in c.files:
                    out.append(self.entry_json(p, c.files[p], c, repo, expand))
                elif p == "" or any(f.startswith(p + "/") for f in c.files):
                    out.append(self.entry_json(p, None, c, repo, expand))
            self.send_json(200, out)

    def h_refs(self, kind, ns, name):
        with self.state.lock:
            repo = self.state.readable(TYPES[kind], f"{ns}/{name}", self.auth)
            self.send_json(
                200,
                {
                    "branches": [
                        {"name": b, "ref": f"refs/heads/{b}", "targetCommit": o}
                        for b, o in sorted(repo.branches.items())
                    ],
                    "tags": [
                        {"name": t, "ref": f"refs/tags/{t}", "targetCommit": o} for t, o in sorted(repo.tags.items())
                    ],
                    "converts": [],
                    "pullRequests": [],
                },
            )

    def h_commits(self, kind, ns, name, rev):
        with self.state.lock:
            repo = self.state.readable(TYPES[kind], f"{ns}/{name}", self.auth)
            self.state.commit_of(repo, rev)
            self.send_json(
                200,
                [
                    {
                        "id": c.oid,
                        "title": c.title,
                        "message": c.description,
                        "date": c.date,
                        "authors": [{"user": USER}],
                    }
                    for c in repo.history(rev)
                ],
            )

    def h_tag(self, kind, ns, name, rev):
        data = self.json_body()
        with self.state.lock:
            repo = self.repo_for_write(kind, ns, name)
            c = self.state.commit_of(repo, rev)
            tag = data.get("tag")
            if not isinstance(tag, str) or not REF_RE.match(tag):
                raise HubError(400, f"Invalid tag name {tag!r}")
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            repo.tags[tag] = c.oid
        self.send_json(200, {"name": tag, "ref": f"refs/tags/{tag}", "targetCommit": c.oid})

    def h_branch(self, kind, ns, name, branch):
        data = self.json_body()
        with self.state.lock:
            repo = self.repo_for_write(kind, ns, name)
            if not REF_RE.match(branch):
                raise HubError(400, f"Invalid branch name {branch!r}")
            if branch in repo.branches or branch in repo.tags:
                raise HubError(409, f"Reference {branch} already exists")
            c = self.state.commit_of(repo, data.get("startingPoint") or "main")
            repo.branches[branch] = c.oid
        self.send_json(200, {"name": branch, "ref": f"refs/heads/{branch}", "targetCommit": c.oid})

    # -- uploads ---------------------------------------------------------------------------------------
    def h_preupload(self, kind, ns, name, rev):
        data = self.json_body()
        with self.state.lock:
            repo = self.repo_for_write(kind, ns, name)
            c = self.state.commit_of(repo, rev)
            out = []
            for f in data.get("files") or []:
                path = check_path(f.get("path"))
                try:
                    sample = base64.b64decode(f.get("sample") or "", validate=True)
                except ValueError:
                    raise HubError(400, f"{path}: sample is not base64") from None
                lfs = int(f.get("size", 0)) >= LFS_MIN_SIZE or b"\0" in sample[:SAMPLE_BYTES]
                e = c.files.get(path)
                oid = (
                    None
                    if e is None
                    else (e.lfs_oid if lfs and e.lfs_oid else e.oid if not lfs and e.lfs_oid is None else None)
                )
                out.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        self.send_json(200, {"files": out, "commitOid": c.oid})

    def h_lfs_batch(self, kind, ns, name):
        kind = kind or "models"
        data = self.json_body()
        with self.state.lock:
            repo = self.repo_for_write(kind, ns, name)
            if data.get("operation") != "upload":
                raise HubError(422, "only the upload operation is supported")
            if "basic" not in (data.get("transfers") or ["basic"]):
                raise HubError(422, "the basic transfer is required")
            objects = []
            for o in data.get("objects") or []:
                oid, size = o.get("oid"), o.get("size")
                if (
                    not isinstance(oid, str)
                    or not re.fullmatch(r"[0-9a-f]{64}", oid)
                    or not isinstance(size, int)
                    or size < 0
                ):
                    raise HubError(422, f"invalid LFS object {o!r}")
                item = {"oid": oid, "size": size}
                if not (oid in repo.lfs and len(repo.lfs[oid]) == size):  # LFS objects are per repo
                    where = f"{self.base}/_lfs/{repo.type}/{repo.id}"
                    item["authenticated"] = True
                    item["actions"] = {
                        "upload": {
                            "href": f"{where}/upload/{oid}?size={size}&sig={self.state.url_sig(repo, oid, size)}"
                        },
                        "verify": {"href": f"{where}/verify/{oid}"},
                    }
                objects.append(item)
        self.send_json(200, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def h_lfs_put(self, repo_type, ns, name, oid):
        repo = self.state.repos.get((repo_type, f"{ns}/{name}"))
        size = int(self.query.get("size", ["-1"])[0])
        if repo is None or not hmac.compare_digest(self.query.get("sig", [""])[0], self.state.url_sig(repo, oid, size)):
            raise HubError(403, "invalid or missing upload signature")
        with self.state.lock:
            drop = self.state.drop_lfs_puts != 0
            if drop:
                self.state.drop_lfs_puts -= self.state.drop_lfs_puts > 0
                self.state.dropped_puts += 1
        if drop:  # read part of the body, then hang up without answering
            self.rfile.read(min(4096, int(self.headers.get("Content-Length") or 0)))
            raise _Dropped
        data = self.body()
        if len(data) != size or hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, f"uploaded content does not match oid {oid} and size {size}")
        with self.state.lock:
            repo.lfs[oid] = data
        self.send_json(200, {"oid": oid, "size": size}, {"ETag": f'"{oid}"'})

    def h_lfs_verify(self, repo_type, ns, name, oid):
        self.state.need_write(self.auth)
        data = self.json_body()
        repo = self.state.repos.get((repo_type, f"{ns}/{name}"))
        stored = repo.lfs.get(oid) if repo is not None else None
        if stored is None or data.get("oid") != oid or len(stored) != data.get("size"):
            raise HubError(404, f"LFS object {oid} was not uploaded")
        self.send_json(200, {"success": True})

    def h_commit(self, kind, ns, name, rev):
        lines = [ln for ln in self.body().split(b"\n") if ln.strip()]
        try:
            items = [json.loads(ln) for ln in lines]
        except ValueError:
            raise HubError(400, "commit payload is not valid ndjson") from None
        if not items or items[0].get("key") != "header" or not isinstance(items[0].get("value"), dict):
            raise HubError(400, "the first line of a commit must be its header")
        header = items[0]["value"]
        if not isinstance(header.get("summary"), str) or not header["summary"].strip():
            raise HubError(400, "a commit needs a summary")
        if self.query.get("create_pr"):
            raise HubError(400, "pull requests are not supported by the test hub")
        with self.state.lock:
            repo = self.repo_for_write(kind, ns, name)
            if rev not in repo.branches:
                raise HubError(404, f"Invalid rev id: {rev} (commits go to branches)", "RevisionNotFound")
            head = repo.commits[repo.branches[rev]]
            parent = header.get("parentCommit")
            if parent is not None and not head.oid.startswith(parent):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(head.files)
            for item in items[1:]:
                key, v = item.get("key"), item.get("value") or {}
                if key == "file":
                    path = check_path(v.get("path"))
                    if v.get("encoding") != "base64":
                        raise HubError(400, f"{path}: unsupported encoding {v.get('encoding')!r}")
                    try:
                        data = base64.b64decode(v.get("content") or "", validate=True)
                    except ValueError:
                        raise HubError(400, f"{path}: content is not base64") from None
                    if len(data) >= LFS_MIN_SIZE or b"\0" in data[:SAMPLE_BYTES]:
                        raise HubError(400, f"Your push was rejected because {path} is binary or too large: use LFS")
                    files[path] = regular_entry(data)
                elif key == "lfsFile":
                    path = check_path(v.get("path"))
                    oid, size = v.get("oid"), v.get("size")
                    if v.get("algo") != "sha256":
                        raise HubError(400, f"{path}: unsupported LFS algo {v.get('algo')!r}")
                    stored = repo.lfs.get(oid)
                    if stored is None or (size is not None and len(stored) != size):
                        raise HubError(422, f"{path}: LFS object {oid} is not stored; upload it before committing")
                    files[path] = Entry(size=len(stored), oid=git_blob_sha1(lfs_pointer(oid, len(stored))), lfs_oid=oid)
                elif key == "deletedFile":
                    path = check_path(v.get("path"))
                    if files.pop(path, None) is None:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                elif key == "deletedFolder":
                    path = check_path(str(v.get("path", "")).rstrip("/"))
                    gone = [p for p in files if p.startswith(path + "/")]
                    if not gone:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in gone:
                        del files[p]
                else:
                    raise HubError(400, f"unsupported commit operation {key!r}")
            c = self.state.new_commit(repo, head, header["summary"], header.get("description") or "", files)
            repo.branches[rev] = c.oid
        self.send_json(
            200,
            {
                "commitUrl": f"{self.base}/{self.prefix(repo.type)}{repo.id}/commit/{c.oid}",
                "commitOid": c.oid,
                "pullRequestUrl": None,
            },
        )

    # -- collections -----------------------------------------------------------------------------------
    def collection_json(self, slug: str, preview: bool = False) -> dict:
        c = self.state.collections[slug]
        mine = sorted(
            (s for s, x in self.state.collections.items() if x["namespace"] == c["namespace"]),
            key=lambda s: self.state.collections[s]["created"],
        )
        items = c["items"][:4] if preview else c["items"]
        out = {
            "slug": slug,
            "title": c["title"],
            "description": c["description"],
            "owner": {"name": c["namespace"], "type": "org" if c["namespace"] != USER else "user"},
            "items": [dict(it, position=i) for i, it in enumerate(items)],
            "lastUpdated": c["updated"],
            "position": mine.index(slug),
            "private": c["private"],
            "theme": c["theme"],
            "upvotes": 0,
            "isUpvotedByUser": False,
            "gating": False,
        }
        if preview:  # a listing has no position (list_collections numbers the collections itself)
            del out["position"]
        return out

    def collection(self, ns: str, rest: str, write: bool = False) -> str:
        if write:
            self.state.need_write(self.auth)
        slug = f"{ns}/{rest}"
        c = self.state.collections.get(slug)
        if c is None or (c["private"] and self.state.user(self.auth) is None):
            raise HubError(404, f"Collection not found: {slug}")
        return slug

    def h_list_collections(self):
        owner = self.query.get("owner", [None])[0]
        item = self.query.get("item", [None])[0]  # "models/ORG/NAME", "datasets/ORG/NAME", ...
        limit = int(self.query.get("limit", ["100"])[0])
        with self.state.lock:
            out = []
            for slug, c in sorted(self.state.collections.items(), key=lambda x: x[1]["created"]):
                if (owner is not None and c["namespace"] != owner) or (
                    c["private"] and self.state.user(self.auth) is None
                ):
                    continue
                if item is not None and not any(f"{it['type']}s/{it['id']}" == item for it in c["items"]):
                    continue
                out.append(self.collection_json(slug, preview=True))
            self.send_json(200, out[:limit])

    def h_create_collection(self):
        self.state.need_write(self.auth)
        data = self.json_body()
        title, ns = data.get("title"), data.get("namespace")
        if not isinstance(title, str) or not title.strip() or len(title) > 60:
            raise HubError(400, "a collection title is a non-empty string of at most 60 characters")
        if not isinstance(ns, str) or not NAME_RE.match(ns):
            raise HubError(400, f"Invalid namespace {ns!r}")
        with self.state.lock:
            for slug, c in self.state.collections.items():
                if c["namespace"] == ns and c["title"] == title:
                    raise HubError(
                        409, "Collection already exists", body={"error": "Collection already exists", "slug": slug}
                    )
            words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "collection"
            slug = f"{ns}/{words}-{secrets.token_hex(12)}"
            self.state.collections[slug] = {
                "title": title,
                "description": data.get("description") or "",
                "namespace": ns,
                "private": bool(data.get("private")),
                "theme": "default",
                "items": [],
                "created": time.monotonic_ns(),
                "updated": _now(),
            }
            self.send_json(200, self.collection_json(slug))

    def h_get_collection(self, ns, rest):
        with self.state.lock:
            self.send_json(200, self.collection_json(self.collection(ns, rest)))

    def h_update_collection(self, ns, rest):
        data = self.json_body()
        with self.state.lock:
            slug = self.collection(ns, rest, write=True)
            c = self.state.collections[slug]
            for key in ("title", "description", "private", "theme"):
                if key in data:
                    c[key] = data[key]
            if "position" in data:
                raise HubError(400, "reordering collections is not supported by the test hub")
            c["updated"] = _now()
            self.send_json(200, {"success": True, "data": self.collection_json(slug)})

    def h_delete_collection(self, ns, rest):
        with self.state.lock:
            del self.state.collections[self.collection(ns, rest, write=True)]
        self.send_json(200, {"success": True})

    def h_add_collection_item(self, ns, rest):
        data = self.json_body()
        item = data.get("item") if isinstance(data.get("item"), dict) else {}
        kind, item_id = item.get("type"), item.get("id")
        if kind not in ("model", "dataset", "space", "paper", "collection") or not isinstance(item_id, str):
            raise HubError(400, f"invalid collection item {item!r}")
        with self.state.lock:
            slug = self.collection(ns, rest, write=True)
            c = self.state.collections[slug]
            entry = {"_id": secrets.token_hex(12), "id": item_id, "type": kind}
            if kind in ("model", "dataset", "space"):
                repo = self.state.readable(kind, item_id, self.auth)
                entry.update(
                    {
                        "author": item_id.split("/")[0],
                        "private": repo.private,
                        "lastModified": repo.resolve("main").date if repo.resolve("main") else repo.created,
                    }
                )
            if any(it["type"] == kind and it["id"] == item_id for it in c["items"]):
                raise HubError(409, f"{kind} {item_id} is already in the collection")
            note = data.get("note")
            if note is not None:
                if not isinstance(note, str) or len(note) > 500:
                    raise HubError(400, "a note is a string of at most 500 characters")
                entry["note"] = {"html": note, "text": note}
            c["items"].append(entry)
            c["updated"] = _now()
            self.send_json(200, self.collection_json(slug))

    def h_update_collection_item(self, ns, rest, object_id):
        data = self.json_body()
        with self.state.lock:
            c = self.state.collections[self.collection(ns, rest, write=True)]
            hits = [it for it in c["items"] if it["_id"] == object_id]
            if not hits:
                raise HubError(404, f"no item {object_id} in the collection")
            if "note" in data:
                hits[0]["note"] = {"html": data["note"], "text": data["note"]}
            if "position" in data:
                c["items"].remove(hits[0])
                c["items"].insert(int(data["position"]), hits[0])
            c["updated"] = _now()
        self.send_json(200, {"success": True})

    def h_delete_collection_item(self, ns, rest, object_id):
        with self.state.lock:
            c = self.state.collections[self.collection(ns, rest, write=True)]
            if not any(it["_id"] == object_id for it in c["items"]):
                raise HubError(404, f"no item {object_id} in the collection")
            c["items"] = [it for it in c["items"] if it["_id"] != object_id]
        self.send_json(200, {"success": True})

    # -- downloads -------------------------------------------------------------------------------------
    def h_resolve(self, kind, ns, name, rev, path):
        repo_type = TYPES[kind] if kind else "model"
        with self.state.lock:
            repo = self.state.readable(repo_type, f"{ns}/{name}", self.auth)
            c = self.state.commit_of(repo, rev)
            e = c.files.get(path)
            if e is None:  # datasets relies on this code for the files it probes (<name>.py, .huggingface.yaml, ...)
                raise HubError(404, f"Entry not found: {path}", "EntryNotFound")
            data = self.state.content(repo, e)
        etag = e.lfs_oid or e.oid
        headers = {
            "X-Repo-Commit": c.oid,
            "ETag": f'"{etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if e.lfs_oid:
            headers.update({"X-Linked-Etag": f'"{e.lfs_oid}"', "X-Linked-Size": str(e.size)})
        status, start, end = 200, 0, len(data)
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m is None or (not m.group(1) and not m.group(2)):
                raise HubError(416, f"bad Range {rng!r}")
            if m.group(1):
                start = int(m.group(1))
                end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
            else:
                start = max(0, len(data) - int(m.group(2)))
            if start >= len(data) or start >= end:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{len(data)}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[start:end])


class _Dropped(Exception):
    pass


class HubServer:
    """``with HubServer() as hub: hub.url ...`` serves on 127.0.0.1 in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, tokens: set[str] | None = None):
        self.state = HubState(tokens)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve the strict test Hub on 127.0.0.1 until killed.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", action="append", help="accept only these tokens (default: any non-empty token)")
    args = ap.parse_args()
    server = HubServer(port=args.port, tokens=set(args.token) if args.token else None)
    print(f"HF_ENDPOINT={server.url}", flush=True)
    try:
        server.httpd.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
