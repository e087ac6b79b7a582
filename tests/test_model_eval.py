"""Incremental inference and `vintix-model eval`: the KV-cache agent against the training forward, the sliding
window, batches that shrink, prompts, and the CLI end to end in real environments (Industrial Benchmark; MuJoCo
with a physics variation), held-out tasks sharing a group, and one-line errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vintix_model.inference.agent import ICRLAgent, TaskContext
from vintix_model.inference.kv_cache import KVCache
from vintix_model.model.config import ModelConfig, resolve
from vintix_model.model.groups import GroupSpec
from vintix_model.model.vintix import GroupBatch, Vintix
from vintix_model.train.run import train

TASK = "industrial-benchmark-50-v1"
FAST = ["model.context=64", "train.stride=16", "train.num_workers=0", "train.warmup_steps=5", "train.save_every=30"]


def tiny_model(seed: int = 0, obs_dim: int = 6, act_dim: int = 3, context: int = 32) -> Vintix:
    torch.manual_seed(seed)
    cfg = ModelConfig(obs_emb=31, act_emb=31, rew_emb=2, n_layer=2, n_head=4, d_mlp=128, context=context)
    return Vintix(cfg, {"g": GroupSpec("g", obs_dim, act_dim)}).eval()


def ctx(obs_dim: int = 6, seed: int = 1) -> TaskContext:
    rng = np.random.default_rng(seed)
    return TaskContext(
        "t", "g", rng.normal(size=obs_dim).astype(np.float32), rng.uniform(0.5, 2, size=obs_dim).astype(np.float32), 0.5
    )


def stream(batch: int, steps: int, seed: int = 2, obs_dim: int = 6, episode: int = 7):
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(batch, steps, obs_dim)).astype(np.float32)
    rew = rng.normal(size=(batch, steps)).astype(np.float32)
    first = np.zeros((batch, steps), bool)
    first[:, ::episode] = True
    first[1:, 3] = True  # rows of a batch start episodes at different times
    return obs, rew, first


def run_agent(agent: ICRLAgent, obs, rew, first) -> np.ndarray:
    """Actions for every step; the reward fed at step t is the one of step t-1."""
    out = []
    for t in range(obs.shape[1]):
        prev = rew[:, t - 1] if t else np.zeros(obs.shape[0], np.float32)
        out.append(agent.act(obs[:, t], prev, first[:, t]))
    return np.stack(out, 1)


def play(model: Vintix, c: TaskContext, obs, rew, first, **agent_kw) -> tuple[ICRLAgent, np.ndarray]:
    """A fresh agent (one row per stream) acting through the whole stream; the agent and its actions."""
    agent = ICRLAgent(model, batch=obs.shape[0], **agent_kw)
    agent.reset(c)
    return agent, run_agent(agent, obs, rew, first)


def full_forward(model: Vintix, c: TaskContext, obs, rew, first, actions) -> np.ndarray:
    """The training forward over the same tokens (previous action = what the agent executed)."""
    B, T, _ = obs.shape
    prev_a = np.concatenate([np.zeros((B, 1, actions.shape[2]), np.float32), actions[:, :-1]], 1)
    prev_r = np.concatenate([np.zeros((B, 1), np.float32), rew[:, :-1]], 1) * c.reward_scale
    norm = (obs - c.obs_mean) / c.obs_std
    batch = {"g": GroupBatch(torch.tensor(norm), torch.tensor(prev_a), torch.tensor(prev_r), torch.tensor(first))}
    with torch.no_grad():
        return model(batch)["g"].numpy()


def test_cached_steps_equal_the_training_forward_while_the_context_fits():
    model, c = tiny_model(), ctx()
    obs, rew, first = stream(3, 30)
    cached, a = play(model, c, obs, rew, first, window=32)
    assert cached.context_length == 30 and cached.cache.seen == 30
    _, b = play(model, c, obs, rew, first, window=32, use_cache=False)
    ref = full_forward(model, c, obs, rew, first, a)
    np.testing.assert_allclose(a, ref, atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(b, ref, atol=2e-5, rtol=1e-4)
    assert np.abs(a).max() > 1e-3  # not trivially zero


def test_the_window_slides_and_re_encoding_is_the_exact_window():
    model, c = tiny_model(context=8), ctx()
    obs, rew, first = stream(2, 40)
    cached, a = play(model, c, obs, rew, first, window=8)  # 40 tokens through a 16-slot buffer: slid several times
    assert cached.context_length == 7 and cached.cache.end <= 16 and cached.cache.seen == 40
    _, b = play(model, c, obs, rew, first, window=8, use_cache=False)
    np.testing.assert_allclose(a[:, :8], b[:, :8], atol=2e-5, rtol=1e-4)  # identical until the window is full
    # re-encoding = the training forward over exactly the last 8 tokens (checked at the last step)
    batch = {
        "g": GroupBatch(
            torch.tensor((obs[:, -8:] - c.obs_mean) / c.obs_std),
            torch.tensor(b[:, -9:-1]),
            torch.tensor(rew[:, -9:-1] * c.reward_scale),
            torch.tensor(first[:, -8:]),
        )
    }
    with torch.no_grad():
        last = model(batch)["g"][:, -1].numpy()
    np.testing.assert_allclose(b[:, -1], last, atol=2e-5, rtol=1e-4)
    assert np.abs(a[:, 8:] - b[:, 8:]).max() < 1.0  # the streaming cache is an approximation, not garbage


def test_bf16_autocast_keeps_a_bf16_cache_and_stays_close_to_fp32():
    model, c = tiny_model(), ctx()
    obs, rew, first = stream(2, 20)
    _, a = play(model, c, obs, rew, first, window=32)
    for use_cache in (True, False):
        agent, b = play(model, c, obs, rew, first, window=32, use_cache=use_cache, precision="bf16")
        assert agent.dtype == torch.bfloat16 and b.dtype == np.float32
        if use_cache:
            assert agent.cache.layers[0].k.dtype == torch.bfloat16
        assert np.abs(a - b).max() < 0.05 * max(1.0, np.abs(a).max())
    with pytest.raises(ValueError, match="precision"):
        ICRLAgent(model, precision="fp8")


def test_kv_cache_refuses_more_tokens_than_the_window():
    cache = KVCache(n_layer=1, batch=1, window=4, n_head=2, head_dim=4)
    with pytest.raises(ValueError, match="chunks"):
        cache.prepare(5)


def test_dropping_rows_keeps_the_other_contexts_intact():
    model, c = tiny_model(), ctx()
    obs, rew, first = stream(3, 20)
    agent = ICRLAgent(model, batch=3, window=32)
    agent.reset(c)
    a = run_agent(agent, obs[:, :10], rew[:, :10], first[:, :10])
    agent.keep([0, 2])
    rest = []
    for t in range(10, 20):
        rest.append(agent.act(obs[[0, 2], t], rew[[0, 2], t - 1], first[[0, 2], t]))
    rest = np.stack(rest, 1)
    for row, k in ((0, 0), (2, 1)):
        _, ref = play(model, c, obs[row : row + 1], rew[row : row + 1], first[row : row + 1], window=32)
        np.testing.assert_allclose(a[row], ref[0, :10], atol=2e-5, rtol=1e-4)
        np.testing.assert_allclose(rest[k], ref[0, 10:], atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("use_cache", [True, False])
def test_a_prefilled_prompt_is_the_same_context_as_acting_through_it(use_cache):
    model, c = tiny_model(), ctx()
    obs, rew, first = stream(2, 24)
    actions = np.random.default_rng(5).uniform(-1, 1, size=(2, 24, 3)).astype(np.float32)
    pre = ICRLAgent(model, batch=2, window=32, use_cache=use_cache)
    pre.reset(c)
    pre.prefill(obs[:, :20], actions[:, :20], rew[:, :20], first[:, :20], chunk=7)
    got = pre.act(obs[:, 20], rew[:, 19], first[:, 20])
    full = np.concatenate([actions[:, :20], np.zeros((2, 1, 3), np.float32)], 1)
    ref = full_forward(model, c, obs[:, :21], rew[:, :21], first[:, :21], full)[:, -1]
    np.testing.assert_allclose(got, ref, atol=2e-5, rtol=1e-4)


# -- the CLI in real environments -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    """The tiny preset (64-token context) trained 30 steps on the IB p50 fixture collection."""
    run = tmp_path_factory.mktemp("eval-run") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model_cfg, train_cfg = resolve("tiny", sets=FAST, steps=30)
        train([str(tiny_dataset)], run, model_cfg, train_cfg, progress=False)
    finally:
        torch.set_num_threads(threads)
    return run


def run_model(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vintix_model.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})},
    )


def test_eval_writes_results_and_plot_and_the_cached_and_uncached_paths_agree(checkpoint, tiny_dataset, tmp_path):
    common = ["--task", TASK, "--episodes", "3", "--seeds", "2", "--window", "750", "--quiet"]
    a = run_model("eval", str(checkpoint), *common, "--out", str(tmp_path / "a"))
    assert a.returncode == 0, a.stderr
    res = json.loads((tmp_path / "a" / "results.json").read_text())
    png = (tmp_path / "a" / "returns.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert res["task"] == TASK and not res["held_out"] and res["group"] == "industrial-benchmark-6x3"
    assert len(res["per_seed"]["returns"]) == 2 and all(len(r) == 3 for r in res["per_seed"]["returns"])
    assert res["per_seed"]["lengths"] == [[250] * 3] * 2 and res["timing"]["env_steps"] == 1500
    R = np.asarray(res["per_seed"]["returns"])
    np.testing.assert_allclose(res["per_shot"]["mean"], R.mean(0), rtol=1e-6)
    lo, hi = np.asarray(res["per_shot"]["mean_ci95"], float)
    assert np.all(lo <= R.mean(0) + 1e-9) and np.all(R.mean(0) <= hi + 1e-9)
    info = json.loads((tiny_dataset / "meta" / "info.json").read_text())
    assert res["reference"]["random"] == info["reference_scores"]["random_mean"]
    assert res["reference"]["demonstrator"] == info["reference_scores"]["demonstrator_mean"]
    norm = (R - res["reference"]["random"]) / (res["reference"]["demonstrator"] - res["reference"]["random"])
    assert res["summary"]["normalized_mean"] == pytest.approx(norm.mean())
    assert "Spearman" in a.stderr and "wrote" in a.stderr
    # 750 tokens fit the window: the KV cache and re-encoding give the same episodes
    b = run_model("eval", str(checkpoint), *common, "--no-cache", "--out", str(tmp_path / "b"))
    assert b.returncode == 0, b.stderr
    rb = json.loads((tmp_path / "b" / "results.json").read_text())
    np.testing.assert_allclose(rb["per_seed"]["returns"], res["per_seed"]["returns"], rtol=1e-4)
    # the same command again is deterministic; an existing result is kept without --force
    again = run_model("eval", str(checkpoint), *common, "--out", str(tmp_path / "a"))
    assert again.returncode == 2 and "--force" in again.stderr
    assert json.loads((tmp_path / "a" / "results.json").read_text()) == res
    forced = run_model("eval", str(checkpoint), *common, "--out", str(tmp_path / "a"), "--force")
    assert forced.returncode == 0
    rf = json.loads((tmp_path / "a" / "results.json").read_text())
    assert rf["per_seed"] == res["per_seed"]


def test_a_held_out_setpoint_shares_the_group_with_estimated_or_supplied_stats(checkpoint, tiny_dataset, tmp_path):
    est = run_model(
        "eval",
        str(checkpoint),
        "--task",
        "industrial-benchmark-90-v1",
        "--episodes",
        "2",
        "--seeds",
        "1",
        "--stats-steps",
        "2000",
        "--prompt",
        "random:300",
        "--quiet",
        "--out",
        str(tmp_path / "est"),
    )
    assert est.returncode == 0, est.stderr
    res = json.loads((tmp_path / "est" / "results.json").read_text())
    assert res["held_out"] and res["group"] == "industrial-benchmark-6x3"
    assert res["stats_source"].startswith("estimated from 2,000 uniform-random steps")
    assert any("held-out" in n for n in res["notes"]) and "held-out task" in est.stderr
    assert res["reference"] == {"random": -846.4, "demonstrator": -522.0, "source": "registry (the paper's table)"}
    assert res["timing"]["prompt_steps"] == 300 and res["per_seed"]["lengths"] == [[250, 250]]
    sup = run_model(
        "eval",
        str(checkpoint),
        "--task",
        "industrial-benchmark-90-v1",
        "--episodes",
        "1",
        "--seeds",
        "1",
        "--stats-from",
        str(tiny_dataset),
        "--quiet",
        "--out",
        str(tmp_path / "sup"),
    )
    assert sup.returncode == 0, sup.stderr
    res = json.loads((tmp_path / "sup" / "results.json").read_text())
    assert res["stats_source"].startswith(f"dataset {tiny_dataset}") and res["reference"]["source"].startswith(
        "dataset"
    )
    assert any("not industrial-benchmark-90-v1" in n for n in res["notes"])


def test_mujoco_variation_scales_the_physics_of_the_evaluated_env(tmp_path):
    pytest.importorskip("mujoco")
    from vintix_data.domains import make_env
    from vintix_model.evaluate.config import EvalConfig
    from vintix_model.evaluate.runner import resolve_task

    task = "InvertedPendulum-v5"
    model = tiny_model(obs_dim=4, act_dim=1, context=64)
    model.groups = {"mujoco-invertedpendulum-4x1": GroupSpec("mujoco-invertedpendulum-4x1", 4, 1)}
    model = Vintix(
        model.config,
        model.groups,
        {
            task: {
                "group": "mujoco-invertedpendulum-4x1",
                "obs_mean": [0.0] * 4,
                "obs_std": [1.0] * 4,
                "reward_scale": 1.0,
            }
        },
    )
    resolved = resolve_task(model, EvalConfig(task=task, variation={"viscosity": "0.05", "gravity": "1.1"}))
    env = make_env(resolved.spec)
    opt = env.unwrapped.model.opt
    assert opt.viscosity == pytest.approx(0.05) and opt.gravity[2] == pytest.approx(-9.81 * 1.1)
    env.close()
    assert any("unvaried env" in n for n in resolved.notes)
    ck = tmp_path / "ck"
    model.save_pretrained(ck)
    r = run_model(
        "eval",
        str(ck),
        "--task",
        task,
        "--episodes",
        "2",
        "--seeds",
        "2",
        "--variation",
        "gravity=1.1",
        "--quiet",
        "--out",
        str(tmp_path / "o"),
    )
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert res["config"]["variation"] == {"gravity": "1.1"} and len(res["per_seed"]["returns"][1]) == 2
    bad = run_model("eval", str(ck), "--task", task, "--variation", "viscosity=-1", "--out", str(tmp_path / "p"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "viscosity" in bad.stderr


def test_bad_input_gives_one_line_errors(checkpoint, tmp_path):
    cases = {
        "dims match no group": (["--task", "InvertedPendulum-v5"], "matches no group of the checkpoint"),
        "unknown task": (["--task", "industrial-benchmark-51-v1"], "industrial-benchmark-51-v1"),
        "zero episodes": (["--task", TASK, "--episodes", "0"], "--episodes must be >= 1"),
        "bad prompt": (["--task", TASK, "--prompt", "expert:10"], "random:STEPS"),
        "variation on IB": (["--task", TASK, "--variation", "gravity=1.1"], "unknown env option 'gravity'"),
    }
    if not __import__("importlib").util.find_spec("mujoco"):
        cases.pop("dims match no group")
    for name, (args, needle) in cases.items():
        r = run_model("eval", str(checkpoint), *args, "--out", str(tmp_path / name))
        assert r.returncode == 2, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr and "Traceback" not in r.stderr, (
            name,
            r.stderr,
        )
        assert not (tmp_path / name).exists(), name
    r = run_model("eval", str(tmp_path / "no-such-checkpoint"), "--task", TASK)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "no-such-checkpoint" in r.stderr


def test_a_hub_model_id_evaluates_like_its_folder(checkpoint, tmp_path):
    hub_server = pytest.importorskip("tests.hub_server")
    token = "hf_vintix_test_token"
    with hub_server.HubServer(tokens={token}) as hub:
        env = {
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": token,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        up = run_model("push", str(checkpoint), "--repo", "vintix-test/vintix-tiny-eval", env=env)
        assert up.returncode == 0, up.stderr
        common = ["--task", TASK, "--episodes", "2", "--seeds", "1", "--quiet"]
        by_id = run_model("eval", "vintix-test/vintix-tiny-eval", *common, "--out", str(tmp_path / "id"), env=env)
        assert by_id.returncode == 0, by_id.stderr
    by_dir = run_model("eval", str(checkpoint), *common, "--out", str(tmp_path / "dir"))
    assert by_dir.returncode == 0, by_dir.stderr
    a, b = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("id", "dir"))
    assert a["per_seed"] == b["per_seed"] and a["reference"] == b["reference"]
    assert a["checkpoint"] == "vintix-test/vintix-tiny-eval" and "snapshots" in a["checkpoint_folder"]
