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

from pathlib import Path

import gymnasium as gym
import numpy as np

from vintix_data.collect.config import CollectConfig
from vintix_data.collect.parts import completed_episodes, episode_noise, part_path
from vintix_data.domains import ConfiguredTask
from vintix_data.format import EpisodeData
from vintix_data.schedule import NoiseSchedule, mix_actions


class DropInfo(gym.Wrapper):
    """The collector stores no info; not building the vector env's per-step info arrays saves ~20% of a cheap step."""

    def step(self, action):
        obs, reward, terminated, truncated, _ = self.env.step(action)
        return obs, reward, terminated, truncated, {}

    def reset(self, **kwargs):
        return self.env.reset(**kwargs)[0], {}


class Collector:
    """Runs a list of histories on a vector env; each completed episode becomes a part file."""

    def __init__(self, config: CollectConfig, task: ConfiguredTask, schedule: NoiseSchedule, demonstrator, histories: int,
                 hidden=None):
        self.cfg, self.task, self.schedule, self.demo, self.histories = config, task, schedule, demonstrator, histories
        self.hidden = hidden  # HiddenObservation | None: what the recorded rows must not show
        self.out = Path(config.out)
        self.limit = task.adapter.episode_limit(task.spec)
        self.eps = schedule.epsilon(np.arange(schedule.steps)).astype(np.float32)

    def _make_vector_env(self, k: int) -> gym.vector.VectorEnv:
        fns = [lambda: DropInfo(self.task.make_env()) for _ in range(k)]
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
            seeds[i] = self.task.episode_seed(self.cfg.seed, h, e)
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
