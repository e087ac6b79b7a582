"""Noise-distillation collector: learning histories from a demonstrator and the paper's epsilon decay.

One history runs in one sub-env of a gymnasium vector env; the demonstrator is called once per step on
the whole batch. The vector env runs with autoreset *disabled*: after an episode ends the collector
resets that sub-env itself with the episode's own seed, so gymnasium 1.x's "reset step" (the extra
step that autoreset inserts after an episode end) never exists and can never be written.

Determinism (docs/design.md §3): episode ``k`` of history ``h`` resets with a seed from
``SeedSequence((seed, h, k))`` and draws its uniform noise from ``SeedSequence((seed, h, k),
spawn_key=(1,))``; epsilon depends only on ``t``; the demonstrator is batch-invariant. Every completed
episode is saved at once (atomically) under ``DIR/.vintix/parts``, so ``--resume`` restarts each
history at its first missing episode and the final bytes equal an uninterrupted run's, whatever
``--num-envs`` was.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from vintix_data import __version__
from vintix_data.demonstrators import load_demonstrator
from vintix_data.errors import UserError
from vintix_data.domains import adapter_for, configure_task, episode_reset_seed
from vintix_data.format import STATE_DIR, EpisodeData, atomic_write_text
from vintix_data.registry import TaskSpec, get_task
from vintix_data.schedule import NoiseSchedule, mix_actions


class CollectError(UserError, ValueError):
    """A collection that cannot start or resume (one-line message)."""


@dataclass
class CollectConfig:
    task: str
    out: str
    demonstrator: str | None = None
    histories: int | None = None
    steps: int | None = None
    p: float = 1.0
    f: float = 0.1
    seed: int = 0
    num_envs: int = 1
    vector: str = "auto"  # sync | async | auto (async when num_envs > 1)
    workers: int = 1  # processes, each running its own vector env on a disjoint set of histories
    resume: bool = False
    reference_episodes: int = 20
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    # per-run task settings (vintix_data.domains.configure_task) and the demonstrator gate (vintix_data.gate)
    episode_limit: int | None = None
    fixed_goal: bool = False
    env_options: dict = field(default_factory=dict)
    force: bool = False
    gate_episodes: int = 10
    # latent tasks (vintix_data.hiding): observation components recorded as `hide_fill` instead of their values
    hide: tuple[str, ...] = ()
    hide_fill: float = 0.0

    def identity(self) -> dict:
        """What must match for ``--resume`` to continue a run (not how it is executed)."""
        d = asdict(self)
        for k in ("out", "num_envs", "vector", "workers", "resume", "command", "force", "gate_episodes"):
            d.pop(k)
        d["hide"] = list(d["hide"])
        for k, default in (("episode_limit", None), ("fixed_goal", False), ("env_options", {}), ("hide", []),
                           ("hide_fill", 0.0)):
            if d[k] == default:  # absent when unused, so runs started before these settings existed still resume
                d.pop(k)
        return d


def episode_seed(seed: int, history: int, episode: int) -> int:
    return int(np.random.SeedSequence((seed, history, episode)).generate_state(1)[0])


def episode_noise(seed: int, history: int, episode: int, low: np.ndarray, high: np.ndarray, length: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, history, episode), spawn_key=(1,))))
    return rng.uniform(low, high, size=(length,) + low.shape)


def part_path(out: Path, history: int, episode: int) -> Path:
    return out / STATE_DIR / "parts" / f"h{history:05d}" / f"e{episode:07d}.npz"


def completed_episodes(out: Path, history: int) -> tuple[int, int]:
    """(episodes, transitions) already saved for a history: the contiguous run of parts from 0."""
    k, t = 0, 0
    while True:
        p = part_path(out, history, k)
        if not p.exists():
            return k, t
        with np.load(p) as z:
            t += len(z["reward"])
        k += 1


class _DropInfo(gym.Wrapper):
    """The collector stores no info; not building the vector env's per-step info arrays saves ~20% of a cheap step."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, reward, terminated, truncated, {}

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)[0], {}


class Collector:
    """Runs a list of histories on a vector env; each completed episode becomes a part file."""

    def __init__(self, config: CollectConfig, task: TaskSpec, schedule: NoiseSchedule, demonstrator, histories: int,
                 hidden=None):
        self.cfg, self.task, self.schedule, self.demo, self.histories = config, task, schedule, demonstrator, histories
        self.hidden = hidden  # HiddenObservation | None: what the recorded rows must not show
        self.out = Path(config.out)
        self.adapter = adapter_for(task)
        self.limit = self.adapter.episode_limit(task)
        self.eps = schedule.epsilon(np.arange(schedule.steps)).astype(np.float32)

    def _make_vector_env(self, k: int) -> gym.vector.VectorEnv:
        fns = [lambda: _DropInfo(self.adapter.make_env(self.task)) for _ in range(k)]
        mode = self.cfg.vector if self.cfg.vector != "auto" else ("async" if k > 1 else "sync")
        if mode == "async":
            return gym.vector.AsyncVectorEnv(fns, copy=False, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
        return gym.vector.SyncVectorEnv(fns, copy=False, autoreset_mode=gym.vector.AutoresetMode.DISABLED)

    def pending(self, histories: list[int] | None = None) -> list[tuple[int, int, int]]:
        """(history, first missing episode, its t) for every unfinished history."""
        todo = []
        for h in histories if histories is not None else range(self.histories):
            k, t = completed_episodes(self.out, h)
            if t < self.schedule.steps:
                todo.append((h, k, t))
        return todo

    def run(self, progress=None, histories: list[int] | None = None, num_envs: int | None = None) -> None:
        todo = self.pending(histories)
        if not todo:
            return
        envs = self._make_vector_env(min(num_envs or self.cfg.num_envs, len(todo)))
        try:
            self._loop(envs, todo, progress)
        finally:
            envs.close()

    def _loop(self, envs, todo, progress) -> None:
        space = envs.single_action_space
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        k, n_steps, limit = envs.num_envs, self.schedule.steps, self.limit
        obs_dim, act_dim = int(np.prod(envs.single_observation_space.shape)), space.shape[0]
        rows = np.arange(k)
        # per-slot state: the history it runs (-1: idle), episode, t, step in episode, reset seed
        hist = np.full(k, -1)
        episode, t, step, seeds = (np.zeros(k, np.int64) for _ in range(4))
        noise = np.zeros((k, limit, act_dim))
        buf_obs = np.empty((k, limit, obs_dim), np.float32)
        buf_act, buf_demo = np.empty((k, limit, act_dim), np.float32), np.empty((k, limit, act_dim), np.float32)
        buf_rew = np.empty((k, limit), np.float32)
        buf_term, buf_trunc = np.zeros((k, limit), bool), np.zeros((k, limit), bool)
        queue = list(todo)

        def begin_episode(i: int) -> int:
            h, e = int(hist[i]), int(episode[i])
            step[i] = 0
            seeds[i] = episode_reset_seed(self.task, self.cfg.seed, h, e)
            noise[i] = episode_noise(self.cfg.seed, h, e, low, high, limit)
            return int(seeds[i])

        def next_history(i: int) -> int | None:
            if not queue:
                hist[i], step[i] = -1, 0
                return None
            hist[i], episode[i], t[i] = queue.pop(0)
            return begin_episode(i)

        obs, _ = envs.reset(seed=[next_history(i) for i in range(k)])
        obs = obs.reshape(k, -1)
        while True:
            active = hist >= 0
            if not active.any():
                break
            tc = np.minimum(t, n_steps - 1)
            eps = np.where(active, self.eps[tc], np.float32(0.0))
            demo = self.demo.act(obs)
            actions = mix_actions(demo, noise[rows, step], eps, low, high)
            buf_obs[rows, step] = obs  # before stepping: with copy=False the env reuses its observation buffer
            next_obs, rewards, terminated, truncated, _ = envs.step(actions)
            next_obs = next_obs.reshape(k, -1)
            buf_act[rows, step] = actions
            buf_demo[rows, step] = demo
            buf_rew[rows, step] = rewards
            t += active
            history_done = active & (t == n_steps)
            buf_term[rows, step] = terminated
            buf_trunc[rows, step] = truncated | (history_done & ~terminated)
            step += 1
            ended = terminated | truncated | history_done
            if progress is not None:
                progress.advance(int(active.sum()))
            if not ended.any():
                obs = next_obs
                continue
            reset_mask = np.zeros(k, bool)
            reset_seeds: list[int | None] = [None] * k
            for i in np.flatnonzero(ended):
                reset_mask[i] = True
                if hist[i] < 0:  # an idle sub-env in lockstep: restart it, store nothing
                    step[i] = 0
                    continue
                n = int(step[i])
                final_obs = next_obs[i].astype(np.float32)
                if self.hidden is not None:  # the demonstrator saw everything; the rows show the latent task only
                    self.hidden.apply_(buf_obs[i, :n])
                    self.hidden.apply_(final_obs)
                ep = EpisodeData(history=int(hist[i]), episode=int(episode[i]), t0=int(t[i]) - n, reset_seed=int(seeds[i]),
                                 observation=buf_obs[i, :n], action=buf_act[i, :n], demonstrator_action=buf_demo[i, :n],
                                 epsilon=self.eps[t[i] - n: t[i]], reward=buf_rew[i, :n], terminated=buf_term[i, :n],
                                 truncated=buf_trunc[i, :n], final_observation=final_obs)
                path = part_path(self.out, ep.history, ep.episode)
                path.parent.mkdir(parents=True, exist_ok=True)
                ep.save_part(path)
                if progress is not None:
                    progress.episode_done(ep.history, float(ep.reward.sum(dtype=np.float64)), float(ep.epsilon[-1]))
                if history_done[i]:
                    reset_seeds[i] = next_history(i)
                else:
                    episode[i] += 1
                    reset_seeds[i] = begin_episode(i)
            if not (hist >= 0).any():
                break
            fresh, _ = envs.reset(seed=reset_seeds, options={"reset_mask": reset_mask})
            obs = np.where(reset_mask[:, None], fresh.reshape(k, -1), next_obs)


# -- several processes ----------------------------------------------------------------------------

class _QueueProgress:
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
    progress = _QueueProgress(queue)
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
        raise CollectError(f"a collection worker failed ({errors[0] if errors else f'exit code {failed[0]}'}); "
                           "completed episodes are saved, re-run with --resume")


# -- the whole command ---------------------------------------------------------------------------

def prepare(config: CollectConfig):
    """Check everything that can be checked before a byte is written; return what the run needs."""
    task = configure_task(get_task(config.task), episode_limit=config.episode_limit, fixed_goal=config.fixed_goal,
                          env_options=config.env_options)
    adapter = adapter_for(task)
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
    from vintix_data.hiding import HidingError, resolve_hidden

    if not np.isfinite(config.hide_fill):  # checked with or without --hide: it is part of the run's identity (JSON)
        raise CollectError(f"--hide-fill must be a finite number, got {config.hide_fill}")
    try:
        hidden = resolve_hidden(task, config.hide, config.hide_fill)
    except HidingError as e:
        raise CollectError(str(e)) from None
    schedule = NoiseSchedule(p=config.p, f=config.f, steps=steps)
    spec = config.demonstrator or adapter.default_demonstrator(task)
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
    env = adapter.make_env(task)
    demonstrator = load_demonstrator(spec, env.observation_space, env.action_space, task=task)
    env.close()
    if config.resume:
        saved = json.loads(state.read_text()).get("identity", {})
        mine = run_identity(config, spec, demonstrator, histories, steps)
        if saved != mine:
            diff = sorted(k for k in mine if saved.get(k) != mine[k])
            raise CollectError(f"--resume: {out} was collected with different settings ({', '.join(diff)})")
    if not config.resume and not config.force:
        from vintix_data.gate import require_gate

        require_gate(task, demonstrator, spec, episodes=config.gate_episodes, seed=config.seed)
    return task, schedule, demonstrator, spec, histories, hidden


def run_identity(config: CollectConfig, spec: str, demonstrator, histories: int, steps: int) -> dict:
    """What a resumed run must share with the original: settings, and the demonstrator's bytes, not just its path."""
    return {**config.identity(), "demonstrator": spec, "demonstrator_sha256": demonstrator.sha256,
            "histories": histories, "steps": steps}


def collect(config: CollectConfig, progress_factory=None) -> Path:
    """Collect, finalize and validate a dataset folder. Returns the folder."""
    from vintix_data.finalize import finalize

    task, schedule, demonstrator, spec, histories, hidden = prepare(config)
    out = Path(config.out)
    state_path = out / STATE_DIR / "state.json"
    identity = run_identity(config, spec, demonstrator, histories, schedule.steps)
    if not config.resume:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, json.dumps({"identity": identity, "vintix": __version__}, indent=2, sort_keys=True, allow_nan=False))
    elif json.loads(state_path.read_text()).get("complete"):
        return out  # finalized already: nothing to resume
    for tmp in (out / STATE_DIR).rglob("*.tmp"):
        tmp.unlink()  # a part interrupted mid-write; its episode is collected again
    collector = Collector(config, task, schedule, demonstrator, histories, hidden)
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
    finalize(out, task, schedule, demonstrator, spec, histories, config, collect_seconds=time.perf_counter() - t0,
             hidden=hidden)
    atomic_write_text(state_path, json.dumps({"identity": identity, "vintix": __version__, "complete": True}, indent=2, allow_nan=False,
                                             sort_keys=True))
    shutil.rmtree(out / STATE_DIR / "parts", ignore_errors=True)
    return out
