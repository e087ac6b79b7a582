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

    # Optional (``vintix_data.domains`` falls back to the defaults noted when an adapter omits one):
    #   unavailable(task) -> str | None          why the env cannot be made here, one line (default: None)
    #   configure(task, options) -> TaskSpec     apply/validate per-run env options (default: refuse any)
    #   episode_seed(task, seed, h, k) -> int    an episode's reset seed (default: SeedSequence((seed, h, k)))
    #   variation(task, reset_seed) -> int|None  the task variation that seed selects, for episodes.parquet
    #   paper_comparable(task) -> bool           the paper's reference scores are for this very env
