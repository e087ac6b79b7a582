"""Noise-distillation collector: learning histories from a demonstrator and the paper's epsilon decay.

One history runs in one sub-env of a gymnasium vector env; the demonstrator is called once per step on
the whole batch. The vector env runs with autoreset *disabled*: after an episode ends the collector
resets that sub-env itself with the episode's own seed, so gymnasium 1.x's "reset step" (the extra
step that autoreset inserts after an episode end) never exists and can never be written.

Determinism (DESIGN §2): episode ``k`` of history ``h`` resets with a seed from
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
from vintix_data.domains import adapter_for
from vintix_data.format import STATE_DIR, EpisodeData
from vintix_data.registry import TaskSpec, get_task
from vintix_data.schedule import NoiseSchedule, mix_actions


class CollectError(ValueError):
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
    resume: bool = False
    reference_episodes: int = 20
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    def identity(self) -> dict:
        """What must match for ``--resume`` to continue a run (not how it is executed)."""
        d = asdict(self)
        for k in ("out", "num_envs", "vector", "resume", "command"):
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


@dataclass
class _Slot:
    """The history a sub-env is running and the episode being filled."""

    history: int = -1
    episode: int = 0
    t: int = 0
    step: int = 0
    seed: int = 0
    noise: np.ndarray | None = None


class Collector:
    def __init__(self, config: CollectConfig, task: TaskSpec, schedule: NoiseSchedule, demonstrator, histories: int):
        self.cfg, self.task, self.schedule, self.demo, self.histories = config, task, schedule, demonstrator, histories
        self.out = Path(config.out)
        self.adapter = adapter_for(task)
        self.limit = self.adapter.episode_limit(task)
        self.eps = schedule.epsilon(np.arange(schedule.steps)).astype(np.float32)

    def _make_vector_env(self, k: int) -> gym.vector.VectorEnv:
        fns = [lambda: self.adapter.make_env(self.task) for _ in range(k)]
        mode = self.cfg.vector if self.cfg.vector != "auto" else ("async" if k > 1 else "sync")
        cls = gym.vector.AsyncVectorEnv if mode == "async" else gym.vector.SyncVectorEnv
        return cls(fns, autoreset_mode=gym.vector.AutoresetMode.DISABLED)

    def run(self, progress=None) -> None:
        todo = []  # (history, first episode, first t) still to collect
        for h in range(self.histories):
            k, t = completed_episodes(self.out, h)
            if t < self.schedule.steps:
                todo.append((h, k, t))
        if not todo:
            return
        k_envs = min(self.cfg.num_envs, len(todo))
        envs = self._make_vector_env(k_envs)
        try:
            self._loop(envs, todo, progress)
        finally:
            envs.close()

    def _start(self, slot: _Slot, item) -> int:
        slot.history, slot.episode, slot.t = item
        return self._new_episode(slot)

    def _new_episode(self, slot: _Slot) -> int:
        space = self.action_space
        slot.step = 0
        slot.seed = episode_seed(self.cfg.seed, slot.history, slot.episode)
        slot.noise = episode_noise(self.cfg.seed, slot.history, slot.episode, space.low.astype(np.float64),
                                   space.high.astype(np.float64), self.limit)
        n, o, a = self.limit, self.obs_dim, space.shape[0]
        slot.buf = {"observation": np.empty((n, o), np.float32), "action": np.empty((n, a), np.float32),
                    "demonstrator_action": np.empty((n, a), np.float32), "reward": np.empty(n, np.float32),
                    "terminated": np.zeros(n, bool), "truncated": np.zeros(n, bool)}
        return slot.seed

    def _loop(self, envs, todo, progress) -> None:
        self.action_space = envs.single_action_space
        self.obs_dim = int(np.prod(envs.single_observation_space.shape))
        low, high = self.action_space.low.astype(np.float64), self.action_space.high.astype(np.float64)
        queue = list(todo)
        slots = [_Slot() for _ in range(envs.num_envs)]
        seeds = [self._start(s, queue.pop(0)) for s in slots]
        obs, _ = envs.reset(seed=seeds)
        n_steps = self.schedule.steps
        while any(s.history >= 0 for s in slots):
            demo = self.demo.act(obs)
            active = [i for i, s in enumerate(slots) if s.history >= 0]
            eps = np.zeros(len(slots), np.float32)
            u = np.zeros((len(slots),) + self.action_space.shape)
            for i in active:
                s = slots[i]
                eps[i] = self.eps[s.t]
                u[i] = s.noise[s.step]
            actions = mix_actions(demo, u, eps, low, high)
            next_obs, rewards, terminated, truncated, _ = envs.step(actions)
            reset_mask = np.zeros(len(slots), bool)
            reset_seeds: list[int | None] = [None] * len(slots)
            for i in active:
                s = slots[i]
                b, j = s.buf, s.step
                b["observation"][j] = obs[i]
                b["action"][j] = actions[i]
                b["demonstrator_action"][j] = demo[i]
                b["reward"][j] = rewards[i]
                s.step += 1
                s.t += 1
                history_done = s.t == n_steps
                b["terminated"][j] = terminated[i]
                b["truncated"][j] = truncated[i] or (history_done and not terminated[i])
                if terminated[i] or truncated[i] or history_done:
                    self._save(s, next_obs[i])
                    if progress is not None:
                        progress.episode_done(s.history, float(b["reward"][: s.step].sum(dtype=np.float64)), float(self.eps[s.t - 1]))
                    if history_done:
                        if progress is not None:
                            progress.history_done(s.history)
                        if queue:
                            reset_seeds[i] = self._start(s, queue.pop(0))
                        else:
                            s.history = -1
                    else:
                        s.episode += 1
                        reset_seeds[i] = self._new_episode(s)
                    reset_mask[i] = True
            if progress is not None:
                progress.advance(len(active))
            idle = [i for i, s in enumerate(slots) if s.history < 0]
            if len(idle) == len(slots):
                break
            for i in idle:  # finished sub-envs keep stepping in lockstep; restart them when their episode ends
                if terminated[i] or truncated[i]:
                    reset_mask[i] = True
            if reset_mask.any():
                obs2, _ = envs.reset(seed=reset_seeds, options={"reset_mask": reset_mask})
                next_obs = np.where(reset_mask[:, None], obs2.reshape(len(slots), -1), next_obs.reshape(len(slots), -1))
            obs = next_obs

    def _save(self, s: _Slot, final_obs: np.ndarray) -> None:
        n, b = s.step, s.buf
        ep = EpisodeData(history=s.history, episode=s.episode, t0=s.t - n, reset_seed=s.seed,
                         observation=b["observation"][:n], action=b["action"][:n],
                         demonstrator_action=b["demonstrator_action"][:n], epsilon=self.eps[s.t - n: s.t],
                         reward=b["reward"][:n], terminated=b["terminated"][:n], truncated=b["truncated"][:n],
                         final_observation=np.asarray(final_obs, np.float32).reshape(-1))
        path = part_path(self.out, s.history, s.episode)
        path.parent.mkdir(parents=True, exist_ok=True)
        ep.save_part(path)


# -- the whole command ---------------------------------------------------------------------------

def prepare(config: CollectConfig):
    """Check everything that can be checked before a byte is written; return what the run needs."""
    task = get_task(config.task)
    adapter = adapter_for(task)
    histories = config.histories if config.histories is not None else task.num_histories
    steps = config.steps if config.steps is not None else task.history_steps
    if histories < 1:
        raise CollectError(f"--histories must be >= 1, got {histories}")
    if config.num_envs < 1:
        raise CollectError(f"--num-envs must be >= 1, got {config.num_envs}")
    if config.vector not in ("auto", "sync", "async"):
        raise CollectError(f"--vector must be sync, async or auto, got {config.vector!r}")
    schedule = NoiseSchedule(p=config.p, f=config.f, steps=steps)
    spec = config.demonstrator or adapter.default_demonstrator(task)
    if spec is None:
        raise CollectError(
            f"{task.id}: no demonstrator given and none trained yet; run `vintix-data demonstrator train {task.id} "
            f"--out FILE.zip` and pass --demonstrator sb3:FILE.zip"
        )
    out = Path(config.out)
    state = out / STATE_DIR / "state.json"
    if config.resume:
        if not state.exists():
            raise CollectError(f"--resume: {out} holds no collection state ({STATE_DIR}/state.json)")
        saved = json.loads(state.read_text())
        mine = {**config.identity(), "demonstrator": spec, "histories": histories, "steps": steps}
        if saved.get("identity") != mine:
            diff = sorted(k for k in mine if saved.get("identity", {}).get(k) != mine[k])
            raise CollectError(f"--resume: {out} was collected with different settings ({', '.join(diff)})")
    elif out.exists() and any(out.iterdir()):
        raise CollectError(f"{out} exists and is not empty; choose a new --out or pass --resume")
    env = adapter.make_env(task)
    demonstrator = load_demonstrator(spec, env.observation_space, env.action_space)
    env.close()
    return task, schedule, demonstrator, spec, histories


def collect(config: CollectConfig, progress_factory=None) -> Path:
    """Collect, finalize and validate a dataset folder. Returns the folder."""
    from vintix_data.finalize import finalize

    task, schedule, demonstrator, spec, histories = prepare(config)
    out = Path(config.out)
    state_path = out / STATE_DIR / "state.json"
    identity = {**config.identity(), "demonstrator": spec, "histories": histories, "steps": schedule.steps}
    if not config.resume:
        out.mkdir(parents=True, exist_ok=True)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.write_text(json.dumps({"identity": identity, "vintix": __version__}, indent=2, sort_keys=True))
    for tmp in (out / STATE_DIR).rglob("*.tmp"):
        tmp.unlink()  # a part interrupted mid-write; its episode is collected again
    collector = Collector(config, task, schedule, demonstrator, histories)
    t0 = time.perf_counter()
    progress = progress_factory(histories * schedule.steps, histories) if progress_factory else None
    if progress is not None:
        for h in range(histories):
            progress.resumed(completed_episodes(out, h)[1])
    try:
        collector.run(progress)
    finally:
        if progress is not None:
            progress.close()
    finalize(out, task, schedule, demonstrator, spec, histories, config, collect_seconds=time.perf_counter() - t0)
    shutil.rmtree(out / STATE_DIR / "parts", ignore_errors=True)
    return out
