"""Tuned-recipe MuJoCo training (rl-zoo3's settings, TQC through sb3-contrib), resumable to the same policy bits."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.conftest import kill_after_checkpoint, run_cli
from vintix_data.demonstrators.recipes import recipe
from vintix_data.demonstrators.resumable import CheckpointError
from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, algo_class, train_sb3
from vintix_data.registry import get_task

TASK = "InvertedPendulum-v5"  # episodes end early (terminations), so a checkpoint falls mid-episode and between them
# tiny buffers and networks keep the test in seconds; the recipe's other keys (rl-zoo3's) stay as they are
TINY = {"learning_starts": 200, "buffer_size": 5000, "batch_size": 32, "policy_kwargs": {"net_arch": [32, 32]}}
TINY_PPO = {"n_steps": 250, "batch_size": 50, "policy_kwargs": {"net_arch": [32, 32]}}
STEPS, EVERY = 1500, 500

SCRIPT = (
    "import sys; from pathlib import Path; from vintix_data.registry import get_task; "
    "from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, train_sb3; "
    f"train_sb3(get_task({TASK!r}), Path(sys.argv[2]), SB3TrainConfig(algo=sys.argv[1], timesteps={STEPS}, "
    f"checkpoint_every={EVERY}, eval_episodes=1, overrides={TINY_PPO!r} if sys.argv[1] == 'ppo' else {TINY!r}), "
    "progress=False, checkpoint=Path(sys.argv[3]))"
)


def _config(algo: str) -> SB3TrainConfig:
    return SB3TrainConfig(
        algo=algo,
        timesteps=STEPS,
        checkpoint_every=EVERY,
        eval_episodes=1,
        overrides=TINY_PPO if algo == "ppo" else TINY,
    )


@pytest.mark.parametrize("algo", ["tqc", "sac", "td3", "ppo"])
def test_training_killed_after_a_checkpoint_resumes_to_the_same_policy(tmp_path, algo):
    """A 1M-step TQC run is hours of a core and a release on a cluster is preempted: killed with SIGKILL after a
    checkpoint, the same call continues (replay buffer, optimizers, MuJoCo state, RNGs restored) to exactly the
    policy of an uninterrupted training of the same length."""
    interrupted, ckpt = tmp_path / "interrupted.zip", tmp_path / ".interrupted.zip.ckpt"
    kill_after_checkpoint([sys.executable, "-c", SCRIPT, algo, str(interrupted), str(ckpt)], ckpt)
    assert ckpt.exists() and not interrupted.exists(), "the training was killed after its first checkpoint"

    resumed = train_sb3(get_task(TASK), interrupted, _config(algo), progress=False, checkpoint=ckpt)
    assert 0 < resumed["resumed_at"] < STEPS and not ckpt.exists()
    plain = train_sb3(get_task(TASK), tmp_path / "plain.zip", _config(algo), progress=False)
    assert plain["resumed_at"] is None
    cls = algo_class(algo)
    a, b = cls.load(interrupted, device="cpu"), cls.load(tmp_path / "plain.zip", device="cpu")
    assert a.num_timesteps == b.num_timesteps == STEPS
    assert len(a.policy.state_dict()) > 0
    for (name, x), (_, y) in zip(a.policy.state_dict().items(), b.policy.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    # the learning curve: one row per checkpoint and the end, continued across the kill
    rows = (tmp_path / "interrupted.curve.csv").read_text().splitlines()
    assert rows[0].startswith("steps,") and [r.split(",")[0] for r in rows[1:]] == ["500", "1000", "1500"]


def test_a_checkpoint_of_another_training_is_refused_and_kept(tmp_path):
    """Continuing someone else's state would make a policy no command describes; deleting it could throw away
    hours. It is refused in one line and left where it is."""
    ckpt = tmp_path / ".a.zip.ckpt"
    cfg = SB3TrainConfig(algo="sac", timesteps=600, checkpoint_every=300, eval_episodes=0, overrides=TINY)
    script = SCRIPT.replace(f"timesteps={STEPS}", "timesteps=100000").replace(
        f"checkpoint_every={EVERY}", "checkpoint_every=300"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, "sac", str(tmp_path / "a.zip"), str(ckpt)])
    deadline = time.time() + 300
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    with pytest.raises(CheckpointError, match="another training's checkpoint .*settings"):
        train_sb3(
            get_task(TASK),
            tmp_path / "a.zip",
            SB3TrainConfig(**{**cfg.__dict__, "seed": 1, "overrides": {**TINY, "gamma": 0.9}}),
            progress=False,
            checkpoint=ckpt,
        )
    assert ckpt.exists()
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read the training checkpoint"):
        train_sb3(get_task(TASK), tmp_path / "a.zip", cfg, progress=False, checkpoint=ckpt)
    assert ckpt.read_bytes() == b"not a checkpoint"


def test_recipes_name_their_source():
    r = recipe("tqc", "Hopper-v5")
    assert r.settings == {"n_timesteps": 1_000_000, "learning_starts": 10_000, "top_quantiles_to_drop_per_net": 5}
    assert "rl-zoo3 2.9.2" in r.source and "tqc.yml" in r.source and "Hopper-v4" in r.source
    assert recipe("sac", "Humanoid-v5").timesteps == 2_000_000
    assert "no entry" in recipe("sac", "Reacher-v5").source
    td3 = recipe("td3", "Swimmer-v5").constructor_kwargs(2)
    assert td3["gamma"] == 0.9999 and td3["policy_kwargs"] == {"net_arch": [400, 300]} and "action_noise" in td3
    assert "VecNormalize" in recipe("ppo", "Reacher-v5").source and recipe("ppo", "Swimmer-v5").settings == {
        "n_timesteps": 1_000_000
    }


def test_cli_refuses_an_unknown_algo_in_one_line(tmp_path):
    r = run_cli("demonstrator", "train", TASK, "--algo", "dqn", "--out", str(tmp_path / "x.zip"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "unknown --algo 'dqn'" in lines[0] and "tqc" in lines[0]
