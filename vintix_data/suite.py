"""Suites: many datasets by one name, resolved through an organization's index (``ORG/vintix-index``).

``load_suite("ORG", "ml45-train")`` reads the index at a revision (the latest by default, or a tag/commit for a
reproducible suite), finds the row of every task the selection names (:func:`vintix_data.selection.select_tasks`)
and loads each dataset with :func:`vintix_data.loading.load` at the *commit* the row pins, so the same index
revision always gives the same data. Each dataset's ``meta/manifest.json`` is checked against the sha256 the
index recorded, and its data fingerprint against the index's. ``vintix-model train --datasets suite:ORG/SELECTION`` goes through :func:`resolve_suite`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from vintix_data.errors import UserError
from vintix_data.format import FormatError, file_sha256
from vintix_data.hub.index import INDEX_FILE, IndexEntry, index_repo, read_index
from vintix_data.loading import LoadedDataset, load
from vintix_data.manifest import recorded_fingerprint
from vintix_data.selection import select_tasks

SUITE_PREFIX = "suite:"


class SuiteError(UserError, ValueError):
    """A suite that cannot be resolved or loaded (one line)."""


@dataclass
class ResolvedSuite:
    """Which dataset, at which commit, stands for each task of a selection (no data downloaded yet)."""

    org: str
    selection: list[str]
    index_repo: str
    index_revision: str | None  # what was asked for (None: the latest)
    index_commit: str  # what it resolved to
    entries: list[IndexEntry]  # in registry order

    @property
    def refs(self) -> list[str]:
        """``ORG/NAME@COMMIT`` per task: the form every dataset option accepts."""
        return [f"{e.repo_id}@{e.commit}" for e in self.entries]

    def describe(self) -> dict:
        """What a training run records about the suite (its checkpoints keep it)."""
        return {
            "suite": f"{self.org}/{','.join(self.selection)}",
            "index": self.index_repo,
            "index_revision": self.index_revision,
            "index_commit": self.index_commit,
            "datasets": {
                e.task: {
                    "repo": e.repo_id,
                    "commit": e.commit,
                    "tag": e.tag,
                    "manifest_sha256": e.manifest_sha256,
                    "data_fingerprint": e.data_fingerprint,
                }
                for e in self.entries
            },
        }


@dataclass
class Suite(ResolvedSuite):
    """A resolved suite plus its loaded datasets (task -> :class:`LoadedDataset`); iterates over the datasets."""

    datasets: dict[str, LoadedDataset] = field(default_factory=dict)

    def __iter__(self) -> Iterator[LoadedDataset]:
        return iter(self.datasets.values())

    def __len__(self) -> int:
        return len(self.datasets)

    def __getitem__(self, task: str) -> LoadedDataset:
        return self.datasets[task]

    def close(self) -> None:
        for d in self.datasets.values():
            d.close()


def _words(selection: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(selection, str):
        return [w for w in selection.split(",") if w.strip()]
    return [str(w) for w in selection]


def _names(tasks: list[str], limit: int = 6) -> str:
    return ", ".join(tasks[:limit]) + (f" and {len(tasks) - limit} more" if len(tasks) > limit else "")


def resolve_suite(
    org: str, selection: str | list[str] | tuple[str, ...], revision: str | None = None, token: str | None = None
) -> ResolvedSuite:
    """The index rows of every task a selection names (see the module docstring); raises SuiteError."""
    from vintix_data.hub import HubError, check_repo_id, download_file

    words = _words(selection)
    wanted = [t.id for t in select_tasks(words)]  # a SelectionError (a UserError) for an unknown selection
    repo_id = index_repo(org)
    try:
        check_repo_id(repo_id)
    except HubError:
        raise SuiteError(f"bad organization {org!r}: letters, digits, '-', '_', '.' (e.g. dunnolab)") from None
    try:
        path, commit = download_file(repo_id, INDEX_FILE, repo_type="dataset", revision=revision, token=token)
        entries = read_index(path)
    except HubError as e:
        raise SuiteError(
            f"cannot read the index of {org}: {e} (a release root is published with "
            f"`vintix-data push ROOT --org {org}`)"
        ) from None
    except (OSError, ValueError, TypeError) as e:
        raise SuiteError(
            f"{repo_id}@{revision or 'main'}: {INDEX_FILE} missing or unreadable ({type(e).__name__})"
        ) from None
    by_task = {e.task: e for e in entries}
    missing = [t for t in wanted if t not in by_task]
    if missing:
        raise SuiteError(
            f"{repo_id}@{commit[:8]} has no dataset for {len(missing)} of the {len(wanted)} task(s) of "
            f"{' '.join(words)!r}: {_names(missing)} (it lists {len(entries)}: {_names([e.task for e in entries], 4)})"
        )
    return ResolvedSuite(
        org=org,
        selection=words,
        index_repo=repo_id,
        index_revision=revision,
        index_commit=commit,
        entries=[by_task[t] for t in wanted],
    )


def load_suite(
    org: str,
    selection: str | list[str] | tuple[str, ...],
    *,
    revision: str | None = None,
    streaming: bool = False,
    token: str | None = None,
    **load_dataset_kwargs,
) -> Suite:
    """Every dataset of ``selection`` (any SELECTION, or a list of them) from ``org``'s index at ``revision``, each
    loaded at the commit the index pins (see the module docstring)."""
    resolved = resolve_suite(org, selection, revision=revision, token=token)
    suite = Suite(**vars(resolved))
    for e in resolved.entries:
        try:
            ds = load(e.repo_id, revision=e.commit, streaming=streaming, **load_dataset_kwargs)
        except FormatError as err:
            suite.close()
            raise SuiteError(f"suite {org}/{' '.join(resolved.selection)}: {e.task}: {err}") from None
        got = file_sha256(Path(ds.folder) / "meta" / "manifest.json")
        fingerprint = recorded_fingerprint(ds.folder)
        if e.data_fingerprint is not None and fingerprint != e.data_fingerprint:  # older indexes record none
            ds.close()
            suite.close()
            raise SuiteError(
                f"{e.repo_id}@{e.commit[:8]}: data fingerprint {str(fingerprint)[:12]}... differs from the "
                f"index's {e.data_fingerprint[:12]}... (the index and the repo disagree)"
            )
        if got != e.manifest_sha256:
            ds.close()
            suite.close()
            raise SuiteError(
                f"{e.repo_id}@{e.commit[:8]}: meta/manifest.json sha256 {got[:12]}... differs from the "
                f"index's {e.manifest_sha256[:12]}... (the index and the repo disagree)"
            )
        suite.datasets[e.task] = ds
    return suite


def parse_suite_ref(ref: str) -> tuple[str, list[str], str | None] | None:
    """``suite:ORG/SELECTION[,SELECTION...][@INDEX_REVISION]`` -> (org, selection words, revision); None for other refs."""
    if not ref.startswith(SUITE_PREFIX):
        return None
    body = ref[len(SUITE_PREFIX) :]
    org, _, rest = body.partition("/")
    rest, _, revision = rest.partition("@")
    if not org or not rest.strip(","):
        raise SuiteError(f"bad suite {ref!r}: expected suite:ORG/SELECTION[@REVISION], e.g. suite:dunnolab/ml45-train")
    return org, _words(rest), revision or None
