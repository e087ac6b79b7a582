"""Rich progress for long jobs, throttled so the display never costs the collector measurable time."""

from __future__ import annotations

import time
from collections import deque

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class CollectProgress:
    """Steps, episodes, steps/s, current epsilon and the last episode returns of a collection."""

    def __init__(self, total_steps: int, histories: int, console: Console | None = None, refresh_s: float = 0.25):
        self.progress = Progress(
            TextColumn("[bold]collect"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} steps/s"),
            TextColumn("eps {task.fields[eps]}"),
            TextColumn("episodes {task.fields[episodes]}"),
            TextColumn("last returns {task.fields[returns]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task("collect", total=total_steps, rate="-", eps="-", episodes=0, returns="-")
        self.progress.start()
        self.refresh_s = refresh_s
        self.pending = 0
        self.episodes = 0
        self.eps = float("nan")
        self.returns: deque[float] = deque(maxlen=3)
        self.t_last = self.t_start = time.perf_counter()
        self.steps_run = 0

    def advance(self, n: int) -> None:
        self.pending += n
        now = time.perf_counter()
        if now - self.t_last >= self.refresh_s:
            self._flush(now)

    def resumed(self, n: int) -> None:
        """Steps already on disk from an earlier run (shown as done, not counted in the rate)."""
        self.progress.update(self.task, advance=n)

    def episode_done(self, history: int, ret: float, eps: float) -> None:
        self.episodes += 1
        self.eps = eps
        self.returns.append(ret)

    def history_done(self, history: int) -> None:
        pass

    def _flush(self, now: float) -> None:
        self.steps_run += self.pending
        rate = self.steps_run / max(now - self.t_start, 1e-9)
        self.progress.update(
            self.task,
            advance=self.pending,
            rate=f"{rate:,.0f}",
            eps=f"{self.eps:.3f}",
            episodes=self.episodes,
            returns=" ".join(f"{r:.1f}" for r in self.returns) or "-",
        )
        self.pending = 0
        self.t_last = now

    def close(self) -> None:
        self._flush(time.perf_counter())
        self.progress.stop()
