"""Environments vintix implements itself. Importing this package registers them with gymnasium."""

import gymnasium as gym

from vintix_data.envs.industrial_benchmark import EPISODE_STEPS, IndustrialBenchmarkEnv

IB_ENV_ID = "vintix/IndustrialBenchmark-v1"

if IB_ENV_ID not in gym.registry:
    gym.register(
        id=IB_ENV_ID,
        entry_point="vintix_data.envs.industrial_benchmark:IndustrialBenchmarkEnv",
        max_episode_steps=EPISODE_STEPS,
        kwargs={"setpoint": 50, "rng": "generator"},
    )

__all__ = ["IB_ENV_ID", "IndustrialBenchmarkEnv"]
