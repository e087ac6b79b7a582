"""A history's first and last tenth, by *step position*: the one rule ``validate`` checks and the card reports."""

from __future__ import annotations

import numpy as np


def cut_final(lengths: np.ndarray, steps: int, limit: int) -> np.ndarray:
    """The episode the history's end cut short (it ends at the last step, shorter than the episode limit)."""
    lengths = np.asarray(lengths)
    starts = np.cumsum(lengths) - lengths
    if not limit:
        return np.zeros(len(lengths), bool)
    return (starts + lengths == steps) & (lengths < limit)


def tenth_masks(lengths: np.ndarray, steps: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Episodes of one history (in order, by length) that start in its first / last 10% of *steps* (not of episodes:
    where episodes end early, e.g. MuJoCo falls under noise, the last tenth of the episodes would reach deep into
    the noisy part). The history's final episode, when the history length cut it short, has a partial return and
    is left out of the last tenth unless nothing else is there."""
    lengths = np.asarray(lengths)
    starts = np.cumsum(lengths) - lengths
    first = starts < 0.1 * steps
    first[0] = True
    cut = cut_final(lengths, steps, limit)
    last = (starts >= 0.9 * steps) & ~cut
    if not last.any():
        complete = np.flatnonzero(~cut)
        last[complete[-1] if len(complete) else len(lengths) - 1] = True
    return first, last
