"""One rich view of a whole release: tasks done, units running, transitions collected, steps/s and the ETA.

A release runs for hours, usually in the background with its output in a file, where rich draws nothing
until the end. So when the console is not a terminal the view also writes plain lines: one per finished
task and a status line every ``log_every_s`` seconds.

The time left is estimated from task times (the sum of a task's unit times, which the release records across
runs), not from steps/s: a task's demonstrator training (IB's PPO) can take far longer than its histories and
makes no transitions, so a rate of transitions swings from nothing to thousands a second and its estimates are
useless. What the finished tasks took on average, minus what each unfinished one has already had, shared by as
many units as have run at once. A unit's time reaches the release's state only when it ends, so a running
unit's elapsed time counts as had too: without it the estimate stood still through a whole PPO training.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ReleaseProgress:
    def __init__(
        self,
        tasks: int,
        total_steps: int,
        console: Console | None = None,
        refresh_s: float = 0.5,
        log_every_s: float = 300.0,
    ):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=self.console,
            transient=False,
        )
        self.log_every_s = None if self.console.is_terminal else log_every_s
        self.t_log = time.perf_counter()
        self.tasks = self.progress.add_task("tasks", total=tasks, info="", left="")
        self.steps = self.progress.add_task("steps", total=total_steps, info="", left="")
        self.progress.start()
        self.t0 = self.t_last = time.perf_counter()
        self.run_steps, self.pending, self.refresh_s, self.concurrency = 0, 0, refresh_s, 1

    def resumed(self, steps: int, tasks_done: int) -> None:
        """What an earlier run of the release already made (shown as done, not counted in the rate)."""
        self.progress.update(self.steps, advance=steps)
        self.progress.update(self.tasks, advance=tasks_done)

    def advance(self, steps: int) -> None:
        self.pending += steps

    def task_done(self, task_id: str = "", verdict: str = "valid") -> None:
        self.progress.update(self.tasks, advance=1)
        self._log(f"{task_id} done ({verdict})")

    def show(self, running: dict[str, float], tasks: dict) -> None:
        """``running``: unit key -> its start (``time.perf_counter()``); ``tasks``: the release state's tasks."""
        now = time.perf_counter()
        if now - self.t_last < self.refresh_s:
            return
        self.run_steps += self.pending
        rate = self.run_steps / max(now - self.t0, 1e-9)
        kinds = {}
        for key in running:
            kind = key.split("/")[1]
            kind = "history" if kind[0] == "h" and kind[1:].isdigit() else kind
            kinds[kind] = kinds.get(kind, 0) + 1
        failed = sum(t.get("stage") == "failed" for t in tasks.values())
        self.concurrency = max(self.concurrency, len(running))
        done = [t.get("wall_s", 0.0) for t in tasks.values() if t.get("stage") == "done"]
        left = ""
        if done:
            mean = sum(done) / len(done)
            had = {}
            for key, start in running.items():
                tid = key.split("/")[0]
                had[tid] = had.get(tid, 0.0) + max(now - start, 0.0)
            to_do = sum(
                max(mean - t.get("wall_s", 0.0) - had.get(tid, 0.0), 0.0)
                for tid, t in tasks.items()
                if t.get("stage") not in ("done", "failed")
            )
            left = f"~{_hms(to_do / self.concurrency)} left"
        self.progress.update(
            self.tasks,
            left=left,
            info=f"running: {', '.join(f'{v} {k}' for k, v in sorted(kinds.items())) or '-'}"
            + (f"; {failed} failed" if failed else ""),
        )
        self.progress.update(self.steps, advance=self.pending, info=f"{rate:,.0f} steps/s")
        self.pending, self.t_last = 0, now
        if self.log_every_s is not None and now - self.t_log >= self.log_every_s:
            fields = self.progress.tasks[self.tasks].fields
            self._log(
                f"{self.progress.tasks[self.steps].fields['info']}, {fields['info']}"
                + (f", {fields['left']}" if fields["left"] else "")
            )

    def _log(self, what: str) -> None:
        """A plain line for a log file (nothing on a terminal, where the bars show it)."""
        if self.log_every_s is None:
            return
        self.t_log = time.perf_counter()
        tasks, steps = self.progress.tasks[self.tasks], self.progress.tasks[self.steps]
        self.console.print(
            f"{time.strftime('%Y-%m-%d %H:%M:%S')} tasks {tasks.completed:.0f}/{tasks.total:.0f}, "
            f"steps {steps.completed:,.0f}/{steps.total:,.0f}: {what}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )  # soft_wrap: never folded at the width

    def close(self) -> None:
        self.t_last = 0.0
        self.show({}, {})
        self.progress.stop()


def _hms(seconds: float) -> str:
    m, sec = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{sec:02d}"
