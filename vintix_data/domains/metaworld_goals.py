"""Meta-World goals as data: the goal space, the goals of MT1's variations, aiming a policy at another goal, and
reach-v3's reward and scripted expert recomputed from stored observations (docs/design.md §8).

Two uses. *Goal-blind behaviour* (``collect --behaviour decoy``): the demonstrator acts on the observation with its
goal columns (36-38) replaced by a decoy goal drawn uniformly from the env's ``goal_space``, so the executed actions
aim at the decoy while ``demonstrator_action`` is still the expert for the true goal. *Reward relabelling*
(``vintix-model train`` with ``train.relabel``): a window of stored rows gets rewards and expert labels for another
goal g*. Meta-World's own ``compute_reward`` reads the simulator (``tcp_center``, the finger pads), not the
observation, so relabelling uses the formula on the observed hand: reach-v3's reward is
``10 * tolerance(|tcp - g|, bounds=(0, 0.05), margin=|hand_init - g|, sigmoid='long_tail')`` with
tcp = hand + (0, 0, -0.045) (the pads sit ~4.5 cm below the hand's site; the rest of the offset is what the
relabelled reward gets wrong, measured in tests/test_relabel.py), and its scripted expert
(``SawyerReachV3Policy``) is ``clip(5 (g - hand), -1, 1)`` with grab effort 0. Tasks whose reward depends on
objects (push, pick-place, ...) would need the objects, which latent-task data hide: only reach-v3 relabels.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

GOAL_COLUMNS = [36, 37, 38]  # the goal's slots in the 39-dim v3 observation
HAND_COLUMNS = [0, 1, 2]
TCP_OFFSET = np.array([0.0, 0.0, -0.045])  # tcp_center - hand position, to ~3e-4 (the fingers' pads)
TARGET_RADIUS = 0.05  # reach-v3's _TARGET_RADIUS
RELABELLED = ("reach-v3",)
# tasks whose env reward is reach_reward of the goal (tolerance of |tcp - goal|, margin |hand_init - goal|): the
# learner's likelihood. reach-wall-v3 has reach-v3's reward code (its policy detours over the wall, so its labels
# are not reach_expert's and it does not relabel); measured: formula vs env reward on 1,000 noisy expert steps,
# 10 train goals, median 0.020 / max 0.23 (reach-v3: 0.028 / 0.24), tests/test_learner.py bounds both.
LEARNABLE = ("reach-v3", "reach-wall-v3")


@lru_cache(maxsize=16)
def env_facts(env_name: str, seed: int) -> dict:
    """The goal space, the hand's initial position and the goals of MT1's 50 variations of ``env_name`` (MT1 drawn
    with ``seed``), read from one env built the way the collector builds it."""
    import warnings

    import metaworld

    bench = metaworld.MT1(env_name, seed=seed)
    env = bench.train_classes[env_name]()
    goals = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for task in bench.train_tasks:
            env.set_task(task)
            env.reset()
            goals.append(np.array(env._target_pos, np.float64))
    space = env.goal_space
    assert space is not None, "every Meta-World v3 task env defines its goal space"
    facts = {
        "low": np.array(space.low, np.float64),
        "high": np.array(space.high, np.float64),
        "hand_init": np.array(env.hand_init_pos, np.float64),
        "variation_goals": np.stack(goals),
    }
    env.close()
    return facts


def aim(obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """A copy of ``obs`` (n, 39) whose goal columns read ``goals`` (n, 3): what a policy that reads its goal from
    the observation sees when aimed at another goal."""
    out = np.array(obs, copy=True)
    out[:, GOAL_COLUMNS] = goals
    return out


def reach_reward(next_hand: np.ndarray, goals: np.ndarray, hand_init: np.ndarray) -> np.ndarray:
    """reach-v3's reward for each row: the hand after the step (n, 3) against the goal (n, 3) or (3,), in float64."""
    goals = np.broadcast_to(np.asarray(goals, np.float64), next_hand.shape)
    d = np.linalg.norm(next_hand.astype(np.float64) + TCP_OFFSET - goals, axis=-1)
    margin = np.linalg.norm(hand_init - goals, axis=-1)
    x = np.where(d < TARGET_RADIUS, 0.0, (d - TARGET_RADIUS) / margin)
    return 10.0 / (1.0 + 9.0 * x * x)  # tolerance's long_tail with value_at_margin 0.1: 1 / ((3x)^2 + 1)


def reach_expert(obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """SawyerReachV3Policy for each row, clipped to the action box as the collector clips it, as float32."""
    goals = np.broadcast_to(np.asarray(goals, np.float64), (len(obs), 3))
    out = np.zeros((len(obs), 4), np.float32)
    out[:, :3] = (5.0 * (goals - obs[:, HAND_COLUMNS].astype(np.float64))).astype(np.float32)
    return np.clip(out, -1.0, 1.0)


class ReachRelabeler:
    """Rewards and expert labels of reach-v3 rows for another goal, from the stored observations alone."""

    def __init__(self, env_name: str, seed: int):
        facts = env_facts(env_name, seed)
        self.low, self.high, self.hand_init = facts["low"], facts["high"], facts["hand_init"]
        self.variation_goals = facts["variation_goals"]
        self.goal_columns = list(GOAL_COLUMNS)

    def rewards(self, next_obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The reward of each transition whose *next* observation is a row of ``next_obs`` (n, 39)."""
        return reach_reward(next_obs[:, HAND_COLUMNS], goal, self.hand_init)

    def labels(self, obs: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The scripted expert's action for ``goal`` on each row of ``obs`` (n, 39)."""
        return reach_expert(obs, goal)

    def needs_visible(self) -> list[int]:
        """Observation columns the formulas read (they must not be hidden)."""
        return list(HAND_COLUMNS)
