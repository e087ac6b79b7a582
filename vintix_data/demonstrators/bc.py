"""Behaviour cloning, the paper's route to MuJoCo experts: ``demonstrator train TASK --algo bc --from SOURCE``.

The Vintix paper did not train its MuJoCo demonstrators with RL; it cloned JAT's expert dataset. SOURCE is read
by its columns, whatever its origin (a local folder of parquet files, or a Hub dataset ``ORG/NAME`` with an
optional ``:CONFIG`` subfolder, downloaded through ``vintix_data.hub.client``):

* JAT's layout (``jat-project/jat-dataset``, configs ``mujoco-<name>``): one episode per row, columns
  ``continuous_observations`` and ``continuous_actions`` (lists of float32 vectors) and ``rewards``; the
  source's mean return is the mean of the rows' reward sums;
* a vintix dataset: rows ``observation`` and ``demonstrator_action`` (the expert's action on the state visited,
  not the noisy executed one); the source's return is ``info.json``'s measured demonstrator mean;
* any folder of ``observation`` / ``action`` parquet (no return known).

The clone is a deterministic MLP (256x256 ReLU, tanh output, the TD3 actor's shape) fitted by mean squared error
on actions scaled to [-1, 1], with the observations scaled per feature by 1/std of the data inside the policy
(``ScaledObservation``: a fixed scale, not running statistics, so the zip is still a pure function of the raw
observation). It is saved as an SB3 TD3 zip: the rest of the pipeline loads, gates and collects with it like any
other checkpoint. Training is seeded and single-threaded: the same data and seed give the same zip weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vintix_data.errors import UserError


class BCError(UserError, ValueError):
    """A behaviour-cloning source that cannot be used (one-line message)."""


@dataclass
class BCConfig:
    source: str = ""
    epochs: int = 30
    batch_size: int = 256
    learning_rate: float = 1e-3
    net_arch: list[int] = field(default_factory=lambda: [256, 256])
    seed: int = 0
    max_pairs: int = 2_000_000  # the first so many (observation, action) pairs of the source


@dataclass
class BCData:
    observations: np.ndarray
    actions: np.ndarray
    layout: str
    source_return: float | None
    episodes: int | None


def _parquet_files(source: str) -> tuple[list[Path], Path | None]:
    """The source's parquet files (and its folder, for info.json): a local folder, else a Hub dataset."""
    local = Path(source)
    if local.exists():
        root = local
    else:
        repo, _, config = source.partition(":")
        if repo.count("/") != 1:
            raise BCError(f"--from {source!r}: neither a folder here nor a Hub dataset ORG/NAME[:CONFIG]")
        from vintix_data.hub.client import HubError, snapshot

        try:
            root = snapshot(
                repo,
                allow_patterns=[f"{config}/*.parquet", f"{config}/**/*.parquet"]
                if config
                else ["*.parquet", "**/*.parquet", "meta/info.json"],
                repo_type="dataset",
            )
        except HubError as e:
            raise BCError(f"--from {source}: {e}") from None
        root = root / config if config else root
    files = sorted(p for p in root.rglob("*.parquet") if "test" not in p.name and p.parent.name != "meta")
    if not files:
        raise BCError(f"--from {source}: no parquet files under {root}")
    return files, root


def read_source(source: str, max_pairs: int = 2_000_000) -> BCData:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    files, root = _parquet_files(source)
    names = set(pq.read_schema(files[0]).names)
    obs, acts, returns = [], [], []
    n = 0
    if {"continuous_observations", "continuous_actions"} <= names:
        layout = "jat"
        for f in files:
            t = pq.read_table(f, columns=["continuous_observations", "continuous_actions", "rewards"])
            for o, a, r in zip(*(t.column(c).to_pylist() for c in t.column_names), strict=True):
                if n >= max_pairs:
                    break
                obs.append(np.asarray(o, np.float32))
                acts.append(np.asarray(a, np.float32))
                returns.append(float(np.sum(np.asarray(r, np.float64))))
                n += len(o)
    else:
        target = "demonstrator_action" if "demonstrator_action" in names else "action" if "action" in names else None
        if "observation" not in names or target is None:
            raise BCError(
                f"--from {source}: {files[0].name} has neither JAT's columns (continuous_observations, "
                "continuous_actions) nor observation with demonstrator_action or action"
            )
        layout = "vintix" if target == "demonstrator_action" else "pairs"
        for f in files:
            t = pq.read_table(f, columns=["observation", target])
            t = t.filter(pc.is_valid(t.column(target)))  # imported data may lack the expert's action
            if n >= max_pairs:
                break
            obs.append(np.asarray(t.column("observation").to_pylist(), np.float32))
            acts.append(np.asarray(t.column(target).to_pylist(), np.float32))
            n += len(obs[-1])
    if not obs or n == 0:
        raise BCError(f"--from {source}: no (observation, action) pairs")
    source_return = float(np.mean(returns)) if returns else None
    info = root / "meta" / "info.json" if root is not None else None
    if layout == "vintix" and info is not None and info.exists():
        source_return = (json.loads(info.read_text()).get("reference_scores") or {}).get("demonstrator_mean")
    o, a = np.concatenate(obs)[:max_pairs], np.concatenate(acts)[:max_pairs]
    return BCData(o, a, layout, source_return, len(returns) or None)


def train_bc(task, out: Path, config: BCConfig, eval_episodes: int = 10) -> dict:
    """Clone SOURCE's actions into a TD3-shaped SB3 zip for ``task`` (saved atomically); returns a summary with the
    source's mean return and the clone's on the gate's first ``eval_episodes`` seeded episodes (NumPy actor, as
    ``collect`` runs it)."""
    import torch
    from stable_baselines3 import TD3

    from vintix_data.domains import resolve
    from vintix_data.sb3_extras import ScaledObservation

    task = resolve(task)
    data = read_source(config.source, config.max_pairs)
    env = task.make_env()
    space, aspace = env.observation_space, env.action_space
    if data.observations.shape[1:] != space.shape or data.actions.shape[1:] != aspace.shape:
        raise BCError(
            f"--from {config.source}: observations {data.observations.shape[1:]} / actions {data.actions.shape[1:]} "
            f"do not fit {task.id}'s {space.shape} / {aspace.shape} (another env version's layout?)"
        )
    torch.set_num_threads(1)
    torch.manual_seed(config.seed)
    std = data.observations.astype(np.float64).std(0)
    scale = np.where(std > 1e-6, 1.0 / np.maximum(std, 1e-6), 1.0).astype(np.float32)
    model = TD3(
        "MlpPolicy",
        env,
        buffer_size=1,
        learning_starts=0,
        seed=config.seed,
        device="cpu",
        verbose=0,
        policy_kwargs=dict(
            net_arch=list(config.net_arch),
            features_extractor_class=ScaledObservation,
            features_extractor_kwargs=dict(scale=scale.tolist()),
        ),
    )
    low, high = aspace.low.astype(np.float64), aspace.high.astype(np.float64)
    target = np.clip(2.0 * (data.actions - low) / (high - low) - 1.0, -1.0, 1.0).astype(np.float32)
    x, y = torch.as_tensor(data.observations), torch.as_tensor(target)
    actor = model.actor
    opt = torch.optim.Adam(actor.parameters(), lr=config.learning_rate)
    gen = torch.Generator().manual_seed(config.seed)
    t0, losses = time.perf_counter(), []
    actor.set_training_mode(True)
    for epoch in range(config.epochs):
        perm, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), config.batch_size):
            idx = perm[i : i + config.batch_size]
            loss = torch.nn.functional.mse_loss(actor(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.detach().item() * len(idx)
        losses.append(total / len(x))
    actor.set_training_mode(False)
    model.actor_target.load_state_dict(actor.state_dict())
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.zip")
    model.save(str(tmp))
    tmp.replace(out)
    env.close()
    wall = time.perf_counter() - t0
    clone = None
    if eval_episodes:
        from vintix_data.demonstrators.baselines import demonstrator_policy, run_episodes
        from vintix_data.demonstrators.sb3 import load_sb3

        clone = run_episodes(task, demonstrator_policy(load_sb3(out, space, aspace)), eval_episodes).mean
    return {
        "task": task.id,
        "out": str(out),
        "algo": "bc",
        "layout": data.layout,
        "pairs": len(x),
        "episodes": data.episodes,
        "source_return": data.source_return,
        "clone_return": clone,
        "eval_episodes": eval_episodes,
        "final_loss": losses[-1],
        "wall_s": wall,
        "config": asdict(config),
    }
