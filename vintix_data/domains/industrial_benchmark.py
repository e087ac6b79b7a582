"""Industrial Benchmark adapter: our own env (vintix_data.envs), 250-step episodes, PPO demonstrators."""

from __future__ import annotations

import gymnasium as gym

from vintix_data.domains.base import DomainAdapter
from vintix_data.envs import IB_ENV_ID
from vintix_data.envs.industrial_benchmark import OBSERVATION_NAMES
from vintix_data.registry import TaskSpec


class IndustrialBenchmarkAdapter(DomainAdapter):
    domain = "industrial-benchmark"
    demonstrator_kinds = ("sb3", "random", "zero")
    trains_paper_ppo = True

    def observation_components(self, task: TaskSpec) -> dict[str, list[int]]:
        return {name: [i] for i, name in enumerate(OBSERVATION_NAMES)}

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        kwargs = {**task.env_kwargs, **overrides}
        return gym.make(IB_ENV_ID, max_episode_steps=self.episode_limit(task), **kwargs)
