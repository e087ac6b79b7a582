"""Training MuJoCo demonstrators with tuned recipes: ``demonstrator train <Env>-v5 --algo tqc|sac|td3|ppo``.

The hyper-parameters are rl-zoo3's tuned MuJoCo settings (``vintix_data.demonstrators.recipes``, source named
there); TQC comes from sb3-contrib. A recipe's 1M steps are hours of a core (SAC/TQC run ~20-70 env steps/s on
one CPU thread here), so with ``checkpoint`` the training saves its whole state every ``checkpoint_every`` steps
at the start of a rollout (``vintix_data.demonstrators.resumable``: model, optimizers, replay buffer, envs, RNGs)
and the same call continues from there to the same policy, bit for bit, as an uninterrupted training. Each
checkpoint also writes the policy so far (``OUT-<steps>.zip``, loadable as ``sb3:``) and a learning-curve row
(``OUT.curve.csv``: training episodes' returns and a deterministic evaluation on the gate's seeded episodes).

What is deliberately *not* used: rl-zoo's ``normalize: true`` (VecNormalize) for PPO. Its running observation
statistics live outside the SB3 zip, so a saved policy would not be a pure function of the raw observation, and
the collector's determinism contract (docs/design.md §3) needs exactly that.
"""

from __future__ import annotations

import csv
import importlib.metadata
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vintix_data.demonstrators.recipes import ALGOS, recipe
from vintix_data.demonstrators.resumable import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from vintix_data.errors import UserError
from vintix_data.registry import TaskSpec

CURVE_FIELDS = (
    "steps",
    "wall_s",
    "episodes",
    "train_return_last10",
    "eval_return_mean",
    "eval_return_std",
    "eval_episodes",
)


class TrainError(UserError, ValueError):
    """A training request that cannot run (one-line message)."""


@dataclass
class SB3TrainConfig:
    algo: str = "sac"
    timesteps: int | None = None  # None: the recipe's (rl-zoo3's n_timesteps)
    seed: int = 0
    checkpoint_every: int = 50_000  # resumable state, OUT-<steps>.zip and a curve row every so many steps
    eval_episodes: int = 5  # deterministic episodes per curve row (0: training returns only)
    overrides: dict = field(default_factory=dict)  # recipe keys replaced (tests: tiny buffers and warm-ups)


def check_algo(algo: str) -> str:
    """An RL recipe's name, or ``bc`` (behaviour cloning, ``vintix_data.demonstrators.bc``)."""
    a = algo.strip().lower()
    if a not in (*ALGOS, "bc"):
        raise TrainError(f"unknown --algo {algo!r}: choose from {', '.join(ALGOS)}, bc")
    return a


def algo_class(algo: str):
    if algo == "tqc":
        try:
            from sb3_contrib import TQC
        except ImportError:
            raise TrainError("--algo tqc needs sb3-contrib: pip install \"vintix[mujoco]\" (or sb3-contrib)") from None
        return TQC
    import stable_baselines3 as sb3

    return getattr(sb3, algo.upper())


def _versions() -> list[str]:
    out = []
    for name in ("stable-baselines3", "sb3-contrib", "torch", "numpy", "gymnasium", "mujoco"):
        try:
            out.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} absent")
    return out


def _identity(task, algo: str, settings: dict, seed: int) -> dict:
    """What a checkpoint must match to be continued. Not the length: every recipe's schedules are constant, so a
    longer --timesteps continues the same training (and equals an uninterrupted one of that length)."""
    return {
        "task": repr(task.spec),
        "algo": algo,
        "settings": repr(sorted(settings.items())),
        "seed": seed,
        "versions": _versions(),
    }


def _make_vec_env(task, n_envs: int):
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: Monitor(task.make_env()) for _ in range(n_envs)])


def _write_curve(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CURVE_FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def _curve_row(task, model, steps: int, wall_s: float, eval_episodes: int, seed: int) -> dict:
    """Training episodes so far and a deterministic evaluation on the gate's seeded episodes (neither draws from the
    training's generators: the policy's mode needs no sample, and the evaluation env is a new one)."""
    from vintix_data.demonstrators.baselines import run_episodes

    returns = [r for e in model.env.envs for r in e.get_episode_rewards()]
    row = {
        "steps": steps,
        "wall_s": round(wall_s, 1),
        "episodes": len(returns),
        "train_return_last10": float(np.mean(returns[-10:])) if returns else "",
        "eval_return_mean": "",
        "eval_return_std": "",
        "eval_episodes": eval_episodes,
    }
    if eval_episodes:
        res = run_episodes(task, lambda obs, rng: model.predict(obs, deterministic=True)[0], eval_episodes, seed)
        row.update(eval_return_mean=res.mean, eval_return_std=res.std)
    return row


def _save_zip(model, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.zip")
    model.save(str(tmp))
    tmp.replace(path)


def train_sb3(
    task: TaskSpec, out: Path, config: SB3TrainConfig, progress: bool = True, checkpoint: Path | None = None
) -> dict:
    """Train ``config.algo`` with its recipe on ``task`` (any collectable Box-action task) and save an SB3 zip
    atomically. With ``checkpoint`` (a file path), resumable: see the module docstring; the file is removed once
    ``out`` exists. Returns a summary."""
    import torch
    from stable_baselines3.common.callbacks import BaseCallback

    from vintix_data.domains import resolve

    task = resolve(task)
    algo = check_algo(config.algo)
    if algo == "bc":
        raise TrainError("--algo bc clones a dataset: train_bc (vintix_data.demonstrators.bc), not train_sb3")
    rec = recipe(algo, task.env_id, config.overrides)
    timesteps = int(config.timesteps or rec.timesteps)
    if timesteps < 1 or config.checkpoint_every < 1:
        raise TrainError(f"timesteps and checkpoint_every must be >= 1, got {timesteps} and {config.checkpoint_every}")
    cls = algo_class(algo)
    torch.set_num_threads(1)  # small MLPs: more threads only add overhead on shared cores
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    curve_path = out.with_name(f"{out.stem}.curve.csv")
    identity = _identity(task, algo, rec.settings, config.seed)
    venv = _make_vec_env(task, rec.n_envs)
    saved = None
    if checkpoint is not None and Path(checkpoint).exists():
        saved = load_checkpoint(Path(checkpoint), task, [e.unwrapped for e in venv.envs])
        if saved.get("identity") != identity:
            diff = [k for k in identity if saved.get("identity", {}).get(k) != identity[k]]
            raise CheckpointError(
                f"{checkpoint} is another training's checkpoint (it differs in {', '.join(diff)}); "
                "remove it to start over, or repeat that training's command"
            )
        if saved["steps"] > timesteps:
            raise CheckpointError(f"{checkpoint} is at step {saved['steps']:,}, past --timesteps {timesteps:,}")
        model, wall_before, curve = saved["model"], saved["wall_s"], saved["curve"]
        set_rng_state(saved["rng"])
    else:
        model = cls(
            "MlpPolicy",
            venv,
            seed=config.seed,
            device="cpu",
            verbose=0,
            **rec.constructor_kwargs(int(venv.action_space.shape[0])),
        )
        wall_before, curve = 0.0, []
    t0, start_steps = time.perf_counter(), model.num_timesteps

    def wall() -> float:
        return wall_before + time.perf_counter() - t0

    class Checkpoint(BaseCallback):
        """At a rollout's start (right after an update) every `checkpoint_every` steps: state, snapshot, curve row."""

        def __init__(self):
            super().__init__()
            self.last = None

        def _on_rollout_start(self) -> None:
            steps = self.model.num_timesteps
            if self.last is None:  # this call's first rollout starts where the checkpoint (if any) was
                self.last = steps
                return
            if steps - self.last < config.checkpoint_every:
                return
            self.last = steps
            curve.append(_curve_row(task, self.model, steps, wall(), config.eval_episodes, config.seed))
            save_checkpoint(
                Path(checkpoint),
                self.model,
                task,
                {
                    "identity": identity,
                    "steps": steps,
                    "wall_s": wall(),
                    "model": self.model,
                    "curve": curve,
                    "rng": rng_state(),
                },
            )
            _save_zip(self.model, out.with_name(f"{out.stem}-{steps}.zip"))
            _write_curve(curve_path, curve)

        def _on_step(self) -> bool:
            return True

    model.learn(
        total_timesteps=timesteps - model.num_timesteps,
        reset_num_timesteps=saved is None,
        callback=Checkpoint() if checkpoint is not None else None,
        progress_bar=progress,
    )
    elapsed = time.perf_counter() - t0
    _save_zip(model, out)
    if checkpoint is not None:
        if not curve or curve[-1]["steps"] != model.num_timesteps:
            curve.append(_curve_row(task, model, model.num_timesteps, wall(), config.eval_episodes, config.seed))
        _write_curve(curve_path, curve)
        Path(checkpoint).unlink(missing_ok=True)
    returns = [float(r) for e in model.env.envs for r in e.get_episode_rewards()]
    model.env.close()
    return {
        "task": task.id,
        "out": str(out),
        "algo": algo,
        "recipe": rec.source,
        "settings": rec.settings,
        "timesteps": timesteps,
        "wall_s": wall_before + elapsed,
        "steps_per_s": (model.num_timesteps - start_steps) / elapsed if elapsed > 0 else None,
        "resumed_at": saved["steps"] if saved is not None else None,
        "config": asdict(config),
        "curve": str(curve_path) if checkpoint is not None else None,
        "last_training_returns": returns[-10:],
    }
