"""Training demonstrators with Stable-Baselines3 (the paper's PPO recipe for Industrial Benchmark).

The Vintix paper trains one PPO expert per IB setpoint on the *delta* reward (the change of the
classic reward between steps), with normalized advantages, target_kl 0.2, n_steps 2500, batch 50 and
gamma 0.97, for 1M steps. Those are the defaults here. Observations are scaled by a fixed 1/100 inside
the policy (``ScaledObservation``), so the saved zip acts on raw observations like any SB3 checkpoint.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym

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


def train_ppo(task: TaskSpec, out: Path, config: PPOConfig, progress: bool = True) -> dict:
    """Train PPO for ``task`` and save an SB3 zip to ``out`` (atomically). Returns a summary."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.monitor import Monitor

    from vintix_data.domains import make_env, resolve
    from vintix_data.sb3_extras import ScaledObservation

    if not resolve(task).adapter.trains_paper_ppo:
        raise UsageError(f"demonstrator training with the paper's PPO recipe is for Industrial Benchmark tasks, not {task.domain}")
    torch.set_num_threads(1)  # a 64x64 MLP: more threads only add overhead
    env = Monitor(DeltaReward(make_env(task)))
    env.reset(seed=config.seed)
    model = PPO(
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
    t0 = time.perf_counter()
    model.learn(total_timesteps=config.timesteps, progress_bar=progress)
    wall = time.perf_counter() - t0
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.zip")
    model.save(str(tmp))
    tmp.replace(out)
    return {"task": task.id, "out": str(out), "wall_s": wall, "config": asdict(config)}
