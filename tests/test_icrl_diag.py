"""The cheap ICRL diagnostics of benchmarks/icrl_diag.py (issue 26 item 5): known answers, kept fast."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import icrl_diag as diag


def test_prior_variance_is_the_label_variance_over_the_goal_prior():
    from vintix_data.domains.metaworld_goals import reach_expert

    low, high = np.array([-0.1, 0.8, 0.05]), np.array([0.1, 0.9, 0.3])  # reach-v3's goal box
    goals = np.random.default_rng(0).uniform(low, high, size=(20_000, 3))
    obs = np.zeros((2, 1, 39))
    obs[0, 0, :3] = (low + high) / 2  # box centre: 5 (g - hand) never clips, so Var = 25 width^2 / 12 per dim
    obs[1, 0, :3] = (low + high) / 2 + np.array([0.0, -2.0, 0.0])  # 2 m away in y: the y label saturates at +1
    pv = diag.prior_variance(obs, reach_expert, goals)
    width = high - low
    assert pv.shape == (2, 1)
    assert pv[0, 0] == pytest.approx((25 * width**2 / 12).sum() / 4, rel=0.02)  # grab dim: 0
    assert pv[1, 0] == pytest.approx((25 * width[[0, 2]] ** 2 / 12).sum() / 4, rel=0.02)


def test_bucket_means_and_the_cluster_interval():
    edges = diag.bucket_edges(600)
    assert edges == [0, 1, 100, 300, 600]
    assert diag.bucket_edges(50) == [0, 1, 50]
    per_pos = np.tile(np.arange(600, dtype=float), (3, 1))  # loss = position: each bucket's mean is its middle
    np.testing.assert_allclose(diag.bucket_means(per_pos, edges)[0], [0, 50, 199.5, 449.5])
    v = np.r_[np.zeros(10), np.ones(10)]
    lo, hi = diag.cluster_ci(v, np.repeat([0, 1], 10))  # two clusters: resampled whole, so the mean is 0, 0.5 or 1
    assert (lo, hi) == (0.0, 1.0)
    lo, hi = diag.cluster_ci(np.full(8, 0.3), np.arange(8))
    assert lo == pytest.approx(0.3) and hi == pytest.approx(0.3)


def test_swap_shares_count_the_runs_that_end_nearer_b():
    a = np.array([[0.0, 0.8, 0.1], [0.1, 0.9, 0.3], [-0.1, 0.85, 0.2], [0.05, 0.8, 0.05]])
    b = a[diag.derangement(4, 3)]
    assert not np.any(np.all(a == b, axis=1))
    final = np.stack([np.stack([a[i], b[i]]) for i in range(4)])[:, :, :]  # shot 1 at A, shot 2 at B
    final[0, 1] = a[0]  # run 0 stays at A in shot 2
    s = diag.swap_shares(final, a, b)
    assert s["share_nearer_b"] == [0.0, 0.75]
    assert s["mean_distance_a"][0] == 0.0 and s["mean_distance_b"][1] == pytest.approx(np.linalg.norm(a[0] - b[0]) / 4)
    lo, hi = s["share_nearer_b_ci95"][1]
    assert lo < 0.75 < hi and lo > 0 and hi < 1
    assert diag.wilson(0, 50)[0] == pytest.approx(0.0, abs=1e-12) and diag.wilson(50, 50)[1] == pytest.approx(1.0)


def test_reward_swap_feeds_the_formula_reward_for_goal_b():
    """With B = A the fed rewards are reach-v3's own (within the formula's tolerance); with B far away they differ."""
    pytest.importorskip("metaworld")
    import torch

    from vintix_model.evaluate.config import EvalConfig
    from vintix_model.evaluate.runner import resolve_task
    from vintix_model.model.config import ModelConfig
    from vintix_model.model.groups import GroupSpec
    from vintix_model.model.vintix import Vintix

    group = "meta-world-39x4"
    torch.manual_seed(0)
    cfg = ModelConfig(obs_emb=15, act_emb=15, rew_emb=2, n_layer=1, n_head=2, d_mlp=32, context=16)
    model = Vintix(
        cfg,
        {group: GroupSpec(group, 39, 4)},
        {
            "reach-v3": {
                "group": group,
                "obs_mean": [0.0] * 39,
                "obs_std": [1.0] * 39,
                "reward_scale": 1.0,
                "env_options": {"fixed_goal": True},
            }
        },
    ).eval()
    task = resolve_task(model, EvalConfig(task="reach-v3", seeds=2, episodes=1, variation={"goal_set": "test"}))
    with torch.no_grad():
        control = diag.reward_swap(model, task, runs=2, episodes=1)
        same = diag.reward_swap(model, task, runs=2, episodes=1, goal_b=control["goal_a"])
        far = diag.reward_swap(model, task, runs=2, episodes=1, goal_b=control["goal_a"] + np.array([0.0, 0.0, 1.0]))
    np.testing.assert_array_equal(control["fed_return"], control["env_return"])
    assert not np.array_equal(control["goal_a"][0], control["goal_a"][1])  # one held-out goal per run
    np.testing.assert_allclose(same["fed_return"], same["env_return"], rtol=0.01)  # the formula is reach-v3's reward
    assert np.all(np.abs(far["fed_return"] - far["env_return"]) > 10)  # measured: 106 vs 157 and 106 vs 139
    assert control["final_tcp"].shape == (2, 1, 3)


def test_paired_shift_is_how_much_nearer_b_the_swap_ends():
    a, b = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    control = a[:, None].copy()  # the control ends at A: |tcp - A| - |tcp - B| = -1
    swap = np.stack([b[0], a[1]])[:, None]  # run 0 goes to B (+1), run 1 stays at A (-1)
    p = diag.paired_shift(swap, control, a, b)
    assert p["mean"] == [pytest.approx(1.0)] and p["share_above_0"] == [0.5]
    assert p["ci95"][0][0] == pytest.approx(0.0) and p["ci95"][0][1] == pytest.approx(2.0)
