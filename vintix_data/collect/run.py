"""The whole ``vintix-data collect`` command: check everything first (:func:`prepare` -> a :class:`CollectPlan`), then
collect (one process or several), finalize and mark the run complete."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from vintix_data import __version__
from vintix_data.collect.collector import Collector
from vintix_data.collect.config import CollectConfig, CollectError, CollectPlan
from vintix_data.collect.finalize import finalize
from vintix_data.collect.parts import completed_episodes
from vintix_data.collect.workers import run_workers
from vintix_data.demonstrators import load_demonstrator
from vintix_data.demonstrators.gate import GateConfig, require_gate
from vintix_data.domains import configure_task
from vintix_data.format import STATE_DIR, atomic_write_text
from vintix_data.hiding import HidingError, resolve_hidden
from vintix_data.registry import get_task
from vintix_data.schedule import NoiseSchedule


def prepare(config: CollectConfig) -> CollectPlan:
    """Check everything that can be checked before a byte is written; return what the run needs."""
    task = configure_task(get_task(config.task), episode_limit=config.episode_limit, fixed_goal=config.fixed_goal,
                          env_options=config.env_options)
    histories = config.histories if config.histories is not None else task.num_histories
    steps = config.steps if config.steps is not None else task.history_steps
    if histories < 1:
        raise CollectError(f"--histories must be >= 1, got {histories}")
    if config.num_envs < 1:
        raise CollectError(f"--num-envs must be >= 1, got {config.num_envs}")
    if not 1 <= config.workers <= config.num_envs:
        raise CollectError(f"--workers must be between 1 and --num-envs ({config.num_envs}), got {config.workers}")
    if config.vector not in ("auto", "sync", "async"):
        raise CollectError(f"--vector must be sync, async or auto, got {config.vector!r}")
    if not np.isfinite(config.hide_fill):  # checked with or without --hide: it is part of the run's identity (JSON)
        raise CollectError(f"--hide-fill must be a finite number, got {config.hide_fill}")
    try:
        hidden = resolve_hidden(task, config.hide, config.hide_fill)
    except HidingError as e:
        raise CollectError(str(e)) from None
    schedule = NoiseSchedule(p=config.p, f=config.f, steps=steps)
    spec = config.demonstrator or task.default_demonstrator()
    if spec is None:
        raise CollectError(
            f"{task.id}: no demonstrator given and none trained yet; run `vintix-data demonstrator train {task.id} "
            f"--out FILE.zip` and pass --demonstrator sb3:FILE.zip"
        )
    out = Path(config.out)
    state = out / STATE_DIR / "state.json"
    if config.resume and not state.exists():
        raise CollectError(f"--resume: {out} holds no collection state ({STATE_DIR}/state.json)")
    if not config.resume and out.exists() and any(out.iterdir()):
        raise CollectError(f"{out} exists and is not empty; choose a new --out or pass --resume")
    env = task.make_env()
    demonstrator = load_demonstrator(spec, env.observation_space, env.action_space, task=task)
    env.close()
    if config.resume:
        saved = json.loads(state.read_text()).get("identity", {})
        mine = run_identity(config, spec, demonstrator, histories, steps)
        if saved != mine:
            diff = sorted(k for k in mine if saved.get(k) != mine[k])
            raise CollectError(f"--resume: {out} was collected with different settings ({', '.join(diff)})")
    if not config.resume and not config.force:
        require_gate(task, demonstrator, spec, GateConfig(episodes=config.gate_episodes, seed=config.seed))
    return CollectPlan(task, schedule, demonstrator, spec, histories, hidden)


def run_identity(config: CollectConfig, spec: str, demonstrator, histories: int, steps: int) -> dict:
    """What a resumed run must share with the original: settings, and the demonstrator's bytes, not just its path."""
    return {**config.identity(), "demonstrator": spec, "demonstrator_sha256": demonstrator.sha256,
            "histories": histories, "steps": steps}


def collect(config: CollectConfig, progress_factory=None) -> Path:
    """Collect, finalize and validate a dataset folder. Returns the folder."""
    plan = prepare(config)
    histories, schedule = plan.histories, plan.schedule
    out = Path(config.out)
    identity = run_identity(config, plan.spec, plan.demonstrator, histories, schedule.steps)
    if not config.resume:
        create_state(out, identity)
    elif is_complete(out):
        return out  # finalized already: nothing to resume
    drop_partial_parts(out)
    collector = Collector(config, plan.task, schedule, plan.demonstrator, histories, plan.hidden)
    t0 = time.perf_counter()
    progress = progress_factory(histories * schedule.steps, histories) if progress_factory else None
    if progress is not None:
        for h in range(histories):
            progress.resumed(completed_episodes(out, h)[1])
    try:
        if config.workers > 1:
            run_workers(collector, config.workers, config.num_envs, progress)
        else:
            collector.run(progress)
    finally:
        if progress is not None:
            progress.close()
    finalize(out, plan, config, collect_seconds=time.perf_counter() - t0)
    mark_complete(out, identity)
    return out


# The run's state under DIR/.vintix/state.json, shared with `vintix-data release` (which runs the same histories as
# separate units of work): created with the folder, marked complete after finalize, parts removed last.

def create_state(out: Path, identity: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / STATE_DIR / "state.json",
                      json.dumps({"identity": identity, "vintix": __version__}, indent=2, sort_keys=True, allow_nan=False))


def read_state(out: Path) -> dict:
    return json.loads((out / STATE_DIR / "state.json").read_text())


def is_complete(out: Path) -> bool:
    return bool(read_state(out).get("complete"))


def drop_partial_parts(out: Path) -> None:
    for tmp in (out / STATE_DIR).rglob("*.tmp"):
        tmp.unlink()  # a part interrupted mid-write; its episode is collected again


def mark_complete(out: Path, identity: dict) -> None:
    atomic_write_text(out / STATE_DIR / "state.json", json.dumps({"identity": identity, "vintix": __version__, "complete": True},
                                                                 indent=2, allow_nan=False, sort_keys=True))
    shutil.rmtree(out / STATE_DIR / "parts", ignore_errors=True)
