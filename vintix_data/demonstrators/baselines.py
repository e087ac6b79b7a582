"""Episode returns of a policy on a task with fixed seeds: the reference scores and the demonstrator gate.

Random and demonstrator are run on the *same* episode seeds, so their difference is not seed noise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from vintix_data.domains import ConfiguredTask, resolve
from vintix_data.registry import TaskSpec

REFERENCE_SEED_TAG = 0x5EED  # keeps reference episodes apart from any history's seeds


@dataclass
class EpisodeReturns:
    returns: np.ndarray
    lengths: np.ndarray
    successes: np.ndarray | None = None

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    @property
    def success_rate(self) -> float | None:
        return None if self.successes is None else float(np.mean(self.successes))


def episode_seeds(seed: int, episodes: int) -> list[int]:
    return [int(np.random.SeedSequence((REFERENCE_SEED_TAG, seed, k)).generate_state(1)[0]) for k in range(episodes)]


def run_episodes(
    task: TaskSpec | ConfiguredTask,
    policy: Callable[[np.ndarray, np.random.Generator], np.ndarray],
    episodes: int,
    seed: int = 0,
) -> EpisodeReturns:
    """Run ``episodes`` full episodes; ``policy(obs_batch_of_1, rng) -> actions``."""
    task = resolve(task)
    env = task.make_env()
    returns, lengths, successes = [], [], []
    for k, s in enumerate(episode_seeds(seed, episodes)):
        obs, _ = env.reset(seed=s)
        rng = np.random.default_rng(np.random.SeedSequence((REFERENCE_SEED_TAG, seed, k), spawn_key=(1,)))
        total, n, success = 0.0, 0, False
        while True:
            action = policy(obs[None], rng)[0]
            obs, r, terminated, truncated, info = env.step(action)
            total += float(r)
            n += 1
            success = success or bool(info.get("success", False))
            if terminated or truncated:
                break
        returns.append(total)
        lengths.append(n)
        successes.append(success)
    env.close()
    return EpisodeReturns(
        np.array(returns), np.array(lengths), np.array(successes) if task.adapter.reports_success else None
    )


def uniform_policy(action_space) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    low, high = action_space.low, action_space.high
    return lambda obs, rng: rng.uniform(low, high, size=(len(obs),) + low.shape).astype(np.float32)


def demonstrator_policy(demonstrator) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    return lambda obs, rng: demonstrator.act(obs)


def noisy_demonstrator_policy(
    demonstrator, action_space, epsilon: float
) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The collector's mixture at a constant ``epsilon``: ``clip((1 - eps) demo + eps u)``, u uniform in the box."""
    from vintix_data.schedule import mix_actions

    low, high = action_space.low.astype(np.float64), action_space.high.astype(np.float64)

    def act(obs, rng):
        u = rng.uniform(low, high, size=(len(obs),) + low.shape)
        return mix_actions(demonstrator.act(obs), u, np.full(len(obs), epsilon), low, high)

    return act
