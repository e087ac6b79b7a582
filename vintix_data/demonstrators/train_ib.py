"""Training demonstrators with Stable-Baselines3 (the paper's PPO recipe for Industrial Benchmark).

The Vintix paper trains one PPO expert per IB setpoint on the *delta* reward (the change of the
classic reward between steps), with normalized advantages, target_kl 0.2, n_steps 2500, batch 50 and
gamma 0.97, for 1M steps. Those are the defaults here. Observations are scaled by a fixed 1/100 inside
the policy (``ScaledObservation``), so the saved zip acts on raw observations like any SB3 checkpoint.

A 1M-step training takes most of an hour of a core, so with ``checkpoint`` it saves its whole state (the
model with its optimizer, rollout position and environment, and the global torch / NumPy / Python RNGs that PPO
draws from) at a rollout boundary every ``checkpoint_every`` steps, and a later call with the same arguments
continues from there. The result is the same policy, every parameter bit for bit, as an uninterrupted training
(tested; the zip's bytes also hold wall-clock times), so a release interrupted mid-training loses at most
``checkpoint_every`` steps and its demonstrators do not depend on where it was interrupted.
"""

from __future__ import annotations

import os
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import numpy as np

from vintix_data.demonstrators.resumable import rng_state, set_rng_state
from vintix_data.errors import UsageError
from vintix_data.registry import TaskSpec


class DeltaReward(gym.Wrapper):
    """Replace the reward by ``info['reward_delta']`` (what the paper's IB experts optimize)."""

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        return obs, float(info["reward_delta"]), terminated, truncated, info


@dataclass
class PPOConfig:
    timesteps: int = 1_000_000
    seed: int = 0
    n_steps: int = 2500
    batch_size: int = 50
    gamma: float = 0.97
    target_kl: float = 0.2
    normalize_advantage: bool = True
    learning_rate: float = 3e-4
    n_epochs: int = 10
    net_arch: list[int] = field(default_factory=lambda: [64, 64])
    obs_scale: float = 0.01


def train_ppo(
    task: TaskSpec,
    out: Path,
    config: PPOConfig,
    progress: bool = True,
    checkpoint: Path | None = None,
    checkpoint_every: int = 100_000,
) -> dict:
    """Train PPO for ``task`` and save an SB3 zip to ``out`` (atomically). Returns a summary.

    With ``checkpoint`` (a file path), resumable: see the module docstring. The file is removed once ``out`` exists.
    """
    import torch

    from vintix_data.domains import resolve

    task = resolve(task)
    if not task.adapter.trains_paper_ppo:
        raise UsageError(
            f"demonstrator training with the paper's PPO recipe is for Industrial Benchmark tasks, not {task.domain}"
        )
    torch.set_num_threads(1)  # a 64x64 MLP: more threads only add overhead
    saved = _load_checkpoint(Path(checkpoint), task, config) if checkpoint is not None else None
    if saved is not None:
        model, wall_before = saved["model"], saved["wall_s"]
        set_rng_state(saved["rng"])
    else:
        model, wall_before = _new_model(task, config), 0.0
    t0 = time.perf_counter()
    callback = None
    if checkpoint is not None:
        callback = _checkpoint_callback(
            Path(checkpoint), task, config, checkpoint_every, lambda: wall_before + time.perf_counter() - t0
        )
    model.learn(
        total_timesteps=config.timesteps - model.num_timesteps,
        reset_num_timesteps=saved is None,
        callback=callback,
        progress_bar=progress,
    )
    wall = wall_before + time.perf_counter() - t0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.zip")
    model.save(str(tmp))
    tmp.replace(out)
    if checkpoint is not None:
        Path(checkpoint).unlink(missing_ok=True)
    return {
        "task": task.id,
        "out": str(out),
        "wall_s": wall,
        "config": asdict(config),
        "resumed_at": saved["steps"] if saved is not None else None,
    }


def _new_model(task, config: PPOConfig):
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor

    from vintix_data.sb3_extras import ScaledObservation

    env = Monitor(DeltaReward(task.make_env()))
    env.reset(seed=config.seed)
    return PPO(
        "MlpPolicy",
        env,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        gamma=config.gamma,
        target_kl=config.target_kl,
        normalize_advantage=config.normalize_advantage,
        learning_rate=config.learning_rate,
        n_epochs=config.n_epochs,
        seed=config.seed,
        device="cpu",
        policy_kwargs=dict(
            net_arch=dict(pi=list(config.net_arch), vf=list(config.net_arch)),
            features_extractor_class=ScaledObservation,
            features_extractor_kwargs=dict(scale=config.obs_scale),
        ),
        verbose=0,
    )


def _identity(task, config: PPOConfig) -> dict:
    """What a checkpoint must match to be continued: the same task and options, recipe and library versions."""
    import stable_baselines3
    import torch

    return {
        "task": repr(task.spec),
        "config": asdict(config),
        "versions": [stable_baselines3.__version__, torch.__version__, np.__version__],
    }


def _load_checkpoint(path: Path, task, config: PPOConfig) -> dict | None:
    """The saved state, or None (and no file) when there is none or it belongs to another training."""
    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            saved = pickle.load(f)
    except Exception:  # a checkpoint is only ever a shortcut: an unreadable one means starting over
        saved = None
    if not isinstance(saved, dict) or saved.get("identity") != _identity(task, config):
        path.unlink()
        return None
    return saved


def _checkpoint_callback(path: Path, task, config: PPOConfig, every: int, wall_s):
    """Saves the training's state at the start of a rollout, i.e. right after an update: everything the next
    steps depend on is then in the model object and the global RNGs (``learn`` with ``reset_num_timesteps=False``
    re-enters exactly there)."""
    import cloudpickle
    from stable_baselines3.common.callbacks import BaseCallback

    class Checkpoint(BaseCallback):
        def __init__(self):
            super().__init__()
            self.last = None

        def _on_rollout_start(self) -> None:
            steps = self.model.num_timesteps
            if self.last is None:  # the first rollout of this call: it starts where the checkpoint (if any) was
                self.last = steps
                return
            if steps - self.last < every:
                return
            self.last = steps
            state = {
                "identity": _identity(task, config),
                "steps": steps,
                "wall_s": wall_s(),
                "model": self.model,
                "rng": rng_state(),
            }
            tmp = path.with_name(f".{path.name}.tmp")
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                cloudpickle.dump(state, f)
            os.replace(tmp, path)

        def _on_step(self) -> bool:
            return True

    return Checkpoint()
