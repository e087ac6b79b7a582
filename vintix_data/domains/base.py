"""The interface every domain adapter implements."""

from __future__ import annotations

from typing import Protocol

import gymnasium as gym

from vintix_data.registry import TaskSpec


class DomainAdapter(Protocol):
    #: demonstrator specs this domain supports, the first is the default
    demonstrator_kinds: tuple[str, ...]

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        """A fresh env for the task, truncating at ``episode_limit(task)``."""

    def episode_limit(self, task: TaskSpec) -> int:
        """Steps before an episode is truncated."""

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        """The demonstrator spec ``collect`` uses when none is given (None: the user must pass one)."""
