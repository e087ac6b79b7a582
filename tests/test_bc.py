"""Behaviour cloning, the paper's route to MuJoCo experts: `demonstrator train TASK --algo bc --from SOURCE`, from a
dataset in JAT's exact layout (one episode per row) written here from an expert trained here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from vintix_data.demonstrators import load_sb3
from vintix_data.demonstrators.baselines import demonstrator_policy, run_episodes
from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, train_sb3
from vintix_data.domains import resolve
from vintix_data.registry import get_task

TASK = "InvertedPendulum-v5"


@pytest.fixture(scope="module")
def expert(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("expert") / "ppo-ip.zip"
    train_sb3(get_task(TASK), path, SB3TrainConfig(algo="ppo", timesteps=36_000), progress=False)
    return path


def _write_jat_layout(expert: Path, folder: Path, episodes: int) -> float:
    """JAT's `mujoco-*` configs: one episode per row, `continuous_observations` / `continuous_actions` (lists of
    float32 vectors) and `rewards` (float32), no done flags; train and test parquet files. Returns the mean return."""
    env = resolve(get_task(TASK)).make_env()
    demo = load_sb3(expert, env.observation_space, env.action_space)
    rows = {"continuous_observations": [], "continuous_actions": [], "rewards": []}
    for k in range(episodes):
        obs, _ = env.reset(seed=10_000 + k)  # seeds apart from the gate's episodes the clone is scored on
        o, a, r = [], [], []
        while True:
            act = demo.act(obs[None])[0]
            o.append(obs.astype(np.float32).tolist())
            a.append(act.tolist())
            obs, rew, term, trunc, _ = env.step(act)
            r.append(float(rew))
            if term or trunc:
                break
        rows["continuous_observations"].append(o)
        rows["continuous_actions"].append(a)
        rows["rewards"].append(r)
    vec = pa.list_(pa.list_(pa.float32()))
    schema = pa.schema(
        [("continuous_observations", vec), ("continuous_actions", vec), ("rewards", pa.list_(pa.float32()))]
    )
    table = pa.table(rows, schema=schema)
    (folder / "mujoco-invertedpendulum").mkdir(parents=True)
    pq.write_table(table, folder / "mujoco-invertedpendulum" / "train-00000-of-00001.parquet")
    pq.write_table(table.slice(0, 1), folder / "mujoco-invertedpendulum" / "test-00000-of-00001.parquet")
    return float(np.mean([np.sum(r) for r in rows["rewards"]]))


def test_bc_on_a_jat_layout_dataset_reaches_the_experts_return(expert, tmp_path):
    source_return = _write_jat_layout(expert, tmp_path / "jat", episodes=20)
    env = resolve(get_task(TASK)).make_env()
    out = tmp_path / "bc-ip.zip"
    proc = run_cli(
        "demonstrator",
        "train",
        TASK,
        "--algo",
        "bc",
        "--from",
        str(tmp_path / "jat" / "mujoco-invertedpendulum"),
        "--out",
        str(out),
        "--no-install",
        "--eval-episodes",
        "10",
    )
    assert proc.returncode == 0, proc.stderr
    assert "jat layout" in proc.stderr and f"source mean return {source_return:.2f}" in proc.stderr
    # the clone and the source on the same seeded episodes (the gate's), both as collect runs them (NumPy actors)
    clone = load_sb3(out, env.observation_space, env.action_space)
    assert clone.algo == "TD3"
    src = run_episodes(
        get_task(TASK), demonstrator_policy(load_sb3(expert, env.observation_space, env.action_space)), 10
    )
    bc = run_episodes(get_task(TASK), demonstrator_policy(clone), 10)
    assert src.mean > 500, "the expert trained here is an expert"
    assert bc.mean >= 0.95 * src.mean, (bc.mean, src.mean)
    assert f"clone {bc.mean:.2f} on 10 seeded episodes" in proc.stderr
    # the gate passes with it, as with any demonstrator
    gate = run_cli("demonstrator", "eval", TASK, "--demonstrator", f"sb3:{out}", "--episodes", "5")
    assert gate.returncode == 0, gate.stdout + gate.stderr


def test_bc_refuses_a_source_it_cannot_use_in_one_line(tmp_path):
    (tmp_path / "other").mkdir()
    pq.write_table(pa.table({"x": [1.0]}), tmp_path / "other" / "a.parquet")
    for src, needle in [
        (tmp_path / "missing", "neither a folder here nor a Hub dataset"),
        (tmp_path / "other", "has neither JAT's columns"),
    ]:
        proc = run_cli(
            "demonstrator", "train", TASK, "--algo", "bc", "--from", str(src), "--out", str(tmp_path / "x.zip")
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], proc.stderr
    proc = run_cli(
        "demonstrator",
        "train",
        TASK,
        "--algo",
        "sac",
        "--from",
        str(tmp_path / "other"),
        "--out",
        str(tmp_path / "x.zip"),
    )
    assert proc.returncode == 2 and "--from is only for --algo bc" in proc.stderr
