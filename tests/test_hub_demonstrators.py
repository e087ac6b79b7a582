"""`hub:` loads what users load: sb3-contrib's TQC, a repo's `vec_normalize.pkl` (legacy `gym` classes inside, read
without `gym`), and a refusal in one line for a zip of another env version's observation layout. Real zips from
tiny real trainings (or fresh models on a real env of the other layout), served by the project's test Hub."""

from __future__ import annotations

import json
import pickle
import sys
import types

import gymnasium as gym
import numpy as np
import pytest

from tests.conftest import HUB_TOKEN, run_cli
from vintix_data.demonstrators import load_demonstrator, load_sb3
from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, train_sb3
from vintix_data.domains import resolve
from vintix_data.registry import get_task

TASK = "InvertedPendulum-v5"
TINY = {"learning_starts": 100, "buffer_size": 2000, "batch_size": 32, "policy_kwargs": {"net_arch": [32, 32]}}


@pytest.fixture
def hub_api(hub, tmp_path, monkeypatch):
    """In process the client's endpoint and cache are module constants (read from the environment at import)."""
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import HfApi

    monkeypatch.setattr(hf_constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(hf_constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(
        hf_constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setenv("HF_TOKEN", HUB_TOKEN)
    return HfApi(endpoint=hub.url, token=HUB_TOKEN)


def _upload(api, repo_id: str, files: dict) -> None:
    api.create_repo(repo_id, exist_ok=True)
    for name, path in files.items():
        api.upload_file(path_or_fileobj=str(path), path_in_repo=name, repo_id=repo_id)


def _observations(n: int = 64) -> np.ndarray:
    env = resolve(get_task(TASK)).make_env()
    obs, rows = env.reset(seed=1)[0], []
    rng = np.random.default_rng(0)
    for _ in range(n):
        rows.append(obs)
        obs, _, term, trunc, _ = env.step(rng.uniform(-3, 3, env.action_space.shape))
        if term or trunc:
            obs = env.reset()[0]
    return np.asarray(rows)


def test_hub_tqc_zip_loads_and_is_re_evaluated_batch_invariantly(hub_api, hub_env, tmp_path):
    from sb3_contrib import TQC

    zip_path = tmp_path / "tqc.zip"
    train_sb3(get_task(TASK), zip_path, SB3TrainConfig(algo="tqc", timesteps=400, overrides=TINY), progress=False)
    repo = "sb3/tqc-InvertedPendulum-v5"  # the sb3/<algo>-<Env> convention: file <algo>-<Env>.zip
    _upload(hub_api, repo, {"tqc-InvertedPendulum-v5.zip": zip_path})
    env = resolve(get_task(TASK)).make_env()
    demo = load_demonstrator(f"hub:{repo}", env.observation_space, env.action_space, task=get_task(TASK))
    assert demo.algo == "TQC" and demo._chain is not None and demo.name.startswith(f"TQC:hub:{repo}/")
    obs = _observations()
    acts = demo.act(obs)
    rows = np.concatenate([demo.act(obs[i : i + 1]) for i in range(len(obs))])
    assert np.array_equal(acts, rows)  # row i depends on row i only, bit for bit
    ref = TQC.load(zip_path, device="cpu").predict(obs, deterministic=True)[0]
    assert np.abs(acts).max() > 0 and np.allclose(acts, ref, atol=1e-5)

    # the CLI, as a user types it: the gate runs on the downloaded TQC (a 400-step policy may fail it: exit 0 or 1)
    proc = run_cli(
        "demonstrator", "eval", TASK, "--demonstrator", f"hub:{repo}", "--episodes", "2", "--json", env=hub_env
    )
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads(proc.stdout)
    assert result["demonstrator"] == f"hub:{repo}" and np.isfinite(result["demonstrator_mean"])


def _legacy_vec_normalize(venv, path) -> None:
    """VecNormalize.save, with its observation space pickled as the legacy ``gym.spaces.box.Box`` the way RL-Zoo's
    files (made with gym) name it: the module exists only while the file is written."""
    mod = types.ModuleType("gym.spaces.box")

    class Box:
        def __init__(self, space):
            self.low, self.high, self.shape, self.dtype = space.low, space.high, space.shape, space.dtype
            self.np_random = np.random.RandomState(0)

    Box.__module__, Box.__qualname__ = "gym.spaces.box", "Box"
    mod.Box = Box
    saved = {k: sys.modules.get(k) for k in ("gym", "gym.spaces", "gym.spaces.box")}
    sys.modules.update(
        {"gym": types.ModuleType("gym"), "gym.spaces": types.ModuleType("gym.spaces"), "gym.spaces.box": mod}
    )
    real = venv.observation_space
    try:
        venv.observation_space = Box(real)
        venv.save(str(path))
    finally:
        venv.observation_space = real
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_hub_sac_zip_with_vec_normalize_pkl_applies_its_statistics_without_gym(hub_api, tmp_path):
    from stable_baselines3 import SAC
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = VecNormalize(DummyVecEnv([lambda: Monitor(resolve(get_task(TASK)).make_env())]), norm_reward=False)
    model = SAC(
        "MlpPolicy",
        venv,
        seed=0,
        device="cpu",
        learning_starts=100,
        buffer_size=2000,
        batch_size=32,
        policy_kwargs={"net_arch": [32, 32]},
    )
    model.learn(400)
    zip_path, real_pkl, legacy_pkl = tmp_path / "sac.zip", tmp_path / "real.pkl", tmp_path / "vec_normalize.pkl"
    model.save(str(zip_path))
    venv.save(str(real_pkl))
    _legacy_vec_normalize(venv, legacy_pkl)
    with pytest.raises(ModuleNotFoundError, match="gym"):  # what a plain unpickle (SB3's VecNormalize.load) meets
        pickle.loads(legacy_pkl.read_bytes())
    assert "gym" not in sys.modules

    repo = "sb3/sac-InvertedPendulum-v5"
    _upload(hub_api, repo, {"sac-InvertedPendulum-v5.zip": zip_path, "vec_normalize.pkl": legacy_pkl})
    env = resolve(get_task(TASK)).make_env()
    demo = load_demonstrator(f"hub:{repo}", env.observation_space, env.action_space, task=get_task(TASK))
    assert demo.normalizer is not None and demo.sha256 != load_sb3(zip_path).sha256
    obs = _observations()
    stats = VecNormalize.load(str(real_pkl), DummyVecEnv([lambda: resolve(get_task(TASK)).make_env()]))
    ref = SAC.load(zip_path, device="cpu").predict(stats.normalize_obs(obs), deterministic=True)[0]
    acts = demo.act(obs)
    assert np.allclose(acts, ref, atol=1e-5)
    assert not np.allclose(acts, load_sb3(zip_path).act(obs), atol=1e-3)  # the statistics change the actions
    assert np.array_equal(acts, np.concatenate([demo.act(obs[i : i + 1]) for i in range(len(obs))]))
    assert "gym" not in sys.modules


def test_a_v3_layout_zip_on_a_v5_task_is_refused_in_one_line(hub_api, hub_env, tmp_path):
    from stable_baselines3 import SAC

    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("ignore")
        v3_layout = gym.make("Ant-v4", use_contact_forces=True)  # gymnasium's Ant-v3 observation: 111 dims
    assert v3_layout.observation_space.shape == (111,)
    zip_path = tmp_path / "sac-Ant-v3.zip"
    SAC("MlpPolicy", v3_layout, seed=0, device="cpu", buffer_size=100).save(str(zip_path))
    _upload(hub_api, "sb3/sac-Ant-v3", {"sac-Ant-v3.zip": zip_path})
    proc = run_cli(
        "demonstrator", "eval", "Ant-v5", "--demonstrator", "hub:sb3/sac-Ant-v3", "--episodes", "1", env=hub_env
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: hub:sb3/sac-Ant-v3: the checkpoint observes 111 dims, the v3 layout of Ant")
    assert "the task runs Ant-v5 with 105" in lines[0]


@pytest.mark.parametrize("name", ["Reacher", "InvertedDoublePendulum"])
def test_a_v5_checkpoint_drives_the_papers_v4_env_state_for_state(tmp_path, name):
    """Where v5's observation is exactly the first columns of v4's (Reacher, InvertedDoublePendulum), a v5 expert
    runs the paper's v4 env: in lockstep with the v5 env (same seeds, same actions) it sees the same observation
    and acts the same, bit for bit, at every step of every episode."""
    from stable_baselines3 import SAC

    from vintix_data.domains import configure_task

    v5_task = get_task(f"{name}-v5")
    v4_task = configure_task(v5_task, env_options={"version": "v4"})
    e5, e4 = resolve(v5_task).make_env(), v4_task.make_env()
    assert e4.observation_space.shape[0] > e5.observation_space.shape[0]
    zip_path = tmp_path / "sac-v5.zip"
    SAC("MlpPolicy", e5, seed=0, device="cpu", buffer_size=100).save(str(zip_path))
    on_v5 = load_sb3(zip_path, e5.observation_space, e5.action_space, task=v5_task)
    on_v4 = load_demonstrator(f"sb3:{zip_path}", e4.observation_space, e4.action_space, task=v4_task)
    assert on_v4.adapter is not None and f"{name}-v5 observation from {name}-v4's" in on_v4.name
    steps = 0
    for seed in range(5):
        o5, o4 = e5.reset(seed=seed)[0], e4.reset(seed=seed)[0]
        while True:
            assert np.array_equal(o4[: len(o5)], o5) and np.array_equal(on_v4.act(o4[None]), on_v5.act(o5[None]))
            a = on_v5.act(o5[None])[0]
            o5, _, t5, tr5, _ = e5.step(a)
            o4, _, t4, tr4, _ = e4.step(a)
            steps += 1
            assert (t4, tr4) == (t5, tr5)
            if t5 or tr5:
                break
    assert steps >= 20
    # a layout that the task's observation cannot give is still refused (v4 Reacher zip on v5)
    v4_zip = tmp_path / "sac-v4.zip"
    SAC("MlpPolicy", e4, seed=0, device="cpu", buffer_size=100).save(str(v4_zip))
    with pytest.raises(
        Exception, match=f"the checkpoint observes {e4.observation_space.shape[0]} dims, the v3/v4 layout"
    ):
        load_sb3(v4_zip, e5.observation_space, e5.action_space, task=v5_task)
