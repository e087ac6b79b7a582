import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import PPO, SAC, TD3

import vintix_data  # noqa: F401
from tests.conftest import TASK, kill_after_checkpoint, run_cli
from vintix_data.demonstrators import (
    DemonstratorError,
    RandomDemonstrator,
    ZeroDemonstrator,
    load_demonstrator,
    load_sb3,
)


@pytest.fixture(scope="module")
def ib_env():
    return gym.make("vintix/IndustrialBenchmark-v1", setpoint=50)


def _obs(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([0, 0, 0, 0, 0, 0], [100, 100, 100, 100, 300, 400], (n, 6)).astype(np.float32)


def _assert_batch_invariant(demo, obs):
    full = demo.act(obs)
    for i in range(len(obs)):
        assert np.array_equal(demo.act(obs[i : i + 1])[0], full[i]), f"row {i} changes with the batch"
    perm = np.random.default_rng(1).permutation(len(obs))
    assert np.array_equal(demo.act(obs[perm]), full[perm])
    assert np.array_equal(demo.act(np.concatenate([obs[:5], _obs(20, 9)]))[:5], full[:5])


def test_trained_ppo_checkpoint_loads_and_is_batch_invariant(ppo_zip, ib_env):
    demo = load_demonstrator(f"sb3:{ppo_zip}", ib_env.observation_space, ib_env.action_space)
    assert demo.algo == "PPO" and len(demo.sha256) == 64 and demo._chain is not None
    obs = _obs(64)
    _assert_batch_invariant(demo, obs)
    sb3_actions = demo.model.predict(obs, deterministic=True)[0]
    np.testing.assert_allclose(demo.act(obs), sb3_actions, atol=1e-5)
    assert demo.act(obs).dtype == np.float32


@pytest.mark.parametrize("algo", [SAC, TD3])
def test_off_policy_checkpoints_load(tmp_path, ib_env, algo):
    path = tmp_path / f"{algo.__name__}.zip"
    algo("MlpPolicy", ib_env, device="cpu", seed=0).save(path)
    demo = load_sb3(path, ib_env.observation_space, ib_env.action_space)
    assert demo.algo == algo.__name__
    obs = _obs(32)
    np.testing.assert_allclose(demo.act(obs), demo.model.predict(obs, deterministic=True)[0], atol=1e-5)
    _assert_batch_invariant(demo, obs)


def test_wrong_space_checkpoint_is_refused(tmp_path, ib_env):
    path = tmp_path / "pendulum.zip"
    PPO("MlpPolicy", gym.make("Pendulum-v1"), device="cpu", n_steps=64, batch_size=32).save(path)
    with pytest.raises(DemonstratorError, match="observation space"):
        load_sb3(path, ib_env.observation_space, ib_env.action_space)


def test_missing_and_corrupt_checkpoints(tmp_path, ib_env):
    with pytest.raises(DemonstratorError, match="not found"):
        load_sb3(tmp_path / "nope.zip", ib_env.observation_space, ib_env.action_space)
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DemonstratorError, match="not a Stable-Baselines3"):
        load_sb3(bad, ib_env.observation_space, ib_env.action_space)
    with pytest.raises(DemonstratorError, match="unknown demonstrator"):
        load_demonstrator("magic", ib_env.observation_space, ib_env.action_space)


def test_baselines(ib_env):
    obs = _obs(16)
    zero = ZeroDemonstrator(ib_env.action_space).act(obs)
    assert zero.shape == (16, 3) and not zero.any()
    clipped = ZeroDemonstrator(gym.spaces.Box(0.5, 1.0, (2,), np.float32)).act(obs)
    assert np.all(clipped == 0.5)
    rnd = RandomDemonstrator(ib_env.action_space)
    a = rnd.act(obs)
    assert np.all(np.abs(a) <= 1) and a.std() > 0.3
    _assert_batch_invariant(rnd, obs)


def test_demonstrator_eval_cli_reports_scores(ppo_zip):
    import json

    proc = run_cli("demonstrator", "eval", TASK, "--demonstrator", "zero", "--episodes", "5", "--json", check=True)
    r = json.loads(proc.stdout)
    assert r["demonstrator_mean"] > r["random_mean"] + 50  # zero action beats uniform noise on IB p50
    assert r["normalized_score_paper"] == pytest.approx((r["demonstrator_mean"] + 574.9) / (574.9 - 377.9))
    # a PPO of one rollout may well fail the gate: the figures are printed either way, the exit status is the verdict
    proc = run_cli(
        "demonstrator", "eval", TASK, "--demonstrator", f"sb3:{ppo_zip}", "--episodes", "2", env={"COLUMNS": "200"}
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr
    assert "normalized" in proc.stdout
    assert (proc.returncode == 0) == ("passes the gate" in proc.stdout)
    bad = run_cli("demonstrator", "eval", TASK, "--demonstrator", "sb3:/nonexistent.zip")
    assert bad.returncode == 2 and "checkpoint not found" in bad.stderr and "Traceback" not in bad.stderr


def test_ppo_training_killed_after_a_checkpoint_resumes_to_the_same_policy(tmp_path):
    """A release trains IB's PPO for most of an hour a task; a training killed mid-way must continue from its last
    checkpoint to exactly the policy an uninterrupted training makes (the demonstrator must not depend on where
    the release was interrupted)."""
    import sys

    import torch

    from vintix_data.demonstrators.train_ib import PPOConfig, train_ppo
    from vintix_data.registry import get_task

    script = (
        "import sys; from pathlib import Path; from vintix_data.registry import get_task; "
        "from vintix_data.demonstrators.train_ib import PPOConfig, train_ppo; "
        f"train_ppo(get_task({TASK!r}), Path(sys.argv[1]), PPOConfig(timesteps=6000, n_steps=500), progress=False, "
        "checkpoint=Path(sys.argv[2]), checkpoint_every=1000)"
    )
    interrupted, ckpt = tmp_path / "interrupted.zip", tmp_path / "train.ckpt"
    kill_after_checkpoint([sys.executable, "-c", script, str(interrupted), str(ckpt)], ckpt)
    assert ckpt.exists() and not interrupted.exists(), "the training was killed after its first checkpoint"

    config = PPOConfig(timesteps=6000, n_steps=500)
    resumed = train_ppo(get_task(TASK), interrupted, config, progress=False, checkpoint=ckpt, checkpoint_every=1000)
    assert 0 < resumed["resumed_at"] < 6000 and not ckpt.exists()
    plain = train_ppo(get_task(TASK), tmp_path / "plain.zip", config, progress=False)
    assert plain["resumed_at"] is None
    a, b = PPO.load(interrupted, device="cpu"), PPO.load(tmp_path / "plain.zip", device="cpu")
    assert a.num_timesteps == b.num_timesteps == 6000
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_a_checkpoint_of_another_training_is_not_continued(tmp_path):
    from vintix_data.demonstrators.train_ib import PPOConfig, train_ppo
    from vintix_data.registry import get_task

    ckpt = tmp_path / "train.ckpt"
    ckpt.write_bytes(b"not a checkpoint")
    result = train_ppo(
        get_task(TASK),
        tmp_path / "a.zip",
        PPOConfig(timesteps=1000, n_steps=500),
        progress=False,
        checkpoint=ckpt,
        checkpoint_every=500,
    )
    assert result["resumed_at"] is None and not ckpt.exists()
