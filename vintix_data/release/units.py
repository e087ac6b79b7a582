"""The units of work of a release, each a plain function of picklable arguments, so any process runs it: a local
child process or a Ray worker on another machine (which must see ROOT on a shared file system).

A unit is idempotent: it starts from what is on disk and writes only atomically, so a unit whose process dies is
simply run again (``--max-retries``) and a resumed release re-runs only unfinished units. A history unit is
``vintix-data collect``'s own collector on one history; every dataset's bytes therefore equal a single-machine
``collect`` with the same seed (docs/design.md §3: a history is a pure function of ``(task, seed, history)``).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

from vintix_data.collect import CollectConfig, Collector, prepare, run_identity
from vintix_data.collect.finalize import finalize
from vintix_data.collect.parts import completed_episodes
from vintix_data.collect.run import create_state, is_complete, mark_complete, read_state
from vintix_data.errors import UserError
from vintix_data.format import STATE_DIR
from vintix_data.release.config import ReleaseConfig, ReleaseError

RELEASE_DIR = ".release"  # ROOT/.release: the driver's state, the unit log, the running units' pid files


@dataclass(frozen=True)
class TaskRun:
    """One task as the driver resolved it: what every unit needs to rebuild the task's collection settings."""

    task: str
    demonstrator: str  # the spec every unit loads (a checkpoint under ROOT/demonstrators, or `scripted`)
    histories: int
    steps: int
    episode_limit: int | None = None  # the gate's choice: None is the registry's limit


def dataset_dir(root: Path, task: str) -> Path:
    return Path(root) / "datasets" / task


def demonstrator_path(root: Path, task: str) -> Path:
    return Path(root) / "demonstrators" / f"{task}.zip"


def collect_config(root: Path, cfg: ReleaseConfig, run: TaskRun, resume: bool = True) -> CollectConfig:
    """The ``collect`` settings of a task of this release (the gate is the release's own stage, hence force)."""
    return CollectConfig(
        task=run.task,
        out=str(dataset_dir(root, run.task)),
        demonstrator=run.demonstrator,
        histories=run.histories,
        steps=run.steps,
        p=cfg.p,
        f=cfg.f,
        seed=cfg.seed,
        num_envs=1,
        resume=resume,
        reference_episodes=cfg.reference_episodes,
        command=list(cfg.command),
        episode_limit=run.episode_limit,
        force=True,
        gate_episodes=cfg.gate_episodes,
        card_video=cfg.card_video,
    )


def log_unit(root: Path, unit: str, event: str, **extra) -> None:
    """One line per unit start and end in ROOT/.release/units.jsonl (O_APPEND: lines of concurrent units never mix)."""
    line = json.dumps({"unit": unit, "event": event, "pid": os.getpid(), "time": round(time.time(), 3), **extra}) + "\n"
    fd = os.open(Path(root) / RELEASE_DIR / "units.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def _one_line(e: BaseException) -> str:
    return str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}".splitlines()[0]


def trainable(task) -> bool:
    """Whether the release can train the task's demonstrator: the domain's paper PPO (IB), or an algorithm the
    catalogue names for it (vintix_data.catalogue, rl-zoo3's recipe in vintix_data.demonstrators.recipes)."""
    from vintix_data.catalogue import public_expert

    expert = public_expert(task.spec.id)
    return task.adapter.trains_paper_ppo or (expert is not None and bool(expert.train_algo))


def train_unit(root: str, task: str, cfg: ReleaseConfig, progress=None) -> dict:
    """Train the task's demonstrator into ROOT/demonstrators/TASK.zip: the paper's recipe where the domain has one
    (IB: PPO), else the catalogue's algorithm with rl-zoo3's settings (``--train-missing``)."""
    from vintix_data.catalogue import public_expert
    from vintix_data.domains import resolve
    from vintix_data.registry import get_task

    out = demonstrator_path(Path(root), task)
    if out.exists():
        return {"spec": f"sb3:{out}", "wall_s": 0.0, "trained": False}
    log_unit(Path(root), f"{task}/train", "start")
    # a unit killed mid-training (a dead worker, an interrupted release) continues from its last checkpoint, to
    # the same policy, bit for bit: an hour of training is not redone
    spec = resolve(get_task(task))
    if spec.adapter.trains_paper_ppo:
        from vintix_data.demonstrators.train_ib import PPOConfig, train_ppo

        result = train_ppo(
            spec,
            out,
            PPOConfig(timesteps=cfg.ppo_timesteps, seed=cfg.seed),
            progress=False,
            checkpoint=Path(root) / RELEASE_DIR / "checkpoints" / f"{task}.pkl",
        )
        how = None
    else:
        from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, train_sb3

        algo = public_expert(task).train_algo
        result = train_sb3(
            spec,
            out,
            SB3TrainConfig(algo=algo, timesteps=cfg.train_timesteps, seed=cfg.seed),
            progress=False,
            checkpoint=Path(root) / RELEASE_DIR / "checkpoints" / f"{task}.ckpt",
        )
        how = f"{algo.upper()} ({result['recipe']}), {result['timesteps']:,} steps"
    log_unit(
        Path(root),
        f"{task}/train",
        "done",
        seconds=round(result["wall_s"], 1),
        **({"resumed_at": result["resumed_at"]} if result["resumed_at"] else {}),
    )
    return {"spec": f"sb3:{out}", "wall_s": result["wall_s"], "trained": True, "how": how}


def gate_unit(root: str, run: TaskRun, cfg: ReleaseConfig, progress=None) -> dict:
    """The demonstrator gate at the registry's episode limit, else at the limit the domain records for its scripted
    expert; then the task's collection state, created once (a resumed release checks it against the settings)."""
    from vintix_data.demonstrators import load_demonstrator
    from vintix_data.demonstrators.gate import GateConfig, evaluate
    from vintix_data.domains import configure_task, resolve
    from vintix_data.registry import get_task

    t0 = time.perf_counter()
    log_unit(Path(root), f"{run.task}/gate", "start")
    spec = resolve(get_task(run.task))
    suggested = spec.adapter.suggested_episode_limit(spec.spec)
    tried, result, limit = [], None, None
    for limit in (None, suggested) if suggested else (None,):
        task = configure_task(spec.spec, episode_limit=limit)
        env = task.make_env()
        demo = load_demonstrator(run.demonstrator, env.observation_space, env.action_space, task=task)
        env.close()
        result = evaluate(task, demo, run.demonstrator, GateConfig(episodes=cfg.gate_episodes, seed=cfg.seed))
        tried.append({"episode_limit": task.episode_limit, "passed": result.passed, "verdict": result.verdict()})
        if result.passed:
            break
    passed = result.passed or cfg.force
    chosen = limit if result.passed else None
    if passed:
        run = TaskRun(run.task, run.demonstrator, run.histories, run.steps, chosen)
        config = collect_config(Path(root), cfg, run, resume=False)
        out = Path(config.out)
        plan = prepare(replace(config, resume=(out / STATE_DIR / "state.json").exists()))
        identity = run_identity(config, plan.spec, plan.demonstrator, plan.histories, plan.schedule.steps)
        if not (out / STATE_DIR / "state.json").exists():
            create_state(out, identity)
    seconds = time.perf_counter() - t0
    log_unit(Path(root), f"{run.task}/gate", "done", seconds=round(seconds, 1))
    return {
        "passed": result.passed,
        "collect": passed,
        "episode_limit": chosen,
        "tried": tried,
        "gate": result.to_dict(),
        "seconds": seconds,
    }


def history_unit(root: str, run: TaskRun, cfg: ReleaseConfig, history: int, progress=None) -> dict:
    """One learning history with the collector of ``collect``: resumes at its first missing episode."""
    config = collect_config(Path(root), cfg, run)
    out = Path(config.out)
    if completed_episodes(out, history)[1] >= run.steps:
        return {"steps": 0, "seconds": 0.0}
    unit = f"{run.task}/h{history}"
    pid_file = Path(root) / RELEASE_DIR / "running" / f"{run.task}.h{history}.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    log_unit(Path(root), unit, "start")
    t0 = time.perf_counter()
    _, before = completed_episodes(out, history)
    for tmp in (out / STATE_DIR / "parts" / f"h{history:05d}").glob("*.tmp"):
        tmp.unlink()  # this history's part interrupted mid-write (other histories' parts belong to other units)
    plan = prepare(config)
    Collector(config, plan.task, plan.schedule, plan.demonstrator, plan.histories, plan.hidden).run(
        progress, [history], 1
    )
    if progress is not None and hasattr(progress, "flush"):
        progress.flush()
    seconds = time.perf_counter() - t0
    log_unit(Path(root), unit, "done", seconds=round(seconds, 1), steps=run.steps - before)
    pid_file.unlink(missing_ok=True)
    return {"steps": run.steps - before, "seconds": seconds}


def finalize_unit(root: str, run: TaskRun, cfg: ReleaseConfig, collect_seconds: float, progress=None) -> dict:
    """Shards, metadata, card and manifest of a task whose histories are all collected; then ``validate``."""
    from vintix_data.validate import validate

    config = collect_config(Path(root), cfg, run)
    out = Path(config.out)
    t0 = time.perf_counter()
    log_unit(Path(root), f"{run.task}/finalize", "start")
    if not is_complete(out):
        plan = prepare(config)
        missing = [h for h in range(run.histories) if completed_episodes(out, h)[1] < run.steps]
        if missing:
            raise ReleaseError(f"{run.task}: histories {missing} are not collected; cannot finalize")
        finalize(out, plan, config, collect_seconds=collect_seconds)
        mark_complete(out, read_state(out)["identity"])
    shutil.rmtree(out / STATE_DIR / "parts", ignore_errors=True)
    report = validate(out)
    seconds = time.perf_counter() - t0
    log_unit(Path(root), f"{run.task}/finalize", "done", seconds=round(seconds, 1), valid=report.ok)
    return {"valid": report.ok, "errors": report.errors, "notes": report.notes, "seconds": seconds}


def guarded(fn, *args, progress=None) -> dict:
    """Run a unit; a user-level failure (bad checkpoint, refused resume) becomes ``{"error": line}`` so the driver
    records it against the task and goes on with the others. Anything else is a bug and propagates."""
    try:
        return fn(*args, progress=progress)
    except UserError as e:
        return {"error": _one_line(e)}
