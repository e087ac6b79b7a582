"""Domain adapters: how to build, limit and seed the env of a task, so nothing else branches on the domain."""

from __future__ import annotations

import gymnasium as gym

from vintix_data.domains.base import DomainAdapter
from vintix_data.domains.industrial_benchmark import IndustrialBenchmarkAdapter
from vintix_data.registry import TaskSpec

_ADAPTERS: dict[str, DomainAdapter] = {"industrial-benchmark": IndustrialBenchmarkAdapter()}


class DomainUnavailableError(RuntimeError):
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


__all__ = ["DomainAdapter", "DomainUnavailableError", "adapter_for", "make_env"]
