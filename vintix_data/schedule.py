"""The paper's continuous noise-distillation schedule (Algorithm 1, Appendix A.3) and the action mixer.

``eps(t) = (1 - (t / ((1 - f) N))^p)^(1/p)`` for ``t <= (1 - f) N``, else 0, with ``N`` the number of
transitions in the history and ``t`` a transition's index in it. So epsilon depends on nothing but
``t``: that is what lets a history stop and resume at any episode (docs/design.md §3).
``p > 1`` keeps the noise high for longer, ``0 < p < 1`` drops it early; ``f`` is the noise-free tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vintix_data.errors import UserError


class ScheduleError(UserError, ValueError):
    """Invalid schedule parameters (one-line message)."""


@dataclass(frozen=True)
class NoiseSchedule:
    p: float = 1.0
    f: float = 0.1
    steps: int = 100_000  # N: transitions per history

    def __post_init__(self):
        if not (isinstance(self.p, (int, float)) and np.isfinite(self.p) and self.p > 0):
            raise ScheduleError(f"--p must be > 0, got {self.p}")
        if not (isinstance(self.f, (int, float)) and 0 <= self.f < 1):
            raise ScheduleError(f"--f must be in [0, 1), got {self.f}")
        if not (isinstance(self.steps, int) and self.steps > 0):
            raise ScheduleError(f"steps per history must be a positive integer, got {self.steps}")

    def epsilon(self, t: np.ndarray | int) -> np.ndarray:
        """eps for transition indices ``t`` (float64; the dataset stores float32)."""
        t = np.asarray(t, dtype=np.float64)
        horizon = (1.0 - self.f) * self.steps
        frac = np.clip(t / horizon, 0.0, 1.0)
        eps = np.power(1.0 - np.power(frac, self.p), 1.0 / self.p)
        return np.where(t <= horizon, eps, 0.0)


def mix_actions(demo: np.ndarray, uniform: np.ndarray, eps: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``clip((1 - eps) * demo + eps * u, low, high)`` row-wise, computed in float64, returned as float32."""
    eps = np.asarray(eps, np.float64)[:, None]
    a = (1.0 - eps) * demo + eps * uniform  # float32 demo promotes to float64 exactly
    return np.minimum(np.maximum(a, low), high).astype(np.float32)  # = np.clip, without its Python-level overhead
