"""Step rate of our Industrial Benchmark env against the upstream ``IDS`` class, in one run.

Both sides step the same pre-generated action sequence (uniform in [-1, 1]^3, fixed seed) for a
fixed setpoint. The rounds are interleaved (ours, upstream, ours, upstream, ...) and the best time
of each side is kept, so a slow spell of the machine hits both. Measured:

* ``ours (unwrapped, generator)``: ``env.unwrapped.step`` in the default RNG mode: the raw dynamics,
  plus building the observation and the ``info`` dict (upstream's ``step`` does neither, so this
  side is measured conservatively). Episodes are not cut: one long run of ``--steps`` steps.
* ``ours (unwrapped, legacy)``: the same in the bit-exact ``rng="legacy"`` mode.
* ``ours (gym.make, generator)``: through the registered wrappers (TimeLimit etc.), resetting every
  250 steps when the episode truncates (reset time included).
* ``upstream IDS.step``: ``IDS(setpoint, inital_seed=0)`` then ``step`` per action (global NumPy RNG).

The headline ratio is ours (unwrapped, generator) / upstream. Needs the test-only dependency
``industrial-benchmark-python`` (``pip install -e .[dev]`` or ``.[ib]``).

    python benchmarks/ib_speed.py [--steps 20000] [--setpoint 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# Upstream calls the alias ``np.float``, removed in NumPy 1.24. Defined here, in this script only.
if not hasattr(np, "float"):
    float = float  # type: ignore[attr-defined]

import gymnasium as gym
from industrial_benchmark_python.IDS import IDS

import vintix_data  # noqa: F401  (registers the env)

ENV_ID = "vintix/IndustrialBenchmark-v1"


def time_ours_unwrapped(setpoint: float, rng: str, actions: np.ndarray) -> float:
    env = gym.make(ENV_ID, setpoint=setpoint, rng=rng).unwrapped
    env.reset(seed=0)
    step = env.step
    t0 = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - t0


def time_ours_wrapped(setpoint: float, actions: np.ndarray) -> float:
    env = gym.make(ENV_ID, setpoint=setpoint)
    env.reset(seed=0)
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    return time.perf_counter() - t0


def time_upstream(setpoint: float, actions: np.ndarray) -> float:
    ids = IDS(setpoint, inital_seed=0)
    step = ids.step
    t0 = time.perf_counter()
    for a in actions:
        step(a)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000, help="steps per timed run (default 20000)")
    parser.add_argument("--setpoint", type=float, default=50, help="IB setpoint in [0, 100] (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each side is kept")
    args = parser.parse_args()

    actions = np.random.default_rng(12345).uniform(-1.0, 1.0, size=(args.steps, 3))
    # A short warm-up of every path (imports, first-call caches) outside the timings.
    warm = actions[: min(500, args.steps)]
    time_ours_unwrapped(args.setpoint, "generator", warm)
    time_ours_unwrapped(args.setpoint, "legacy", warm)
    time_ours_wrapped(args.setpoint, warm)
    time_upstream(args.setpoint, warm)

    runners = {
        "ours (unwrapped, generator)": lambda: time_ours_unwrapped(args.setpoint, "generator", actions),
        "ours (unwrapped, legacy)": lambda: time_ours_unwrapped(args.setpoint, "legacy", actions),
        "ours (gym.make, generator)": lambda: time_ours_wrapped(args.setpoint, actions),
        "upstream IDS.step": lambda: time_upstream(args.setpoint, actions),
    }
    best = {name: float("inf") for name in runners}
    for r in range(args.rounds):
        this_round = {}
        for name, run in runners.items():
            this_round[name] = run()
            best[name] = min(best[name], this_round[name])
        rates = ", ".join(f"{n} {args.steps / this_round[n]:,.0f}/s" for n in runners)
        print(f"round {r + 1}/{args.rounds}: {rates}", flush=True)

    print(f"\nsetpoint {args.setpoint:g}, {args.steps} steps per run, best of {args.rounds} interleaved rounds")
    for name in runners:
        print(f"  {name:<30} {args.steps / best[name]:>12,.0f} steps/s")
    ups = args.steps / best["upstream IDS.step"]
    for name in ("ours (unwrapped, legacy)", "ours (gym.make, generator)"):
        print(f"  ratio {name}/upstream: {args.steps / best[name] / ups:.2f}")
    ratio = (args.steps / best["ours (unwrapped, generator)"]) / ups
    print(f"ratio ours/upstream: {ratio:.2f} (goal >= 1.0)")


if __name__ == "__main__":
    main()
