"""Goal-blind behaviour (`collect --behaviour decoy|random`, docs/design.md §3, §8) on real reach-v3 collections.

The executed action must never see the true goal, while `demonstrator_action` is the expert for the true goal and the
reward the env's for it. The real check of "never sees": two collections with the same seeds (so the same decoys and
noise) but different true goals (ML1's train vs held-out variation sets) must execute the very same actions, while
their labels and rewards differ. Determinism: byte-identical across --num-envs and after a kill and --resume.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import kill_mid_collection, one_line_error, run_cli

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

ARGS = [
    "collect",
    "reach-v3",
    "--behaviour",
    "decoy",
    "--fixed-goal",
    "--hide",
    "goal",
    "--hide",
    "objects",
    "--hide",
    "previous_objects",
    "--histories",
    "3",
    "--steps",
    "400",
    "--p",
    "3",
    "--f",
    "0.5",
    "--reference-episodes",
    "4",
    "--force",
]


def rows(folder: Path) -> dict[str, np.ndarray]:
    t = pq.read_table(sorted((folder / "data").glob("*.parquet")))
    out = {}
    for k in t.column_names:
        col = t.column(k).combine_chunks()
        if pa.types.is_fixed_size_list(col.type):
            out[k] = col.values.to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)
        else:
            out[k] = col.to_numpy(zero_copy_only=False)
    return out


def data_manifest(folder: Path) -> list:
    from vintix_data.manifest import data_manifest as dm

    return dm(folder)


@pytest.fixture(scope="module")
def decoy(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("behaviour") / "decoy"
    run_cli(*ARGS, "--out", str(out), check=True)
    return out


@pytest.fixture(scope="module")
def decoy_test_goals(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("behaviour") / "decoy-test"
    run_cli(*ARGS, "--env-option", "goal_set=test", "--out", str(out), check=True)
    return out


def true_goals(folder: Path) -> np.ndarray:
    """Each row's true goal, from its episode's variation (the rows hide it) and the variation set's goals."""
    from vintix_data.domains.metaworld_goals import env_facts

    info = json.loads((folder / "meta" / "info.json").read_text())
    eps = pq.read_table(folder / "meta" / "episodes.parquet").to_pydict()
    goals = env_facts("reach-v3", info["env_kwargs"]["seed"])["variation_goals"]
    return np.concatenate([np.tile(goals[v], (n, 1)) for v, n in zip(eps["variation"], eps["length"])])


def test_labels_are_the_true_experts_and_actions_the_decoys(decoy):
    """demonstrator_action = the scripted expert for the true goal; action = uniform noise (random episodes) or the
    expert aimed at the episode's decoy, noise-mixed: each rebuilt here from the seeds and the stored rows."""
    from vintix_data.collect.config import DECOY_RANDOM_SHARE
    from vintix_data.collect.parts import episode_behaviour, episode_noise
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.domains.metaworld_goals import aim
    from vintix_data.schedule import NoiseSchedule

    r = rows(decoy)
    expert = ScriptedDemonstrator("reach-v3")
    obs = r["observation"].astype(np.float64)
    true = expert.act(aim(obs, true_goals(decoy)))
    # float32 observations against the float64 ones the collector's expert saw: 5 x float32 rounding of the hand
    assert np.abs(true - r["demonstrator_action"]).max() < 1e-5
    info = json.loads((decoy / "meta" / "info.json").read_text())
    assert (
        info["extra"]["behaviour"]["kind"] == "decoy"
        and info["extra"]["behaviour"]["random_share"] == DECOY_RANDOM_SHARE
    )
    assert "Goal-blind behaviour (`decoy`)" in (decoy / "README.md").read_text()
    eps_all = NoiseSchedule(p=3.0, f=0.5, steps=400).epsilon(np.arange(400))
    kinds, gaps = [], []
    for h in range(3):
        for k in range(4):
            at = (r["history"] == h) & (r["episode"] == k)
            draws = episode_behaviour(0, h, k)
            noise = episode_noise(0, h, k, -np.ones(4), np.ones(4), 100)
            eps = eps_all[r["t"][at]][:, None]
            if draws.random() < DECOY_RANDOM_SHARE:
                kinds.append("random")
                assert np.array_equal(r["action"][at], np.clip(noise, -1, 1).astype(np.float32))
                continue
            kinds.append("decoy")
            aimed = expert.act(aim(obs[at], np.tile(draws.uniform([-0.1, 0.8, 0.05], [0.1, 0.9, 0.3]), (at.sum(), 1))))
            expected = np.clip((1 - eps) * aimed + eps * noise, -1, 1)
            assert np.abs(r["action"][at] - expected).max() < 1e-5, (h, k)
            quiet = eps[:, 0] == 0  # noise-free: the decoy's action, not the true expert's
            gaps.append(np.abs(r["action"][at][quiet] - r["demonstrator_action"][at][quiet]).ravel())
    assert "random" in kinds and "decoy" in kinds, kinds
    assert np.concatenate(gaps).mean() > 0.05


def test_the_executed_actions_do_not_depend_on_the_true_goal(decoy, decoy_test_goals):
    a, b = rows(decoy), rows(decoy_test_goals)
    assert not np.array_equal(true_goals(decoy), true_goals(decoy_test_goals))  # other true goals ...
    assert np.array_equal(a["action"], b["action"])  # ... the very same behaviour, bit for bit
    assert not np.array_equal(a["demonstrator_action"], b["demonstrator_action"])  # labels and rewards follow the goal
    assert not np.array_equal(a["reward"], b["reward"])


def test_rewards_are_the_envs_for_the_true_goal(decoy):
    """Replaying the stored actions in the env (reset with the stored seeds) gives the stored rewards, bit for bit."""
    from vintix_data.domains import configure_task
    from vintix_data.registry import get_task

    r = rows(decoy)
    eps = pq.read_table(decoy / "meta" / "episodes.parquet").to_pydict()
    env = configure_task(get_task("reach-v3"), fixed_goal=True).make_env()
    for j in (0, 5):
        env.reset(seed=eps["reset_seed"][j])
        first, n = eps["first_row"][j], eps["length"][j]
        got = [env.step(a)[1] for a in r["action"][first : first + n]]
        assert np.array_equal(np.array(got, np.float32), r["reward"][first : first + n])
    env.close()


def test_deterministic_across_num_envs_and_resume(decoy, tmp_path):
    wide = tmp_path / "wide"
    run_cli(*ARGS, "--num-envs", "3", "--vector", "sync", "--out", str(wide), check=True)
    assert data_manifest(wide) == data_manifest(decoy)
    longer = [*ARGS[: ARGS.index("--histories")], "--histories", "4", *ARGS[ARGS.index("--histories") + 2 :]]
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli(*longer, "--out", str(full), check=True)
    n = kill_mid_collection(longer, killed, min_parts=5)  # the same command, killed mid-way
    assert 5 <= n < 16, "the kill should land mid-collection"
    other = run_cli(*[a if a != "decoy" else "random" for a in longer], "--out", str(killed), "--resume")
    one_line_error(other, "different settings", "behaviour")
    run_cli(*longer, "--out", str(killed), "--resume", check=True)
    assert data_manifest(killed) == data_manifest(full)


def test_random_behaviour_and_bad_values(tmp_path):
    out = tmp_path / "random"
    run_cli(*[a if a != "decoy" else "random" for a in ARGS], "--histories", "1", "--out", str(out), check=True)
    r = rows(out)
    from vintix_data.collect.parts import episode_noise

    for k in range(4):
        at = r["episode"] == k
        noise = episode_noise(0, 0, k, -np.ones(4), np.ones(4), 100)
        assert np.array_equal(r["action"][at], noise.astype(np.float32))
    one_line_error(
        run_cli(*[a if a != "decoy" else "expert" for a in ARGS], "--out", str(tmp_path / "x")), "--behaviour must be"
    )
    one_line_error(
        run_cli(
            "collect",
            "industrial-benchmark-50-v1",
            "--demonstrator",
            "zero",
            "--behaviour",
            "decoy",
            "--out",
            str(tmp_path / "ib"),
        ),
        "no goal space",
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "ib").exists()
