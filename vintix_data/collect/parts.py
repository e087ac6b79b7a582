"""Episode parts: every completed episode saved at once (atomically) under ``DIR/.vintix/parts``, and the seeded
noise each episode draws (DESIGN §2), so ``--resume`` restarts each history at its first missing episode."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vintix_data.format import STATE_DIR


def episode_seed(seed: int, history: int, episode: int) -> int:
    return int(np.random.SeedSequence((seed, history, episode)).generate_state(1)[0])


def episode_noise(seed: int, history: int, episode: int, low: np.ndarray, high: np.ndarray, length: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, history, episode), spawn_key=(1,))))
    return rng.uniform(low, high, size=(length,) + low.shape)


def part_path(out: Path, history: int, episode: int) -> Path:
    return out / STATE_DIR / "parts" / f"h{history:05d}" / f"e{episode:07d}.npz"


def completed_episodes(out: Path, history: int) -> tuple[int, int]:
    """(episodes, transitions) already saved for a history: the contiguous run of parts from 0."""
    k, t = 0, 0
    while True:
        p = part_path(out, history, k)
        if not p.exists():
            return k, t
        with np.load(p) as z:
            t += len(z["reward"])
        k += 1
