"""The demonstrator protocol and the two baselines every task has: ``zero`` and ``random``.

The protocol is one method, ``act(obs_batch) -> actions``, deterministic and *batch-invariant*: row i of
the answer depends only on row i of the input, bit for bit, whatever else is in the batch (docs/design.md §3).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from vintix_data.errors import DemonstratorError

__all__ = ["Demonstrator", "DemonstratorError", "RandomDemonstrator", "ZeroDemonstrator"]


@runtime_checkable
class Demonstrator(Protocol):
    # read-only here: implementations hold them as plain (data class) attributes, some narrower (an SB3 zip always has
    # a sha256), which a settable protocol member would refuse
    @property
    def kind(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sha256(self) -> str | None: ...

    def act(self, obs_batch: np.ndarray) -> np.ndarray: ...


@dataclass
class ZeroDemonstrator:
    """The all-zero action clipped into the box: IB's 'do nothing' baseline."""

    action_space: gym.spaces.Box
    kind: str = "zero"
    name: str = "zero"
    sha256: str | None = None

    def act(self, obs_batch: np.ndarray) -> np.ndarray:
        zero = np.clip(np.zeros(self.action_space.shape), self.action_space.low, self.action_space.high)
        return np.broadcast_to(zero.astype(np.float32), (len(obs_batch),) + self.action_space.shape).copy()


@dataclass
class RandomDemonstrator:
    """Uniform actions seeded by each observation's bytes: random, yet a pure function of the state."""

    action_space: gym.spaces.Box
    kind: str = "random"
    name: str = "random"
    sha256: str | None = None

    def act(self, obs_batch: np.ndarray) -> np.ndarray:
        low, high = self.action_space.low.astype(np.float64), self.action_space.high.astype(np.float64)
        out = np.empty((len(obs_batch),) + self.action_space.shape, np.float32)
        for i, row in enumerate(np.ascontiguousarray(obs_batch)):
            seed = int.from_bytes(hashlib.blake2b(row.tobytes(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).uniform(low, high)
        return out
