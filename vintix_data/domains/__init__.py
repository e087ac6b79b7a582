"""Domain adapters: how to build, limit and seed the env of a task, so nothing else branches on the domain."""

from __future__ import annotations

import gymnasium as gym

from vintix_data.domains.base import DomainAdapter
from vintix_data.errors import UserError
from vintix_data.domains.bidexhands import BiDexHandsAdapter
from vintix_data.domains.industrial_benchmark import IndustrialBenchmarkAdapter
from vintix_data.domains.metaworld import MetaWorldAdapter
from vintix_data.domains.mujoco import MujocoAdapter
from vintix_data.registry import TaskSpec

_ADAPTERS: dict[str, DomainAdapter] = {"industrial-benchmark": IndustrialBenchmarkAdapter(), "meta-world": MetaWorldAdapter(),
                                       "mujoco": MujocoAdapter(), "bi-dexhands": BiDexHandsAdapter()}


class DomainUnavailableError(UserError, RuntimeError):
    """The task's domain cannot be run on this installation (one-line message)."""


def adapter_for(task: TaskSpec) -> DomainAdapter:
    try:
        return _ADAPTERS[task.domain]
    except KeyError:
        raise DomainUnavailableError(
            f"{task.id}: the {task.domain} domain is not collectable yet in this version of vintix"
        ) from None


def make_env(task: TaskSpec, **overrides) -> gym.Env:
    return adapter_for(task).make_env(task, **overrides)


# -- what the collector, the evaluator and the CLI ask of any domain (adapters may omit the optional parts) ----

def unavailable(task: TaskSpec) -> str | None:
    """None when the task's env can be made on this installation, else why not (one line)."""
    check = getattr(adapter_for(task), "unavailable", None)
    return check(task) if check is not None else None


def default_episode_seed(seed: int, history: int, episode: int) -> int:
    """The reset seed of episode ``episode`` of history ``history`` (docs/design.md §3)."""
    import numpy as np

    return int(np.random.SeedSequence((seed, history, episode)).generate_state(1)[0])


def episode_reset_seed(task: TaskSpec, seed: int, history: int, episode: int) -> int:
    """The seed the collector resets an episode with; a domain may key it differently (Meta-World --fixed-goal)."""
    fn = getattr(adapter_for(task), "episode_seed", None)
    return fn(task, seed, history, episode) if fn is not None else default_episode_seed(seed, history, episode)


def episode_variation(task: TaskSpec, reset_seed: int) -> int | None:
    """The task variation an episode reset with ``reset_seed`` runs (Meta-World's goal/object index), else None."""
    fn = getattr(adapter_for(task), "variation", None)
    return fn(task, reset_seed) if fn is not None else None


def observation_components(task: TaskSpec) -> dict[str, list[int]]:
    """The task's named observation components -> their column indices, in observation order (empty: none named).

    What ``--hide`` can hide from recorded data (latent tasks, docs/design.md §8).
    """
    fn = getattr(adapter_for(task), "observation_components", None)
    return dict(fn(task)) if fn is not None else {}


def paper_comparable(task: TaskSpec) -> bool:
    """Whether the paper's reference scores are for this very env (same version, no variation)."""
    fn = getattr(adapter_for(task), "paper_comparable", None)
    return fn(task) if fn is not None else not task.env_options


def configure_task(task: TaskSpec, episode_limit: int | None = None, fixed_goal: bool = False,
                   env_options: dict | None = None) -> TaskSpec:
    """The task with per-run settings applied (episode limit, Meta-World fixed goal, domain env options).

    Raises DomainUnavailableError when the domain cannot run here and ValueError on a bad setting (one line each).
    """
    import dataclasses

    adapter = adapter_for(task)
    why = unavailable(task)
    if why:
        raise DomainUnavailableError(f"{task.id}: {why}")
    options = dict(env_options or {})
    if fixed_goal:
        if task.domain != "meta-world":
            raise ValueError(f"--fixed-goal fixes Meta-World's goal/object variation per history; {task.id} is in the "
                             f"{task.domain} domain")
        options["fixed_goal"] = True
    if episode_limit is not None:
        if episode_limit < 1:
            raise ValueError(f"--episode-limit must be >= 1, got {episode_limit}")
        task = dataclasses.replace(task, episode_limit=int(episode_limit))
    configure = getattr(adapter, "configure", None)
    if configure is not None:
        return configure(task, options)
    if options:
        raise ValueError(f"{task.id}: {task.domain} tasks take no env options (got {', '.join(sorted(options))})")
    return task


def parse_env_options(items: list[str] | None) -> dict[str, str]:
    """``["viscosity=0.05", "gravity=1.1"]`` -> dict (one-line ValueError on a malformed item)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"--env-option takes KEY=VALUE, got {item!r}")
        out[key.strip()] = value.strip()
    return out


__all__ = ["DomainAdapter", "DomainUnavailableError", "adapter_for", "make_env", "configure_task", "unavailable",
           "episode_reset_seed", "episode_variation", "observation_components", "default_episode_seed", "paper_comparable", "parse_env_options"]
