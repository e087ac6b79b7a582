"""The Goldstone miscalibration sub-system of the Industrial Benchmark.

The upstream package builds 13 penalty functions out of ``np.vectorize`` closures and rebuilds
them on every ``IDS(...)``; that is most of its step time. The functions only depend on the
angle index, so their constants are computed once here, with the same NumPy/SciPy calls as
upstream, and evaluated with the same floating-point operations in the same order: the
legacy mode of :mod:`vintix_data.envs.industrial_benchmark` is bit-identical to upstream
because of that, not by accident. Do not "simplify" the arithmetic below.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import cbrt

NUMBER_STEPS = 24
MAX_REQUIRED_STEP = float(np.sin(15.0 / 180.0 * np.pi))
SAFE_ZONE = MAX_REQUIRED_STEP / 2.0
STRONGEST_PENALTY_ABS_IDX = NUMBER_STEPS // 4  # 6

# Normalized, linearly biased Goldstone potential constants.
_U0 = cbrt(1 + np.sqrt(2)) / np.sqrt(3)
_R0 = _U0 + 1 / (3 * _U0)
_LAMBDA = 2 * _R0**2 - _R0**4 + 8 * np.sqrt(2 / 27.0) * _R0
NORM_ALPHA = float(2 / _LAMBDA)
NORM_BETA = float(1 / _LAMBDA)
NORM_KAPPA = float(-8 * np.sqrt(2 / 27.0) / _LAMBDA)
_QH_B = -np.sqrt(1 / 27.0)


def _global_minimum_radius(phi: float) -> float:
    qh = NORM_KAPPA * abs(np.sin(phi)) / (8 * NORM_BETA)
    signum_phi = np.sign(np.sin(phi))
    if signum_phi == 0:
        signum_phi = 1
    if qh <= _QH_B:
        u = cbrt(-signum_phi * qh + np.sqrt(qh * qh - 1 / 27))
        return float(u + 1 / (3 * u))
    return float(signum_phi * np.sqrt(4 / 3) * np.cos(1 / 3 * np.arccos(-qh * np.sqrt(27))))


@dataclass(frozen=True)
class PenaltyFunction:
    """The penalty landscape for one angle: a Goldstone potential whose minimum is moved to ``opt_rad``."""

    kappa_sin_phi: float
    opt_rad_abs: float
    min_rad_abs: float
    exponent: float
    scaling: float

    @classmethod
    def for_angle(cls, phi: float) -> PenaltyFunction:
        phi = np.mod(phi, 2 * np.pi)
        opt = max(abs(np.sin(phi)), MAX_REQUIRED_STEP)
        if phi >= np.pi:
            opt *= -1
        min_rad = _global_minimum_radius(phi)
        exponent = (2 - abs(opt)) / (2 - abs(min_rad))
        scaling = (2 - abs(min_rad)) / (2 - abs(opt)) ** exponent
        return cls(
            kappa_sin_phi=float(NORM_KAPPA * np.sin(phi)),
            opt_rad_abs=float(abs(opt)),
            min_rad_abs=float(abs(min_rad)),
            exponent=float(exponent),
            scaling=float(scaling),
        )

    def __call__(self, position: float) -> float:
        x = position
        if abs(x) <= self.opt_rad_abs:
            r = x * self.min_rad_abs / self.opt_rad_abs
        else:
            r = math.copysign(1.0, x) * (self.min_rad_abs + self.scaling * (abs(x) - self.opt_rad_abs) ** self.exponent)
        rsq = r * r
        return -NORM_ALPHA * rsq + NORM_BETA * (rsq * rsq) + self.kappa_sin_phi * r


_K = STRONGEST_PENALTY_ABS_IDX
PENALTIES: tuple[PenaltyFunction, ...] = tuple(
    PenaltyFunction.for_angle(phi) for phi in np.arange(-_K, _K + 1) * 2 * np.pi / NUMBER_STEPS
)


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def transition(domain: int, phi_idx: int, system_response: int, position: float) -> tuple[float, int, int, int]:
    """One Goldstone step: returns ``(miscalibration, domain, phi_idx, system_response)``.

    ``domain`` and ``system_response`` are +1/-1 as in upstream's enums.
    """
    old_domain = domain
    if abs(position) > SAFE_ZONE:
        domain = _sign(position)
    if domain != old_domain:
        system_response = 1
    # angular step
    if abs(position) <= SAFE_ZONE:
        phi_idx += -_sign(phi_idx)
    elif phi_idx != -domain * _K:
        phi_idx += system_response * _sign(position)
    if abs(phi_idx) >= _K:
        system_response = -1
    # symmetry
    if abs(phi_idx) >= _K:
        phi_idx = (phi_idx + 4 * _K) % (4 * _K)
        phi_idx = 2 * _K - phi_idx
    if phi_idx == 0 and abs(position) <= SAFE_ZONE:
        domain, phi_idx, system_response = 1, 0, 1
    idx = _K + phi_idx
    if idx < 0:
        idx += len(PENALTIES)
    return -PENALTIES[idx](position), domain, phi_idx, system_response
