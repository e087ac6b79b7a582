"""Training MuJoCo demonstrators with Stable-Baselines3: ``demonstrator train <Env>-v5 --algo ppo|sac|td3``.

The hyper-parameters, per algorithm (the same for every MuJoCo task):

* ``ppo``: SB3's defaults, which are the PPO paper's MuJoCo settings (n_steps 2048, batch 64, 10 epochs,
  lr 3e-4, gamma 0.99, GAE 0.95, clip 0.2, a 64x64 tanh MLP). Enough for the pendulums (InvertedPendulum
  reaches 1000 in ~30k steps); the locomotion tasks need millions of steps with PPO.
* ``sac``: SB3's defaults (the SAC paper's: 256x256 ReLU, lr 3e-4, batch 256, buffer 1M, tau 0.005,
  automatic entropy) with rl-zoo3's ``learning_starts: 10000`` for MuJoCo.
* ``td3``: rl-zoo3's MuJoCo settings (the TD3 paper's): 400x300 ReLU, lr 1e-3, batch 256, Gaussian
  exploration noise of std 0.1, ``learning_starts: 10000``.

What is deliberately *not* used: rl-zoo's ``normalize: true`` (VecNormalize) for PPO. Its running
observation statistics live outside the SB3 zip, so a saved policy would not be a pure function of the raw
observation, and the collector's determinism contract (and every SB3 zip loader) needs exactly that.
On 2 CPU cores SAC and TD3 run ~70 env steps/s; full experts (1M steps) are trained on a GPU or loaded
as SB3 zips (``--demonstrator sb3:PATH.zip``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vintix_data.registry import TaskSpec
from vintix_data.errors import UserError

ALGOS = ("ppo", "sac", "td3")


class TrainError(UserError, ValueError):
    """A training request that cannot run (one-line message)."""


@dataclass
class SB3TrainConfig:
    algo: str = "ppo"
    timesteps: int = 1_000_000
    seed: int = 0
    checkpoint_every: int = 0  # also save OUT-<steps>.zip every so many steps (0: only at the end)


def algo_kwargs(algo: str, action_dim: int) -> dict:
    """The constructor arguments of each algorithm (see the module docstring for where they come from)."""
    import numpy as np

    if algo == "ppo":
        return {}
    if algo == "sac":
        return dict(learning_starts=10_000)
    if algo == "td3":
        from stable_baselines3.common.noise import NormalActionNoise

        return dict(learning_starts=10_000, learning_rate=1e-3, batch_size=256, policy_kwargs=dict(net_arch=[400, 300]),
                    action_noise=NormalActionNoise(np.zeros(action_dim), 0.1 * np.ones(action_dim)))
    raise TrainError(f"unknown --algo {algo!r}: choose from {', '.join(ALGOS)}")


def check_algo(algo: str) -> str:
    a = algo.strip().lower()
    if a not in ALGOS:
        raise TrainError(f"unknown --algo {algo!r}: choose from {', '.join(ALGOS)}")
    return a


def train_sb3(task: TaskSpec, out: Path, config: SB3TrainConfig, progress: bool = True) -> dict:
    """Train ``config.algo`` on ``task`` (any collectable Box-action task) and save an SB3 zip atomically."""
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.monitor import Monitor

    from vintix_data.domains import make_env

    algo = check_algo(config.algo)
    torch.set_num_threads(1)  # small MLPs: more threads only add overhead on shared cores
    env = Monitor(make_env(task))
    env.reset(seed=config.seed)
    cls = getattr(sb3, algo.upper())
    model = cls("MlpPolicy", env, seed=config.seed, device="cpu", verbose=0,
                **algo_kwargs(algo, int(env.action_space.shape[0])))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(path: Path) -> None:
        tmp = path.with_name(f".{path.name}.tmp.zip")
        model.save(str(tmp))
        tmp.replace(path)

    class _Checkpoints(BaseCallback):
        def _on_step(self) -> bool:
            if config.checkpoint_every and self.num_timesteps % config.checkpoint_every == 0:
                save(out.with_name(f"{out.stem}-{self.num_timesteps}.zip"))
            return True

    t0 = time.perf_counter()
    model.learn(total_timesteps=config.timesteps, progress_bar=progress, callback=_Checkpoints())
    wall = time.perf_counter() - t0
    save(out)
    returns = [float(r) for r in env.get_episode_rewards()]
    env.close()
    return {"task": task.id, "out": str(out), "wall_s": wall, "config": asdict(config),
            "last_training_returns": returns[-10:]}
