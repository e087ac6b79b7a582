"""Publish a dataset folder to the Hugging Face Hub, and check what was published (docs/design.md §5, §9).

This module is the only place that talks to the Hub (``huggingface_hub`` calls only). The endpoint is
``huggingface_hub``'s (``HF_ENDPOINT``, so private deployments and mirrors work) and the token comes
from the usual places (``HF_TOKEN``, the ``hf auth login`` store).

- :func:`vintix_data.hub.push.push` uploads a folder that passes ``validate`` as one commit (dot-files and dot-folders, such
  as the ``.vintix/`` resume state, are never uploaded; remote files under ``data/``, ``meta/`` and
  ``plots/`` that the folder no longer has are deleted in the same commit, so a stale shard cannot be
  read by ``load_dataset``), then tags it. An unchanged folder makes no commit.
- :func:`vintix_data.hub.verify.verify` downloads a published revision afresh, checks every sha256 of ``meta/manifest.json``,
  re-runs ``validate`` on the download and loads it with ``datasets.load_dataset`` by repo id.
- :func:`download_file` fetches one file of a model repo (``hub:`` demonstrators).

Every failure a user can cause or meet is a :class:`HubError` with a one-line message.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from vintix_data.errors import UserError

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
    if (
        len(parts) != 2
        or not all(_NAME_RE.match(p) for p in parts)
        or "--" in repo_id
        or ".." in repo_id
        or repo_id.endswith(".git")
    ):
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
        raise HubError(
            "no Hugging Face token found: run `hf auth login` (or set HF_TOKEN) with a token that can "
            "write to the repo's organization"
        )
    return token


# -- errors ----------------------------------------------------------------------------------------


def one_line(e: BaseException, limit: int = 300) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(e: BaseException, repo_id: str, revision: str | None) -> str:
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{endpoint()}"
    if isinstance(e, RevisionNotFoundError):
        return f"revision {revision!r} not found in {repo_id} on {where}"
    if isinstance(e, GatedRepoError):
        return f"{repo_id} is gated on {where}: request access on its page first"
    if isinstance(e, RepositoryNotFoundError):
        return f"{repo_id}: no such repo on {where}, or it is private and your token cannot read it"
    if isinstance(e, EntryNotFoundError):
        return f"{repo_id}: file not found ({one_line(e).split('Entry Not Found for url: ')[-1]})"
    if isinstance(e, HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", None)
        server = getattr(e, "server_message", None) or one_line(e)
        if status == 401:
            return f"the Hub at {where} refused the token (401 {one_line(Exception(server), 250)}): run `hf auth login` with a write token"
        if status == 403:
            return f"the token may not write to {repo_id} on {where} (403 {one_line(Exception(server), 120)})"
        return f"the Hub at {where} answered {status}: {one_line(Exception(server), 200)}"
    chain = [e]
    while chain[-1].__cause__ is not None and chain[-1].__cause__ not in chain:
        chain.append(chain[-1].__cause__)
    for x in chain:
        name = type(x).__name__
        if name in ("ConnectError", "ConnectTimeout", "LocalEntryNotFoundError", "OfflineModeIsEnabled") or isinstance(
            x, (ConnectionRefusedError, TimeoutError)
        ):
            return f"cannot reach the Hub at {where} ({name}: {one_line(x, 150)})"
    root = chain[-1]
    if root is not e:  # e.g. "Error while uploading 'data/x.parquet' to the Hub." caused by a dropped connection
        return f"{one_line(e, 150)} ({type(root).__name__}: {one_line(root, 150)})"
    return f"{type(e).__name__}: {one_line(e)}"


@contextlib.contextmanager
def hub_errors(repo_id: str, revision: str | None = None, prefix: str = "") -> Iterator[None]:
    try:
        yield
    except HubError:
        raise
    except KeyboardInterrupt:
        raise
    except Exception as e:
        raise HubError(prefix + describe(e, repo_id, revision)) from e


def api(token: str | None):
    from huggingface_hub import HfApi

    from vintix_data.version import __version__

    return HfApi(token=token, library_name="vintix", library_version=__version__)


# -- single files (hub: demonstrators) ---------------------------------------------------------------


def download_file(
    repo_id: str, filename: str, repo_type: str = "model", revision: str | None = None, token: str | None = None
) -> tuple[Path, str]:
    """``hf_hub_download`` one file; returns its local path and the commit it came from."""
    from huggingface_hub import hf_hub_download

    check_repo_id(repo_id, kind=repo_type)
    with hub_errors(repo_id, revision):
        try:
            path = Path(
                hf_hub_download(repo_id, filename, repo_type=repo_type, revision=revision, token=get_token(token))
            )
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


def snapshot(
    repo_id: str,
    revision: str | None = None,
    allow_patterns: list[str] | None = None,
    token: str | None = None,
    repo_type: str = REPO_TYPE,
) -> Path:
    """A local snapshot of a dataset (or model) repo (``snapshot_download``: cached, revision-pinned, usable
    offline once cached); the folder's name is the commit it holds."""
    check_repo_id(repo_id, kind=repo_type)
    with hub_errors(repo_id, revision):
        return Path(
            api(get_token(token)).snapshot_download(
                repo_id, repo_type=repo_type, revision=revision, allow_patterns=allow_patterns
            )
        )
