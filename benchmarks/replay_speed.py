"""Cost of ``vintix-data replay`` (per replayed step) and of ``--video`` (per rendered frame), in one run.

For each dataset folder given: (1) ``replay`` of every episode (reading the rows, re-simulating, comparing), per
step; (2) the baseline, measured in the same run on the same env: ``reset(seed)`` + ``env.step`` of the same recorded
actions and nothing else, per step, so the ratio is what replay adds to the simulation itself; (3) ``replay --video``
of the first episode with a frame every step (a GIF), per rendered frame (render, label, palette; the env steps are
not counted). Rounds (1) and (2) are interleaved and the best of ``--rounds`` is kept, so a busy spell of a shared
machine hits both.

    python benchmarks/replay_speed.py DIR [DIR ...] [--rounds 3] [--frames 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from vintix_data.format import DatasetInfo
from vintix_data.replay.simulate import RowReader, episode_table, replay, task_of
from vintix_data.replay.video import VideoRecorder


def baseline(folder: Path) -> tuple[float, int]:
    """Seconds and steps of ``env.step`` over the recorded actions of every episode (rows read beforehand)."""
    cols, reader = episode_table(folder), RowReader(folder)
    actions = [reader.read(int(f), int(n), ["action"])["action"] for f, n in zip(cols["first_row"], cols["length"])]
    env = task_of(DatasetInfo.load(folder)).make_env()
    t0 = time.perf_counter()
    steps = 0
    for seed, acts in zip(cols["reset_seed"], actions):
        env.reset(seed=int(seed), options={})
        for a in acts:
            env.step(a)
        steps += len(acts)
    seconds = time.perf_counter() - t0
    env.close()
    return seconds, steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--frames", type=int, default=100, help="frames rendered per dataset (the first episode's steps)")
    args = ap.parse_args()
    for folder in args.folders:
        info = DatasetInfo.load(folder)
        best_replay = best_base = float("inf")
        for _ in range(args.rounds):
            report = replay(folder, sample=None)
            assert report.ok, report.lines()[:3]
            best_replay = min(best_replay, report.seconds / report.steps)
            seconds, steps = baseline(folder)
            best_base = min(best_base, seconds / steps)
        with tempfile.TemporaryDirectory() as tmp:
            rec = VideoRecorder(Path(tmp) / "v.gif", every=1)
            cols = episode_table(folder)
            replay(
                folder,
                history=int(cols["history"][0]),
                episodes=[int(cols["episode"][0])],
                video=_Limited(rec, args.frames),
            )
            rec.close()
            per_frame = rec.render_seconds / max(rec.frames, 1)
        print(
            f"{info.task}: replay {1e6 * best_replay:,.0f} us/step vs env.step alone {1e6 * best_base:,.0f} us/step "
            f"(x{best_replay / best_base:.2f}, {report.steps:,} steps, best of {args.rounds}); "
            f"video {1e3 * per_frame:,.0f} ms per rendered frame ({rec.frames} frames, {rec.width}x{rec.height})"
        )


class _Limited:
    """A VideoRecorder that renders only the first ``n`` steps of the episode (the rest are replayed, not drawn)."""

    def __init__(self, rec: VideoRecorder, n: int):
        self.rec, self.n = rec, n

    @property
    def render_seconds(self) -> float:
        return self.rec.render_seconds

    def episode(self, task, env, history, episode, rows):
        inner = self.rec.episode(task, env, history, episode, rows)

        def on_step(i, obs):
            if i < self.n:
                inner(i, obs)

        return on_step


if __name__ == "__main__":
    main()
