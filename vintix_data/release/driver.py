"""The release driver: walks every selected task through its stages and keeps the executor's slots busy.

Stages of a task (``.release/tasks.json`` records where each task is): demonstrator (the registry's default, or
trained here where the domain trains cheaply) -> gate -> one unit per history -> finalize + validate -> done.
Scheduling is depth first: a ready unit of a later stage, then of an earlier task, goes first, so finished datasets
appear early and an interrupted release has as many complete tasks as possible. The driver alone writes the
release's state; units write only their task's dataset folder (vintix_data.release.units).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from vintix_data.collect.parts import completed_episodes
from vintix_data.domains import resolve, unavailable
from vintix_data.locking import LockedError, exclusive_lock
from vintix_data.preflight import check_output_folder
from vintix_data.registry import TaskSpec
from vintix_data.release.config import ReleaseConfig
from vintix_data.release.executors import check_ray_address, make_executor, probe_ray
from vintix_data.release.state import ReleaseState
from vintix_data.release.units import (
    TaskRun,
    dataset_dir,
    demonstrator_path,
    finalize_unit,
    gate_unit,
    history_unit,
    train_unit,
    trainable,
)
from vintix_data.selection import select_tasks

_RANK = {"finalize": 3, "h": 2, "gate": 1, "train": 0}


@dataclass
class ReleaseSummary:
    root: Path
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    units_run: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class Driver:
    def __init__(
        self,
        cfg: ReleaseConfig,
        specs: list[TaskSpec],
        state: ReleaseState,
        executor,
        progress=None,
        locks: contextlib.ExitStack | None = None,
    ):
        self.cfg, self.specs, self.state, self.ex, self.progress = cfg, specs, state, executor, progress
        self.locks, self.locked = locks, set()
        self.root = state.root
        self.order = {t.id: i for i, t in enumerate(specs)}
        self.running: dict[str, float] = {}  # unit key -> when it was submitted (the progress view's ETA)
        self.stop_signal: int | None = None

    def stop(self, signum, _frame) -> None:
        self.stop_signal = signum

    # ---- what each task needs next -------------------------------------------------------------------------
    def _run(self, task_id: str) -> TaskRun:
        t = self.state.task(task_id)
        return TaskRun(task_id, t["spec"], t["histories"], t["steps"], t.get("episode_limit"))

    def _resolve_demonstrator(self, spec: TaskSpec) -> None:
        """The task's demonstrator, by route (``DomainAdapter.demonstrator_route``): an installed zip, copied into the
        release so every unit (on any node) loads the same bytes; the catalogue's public expert, pinned to the commit
        downloaded; the domain's scripted expert; else a train unit (IB's paper PPO always; any task the catalogue
        names a recipe for with ``--train-missing``, also where its public expert cannot be downloaded)."""
        t = self.state.task(spec.id)
        t.setdefault("histories", self.cfg.histories or spec.num_histories)
        t.setdefault("steps", self.cfg.steps or spec.history_steps)
        why = unavailable(spec)
        if why:
            self.state.update(spec.id, stage="failed", error=why)
            return
        task = resolve(spec)
        route, default = task.demonstrator_route()
        if route == "catalogue":
            why = self._pin_catalogue(spec.id, default)
            if why is None:
                return
            if self.cfg.train_missing and trainable(task):
                self.state.update(spec.id, stage="train", catalogue_error=why)
            else:
                self.state.update(
                    spec.id, stage="failed", error=f"{why} (install a demonstrator, or pass --train-missing)"
                )
        elif default is None and self.cfg.train_missing and trainable(task):
            self.state.update(spec.id, stage="train")
        elif default and default.startswith("sb3:"):
            dst = demonstrator_path(self.root, spec.id)
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp")
            shutil.copyfile(default[4:], tmp)
            tmp.replace(dst)
            self.state.update(spec.id, stage="gate", spec=f"sb3:{dst}", demonstrator_source=f"installed: {default[4:]}")
        elif default:
            self.state.update(spec.id, stage="gate", spec=default, demonstrator_source=default)
        elif task.adapter.trains_paper_ppo:
            self.state.update(spec.id, stage="train")
        else:
            self.state.update(
                spec.id,
                stage="failed",
                error=(
                    f"no demonstrator: train one with `vintix-data demonstrator train {spec.id} --out FILE.zip` "
                    "(it is installed as the task's default), then re-run with --resume"
                    + ("; or let the release train it (--train-missing)" if trainable(task) else "")
                ),
            )

    def _pin_catalogue(self, task_id: str, spec: str) -> str | None:
        """The catalogue's public expert, downloaded once here and pinned to the commit downloaded (``@COMMIT``), so
        every unit, on any node, loads the same bytes; returns why the download failed (one line), else None."""
        from vintix_data.demonstrators.sb3 import parse_hub_spec
        from vintix_data.errors import UserError
        from vintix_data.format import file_sha256
        from vintix_data.hub.client import download_file

        try:
            repo, file, _ = parse_hub_spec(spec)
            path, commit = download_file(repo, file, repo_type="model")
        except UserError as e:
            return f"catalogue expert {spec}: {e}"
        pinned = f"{spec}@{commit}" if commit else spec
        self.state.update(
            task_id,
            stage="gate",
            spec=pinned,
            demonstrator_source=(
                f"catalogue: {spec}@{commit[:12] if commit else '?'} (sha256 {file_sha256(path)[:12]})"
            ),
        )
        return None

    def ready(self) -> list[tuple[str, object, tuple]]:
        units = []
        for spec in self.specs:
            t = self.state.task(spec.id)
            if t["stage"] == "demonstrator":
                self._resolve_demonstrator(spec)
            stage, tid = t["stage"], spec.id
            if stage in ("gate", "collect", "finalize") and tid not in self.locked and self.locks is not None:
                try:
                    self.locks.enter_context(exclusive_lock(dataset_dir(self.root, tid), "release"))
                    self.locked.add(tid)
                except LockedError as e:
                    self.state.update(tid, stage="failed", error=str(e))
                    continue
            if stage == "train":
                units.append((f"{tid}/train", train_unit, (str(self.root), tid, self.cfg)))
            elif stage == "gate":
                units.append((f"{tid}/gate", gate_unit, (str(self.root), self._run(tid), self.cfg)))
            elif stage == "collect":
                done = set(t.get("histories_done", []))
                run = self._run(tid)
                units += [
                    (f"{tid}/h{h}", history_unit, (str(self.root), run, self.cfg, h))
                    for h in range(run.histories)
                    if h not in done
                ]
            elif stage == "finalize":
                units.append(
                    (
                        f"{tid}/finalize",
                        finalize_unit,
                        (str(self.root), self._run(tid), self.cfg, t.get("collect_s", 0.0)),
                    )
                )
        units = [u for u in units if u[0] not in self.running]

        def priority(unit):
            tid, kind = unit[0].split("/")
            return (
                -_RANK[kind[0] if kind.startswith("h") and kind[1:].isdigit() else kind],
                self.order[tid],
                int(kind[1:]) if kind[1:].isdigit() else 0,
            )

        return sorted(units, key=priority)

    # ---- what a finished unit means ------------------------------------------------------------------------
    def finished(self, key: str, result: dict) -> None:
        tid, kind = key.split("/")
        self.running.pop(key, None)
        t = self.state.task(tid)
        if "error" in result:
            self.state.update(tid, stage="failed", error=f"{kind}: {result['error']}")
            return
        self.state.add_seconds(tid, result.get("wall_s", result.get("seconds", 0.0)))
        if kind == "train":
            self.state.update(
                tid,
                stage="gate",
                spec=result["spec"],
                demonstrator_source="trained by this release" + (f": {result['how']}" if result.get("how") else ""),
            )
        elif kind == "gate":
            t["gate"] = {k: result[k] for k in ("passed", "tried")} | {"result": result["gate"]}
            if result["collect"]:
                self.state.update(tid, stage="collect", episode_limit=result["episode_limit"])
            else:
                self.state.update(tid, stage="failed", error=f"gate: {result['tried'][-1]['verdict']}")
        elif kind == "finalize":
            self.state.update(
                tid,
                stage="done" if result["valid"] else "failed",
                valid=result["valid"],
                validate_errors=result["errors"][:5],
                validate_notes=result["notes"][:5],
                **({} if result["valid"] else {"error": "validate: " + "; ".join(result["errors"][:2])}),
            )
            if self.progress is not None:
                self.progress.task_done(tid, "valid" if result["valid"] else "INVALID")
        else:  # a history
            t.setdefault("histories_done", []).append(int(kind[1:]))
            t["collect_s"] = round(t.get("collect_s", 0.0) + result["seconds"], 1)
            if len(set(t["histories_done"])) == t["histories"]:
                t["stage"] = "finalize"
            self.state.save_tasks()

    def loop(self) -> int:
        units_run, last_touch = 0, time.perf_counter()
        while True:
            if self.stop_signal is not None:  # set by the handler below: Ray's wait does not let a signal through
                raise KeyboardInterrupt(f"signal {self.stop_signal}")
            for key, fn, args in self.ready()[: max(0, self.ex.capacity - len(self.running))]:
                self.ex.submit(key, fn, *args)
                self.running[key] = time.perf_counter()
                units_run += 1
            if not self.running:
                return units_run
            for key, result in self.ex.wait(0.5):
                self.finished(key, result)
            for _, steps, _events in self.ex.drain_progress():
                if self.progress is not None:
                    self.progress.advance(steps)
            if self.progress is not None:
                self.progress.show(self.running, self.state.tasks)
            if time.perf_counter() - last_touch > 30:
                self.state.touch_run()
                last_touch = time.perf_counter()


def steps_on_disk(root: Path, state: ReleaseState) -> int:
    """Transitions already collected (shown as done when a release resumes)."""
    total = 0
    for tid, t in state.tasks.items():
        if t.get("stage") == "done":
            total += t["histories"] * t["steps"]
        elif "histories" in t and (dataset_dir(root, tid) / ".vintix").exists():
            total += sum(
                min(completed_episodes(dataset_dir(root, tid), h)[1], t["steps"]) for h in range(t["histories"])
            )
    return total


def release(cfg: ReleaseConfig, progress_factory=None) -> ReleaseSummary:
    """Make every selected dataset under ``cfg.out`` (resumable), then write the release report."""
    from vintix_data.release.report import write_report

    cfg.check()
    specs = select_tasks(list(cfg.selection))
    check_output_folder(cfg.out)
    if cfg.executor == "ray":  # before the lock creates ROOT: a cluster that is not there leaves nothing behind
        check_ray_address(cfg.ray_address)
        probe_ray(cfg.ray_address, cfg.ray_timeout)
    with contextlib.ExitStack() as locks:
        # one driver per root, and no `collect --resume` in a dataset folder while the release writes it (units run
        # under the driver's locks: forked ones inherit them, Ray's are the driver's own units)
        locks.enter_context(exclusive_lock(cfg.out, "release"))
        return _release_locked(cfg, specs, locks, progress_factory, write_report)


def _release_locked(
    cfg: ReleaseConfig, specs: list[TaskSpec], locks: contextlib.ExitStack, progress_factory, write_report
) -> ReleaseSummary:
    ReleaseState.check(cfg)  # refuse a root of other settings before starting Ray, and write nothing until Ray is up
    executor = make_executor(cfg.executor, cfg.workers, cfg.max_retries, cfg.ray_address)
    try:
        state = ReleaseState.open(cfg, [t.id for t in specs])
    except BaseException:
        executor.close()
        raise
    total_steps = sum((cfg.histories or t.num_histories) * (cfg.steps or t.history_steps) for t in specs)
    progress = progress_factory(len(specs), total_steps) if progress_factory else None
    if progress is not None:
        progress.resumed(steps_on_disk(state.root, state), sum(t.get("stage") == "done" for t in state.tasks.values()))
    state.begin_run(cfg.executor, cfg.command)
    driver = Driver(cfg, specs, state, executor, progress, locks)
    finished = False
    handlers = {sig: signal.signal(sig, driver.stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        units = driver.loop()
        finished = True
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        executor.close()
        if progress is not None:
            progress.close()
        state.end_run(finished)
        write_report(state.root, specs, state)
    summary = ReleaseSummary(state.root, units_run=units)
    for t in specs:
        s = state.task(t.id)
        if s["stage"] == "done":
            summary.done.append(t.id)
        else:
            summary.failed[t.id] = s.get("error", s["stage"])
    return summary
