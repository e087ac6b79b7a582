"""Industrial Benchmark adapter: our own env (vintix_data.envs), 250-step episodes, PPO demonstrators.

A registry task is one setpoint. ``--env-option setpoints=10,30,50,70`` makes it a task family instead: every
episode runs one setpoint of the list, chosen by its reset seed (as Meta-World's variations are), and in a
collection each history keeps one setpoint (a seeded permutation of the list, cycling), so with ``--hide setpoint``
a history is one learning run on a setpoint the rows never show: the Industrial Benchmark's latent task
(docs/design.md §8). A demonstrator for it must act well at every setpoint of the list: ``demonstrator train
TASK --env-option setpoints=...`` trains one PPO on episodes of random setpoints (it observes the setpoint).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from vintix_data.domains.base import (
    DomainAdapter,
    DomainOptionError,
    default_episode_seed,
    history_variation_seed,
    variation_index,
)
from vintix_data.envs import IB_ENV_ID
from vintix_data.envs.industrial_benchmark import OBSERVATION_NAMES
from vintix_data.registry import TaskSpec

OPTIONS = {
    "setpoints": "comma-separated setpoints in [0, 100], e.g. 10,30,50,70: every episode runs one of them (chosen "
    "by its reset seed) and each history keeps one (distinct up to the list's length); with --hide "
    "setpoint, the latent Industrial Benchmark task"
}


def parse_setpoints(value) -> list[float]:
    """``"10,30,50"`` (or a list) -> ``[10.0, 30.0, 50.0]``: at least two distinct values in [0, 100]."""
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        points = [float(x) for x in items if str(x).strip()]
    except ValueError:
        raise DomainOptionError(f"setpoints takes comma-separated numbers in [0, 100], got {value!r}") from None
    if len(points) < 2 or len(set(points)) != len(points) or not all(0 <= p <= 100 for p in points):
        raise DomainOptionError(f"setpoints takes at least two distinct numbers in [0, 100], got {value!r}")
    return points


class SeededSetpoint(gym.Wrapper):
    """``reset(seed=s)`` runs setpoint ``setpoints[variation_index(s, n)]``: an episode stays a pure function of its
    seed. An unseeded reset (SB3 training) draws the setpoint from the wrapper's own generator."""

    def __init__(self, env: gym.Env, setpoints: list[float]):
        super().__init__(env)
        self.setpoints = list(setpoints)
        self.variation: int | None = None
        self._rng = np.random.default_rng(0)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        n = len(self.setpoints)
        self.variation = variation_index(seed, n) if seed is not None else int(self._rng.integers(n))
        self.unwrapped.setpoint = float(self.setpoints[self.variation])
        obs, info = self.env.reset(seed=seed, options=options)
        info["variation"] = self.variation
        return obs, info


class IndustrialBenchmarkAdapter(DomainAdapter):
    domain = "industrial-benchmark"
    demonstrator_kinds = ("sb3", "random", "zero")
    trains_paper_ppo = True
    options = OPTIONS
    variation_options = ("setpoints",)

    def observation_components(self, task: TaskSpec) -> dict[str, list[int]]:
        return {name: [i] for i, name in enumerate(OBSERVATION_NAMES)}

    def configure(self, task: TaskSpec, options: dict[str, Any]) -> TaskSpec:
        unknown = sorted(set(options) - set(OPTIONS))
        if unknown:
            raise DomainOptionError(
                f"{task.id}: unknown env option {unknown[0]!r}; Industrial Benchmark tasks take "
                + ", ".join(f"{k} ({v})" for k, v in OPTIONS.items())
            )
        if "setpoints" not in options:
            return task
        merged = {**task.env_options, "setpoints": parse_setpoints(options["setpoints"])}
        return dataclasses.replace(task, env_options=merged)

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        kwargs = {**task.env_kwargs, **{k: v for k, v in overrides.items() if k not in OPTIONS}}
        env = gym.make(IB_ENV_ID, max_episode_steps=self.episode_limit(task), **kwargs)
        points = task.env_options.get("setpoints")
        return SeededSetpoint(env, points) if points else env

    def episode_seed(self, task: TaskSpec, seed: int, history: int, episode: int) -> int:
        points = task.env_options.get("setpoints")
        if points:  # one setpoint per history
            return history_variation_seed(seed, history, len(points))
        return default_episode_seed(seed, history, episode)

    def variation(self, task: TaskSpec, reset_seed: int) -> int | None:
        points = task.env_options.get("setpoints")
        return variation_index(reset_seed, len(points)) if points else None
