"""What a reward-driven learner's history scores in its first tenth: the reference ``validate`` holds it to.

Why not the noise-mixed demonstrator, as for every other behaviour: a constant-eps mixture of the privileged
demonstrator knows the goal from the first step, while the learner (``collect --behaviour learner``) starts from a
uniform posterior and finds the goal over its first episode. With little noise (``--f 0.95``: eps reaches 0 after 5%
of a history) the learner's first tenth scores far below that mixture (measured on reach-v3: 554-596 against the
mixture's 733 +- 122), which is what the data is for, not a fault. So the first tenth is measured by running it:
``runs`` histories in miniature, each a fresh learner on one reference variation (the same reset seed every episode,
as ``--fixed-goal`` collects), stepped with the schedule's eps at every step for the episodes that start in the first
10% of a history's steps (``tenths.tenth_masks``' rule), the statistic ``validate`` compares (their mean return)
taken per run. Seeds are the reference seeds (``baselines.episode_seeds``), apart from every history's.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from vintix_data.demonstrators.baselines import REFERENCE_SEED_TAG, episode_seeds
from vintix_data.domains import ConfiguredTask
from vintix_data.schedule import NoiseSchedule, mix_actions


def learner_first_tenth(
    task: ConfiguredTask, demonstrator, schedule: NoiseSchedule, runs: int, seed: int
) -> np.ndarray:
    """Per run, the mean return of the episodes a fresh learner plays in a history's first tenth."""
    learner = task.learner(1)
    if learner is None:
        raise ValueError(f"{task.id}: the task has no learner")
    env = task.make_env()
    space = env.action_space
    assert isinstance(space, gym.spaces.Box)  # the learner's domains act in boxes
    low, high = space.low.astype(np.float64), space.high.astype(np.float64)
    steps, limit = schedule.steps, task.adapter.episode_limit(task.spec)
    # the eps of every step a run can reach (the last episode starts in the first tenth), as the collector rounds it
    reach = min(steps, int(np.ceil(0.1 * steps)) + (limit or steps))
    eps_at = schedule.epsilon(np.arange(reach)).astype(np.float32).astype(np.float64)
    means = []
    for r, reset_seed in enumerate(episode_seeds(seed, runs)):
        rng = np.random.default_rng(np.random.SeedSequence((REFERENCE_SEED_TAG, seed, r), spawn_key=(2,)))
        learner.start(0)
        t, returns = 0, list[float]()
        while t < steps and (not returns or t < 0.1 * steps):  # episodes that start in the first tenth
            obs, _ = env.reset(seed=reset_seed)
            total, n = 0.0, 0
            while t < steps and (not limit or n < limit):
                demo = demonstrator.act(task.aim(obs[None], learner.goals()))
                u = rng.uniform(low, high, size=(1,) + low.shape)
                action = mix_actions(demo, u, eps_at[t : t + 1], low, high)[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                learner.observe(0, np.asarray(obs, np.float32).reshape(-1), float(reward))
                total, n, t = total + float(reward), n + 1, t + 1
                if terminated or truncated:
                    break
            returns.append(total)
        means.append(float(np.mean(returns)))
    env.close()
    return np.array(means)
