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


def mix_terms(eps: np.ndarray, uniform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mixer's two demonstrator-free factors, ``1 - eps`` (column) and ``eps * u``, in float64.

    Split out so the collector computes them once per episode rather than once per step: the mixer's per-step
    cost is what a collector adds on top of the env and the demonstrator.
    """
    eps = np.asarray(eps, np.float64)[:, None]
    return 1.0 - eps, eps * uniform


def mix_with(
    demo: np.ndarray,
    keep: np.ndarray,
    noise: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    scratch: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``clip(keep * demo + noise, low, high)`` as float32, with ``keep, noise = mix_terms(eps, u)``.

    The same float64 operations in the same order as the one-expression form (a float32 demo promotes to
    float64 exactly, the result rounds to float32 once), so the bits equal :func:`mix_actions`'s. The collector
    passes the demo already in float64, every operand at the batch's shape, a float64 ``scratch`` and a
    float32 ``out``: NumPy then runs each ufunc on its fast path, without the broadcasting and casting set-up
    that costs more than the arithmetic on a few numbers.
    """
    a = np.multiply(keep, demo, out=scratch)
    np.add(a, noise, out=a)
    np.maximum(a, low, out=a)
    # = np.clip without its Python-level overhead. np.clip's own ufunc would do both in one call, but it breaks
    # ties of signed zeros with a bound differently from maximum/minimum on some operand layouts (the test in
    # tests/test_schedule.py found one), and these bits are every dataset's bytes.
    np.minimum(a, high, out=a)
    if out is None:
        return a.astype(np.float32)
    out[...] = a
    return out


def mix_actions(
    demo: np.ndarray, uniform: np.ndarray, eps: np.ndarray, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """``clip((1 - eps) * demo + eps * u, low, high)`` row-wise, computed in float64, returned as float32."""
    keep, noise = mix_terms(eps, uniform)
    return mix_with(demo, keep, noise, low, high)
