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

from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np

from vintix_data.collect.config import DECOY_RANDOM_SHARE, DECOYS, LEARNER_DECOY_SHARE, LEARNERS, CollectConfig
from vintix_data.collect.parts import (
    completed_episodes,
    episode_behaviour,
    episode_noise,
    part_path,
    replay_transitions,
    save_part,
)
from vintix_data.domains import ConfiguredTask
from vintix_data.format import EpisodeData
from vintix_data.schedule import NoiseSchedule, mix_terms, mix_with


class DropInfo(gym.Wrapper):
    """The collector stores no info; not building the vector env's per-step info arrays saves ~20% of a cheap step."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, reward, terminated, truncated, {}

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)[0], {}


class Collector:
    """Runs a list of histories on a vector env; each completed episode becomes a part file."""

    def __init__(
        self,
        config: CollectConfig,
        task: ConfiguredTask,
        schedule: NoiseSchedule,
        demonstrator,
        histories: int,
        hidden=None,
    ):
        self.cfg, self.task, self.schedule, self.demo, self.histories = config, task, schedule, demonstrator, histories
        self.hidden = hidden  # HiddenObservation | None: what the recorded rows must not show
        self.out = Path(config.out)
        self.limit = task.adapter.episode_limit(task.spec)
        self.eps = schedule.epsilon(np.arange(schedule.steps)).astype(np.float32)
        # goal-blind behaviour (docs/design.md §8): the executed actions never see the true goal
        self.behaviour = config.behaviour
        self.goal_space = task.goal_space() if config.behaviour in DECOYS else None
        # a reward-driven learner (behaviour "learner", "learner-decoy"): its state per slot, made fresh per history,
        # rebuilt on resume
        self.learns = config.behaviour in LEARNERS

    def _make_vector_env(self, k: int) -> gym.vector.VectorEnv:
        mode = self.cfg.vector if self.cfg.vector != "auto" else ("async" if k > 1 else "sync")
        if mode == "async":
            fns: list[Callable[[], gym.Env]] = [lambda: DropInfo(self.task.make_env()) for _ in range(k)]
            return gym.vector.AsyncVectorEnv(fns, copy=False, autoreset_mode=gym.vector.AutoresetMode.DISABLED)
        # _loop steps a sync vector env's sub-envs itself and ignores their infos: no DropInfo layer needed
        fns = [self.task.make_env for _ in range(k)]
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
        """Step every slot in lockstep, logging each step as one row per slot; save an episode when it ends.

        The per-step Python is all the collector adds to ``env.step`` + the demonstrator, so: what can be done
        once per episode is (the reset seed, the noise, the mixer's ``1 - eps`` and ``eps * u``); a step writes
        whole rows of the log through views made once (no per-slot scatter, no temporaries: the mixer rounds
        straight into the action row); a sync vector env's sub-envs are stepped directly (with autoreset
        disabled its ``step`` is that loop plus a batch copy and an info dict the collector does not use); and
        the progress display hears at episode ends and every ``PROGRESS_EVERY`` steps, not every step.
        """
        space = envs.single_action_space
        low, high = space.low.astype(np.float64), space.high.astype(np.float64)
        k, n_steps, limit = envs.num_envs, self.schedule.steps, self.limit
        batch_low, batch_high = np.tile(low, (k, 1)), np.tile(high, (k, 1))  # the mixer's operands at one shape
        log = StepLog(3 * limit, k, envs.single_observation_space, space.shape[0])
        scratch = np.empty((k, space.shape[0]))
        # per-slot state: the history it runs (-1: idle), episode, its first t, its first log row, the log row
        # where its plan ends (history end or episode limit), its reset seed
        hist, episode, t0, g0, end, seeds = [-1] * k, [0] * k, [0] * k, [0] * k, [0] * k, [0] * k
        queue = list(todo)
        parent_dirs: set[Path] = set()
        goal_space = self.goal_space
        decoys = None if goal_space is None else np.tile(goal_space[0], (k, 1))  # per slot, per episode
        decoyed = np.ones(k, bool)  # per slot: whether this episode executes the decoy-aimed demonstrator
        mixed_labels = self.behaviour == "learner-decoy"  # the learner's slots execute their labels
        learner = self.task.learner(k) if self.learns else None

        def begin_episode(i: int, g: int) -> int:
            h, e = hist[i], episode[i]
            seeds[i] = self.task.episode_seed(self.cfg.seed, h, e)
            m = min(limit, n_steps - t0[i])
            noise = episode_noise(self.cfg.seed, h, e, low, high, limit)[:m]
            log.keep[g : g + m, i], log.noise[g : g + m, i] = mix_terms(self.eps[t0[i] : t0[i] + m], noise)
            if self.behaviour in ("decoy", "random"):  # goal-blind: some episodes (all for random) uniform
                draws = episode_behaviour(self.cfg.seed, h, e)
                if self.behaviour == "random" or draws.random() < DECOY_RANDOM_SHARE:
                    log.keep[g : g + m, i], log.noise[g : g + m, i] = 0.0, noise  # eps = 1: the uniform draw itself
                if decoys is not None and goal_space is not None:  # (both or neither)
                    decoys[i] = draws.uniform(*goal_space)
            elif self.behaviour == "learner-decoy":  # the learner's episode, or (a share) a decoy-aimed one
                draws = episode_behaviour(self.cfg.seed, h, e)
                decoyed[i] = draws.random() < LEARNER_DECOY_SHARE
                if decoys is not None and goal_space is not None:
                    decoys[i] = draws.uniform(*goal_space)
            g0[i], end[i] = g, g + m
            return seeds[i]

        def next_history(i: int, g: int) -> int | None:
            if not queue:
                hist[i] = -1
                log.keep[g:, i], log.noise[g:, i] = 1.0, 0.0  # an idle slot acts as the demonstrator
                return None
            hist[i], episode[i], t0[i] = (int(v) for v in queue.pop(0))
            if learner is not None:  # fresh per history; a resumed one replays its saved rows (docs/design.md §8)
                learner.start(i)
                for next_obs_row, reward in replay_transitions(self.out, hist[i], episode[i]):
                    learner.observe(i, next_obs_row, reward)
            return begin_episode(i, g)

        obs, _ = envs.reset(seed=[next_history(i, 0) for i in range(k)])
        log.obs[0] = obs
        direct = envs.envs if isinstance(envs, gym.vector.SyncVectorEnv) else None
        if direct is not None:  # per step: (slot, its env, its action row), made once like the row views
            slot_steps = [list(zip(range(k), direct, log.act[g])) for g in range(log.size)]
        rows, act_demo = log.rows, self.demo.act
        behave = np.empty((k, space.shape[0])) if decoys is not None else None  # the decoy-aimed demonstrator's actions
        tick = PROGRESS_EVERY if progress is not None else log.size + 1
        g, reported, active = 0, 0, sum(h >= 0 for h in hist)
        next_end = min(end[i] for i in range(k) if hist[i] >= 0)
        event = min(next_end, tick)
        while True:
            obs, keep, noise, actions, demo_row, next_obs, rew, term, trunc = rows[g]
            if learner is None:
                demo_row[...] = act_demo(obs)  # float64: exact, and the mixer's operand as it is
            else:  # the learner's intended action: the demonstrator aimed at its posterior goal (never the true one)
                demo_row[...] = act_demo(self.task.aim(obs, learner.goals()))
            if behave is None:  # the demonstrator's own actions (or, at keep 0, the uniform draw alone)
                mix_with(demo_row, keep, noise, batch_low, batch_high, scratch, actions)
            else:  # the same demonstrator aimed at each slot's decoy goal, noise-mixed alike
                assert decoys is not None  # behave exists only with decoys
                behave[...] = act_demo(self.task.aim(obs, decoys))
                if mixed_labels:  # learner-decoy: the learner's episodes execute the learner's action
                    behave[~decoyed] = demo_row[~decoyed]
                mix_with(behave, keep, noise, batch_low, batch_high, scratch, actions)
            if direct is not None:  # = SyncVectorEnv.step with autoreset disabled, minus the batch copy and infos
                ended = False
                for i, env, action in slot_steps[g]:
                    next_obs[i], rew[i], term[i], trunc[i], _ = out = env.step(action)
                    if out[2] or out[3]:
                        ended = True
            else:
                next_obs[...], rew[...], term[...], trunc[...], _ = envs.step(actions)
                ended = term.any() or trunc.any()
            if learner is not None:  # before a reset overwrites the row: the transition as it will be stored
                for i in range(k):
                    if hist[i] >= 0:
                        learner.observe(i, next_obs[i].reshape(-1), rew[i])
            g += 1
            if not ended and g < event:
                continue
            if progress is not None:
                progress.advance(active * (g - reported))
                reported = g
            if not ended and g < next_end:
                event = min(next_end, g + tick)
                continue
            reset_mask, finished = np.zeros(k, bool), []
            reset_seeds: list[int | None] = [None] * k
            for i in range(k):
                terminated, truncated = bool(log.term[g - 1, i]), bool(log.trunc[g - 1, i])
                if hist[i] < 0:  # an idle sub-env in lockstep: restart it, store nothing
                    reset_mask[i] = terminated or truncated
                    continue
                n = g - g0[i]
                history_done = t0[i] + n == n_steps
                if not (terminated or truncated or history_done):
                    if g >= end[i]:
                        raise RuntimeError(f"{self.task.id}: an episode ran past the episode limit {limit}")
                    continue
                log.trunc[g - 1, i] = truncated or not terminated  # a history's last step ends its episode
                ep = self._episode(log, i, g0[i], g, hist[i], episode[i], t0[i], seeds[i])
                path = part_path(self.out, ep.history, ep.episode)
                if path.parent not in parent_dirs:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    parent_dirs.add(path.parent)
                save_part(ep, path)
                if progress is not None:
                    assert ep.epsilon is not None  # the collector always records epsilon
                    progress.episode_done(ep.history, float(ep.reward.sum(dtype=np.float64)), float(ep.epsilon[-1]))
                reset_mask[i] = True
                finished.append((i, history_done, n))
            if finished and g + limit > log.size:  # room for a whole new episode's plan below the log's end
                lo = min([g0[i] for i in range(k) if hist[i] >= 0] + [g])
                log.shift(lo, g + limit)
                g0[:], end[:] = [max(v - lo, 0) for v in g0], [max(v - lo, 0) for v in end]
                g, reported = g - lo, reported - lo
            for i, history_done, n in finished:
                if history_done:
                    reset_seeds[i] = next_history(i, g)
                else:
                    episode[i] += 1
                    t0[i] += n
                    reset_seeds[i] = begin_episode(i, g)
            active = sum(h >= 0 for h in hist)
            if not active:
                break
            if direct is not None:  # = SyncVectorEnv.reset with a reset_mask, minus the batch copy and infos
                for i in np.flatnonzero(reset_mask).tolist():
                    log.obs[g, i] = direct[i].reset(seed=reset_seeds[i], options={})[0]
            elif reset_mask.any():
                fresh, _ = envs.reset(seed=reset_seeds, options={"reset_mask": reset_mask})
                log.obs[g, reset_mask] = fresh[reset_mask]
            next_end = min(end[i] for i in range(k) if hist[i] >= 0)
            event = min(next_end, g + tick)

    def _episode(
        self, log: StepLog, i: int, start: int, stop: int, history: int, episode: int, t0: int, seed: int
    ) -> EpisodeData:
        """Slot ``i``'s rows ``start:stop`` of the log as an episode (copies: the log's rows are reused)."""
        obs = log.obs_flat[start:stop, i].astype(np.float32)
        final_obs = log.obs_flat[stop, i].astype(np.float32)
        if self.hidden is not None:  # the demonstrator saw everything; the rows show the latent task only
            self.hidden.apply_(obs)
            self.hidden.apply_(final_obs)
        rows = slice(start, stop)
        return EpisodeData(
            history=history,
            episode=episode,
            t0=t0,
            reset_seed=seed,
            observation=obs,
            action=log.act[rows, i].copy(),
            demonstrator_action=log.demo[rows, i].astype(np.float32),
            epsilon=self.eps[t0 : t0 + stop - start],
            reward=log.rew[rows, i].copy(),
            terminated=log.term[rows, i].copy(),
            truncated=log.trunc[rows, i].copy(),
            final_observation=final_obs,
        )


PROGRESS_EVERY = 256  # steps between progress reports when no episode ends (reports are throttled by time anyway)


class StepLog:
    """The collector's per-step arrays: row ``g`` is lockstep step ``g``, column ``i`` is slot ``i``.

    An episode is one column of consecutive rows. Its past (<= limit rows) and its planned future (<= limit
    rows) lie within ``[g - limit, g + limit)``, so ``3 * limit`` rows, shifted down when a new episode would
    not fit (about once per ``limit`` steps), hold every running episode.
    """

    def __init__(self, size: int, k: int, obs_space: gym.spaces.Box, act_dim: int):
        self.size = size
        # what step g acts on, in the vector env's dtype (the demonstrator sees what it saw before); row g + 1
        # is what step g returned
        self.obs = np.empty((size + 1, k) + obs_space.shape, obs_space.dtype)
        self.obs_flat = self.obs.reshape(size + 1, k, -1)  # a view: the demonstrator's rows
        self.act = np.empty((size, k, act_dim), np.float32)
        self.demo = np.empty((size, k, act_dim))  # float64: stored as float32, the cast the dataset always made
        self.rew = np.empty((size, k), np.float32)
        self.term, self.trunc = np.zeros((size, k), bool), np.zeros((size, k), bool)
        self.keep, self.noise = np.ones((size, k, act_dim)), np.zeros((size, k, act_dim))  # mix_terms per step
        # one tuple of row views per step, made once: indexing nine arrays per step costs more than the mixer
        self.rows = [
            (
                self.obs_flat[g],
                self.keep[g],
                self.noise[g],
                self.act[g],
                self.demo[g],
                self.obs[g + 1],
                self.rew[g],
                self.term[g],
                self.trunc[g],
            )
            for g in range(size)
        ]

    def shift(self, lo: int, hi: int) -> None:
        """Move rows ``lo:hi`` (everything live) to the top, in place (the row views stay valid)."""
        hi = min(hi, self.size)
        for a in (self.obs, self.act, self.demo, self.rew, self.term, self.trunc, self.keep, self.noise):
            a[: hi + 1 - lo if a is self.obs else hi - lo] = a[lo : hi + 1 if a is self.obs else hi].copy()
        self.keep[hi - lo :], self.noise[hi - lo :] = 1.0, 0.0
