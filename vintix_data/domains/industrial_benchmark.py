"""Industrial Benchmark adapter: our own env (vintix_data.envs), 250-step episodes, PPO demonstrators."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import gymnasium as gym

from vintix_data.envs import IB_ENV_ID
from vintix_data.envs.industrial_benchmark import OBSERVATION_NAMES
from vintix_data.registry import TaskSpec


def demonstrator_cache() -> Path:
    """Where `demonstrator train` installs a task's default checkpoint: $VINTIX_CACHE or ~/.cache/vintix."""
    root = os.environ.get("VINTIX_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vintix")
    return Path(root) / "demonstrators"


def install_default_demonstrator(task: TaskSpec, checkpoint: Path) -> Path:
    """Copy a trained checkpoint to the cache (atomically), so `collect TASK --out DIR` needs no --demonstrator."""
    dst = demonstrator_cache() / f"{task.id}.zip"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(checkpoint, tmp)
    os.replace(tmp, dst)
    return dst


class IndustrialBenchmarkAdapter:
    demonstrator_kinds = ("sb3", "random", "zero")

    def observation_components(self, task: TaskSpec) -> dict[str, list[int]]:
        return {name: [i] for i, name in enumerate(OBSERVATION_NAMES)}

    def episode_limit(self, task: TaskSpec) -> int:
        return task.episode_limit

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        kwargs = {**task.env_kwargs, **overrides}
        return gym.make(IB_ENV_ID, max_episode_steps=self.episode_limit(task), **kwargs)

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        """The checkpoint `vintix-data demonstrator train` installed in the cache, when there is one."""
        path = demonstrator_cache() / f"{task.id}.zip"
        return f"sb3:{path}" if path.exists() else None
