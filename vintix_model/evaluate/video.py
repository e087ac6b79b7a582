"""``vintix-model eval --video``: shot 1 and the last shot of run 0 as a GIF beside ``returns.png``.

The rollout keeps only what re-simulation needs (each shot's reset seed and the actions the model took, see
:class:`ShotRecorder`); the frames are made afterwards by playing those actions again in a fresh env of the same
configured task (``vintix_data.replay.video``), so rendering never slows or perturbs the evaluation. An episode is a
function of its reset seed and actions, so the replay's return must equal the evaluated one exactly; it is checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from vintix_model.evaluate.config import EvalError

VIDEO = "shots.gif"
FRAMES_PER_SHOT = 60


class ShotRecorder:
    """The actions of run 0 in the chosen shots (0-based episode indices), with their reset seeds and returns."""

    def __init__(self, spec, base: int, shots):
        self.spec, self.base, self.shots = spec, base, set(shots)
        self.actions: dict[int, list[np.ndarray]] = {}
        self.recorded: list[dict[str, Any]] = []

    def step(self, run: int, k: int, action) -> None:
        if run == 0 and k in self.shots:
            self.actions.setdefault(k, []).append(np.array(action, copy=True))

    def end(self, run: int, k: int, ret: float) -> None:
        if run == 0 and k in self.shots:
            from vintix_data.domains import episode_reset_seed

            self.recorded.append(
                {
                    "shot": k + 1,
                    "reset_seed": episode_reset_seed(self.spec, self.base, 0, k),
                    "actions": np.asarray(self.actions.pop(k)),
                    "return": ret,
                }
            )


def check_video(spec, path: Path) -> None:
    """Refuse up front what would fail at the end (no imageio, no GL backend), before a step is played."""
    from vintix_data.domains import make_env, resolve
    from vintix_data.replay.video import check_renderer, check_video_path

    check_video_path(path)
    env = make_env(spec)
    try:
        check_renderer(resolve(spec), env)
    finally:
        env.close()


def render_shots(spec, recorded: list[dict[str, Any]], path: Path) -> dict[str, Any]:
    """The GIF of the recorded shots; what ``results.json`` says about it."""
    from vintix_data.domains import make_env, resolve
    from vintix_data.replay.video import VideoRecorder

    task = resolve(spec)
    env = make_env(task)
    limit = task.adapter.episode_limit(task.spec)
    try:
        with VideoRecorder(path, every=max(1, -(-limit // FRAMES_PER_SHOT)), fps=15) as rec:
            for shot in recorded:
                rewards = _play(env, shot)
                on_step = rec.episode(
                    task, env, 0, shot["shot"] - 1, {"reward": rewards}, title=f"run 0  shot {shot['shot']}"
                )
                _play(env, shot, on_step)
    finally:
        env.close()
    return {
        "file": Path(path).name,
        "run": 0,
        "shots": [s["shot"] for s in recorded],
        "returns": [s["return"] for s in recorded],
        "frames": rec.frames,
    }


def _play(env, shot: dict[str, Any], on_step=None) -> np.ndarray:
    obs, _ = env.reset(seed=int(shot["reset_seed"]))
    if on_step is not None:
        on_step(0, obs)
    rewards, ret = [], 0.0
    for i, action in enumerate(shot["actions"]):
        obs, r, *_ = env.step(action)
        rewards.append(r)
        ret += float(r)
        if on_step is not None:
            on_step(i + 1, obs)
    if ret != shot["return"]:
        raise EvalError(
            f"--video: shot {shot['shot']} replayed to return {ret!r}, the evaluation saw {shot['return']!r}"
        )
    return np.asarray(rewards, np.float64)
