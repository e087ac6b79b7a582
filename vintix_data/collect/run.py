"""The whole ``vintix-data collect`` command: check everything first (:func:`prepare` -> a :class:`CollectPlan`), then
collect (one process or several), finalize and mark the run complete."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from pathlib import Path

import numpy as np

from vintix_data.collect.collector import Collector
from vintix_data.collect.config import (
    BEHAVIOURS,
    DECOYS,
    LEARNERS,
    CollectConfig,
    CollectError,
    CollectPlan,
    behaviour_record,
)
from vintix_data.collect.finalize import finalize
from vintix_data.collect.parts import completed_episodes
from vintix_data.collect.workers import run_workers
from vintix_data.demonstrators import load_demonstrator
from vintix_data.demonstrators.gate import GateConfig, require_gate
from vintix_data.domains import configure_task
from vintix_data.format import STATE_DIR, atomic_write_text, flat_dim
from vintix_data.hiding import HidingError, resolve_hidden
from vintix_data.locking import LOCK_NAME, exclusive_lock
from vintix_data.preflight import (
    check_collection_size,
    check_free_space,
    check_memory,
    check_output_folder,
    check_text,
    collection_bytes,
    collection_memory,
)
from vintix_data.registry import get_task
from vintix_data.schedule import NoiseSchedule
from vintix_data.version import __version__

# a state folder being built by create_state (renamed to STATE_DIR when complete); a leftover one is a killed start
STATE_TMP_PREFIX = STATE_DIR + ".tmp-"
# errors of the file system under --out that the user fixes (free space, permissions), reported as one line
DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def prepare(config: CollectConfig) -> CollectPlan:
    """Check everything that can be checked before a byte is written; return what the run needs."""
    out = Path(config.out)
    check_output_folder(out)
    for arg in config.command:
        check_text(arg, "argument")
    task = configure_task(
        get_task(config.task),
        episode_limit=config.episode_limit,
        fixed_goal=config.fixed_goal,
        env_options=config.env_options,
        env_kwargs=config.env_kwargs,
        reward_scale=config.reward_scale,
    )
    histories = config.histories if config.histories is not None else task.num_histories
    steps = config.steps if config.steps is not None else task.history_steps
    if histories < 1:
        raise CollectError(f"--histories must be >= 1, got {histories}")
    check_collection_size(histories, steps)
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
    if config.behaviour not in BEHAVIOURS:
        raise CollectError(f"--behaviour must be {', '.join(BEHAVIOURS)}, got {config.behaviour!r}")
    if config.behaviour in DECOYS and task.goal_space() is None:
        raise CollectError(
            f"--behaviour {config.behaviour}: {task.id} ({task.domain}) has no goal space to draw decoy goals from; "
            "--behaviour random works on every task"
        )
    if config.behaviour in LEARNERS:
        check_learner(task, hidden)
    schedule = NoiseSchedule(p=config.p, f=config.f, steps=steps)
    spec = config.demonstrator or task.default_demonstrator()
    if spec is None:
        raise CollectError(
            f"{task.id}: no demonstrator given and none trained yet; run `vintix-data demonstrator train {task.id} "
            f"--out FILE.zip` and pass --demonstrator sb3:FILE.zip"
        )
    state = out / STATE_DIR / "state.json"
    if config.resume and not state.exists():
        raise CollectError(f"--resume: {out} holds no collection state ({STATE_DIR}/state.json)")
    if not config.resume and occupied(out):
        raise CollectError(f"{out} exists and is not empty; choose a new --out or pass --resume")
    env = task.make_env()
    obs_dim, act_dim = flat_dim(env.observation_space), flat_dim(env.action_space)
    size = f"{histories:,} histories x {steps:,} steps"
    check_memory(
        collection_memory(
            steps, config.workers, config.num_envs, task.adapter.episode_limit(task.spec), obs_dim, act_dim
        ),
        f"collecting {size}",
    )
    if not (config.resume and is_complete(out)):
        saved_bytes = sum(p.stat().st_size for p in (out / STATE_DIR / "parts").rglob("*.npz")) if config.resume else 0
        check_free_space(out, collection_bytes(histories * steps, obs_dim, act_dim) - saved_bytes, f"collecting {size}")
    demonstrator = load_demonstrator(spec, env.observation_space, env.action_space, task=task)
    if config.card_video:  # a missing GL backend or imageio is found now, not at finalize
        from vintix_data.replay.video import check_renderer

        check_renderer(task, env)
    env.close()
    if config.resume:
        saved = read_state(out).get("identity", {})
        mine = run_identity(config, spec, demonstrator, histories, steps)
        if saved != mine:
            diff = sorted(k for k in mine if saved.get(k) != mine[k])
            raise CollectError(f"--resume: {out} was collected with different settings ({', '.join(diff)})")
    if not config.resume and not config.force:
        require_gate(task, demonstrator, spec, GateConfig(episodes=config.gate_episodes, seed=config.seed))
    return CollectPlan(task, schedule, demonstrator, spec, histories, hidden)


def run_identity(config: CollectConfig, spec: str, demonstrator, histories: int, steps: int) -> dict:
    """What a resumed run must share with the original: settings, and the demonstrator's bytes, not just its path."""
    identity = {
        **config.identity(),
        "demonstrator": spec,
        "demonstrator_sha256": demonstrator.sha256,
        "histories": histories,
        "steps": steps,
    }
    if config.behaviour in LEARNERS:  # its constants decide every action: a resume must run the same learner
        identity["learner"] = behaviour_record(
            "learner",
            learner=configure_task(
                get_task(config.task),
                episode_limit=config.episode_limit,
                fixed_goal=config.fixed_goal,
                env_options=config.env_options,
                env_kwargs=config.env_kwargs,
            ).learner(1),
        )
    return identity


def check_learner(task, hidden) -> None:
    """``--behaviour learner`` needs the domain's learner, one task per history (its state carries over a history's
    episodes) and the columns it reads recorded (it is rebuilt from the rows on ``--resume``)."""
    learner = task.learner(1)
    if learner is None:
        raise CollectError(
            f"--behaviour learner: {task.id} ({task.domain}) has no reward-driven learner (it needs a goal "
            "whose reward can be predicted from the observation: reach-v3)"
        )
    if not any(k in task.env_options for k in task.adapter.variation_options):
        options = ", ".join(task.adapter.variation_options) or "none"
        raise CollectError(
            f"--behaviour learner keeps its posterior over a history's episodes, so each history needs one "
            f"task (--fixed-goal; {task.domain} variation options: {options})"
        )
    seen = set(hidden.indices) & set(learner.needs_visible()) if hidden is not None else set()
    if seen:
        raise CollectError(
            f"--behaviour learner reads observation columns {sorted(seen)}, which --hide would record as a "
            "constant (the learner is rebuilt from the recorded rows on --resume)"
        )


def occupied(out: Path) -> bool:
    """``out`` holds something a fresh run must not overwrite (a lock file or a state folder whose creation was
    killed before its rename does not count: neither holds data)."""
    return out.is_dir() and any(p.name != LOCK_NAME and not p.name.startswith(STATE_TMP_PREFIX) for p in out.iterdir())


def collect(config: CollectConfig, progress_factory=None) -> Path:
    """Collect, finalize and validate a dataset folder, holding its lock throughout. Returns the folder."""
    plan = prepare(config)
    out = Path(config.out)
    identity = run_identity(config, plan.spec, plan.demonstrator, plan.histories, plan.schedule.steps)
    with exclusive_lock(out, "collect"):
        if not config.resume:
            if occupied(out):  # another run started here between prepare and the lock
                raise CollectError(f"{out} exists and is not empty; choose a new --out or pass --resume")
            create_state(out, identity)
        elif is_complete(out):
            drop_leftover_parts(out)  # a kill between "complete" and the parts' removal left them
            return out  # finalized already: nothing to resume
        try:
            _collect_locked(out, plan, config, progress_factory)
        except OSError as e:
            if e.errno not in DISK_ERRNOS:
                raise
            raise CollectError(
                f"{out}: {e.strerror} ({getattr(e, 'filename', None) or out}); completed episodes are saved: "
                "fix that, then re-run with --resume"
            ) from None
        mark_complete(out, identity)
    return out


def _collect_locked(out: Path, plan: CollectPlan, config: CollectConfig, progress_factory) -> None:
    histories, schedule = plan.histories, plan.schedule
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


# The run's state under DIR/.vintix/state.json, shared with `vintix-data release` (which runs the same histories as
# separate units of work): created with the folder, marked complete after finalize, parts removed last. The caller
# holds the folder's lock (vintix_data.locking.exclusive_lock) around all of them.


def create_state(out: Path, identity: dict) -> None:
    """Create ``out`` (if needed) and its state folder in one rename: ``.vintix/`` appears with ``state.json`` in it or
    not at all, so a kill leaves either a state ``--resume`` accepts or a folder a fresh run accepts (it ignores and
    removes ``.vintix.tmp-*``). Refuses a folder that already has a state."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(STATE_TMP_PREFIX + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = out / f"{STATE_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()  # the umask's mode, as any folder the run makes (mkdtemp's would be 0700)
    (tmp / "state.json").write_text(
        json.dumps({"identity": identity, "vintix": __version__}, indent=2, sort_keys=True, allow_nan=False)
    )
    try:
        os.rename(tmp, out / STATE_DIR)  # replaces nothing but an empty folder
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CollectError(
            f"{out} already holds a collection state ({STATE_DIR}/); pass --resume to continue it"
        ) from None


def read_state(out: Path) -> dict:
    path = out / STATE_DIR / "state.json"
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        raise CollectError(f"{out} holds no collection state ({STATE_DIR}/state.json)") from None
    except (OSError, ValueError) as e:
        raise CollectError(f"{path}: unreadable ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise CollectError(f"{path}: not a collection state")
    return state


def is_complete(out: Path) -> bool:
    return bool(read_state(out).get("complete"))


def drop_partial_parts(out: Path) -> None:
    for tmp in (out / STATE_DIR).rglob("*.tmp"):
        tmp.unlink()  # a part interrupted mid-write; its episode is collected again


def drop_leftover_parts(out: Path) -> None:
    """Remove the episode parts of a complete collection (they are in the shards now), temporary files included."""
    shutil.rmtree(out / STATE_DIR / "parts", ignore_errors=True)
    drop_partial_parts(out)


def mark_complete(out: Path, identity: dict) -> None:
    """Mark the state complete, then remove the parts: a kill in between leaves parts that the next ``--resume``
    (or :func:`drop_leftover_parts`) removes, never a complete-looking folder whose parts are gone but state is not."""
    atomic_write_text(
        out / STATE_DIR / "state.json",
        json.dumps(
            {"identity": identity, "vintix": __version__, "complete": True}, indent=2, allow_nan=False, sort_keys=True
        ),
    )
    drop_leftover_parts(out)
