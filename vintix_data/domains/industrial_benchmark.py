"""Industrial Benchmark adapter: our own env (vintix_data.envs), 250-step episodes, PPO demonstrators."""

from __future__ import annotations

import os

import gymnasium as gym

from vintix_data.envs import IB_ENV_ID
from vintix_data.registry import TaskSpec

DEMONSTRATOR_HOME = os.path.join("~", ".cache", "vintix", "demonstrators")


class IndustrialBenchmarkAdapter:
    demonstrator_kinds = ("sb3", "random", "zero")

    def episode_limit(self, task: TaskSpec) -> int:
        return task.episode_limit

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        kwargs = {**task.env_kwargs, **overrides}
        return gym.make(IB_ENV_ID, max_episode_steps=self.episode_limit(task), **kwargs)

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        """A checkpoint trained by `vintix-data demonstrator train` into the cache, when there is one."""
        path = os.path.expanduser(os.path.join(DEMONSTRATOR_HOME, f"{task.id}.zip"))
        return f"sb3:{path}" if os.path.exists(path) else None
