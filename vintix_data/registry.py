"""The paper's 102 tasks and how to run each one here.

The facts (split, dims, reward scale, reference scores, history length and count) are the paper's,
shipped as ``vintix_data/data/paper_tasks.csv`` so nothing reads outside the package at run time.
On top of them each task gets a *runnable id*, the name users type and the Hub repo is named after
(``vintix-<id>``), and the gymnasium id + kwargs that build it here:

* Industrial Benchmark: ``industrial-benchmark-<p>-v1`` -> ``vintix/IndustrialBenchmark-v1`` (setpoint p).
* MuJoCo: the paper's ``-v4`` tasks run as gymnasium ``-v5`` by default (docs/design.md §7).
* Meta-World: ``<name>-v3`` (the paper's v2 envs need mujoco-py, which no registry carries).
* Bi-DexHands: the paper's lowercase names (needs IsaacGym; data come in through ``import-h5``).
"""

from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from vintix_data.errors import UserError

DOMAINS = ("industrial-benchmark", "mujoco", "meta-world", "bi-dexhands")
SPLITS = ("train", "test")
# Every spelling of a domain that a command accepts (`tasks --domain`, `demonstrator eval --all --domain`, ...):
# keys are compared lower-case with "_" and " " read as "-".
DOMAIN_ALIASES: dict[str, str] = {
    "industrial-benchmark": "industrial-benchmark",
    "industrialbenchmark": "industrial-benchmark",
    "ib": "industrial-benchmark",
    "mujoco": "mujoco",
    "meta-world": "meta-world",
    "metaworld": "meta-world",
    "bi-dexhands": "bi-dexhands",
    "bidexhands": "bi-dexhands",
}
DOMAIN_HELP = "industrial-benchmark (ib), mujoco, meta-world (metaworld) or bi-dexhands (bidexhands)"


class UnknownTaskError(UserError, ValueError):
    """A task id that is neither a registry id nor a paper name."""


class RegistryError(UserError, ValueError):
    """A domain or split name the registry does not know (one line, listing the valid ones)."""


@dataclass(frozen=True)
class TaskSpec:
    """One task: the paper's figures plus what it takes to run it here."""

    id: str  # runnable id, e.g. "industrial-benchmark-50-v1"
    domain: str
    split: str
    paper_name: str  # as the paper's tables write it
    table_g_name: str
    env_id: str  # gymnasium id
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    obs_dim: int = 0  # the paper's published dims (MuJoCo: see docs/design.md §7; read dims from the env)
    act_dim: int = 0
    reward_scale: float = 1.0
    episode_limit: int = 0  # steps before truncation used for collection
    history_steps: int = 0  # transitions per learning history (the paper's trajectory_length)
    num_histories: int = 0
    mean_episode_length: float = 0.0
    random_mean: float | None = None
    random_std: float | None = None
    expert_mean: float | None = None
    expert_std: float | None = None
    vintix_normalized_mean: float | None = None
    episode_sparsity: int = 1  # keep every k-th episode when training the model (MuJoCo: 2)
    # domain options applied on top of the registry row (MuJoCo viscosity/gravity, Meta-World fixed_goal);
    # set by ``vintix_data.domains.configure_task`` and recorded in info.json
    env_options: dict[str, Any] = field(default_factory=dict)
    # where the task comes from: "paper" (this table), "gym" (a `gym:ENV_ID`), "file:PATH" (a task file) or
    # "plugin:DIST" (an installed `vintix.domains` entry point); and a user task's own settings (default
    # demonstrator, observation components, variations: vintix_data.domains.gym)
    source: str = "paper"
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def hub_name(self) -> str:
        return f"vintix-{self.id.replace(':', '-')}"  # `gym:Pendulum-v1` -> vintix-gym-Pendulum-v1 (a valid repo name)

    def normalized_score(self, ret: float) -> float | None:
        """``(R - random) / (expert - random)`` with the paper's figures (None when it has none)."""
        if self.random_mean is None or self.expert_mean is None or self.expert_mean == self.random_mean:
            return None
        return (ret - self.random_mean) / (self.expert_mean - self.random_mean)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hub_name"] = self.hub_name
        return d


def _f(x: str) -> float | None:
    return float(x) if x not in ("", None) else None


# How a paper task of each domain runs here: name -> (runnable id, gymnasium id, kwargs, episode limit). A table of
# the paper's data, not behaviour: the domain adapters (vintix_data.domains) own everything that runs.
def _ib_row(name: str) -> tuple[str, str, dict[str, Any], int]:
    return name, "vintix/IndustrialBenchmark-v1", {"setpoint": int(name.split("-")[2])}, 250


def _mujoco_row(name: str) -> tuple[str, str, dict[str, Any], int]:
    base = name.rsplit("-v", 1)[0]
    runnable = f"{base}-v5"
    return runnable, runnable, {}, {"Reacher": 50, "Pusher": 100}.get(base, 1000)


def _metaworld_row(name: str) -> tuple[str, str, dict[str, Any], int]:
    runnable = f"{name}-v3"
    # seed: the MT1 set of 50 goal/object variations (MT1 draws it from the global NumPy RNG otherwise)
    return runnable, "Meta-World/MT1", {"env_name": runnable, "seed": 0}, 100


def _bidexhands_row(name: str) -> tuple[str, str, dict[str, Any], int]:
    return name, name, {}, 0


_RUNNABLE = {
    "industrial-benchmark": _ib_row,
    "mujoco": _mujoco_row,
    "meta-world": _metaworld_row,
    "bi-dexhands": _bidexhands_row,
}
# domains whose episode limit is the paper's mean episode length (their simulator is not run here)
_LIMIT_FROM_MEAN_LENGTH = frozenset({"bi-dexhands"})
# keep every k-th episode when training the model (the paper's MuJoCo setting)
_EPISODE_SPARSITY = {"mujoco": 2}


def _runnable(domain: str, name: str) -> tuple[str, str, dict[str, Any], int]:
    """(runnable id, gymnasium id, kwargs, episode limit) for a paper task."""
    try:
        return _RUNNABLE[domain](name)
    except KeyError:
        raise ValueError(f"unknown domain {domain!r} in the task table") from None


@lru_cache(maxsize=1)
def all_tasks() -> tuple[TaskSpec, ...]:
    text = resources.files("vintix_data.data").joinpath("paper_tasks.csv").read_text()
    tasks = []
    for row in csv.DictReader(text.splitlines()):
        domain = row["domain"]
        rid, env_id, kwargs, limit = _runnable(domain, row["task"])
        if domain in _LIMIT_FROM_MEAN_LENGTH:
            limit = int(round(float(row["mean_episode_length"])))
        tasks.append(
            TaskSpec(
                id=rid,
                domain=domain,
                split=row["split"],
                paper_name=row["task"],
                table_g_name=row["table_g_name"],
                env_id=env_id,
                env_kwargs=kwargs,
                obs_dim=int(row["obs_dim"]),
                act_dim=int(row["act_dim"]),
                reward_scale=float(row["reward_scale"]),
                episode_limit=limit,
                history_steps=int(row["trajectory_length"]),
                num_histories=int(row["num_trajectories"]),
                mean_episode_length=float(row["mean_episode_length"]),
                random_mean=_f(row["random_mean"]),
                random_std=_f(row["random_std"]),
                expert_mean=_f(row["expert_mean"]),
                expert_std=_f(row["expert_std"]),
                vintix_normalized_mean=_f(row["vintix_normalized_mean"]),
                episode_sparsity=_EPISODE_SPARSITY.get(domain, 1),
            )
        )
    return tuple(tasks)


# Sources of tasks beyond the paper's: `gym:` ids, task files and plugins (vintix_data.domains.plugins registers one
# when vintix_data is imported). A source has find(name) -> TaskSpec | None, tasks() -> list and domains() -> list.
TASK_SOURCES: list[Any] = []


def register_task_source(source: Any) -> None:
    if source not in TASK_SOURCES:
        TASK_SOURCES.append(source)


def user_tasks() -> list[TaskSpec]:
    """The tasks of every registered source (task files, plugins), in source order."""
    return [t for source in TASK_SOURCES for t in source.tasks()]


def every_task() -> list[TaskSpec]:
    """The paper's tasks, then the user's (what selections and `vintix-data tasks` range over)."""
    return list(all_tasks()) + user_tasks()


def get_task(name: str) -> TaskSpec:
    """Look a task up by runnable id, paper name or Hub repo name (case-insensitive), then in the user's sources."""
    key = name.strip().lower()
    key = key.removeprefix("vintix-")
    for t in all_tasks():
        if key in (t.id.lower(), t.paper_name.lower(), t.table_g_name.lower()):
            return t
    for source in TASK_SOURCES:
        found = source.find(name.strip())
        if found is not None:
            return found
    raise UnknownTaskError(_unknown_task_message(name, key))


def _unknown_task_message(name: str, key: str) -> str:
    """One line: the closest ids (difflib), or why a known-but-unsupported id cannot run."""
    import difflib

    if key == "pusher-v4":
        return (
            "unknown task 'Pusher-v4': gymnasium's Pusher-v4 needs mujoco<3 (metaworld pins mujoco 3); "
            "the paper's Pusher is Pusher-v5"
        )
    ids = [t.id for t in all_tasks()] + [t.id for t in user_tasks()]
    close = difflib.get_close_matches(key, [i.lower() for i in ids], n=3, cutoff=0.6)
    hint = ""
    if close:
        by_lower = {i.lower(): i for i in ids}
        hint = "; did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?"
    return (
        f"unknown task {name!r}{hint} (see `vintix-data tasks` for the {len(ids)} known ids; any Gymnasium env "
        "with a Box action space is `gym:ENV_ID`)"
    )


def canonical_domain(name: str) -> str:
    """The registry's name of a domain from any accepted spelling (DOMAIN_ALIASES); one-line RegistryError (a ValueError) otherwise."""
    key = str(name).strip().lower().replace("_", "-").replace(" ", "-")
    if key in DOMAIN_ALIASES:
        return DOMAIN_ALIASES[key]
    user = sorted({d for source in TASK_SOURCES for d in source.domains()})
    for d in user:
        if d.lower() == str(name).strip().lower():
            return d
    extra = f"; the user's: {', '.join(user)}" if user else ""
    raise RegistryError(f"unknown domain {name!r}; choose from {DOMAIN_HELP}{extra}")


def list_tasks(domain: str | None = None, split: str | None = None) -> list[TaskSpec]:
    if domain is not None:
        domain = canonical_domain(domain)
    if split is not None and split not in SPLITS:
        raise RegistryError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    # the paper's tasks (the paper's split and parameter figures depend on exactly these), or a user domain's
    tasks = all_tasks() if domain is None or domain in DOMAINS else user_tasks()
    return [t for t in tasks if domain in (None, t.domain) and split in (None, t.split)]
