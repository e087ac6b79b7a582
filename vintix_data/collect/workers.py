"""Several processes, each on its own histories (histories are independent, DESIGN §2)."""

from __future__ import annotations

import time

from vintix_data.collect.collector import Collector
from vintix_data.collect.config import CollectError


class QueueProgress:
    """A worker's progress, batched onto a queue for the parent's display."""

    def __init__(self, queue, every_s: float = 0.25):
        self.queue, self.every_s = queue, every_s
        self.steps, self.events, self.t_last = 0, [], time.perf_counter()

    def advance(self, n: int) -> None:
        self.steps += n
        if time.perf_counter() - self.t_last >= self.every_s:
            self.flush()

    def episode_done(self, history: int, ret: float, eps: float) -> None:
        self.events.append((history, ret, eps))

    def flush(self) -> None:
        self.queue.put(("progress", self.steps, self.events))
        self.steps, self.events, self.t_last = 0, [], time.perf_counter()


def _worker(collector: Collector, histories: list[int], num_envs: int, queue) -> None:
    progress = QueueProgress(queue)
    try:
        collector.run(progress, histories, num_envs)
        progress.flush()
        queue.put(("done", None, None))
    except BaseException as e:  # noqa: BLE001 - reported to the parent as one line
        queue.put(("error", f"{type(e).__name__}: {e}", None))
        raise SystemExit(1) from None


def run_workers(collector: Collector, workers: int, num_envs: int, progress=None) -> None:
    """Split the unfinished histories over ``workers`` processes (histories are independent, docs/design.md §3).

    Worth it when the env is cheap: gymnasium's async vector env pays a pipe round trip per step,
    which costs more than an Industrial Benchmark step, while a worker process pays nothing per step.
    """
    import multiprocessing as mp
    import queue as queue_mod

    todo = [h for h, _, _ in collector.pending()]
    groups = [todo[w::workers] for w in range(workers)]
    groups = [g for g in groups if g]
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per_worker = max(1, num_envs // len(groups))
    procs = [ctx.Process(target=_worker, args=(collector, g, per_worker, q), daemon=True) for g in groups]
    for p in procs:
        p.start()
    finished, errors = 0, []
    while finished < len(procs):
        try:
            kind, a, b = q.get(timeout=0.5)
        except queue_mod.Empty:
            if not any(p.is_alive() for p in procs) and q.empty():
                break
            continue
        if kind == "progress" and progress is not None:
            for h, ret, eps in b:
                progress.episode_done(h, ret, eps)
            progress.advance(a)
        elif kind == "done":
            finished += 1
        elif kind == "error":
            finished += 1
            errors.append(a)
    for p in procs:
        p.join()
    failed = [p.exitcode for p in procs if p.exitcode != 0]
    if errors or failed:
        raise CollectError(
            f"a collection worker failed ({errors[0] if errors else f'exit code {failed[0]}'}); "
            "completed episodes are saved, re-run with --resume"
        )
