"""Industrial Benchmark (Hein et al., 2017) as a gymnasium environment, with the Vintix paper's conventions.

Why our own implementation: the upstream ``industrial_benchmark_python`` package calls ``np.float``
(removed in NumPy 1.24) and draws every random number from NumPy's *global* stream, so two
environments in one process, or sub-environments of a vector env, cannot be seeded apart and a
learning history cannot be a pure function of its seeds (docs/design.md §3).

Two randomness modes:

* ``rng="generator"`` (default): all noise comes from the env's own ``np_random`` Generator, seeded
  by ``reset(seed=...)`` as in any gymnasium env.
* ``rng="legacy"``: a private ``numpy.random.RandomState`` seeded with the reset seed, making
  upstream's calls in upstream's order (``seed``, ``randint``, ``rand`` x2 at construction, then per step
  ``exponential`` x2, ``rand`` x2, ``binomial`` x2, ``normal`` when fatigue saturates, ``randn``).
  With it, ``reset(seed=s)`` reproduces ``IDS(setpoint, inital_seed=s)`` bit for bit.

Paper conventions: an episode is 250 steps (truncation, via the registered ``TimeLimit``); the reward
is the classic reward (``-cost``) divided by 100; the observation is ``[setpoint, velocity, gain, shift,
fatigue, consumption]`` as float32; the action is three deltas in ``[-1, 1]``. ``info`` carries
``reward_delta`` (the change of the returned reward, what the paper's PPO experts were trained on),
``reward_classic`` and ``markov_state`` (float64, ordered as :data:`MARKOV_KEYS`).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from vintix_data.envs import goldstone

OBSERVATION_NAMES = ("setpoint", "velocity", "gain", "shift", "fatigue", "consumption")
MARKOV_KEYS = (
    "hv",
    "hg",
    "he",
    "ve",
    "ge",
    "MC",
    "oc",
    "coc",
    "fb",
    "gs_domain",
    "gs_sys_response",
    "gs_phi_idx",
) + tuple(f"opcost_buf{i}" for i in range(10))
EPISODE_STEPS = 250
REWARD_DIVISOR = 100.0

_GS_BOUND = 1.5
_GS_SETPOINT_DEPENDENCY = 0.02
_GS_SCALE = 2.0 * _GS_BOUND + 100.0 * _GS_SETPOINT_DEPENDENCY
_SHIFT_STEP = (goldstone.MAX_REQUIRED_STEP / 0.9) * 100.0 / _GS_SCALE
_CRF, _CRC, _CRGS = 3.0, 1.0, 25.0
_CONV = np.array([0.11111, 0.22222, 0.33333, 0.22222, 0.11111, 0.0, 0.0, 0.0, 0.0, 0.0])


class _LegacyNoise:
    """Upstream's calls on a private RandomState (bit-exact mode)."""

    def __init__(self, seed: int | None):
        self.rs = np.random.RandomState()
        self.rs.seed(seed)
        # IDS.defineNewSequence() draws these even for a stationary setpoint.
        self.rs.randint(1, 100)
        self.rs.rand()
        self.rs.rand()

    def step_noise(self):
        rs = self.rs
        return rs.exponential(0.1), rs.exponential(0.1), rs.rand(), rs.rand()

    def binomial(self, p: float) -> float:
        return float(self.rs.binomial(1, p))

    def saturation(self) -> float:
        return self.rs.normal(2.4, 0.4)

    def randn(self) -> float:
        return self.rs.randn()


class _GeneratorNoise:
    """The same distributions drawn from a ``numpy.random.Generator``."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def step_noise(self):
        rng = self.rng
        e = rng.exponential(0.1, size=2)
        u = rng.random(2)
        return float(e[0]), float(e[1]), float(u[0]), float(u[1])

    def binomial(self, p: float) -> float:
        return float(self.rng.random() < p)

    def saturation(self) -> float:
        return self.rng.normal(2.4, 0.4)

    def randn(self) -> float:
        return self.rng.standard_normal()


def _effective_action(velocity: float, gain: float, setpoint: float) -> tuple[float, float]:
    def eff_a(a):
        return a + 101.0 - setpoint

    def eff_b(b):
        return b + 1.0 + setpoint

    def alpha(a, b):
        return (b + 1.0) / a

    min_alpha = alpha(eff_a(100), eff_b(0))
    max_alpha = alpha(eff_a(0), eff_b(100))
    eff_velocity = (alpha(eff_a(velocity), eff_b(gain)) - min_alpha) / (max_alpha - min_alpha)
    min_beta = 1.0 / eff_b(100)
    max_beta = 1.0 / eff_b(0)
    eff_gain = (1.0 / eff_b(gain) - min_beta) / (max_beta - min_beta)
    return eff_velocity, eff_gain


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else min(x, hi)


class IndustrialBenchmarkEnv(gym.Env):
    """The IB dynamics for a fixed setpoint. See the module docstring for the conventions."""

    metadata = {"render_modes": []}

    def __init__(self, setpoint: float = 50, rng: str = "generator"):
        if not 0 <= setpoint <= 100:
            raise ValueError(f"setpoint must be in [0, 100], got {setpoint}")
        if rng not in ("generator", "legacy"):
            raise ValueError(f"rng must be 'generator' or 'legacy', got {rng!r}")
        self.setpoint = float(setpoint)
        self.rng_mode = rng
        self.action_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.observation_space = gym.spaces.Box(
            low=np.array([0, 0, 0, 0, 0, -np.inf], np.float32),
            high=np.array([100, 100, 100, 100, np.inf, np.inf], np.float32),
            dtype=np.float32,
        )
        self._noise = None

    # -- dynamics -----------------------------------------------------------------------------
    def _init_state(self) -> None:
        self.v = 50.0
        self.g = 50.0
        self.h = 50.0
        self.he = 0.0
        self.hv = 0.0
        self.hg = 0.0
        self.ve = 0.0
        self.ge = 0.0
        self.mc = 0.0
        self.fb = 0.0
        self.f = 0.0
        self.c = 0.0
        self.oc = 0.0
        self.coc = 0.0
        self.gs_domain, self.gs_phi_idx, self.gs_sys_response = 1, 0, 1
        self.opcost = np.zeros(10)
        self._first = True
        self._dynamics(0.0, 0.0, 0.0)

    def _dynamics(self, d0: float, d1: float, d2: float) -> None:
        p = self.setpoint
        d0, d1, d2 = _clip(d0, -1.0, 1.0), _clip(d1, -1.0, 1.0), _clip(d2, -1.0, 1.0)
        # addAction
        self.v = v = _clip(self.v + d0, 0.0, 100.0)
        self.g = g = _clip(self.g + 10 * d1, 0.0, 100.0)
        self.h = _clip(self.h + _SHIFT_STEP * d2, 0.0, 100.0)
        self.he = _clip(_GS_SCALE * self.h / 100.0 - _GS_SETPOINT_DEPENDENCY * p - _GS_BOUND, -_GS_BOUND, _GS_BOUND)
        # updateFatigue
        ve, ge = _effective_action(v, g, p)
        self.ve, self.ge = ve, ge
        noise = self._noise
        e_g, e_v, u_g, u_v = noise.step_noise()
        b_g = noise.binomial(_clip(ge, 0.001, 0.999))
        b_v = noise.binomial(_clip(ve, 0.001, 0.999))
        n_gain = 2.0 * (1.0 / (1.0 + np.exp(-e_g)) - 0.5)
        n_vel = 2.0 * (1.0 / (1.0 + np.exp(-e_v)) - 0.5)
        n_gain += (1 - n_gain) * u_g * b_g * ge
        n_vel += (1 - n_vel) * u_v * b_v * ve
        hg, hv = self.hg, self.hv
        if ge <= 0.05:
            hg = ge
        elif hg >= 1.2:
            hg = min(5.0, 1.1 * hg)
        else:
            hg = 0.9 * hg + n_gain / 3.0
        if ve <= 0.05:
            hv = ve
        elif hv >= 1.2:
            hv = min(5.0, 1.1 * hv)
        else:
            hv = 0.9 * hv + n_vel / 3.0
        if max(hv, hg) == 5.0:
            alpha = 1.0 / (1.0 + np.exp(-noise.saturation()))
        else:
            alpha = max(n_vel, n_gain)
        fb = max(0.0, (30000.0 / ((5 * v) + 100)) - 0.01 * (g**2))
        self.hv, self.hg, self.fb = float(hv), float(hg), float(fb)
        self.f = float((fb * (1 + 2 * alpha)) / 3.0)
        # updateCurrentOperationalCost + convolution
        costs = 2.0 * p + 2.5 * g + 4.0 * v
        o = np.exp(costs / 100.0)
        self.coc = float(o)
        if self._first:
            self.opcost += o
            self._first = False
        else:
            self.opcost[:-1] = self.opcost[1:]
            self.opcost[-1] = o
        self.oc = float(np.dot(self.opcost, _CONV))
        # Goldstone
        mc, self.gs_domain, self.gs_phi_idx, self.gs_sys_response = goldstone.transition(
            self.gs_domain, self.gs_phi_idx, self.gs_sys_response, self.he
        )
        self.mc = mc
        # updateOperationalCosts + cost
        e_new = self.oc - (_CRGS * (mc - 1.0))
        self.c = float(e_new - noise.randn() * (1 + 0.005 * e_new))
        self.cost = _CRF * self.f + _CRC * self.c

    # -- gymnasium API ------------------------------------------------------------------------
    def observation(self) -> np.ndarray:
        return np.array([self.setpoint, self.v, self.g, self.h, self.f, self.c], dtype=np.float32)

    def markov_state(self) -> np.ndarray:
        head = [
            self.hv,
            self.hg,
            self.he,
            self.ve,
            self.ge,
            self.mc,
            self.oc,
            self.coc,
            self.fb,
            self.gs_domain,
            self.gs_sys_response,
            self.gs_phi_idx,
        ]
        return np.concatenate([np.array(head, dtype=np.float64), self.opcost])

    def _info(self, reward_delta: float) -> dict[str, Any]:
        return {"reward_delta": reward_delta, "reward_classic": -self.cost, "markov_state": self.markov_state()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.rng_mode == "legacy":
            if seed is None:
                seed = int(self.np_random.integers(0, 2**31 - 1))
            self._noise = _LegacyNoise(seed)
        else:
            self._noise = _GeneratorNoise(self.np_random)
        self._init_state()
        self._reward = -self.cost / REWARD_DIVISOR
        return self.observation(), self._info(0.0)

    def step(self, action):
        if self._noise is None:
            raise gym.error.ResetNeeded("call reset() before step()")
        a = np.asarray(action, dtype=np.float64).reshape(3)
        self._dynamics(float(a[0]), float(a[1]), float(a[2]))
        reward = -self.cost / REWARD_DIVISOR
        delta, self._reward = reward - self._reward, reward
        return self.observation(), reward, False, False, self._info(delta)
