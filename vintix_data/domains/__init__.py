"""Domain adapters: how to build, limit and seed the env of a task, so nothing else branches on the domain.

  base.py                  DomainAdapter (abstract, with the defaults), ConfiguredTask, the demonstrator cache
  options.py               KEY=VALUE parsing of --env-option / --variation
  industrial_benchmark.py  metaworld.py  mujoco.py  bidexhands.py   one adapter per domain
  gym.py                   the generic adapter: any Gymnasium env with a Box action space (`gym:ENV_ID`, user tasks)
  plugins.py               task files ($VINTIX_TASKS, --tasks) and `vintix.domains` entry points, the registry's
                           source of user tasks

:func:`configure_task` resolves a registry task once, with its per-run settings, into a :class:`ConfiguredTask`
that carries its adapter; the module-level helpers below accept either and exist for callers that hold a
plain :class:`~vintix_data.registry.TaskSpec`.
"""

from __future__ import annotations

import dataclasses

import gymnasium as gym

from vintix_data.domains.base import (
    ConfiguredTask,
    DomainAdapter,
    DomainOptionError,
    DomainUnavailableError,
    default_episode_seed,
    demonstrator_cache,
    gate_record_path,
    install_default_demonstrator,
    read_gate_record,
    write_gate_record,
)
from vintix_data.domains.bidexhands import BiDexHandsAdapter
from vintix_data.domains.gym import GymAdapter, UserTaskError
from vintix_data.domains.industrial_benchmark import IndustrialBenchmarkAdapter
from vintix_data.domains.metaworld import MetaWorldAdapter
from vintix_data.domains.mujoco import MujocoAdapter
from vintix_data.domains.options import parse_bool, parse_env_options, parse_options
from vintix_data.domains.plugins import GENERIC, UserTasks, adapter_for_domain
from vintix_data.registry import TaskSpec, register_task_source

ADAPTERS: dict[str, DomainAdapter] = {
    a.domain: a
    for a in (IndustrialBenchmarkAdapter(), MetaWorldAdapter(), MujocoAdapter(), BiDexHandsAdapter(), GENERIC)
}
register_task_source(UserTasks())  # `gym:` ids, task files and plugins, after the paper's table


def adapter_for(task: TaskSpec | ConfiguredTask) -> DomainAdapter:
    if isinstance(task, ConfiguredTask):
        return task.adapter
    if task.domain in ADAPTERS:
        return ADAPTERS[task.domain]
    plugin = adapter_for_domain(task.domain) if task.source != "paper" else None
    if plugin is not None:
        return plugin
    if task.source != "paper":
        return GENERIC  # a task file's own domain label: the generic Gymnasium adapter serves it
    raise DomainUnavailableError(
        f"{task.id}: the {task.domain} domain is not collectable yet in this version of vintix"
    ) from None


def resolve(task: TaskSpec | ConfiguredTask) -> ConfiguredTask:
    """The task with its adapter, without per-run settings (a ConfiguredTask is returned as it is)."""
    return task if isinstance(task, ConfiguredTask) else ConfiguredTask(task, adapter_for(task))


def make_env(task: TaskSpec | ConfiguredTask, **overrides) -> gym.Env:
    return resolve(task).make_env(**overrides)


def unavailable(task: TaskSpec | ConfiguredTask) -> str | None:
    """None when the task's env can be made on this installation, else why not (one line)."""
    t = resolve(task)
    return t.adapter.unavailable(t.spec)


def episode_reset_seed(task: TaskSpec | ConfiguredTask, seed: int, history: int, episode: int) -> int:
    """The seed the collector resets an episode with; a domain may key it differently (Meta-World --fixed-goal)."""
    return resolve(task).episode_seed(seed, history, episode)


def episode_variation(task: TaskSpec | ConfiguredTask, reset_seed: int) -> int | None:
    """The task variation an episode reset with ``reset_seed`` runs (Meta-World's goal/object index), else None."""
    return resolve(task).variation(reset_seed)


def observation_components(task: TaskSpec | ConfiguredTask) -> dict[str, list[int]]:
    """The task's named observation components -> their column indices (what ``--hide`` can hide, docs/design.md §8)."""
    return resolve(task).observation_components()


def paper_comparable(task: TaskSpec | ConfiguredTask) -> bool:
    """Whether the paper's reference scores are for this very env (same version, no variation)."""
    return resolve(task).paper_comparable()


def configure_task(
    task: TaskSpec | ConfiguredTask,
    episode_limit: int | None = None,
    fixed_goal: bool = False,
    env_options: dict | None = None,
    env_kwargs: dict | None = None,
    reward_scale: float | None = None,
) -> ConfiguredTask:
    """The task with per-run settings applied (episode limit, Meta-World fixed goal, domain env options; for a
    Gymnasium-served task also constructor kwargs and the reward scale).

    Raises DomainUnavailableError when the domain cannot run here and DomainOptionError (a ValueError) on a bad
    setting (one line each).
    """
    adapter = adapter_for(task)
    spec = task.spec if isinstance(task, ConfiguredTask) else task
    why = adapter.unavailable(spec)
    if why:
        raise DomainUnavailableError(f"{spec.id}: {why}")
    options = dict(env_options or {})
    if env_kwargs or reward_scale is not None:
        flag = "--env-kwarg" if env_kwargs else "--reward-scale"
        if not getattr(adapter, "accepts_env_kwargs", False):
            raise DomainOptionError(
                f"{flag} is for Gymnasium tasks (gym:ENV_ID, task files, plugins); {spec.id} is a "
                f"paper task of the {spec.domain} domain" + (" (it takes --env-option)" if env_kwargs else "")
            )
        options.update(env_kwargs or {})
    if reward_scale is not None:
        import math

        if not (math.isfinite(reward_scale) and reward_scale > 0):
            raise DomainOptionError(f"--reward-scale must be a finite number > 0, got {reward_scale}")
        spec = dataclasses.replace(spec, reward_scale=float(reward_scale))
    if fixed_goal:
        if "fixed_goal" not in adapter.options:
            raise DomainOptionError(
                f"--fixed-goal fixes Meta-World's goal/object variation per history; {spec.id} is in "
                f"the {spec.domain} domain"
            )
        options["fixed_goal"] = True
    if episode_limit is not None:
        if episode_limit < 1:
            raise DomainOptionError(f"--episode-limit must be >= 1, got {episode_limit}")
        spec = dataclasses.replace(spec, episode_limit=int(episode_limit))
    return ConfiguredTask(adapter.configure(spec, options), adapter)


__all__ = [
    "ADAPTERS",
    "ConfiguredTask",
    "DomainAdapter",
    "GymAdapter",
    "UserTaskError",
    "DomainOptionError",
    "DomainUnavailableError",
    "adapter_for",
    "configure_task",
    "default_episode_seed",
    "demonstrator_cache",
    "episode_reset_seed",
    "episode_variation",
    "gate_record_path",
    "install_default_demonstrator",
    "make_env",
    "observation_components",
    "paper_comparable",
    "parse_bool",
    "parse_env_options",
    "parse_options",
    "read_gate_record",
    "resolve",
    "unavailable",
    "write_gate_record",
]
