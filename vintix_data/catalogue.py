"""The catalogue of public experts: which published checkpoint a task uses when none is installed here.

Data, not code: ``vintix_data/data/public_experts.csv`` has one row per task (registry id) naming the Hub repo and
file of a public SB3 expert, its algorithm, the env version it was trained on, its published score where one is
known, the algorithm a release trains when asked to (``release --train-missing``), where each fact comes from and
whether it was checked against the Hub (``verified``). A row without a repo records why there is no public expert
for the task's default env (Minari's HumanoidStandup expert was trained on a reduced observation). The domain
adapters read it (``DomainAdapter.default_demonstrator``); nothing here branches on a domain.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class PublicExpert:
    """One row of the catalogue."""

    task: str
    repo: str  # empty: no public expert fits the task's default env (``note`` says why)
    file: str
    algo: str
    env_version: str
    published_score: float | None
    train_algo: str  # what `release --train-missing` trains (vintix_data.demonstrators.recipes)
    verified: bool  # checked against the Hub; False: taken from the source named, not downloaded here
    source: str
    note: str

    @property
    def spec(self) -> str | None:
        """The demonstrator spec that loads it (``hub:ORG/REPO/FILE.zip``), or None without a repo."""
        return f"hub:{self.repo}/{self.file}" if self.repo else None

    def to_dict(self) -> dict:
        return {**asdict(self), "spec": self.spec}


@lru_cache(maxsize=1)
def catalogue() -> dict[str, PublicExpert]:
    text = resources.files("vintix_data.data").joinpath("public_experts.csv").read_text()
    out = {}
    for row in csv.DictReader(text.splitlines()):
        out[row["task"]] = PublicExpert(
            task=row["task"],
            repo=row["repo"],
            file=row["file"],
            algo=row["algo"],
            env_version=row["env_version"],
            published_score=float(row["published_score"]) if row["published_score"] else None,
            train_algo=row["train_algo"],
            verified=row["verified"] == "yes",
            source=row["source"],
            note=row["note"],
        )
    return out


def public_expert(task_id: str) -> PublicExpert | None:
    """The catalogue's row for a task id (None: the task is not catalogued)."""
    return catalogue().get(task_id)


def catalogue_spec(task_id: str) -> str | None:
    """The spec of the task's public expert, or None where it has none."""
    e = public_expert(task_id)
    return e.spec if e is not None else None


def is_catalogue_source(task_id: str, repo: str, file: str) -> bool:
    """Whether a Hub download (repo, file) is the task's catalogued expert."""
    e = public_expert(task_id)
    return e is not None and bool(e.repo) and (e.repo, e.file) == (repo, file)
