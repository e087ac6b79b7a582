"""A reward-driven learner for reach-v3 (``collect --behaviour learner``; docs/design.md §8; the research note's D2).

Why: a privileged demonstrator's motion points at the hidden goal in every training context, so a model learns to
read the goal off the motion, and at evaluation reads one off its own. This learner never reads the goal: it keeps a
posterior over the goal box from the rewards it observes and acts with the demonstrator aimed at the posterior mean,
so its motion carries no more about the goal than the rewards so far did. Its intended action is what the noise
schedule mixes and what ``demonstrator_action`` stores (the AD target), so a model trained on it learns a learner.

The posterior is a grid over the env's goal space (``GRID`` points, 1 cm apart for reach-v3's box), uniform prior,
updated after every step with a Gaussian likelihood of the observed reward around the reward the relabelling formula
(``metaworld_goals.reach_reward``: tcp = hand + (0, 0, -0.045)) gives for each grid goal from the hand in the *next*
observation. ``REWARD_SIGMA`` tolerates that formula's error against the env's reward (measured on 1,000 noisy
expert steps, 10 train goals: median 0.017, p99 0.19, max 0.20 on the 0-10 scale) and the grid's spacing.

Determinism and ``--resume``: an update reads only the hand columns of the next observation *as stored* (float32)
and the stored float32 reward, so replaying a history's saved rows through :meth:`observe` rebuilds the state bit
for bit, and a resumed collection writes the bytes of an uninterrupted one. The goal columns are never read.
"""

from __future__ import annotations

import numpy as np

from vintix_data.domains.metaworld_goals import HAND_COLUMNS, env_facts, reach_reward

GRID = (21, 11, 26)  # points per axis of the goal box (the research note's reference learner)
REWARD_SIGMA = 0.3  # std of the reward likelihood, 0-10 scale: above the formula's max error (0.20)
# (0.5 measured: episode 1 714 against 750 on 20 held-out goals, episode 2 the same 820)


class ReachLearner:
    """One grid posterior per slot of the collector's vector env; ``start`` makes a slot's posterior fresh."""

    def __init__(self, env_name: str, seed: int, slots: int):
        facts = env_facts(env_name, seed)
        self.low, self.high, self.hand_init = facts["low"], facts["high"], facts["hand_init"]
        axes = [np.linspace(self.low[i], self.high[i], n) for i, n in enumerate(GRID)]
        self.grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        self.loglik = np.zeros((slots, len(self.grid)))

    def start(self, slot: int) -> None:
        """A fresh (uniform) posterior for a new history in ``slot``."""
        self.loglik[slot] = 0.0

    def observe(self, slot: int, next_obs: np.ndarray, reward: float) -> None:
        """Update ``slot``'s posterior with one transition: the observation after the step and its reward."""
        hand = np.asarray(next_obs, np.float32)[HAND_COLUMNS]  # as stored: float32 rows (resume replays them)
        predicted = reach_reward(np.broadcast_to(hand, self.grid.shape), self.grid, self.hand_init)
        z = (predicted - float(np.float32(reward))) / REWARD_SIGMA
        self.loglik[slot] -= 0.5 * z * z

    def posterior(self, slot: int) -> np.ndarray:
        w = np.exp(self.loglik[slot] - self.loglik[slot].max())
        return w / w.sum()

    def goals(self) -> np.ndarray:
        """(slots, 3): each slot's posterior mean, the goal its demonstrator is aimed at for the next step."""
        w = np.exp(self.loglik - self.loglik.max(axis=1, keepdims=True))
        return (w @ self.grid) / w.sum(axis=1, keepdims=True)

    def needs_visible(self) -> list[int]:
        """Observation columns the update reads (they must be recorded, not hidden, for ``--resume`` to replay)."""
        return list(HAND_COLUMNS)

    def describe(self) -> dict:
        """What info.json's ``extra.behaviour`` and the resume identity record of the learner."""
        return {
            "posterior": "grid over the goal space, uniform prior",
            "grid": list(GRID),
            "low": [float(x) for x in self.low],
            "high": [float(x) for x in self.high],
            "likelihood": f"gaussian, reward std {REWARD_SIGMA} (0-10 scale)",
            "reward_formula": "reach-v3 tolerance(|hand + (0, 0, -0.045) - g|), the relabelling formula",
            "acts": "the demonstrator aimed at the posterior mean",
        }
