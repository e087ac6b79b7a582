"""Replay: re-simulate recorded episodes to prove a dataset (``simulate``), and render them as video (``video``).

simulate.py  the task from info.json, episode selection, random access to rows, replay and comparison
video.py     frames (MuJoCo's offscreen renderer, or a plot of the observation), labels, GIF/MP4 writing
"""

from vintix_data.replay.simulate import (
    DEFAULT_SAMPLE,
    Mismatch,
    ReplayError,
    ReplayReport,
    parse_episodes,
    replay,
    task_of,
)

__all__ = ["DEFAULT_SAMPLE", "Mismatch", "ReplayError", "ReplayReport", "parse_episodes", "replay", "task_of"]
