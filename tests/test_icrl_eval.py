"""Evaluating latent-task checkpoints: the hidden observation and one variation per run carried from the training
data into evaluation without a flag, the context-reset ablation and its paired difference, and the refusals.

Real Meta-World reach-v3 data collected by the CLI, a tiny model trained a few steps by the CLI, eval by the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.conftest import run_model_cli as model_cli
from vintix_model.evaluate.report import last_third, paired_difference

pytest.importorskip("metaworld")

TASK = "reach-v3"


@pytest.fixture(scope="module")
def latent_run(tmp_path_factory) -> Path:
    """A reach-v3 dataset with the goal hidden (one goal per history) and a checkpoint trained on it for 6 steps."""
    root = tmp_path_factory.mktemp("icrl")
    env = {"VINTIX_CACHE": str(root / "cache"), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    run_cli(
        "collect",
        TASK,
        "--out",
        str(root / "data"),
        "--fixed-goal",
        "--hide",
        "goal",
        "--histories",
        "2",
        "--steps",
        "400",
        "--p",
        "2",
        "--f",
        "0.2",
        "--gate-episodes",
        "3",
        "--reference-episodes",
        "3",
        check=True,
        env=env,
    )
    model_cli(
        "train",
        "--datasets",
        str(root / "data"),
        "--out",
        str(root / "run"),
        "--preset",
        "tiny",
        "--steps",
        "6",
        "--set",
        "model.context=120",
        "--set",
        "train.stride=40",
        "--set",
        "train.num_workers=0",
        "--set",
        "train.warmup_steps=2",
        "--quiet",
        check=True,
        env=env,
    )
    return root


def eval_cli(run: Path, out: Path, *extra: str):
    return model_cli(
        "eval",
        str(run),
        "--task",
        TASK,
        "--episodes",
        "3",
        "--seeds",
        "3",
        "--out",
        str(out),
        "--quiet",
        *extra,
        env={"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"},
    )


def test_checkpoint_carries_what_was_hidden(latent_run):
    meta = json.loads(next((latent_run / "run" / "checkpoints").glob("*/metadata.json")).read_text())
    task = meta["tasks"][TASK]
    assert task["hidden_observation"] == {"components": ["goal"], "indices": [36, 37, 38], "fill": 0.0}
    assert task["env_options"] == {"fixed_goal": True}


def test_ablation_on_held_out_goals(latent_run):
    out = latent_run / "eval"
    proc = eval_cli(latent_run / "run", out, "--variation", "goal_set=test", "--ablation")
    assert proc.returncode == 0, proc.stderr
    assert "paired difference" in proc.stderr and "context cleared every episode" in proc.stderr
    r = json.loads((out / "results.json").read_text())
    assert r["hidden_observation"]["components"] == ["goal"]
    assert any("latent task" in n for n in r["notes"]) and any("one task variation per run" in n for n in r["notes"])
    full = np.asarray(r["per_seed"]["returns"])
    cleared = np.asarray(r["ablation"]["context_reset"]["per_seed"]["returns"])
    assert full.shape == cleared.shape == (3, 3)
    # shot 1 starts from an empty context either way; with the context cleared and the goal fixed, every episode of
    # a run replays the first (deterministic model, same reset seed): nothing carries across episodes
    np.testing.assert_array_equal(full[:, 0], cleared[:, 0])
    np.testing.assert_array_equal(cleared, np.repeat(cleared[:, :1], 3, axis=1))
    # one distinct held-out goal per run, the same for every episode of the run
    variations = np.asarray(r["per_seed"]["variations"])
    assert (variations == variations[:, :1]).all() and len(set(variations[:, 0])) == 3
    d = r["ablation"]["paired_difference"]
    np.testing.assert_allclose(d["per_shot"]["mean"], (full - cleared).mean(0), atol=1e-5)
    assert d["last_third"]["shots"] == [3, 3]
    np.testing.assert_allclose(d["last_third"]["mean"], (full - cleared)[:, 2].mean(), atol=1e-9)
    lo, hi = d["last_third"]["ci95"]
    assert lo <= d["last_third"]["mean"] <= hi
    assert (out / "returns.png").stat().st_size > 0


def test_held_out_goals_differ_from_training_goals(latent_run):
    """goal_set=test: the runs play ML1's test goals, which no training history had."""
    from vintix_data.domains import configure_task, make_env
    from vintix_data.registry import get_task

    base = get_task(TASK)
    goals = {}
    for name, options in (("train", {}), ("test", {"goal_set": "test"})):
        spec = configure_task(base, env_options=options)
        env = make_env(spec)
        tasks = env.get_wrapper_attr("tasks")
        goals[name] = set()
        for v in range(len(tasks)):
            env.unwrapped.set_task(tasks[v])
            obs, _ = env.env.reset()
            goals[name].add(tuple(np.round(obs[36:39], 6)))
        env.close()
    assert len(goals["train"]) == len(goals["test"]) == 50 and not goals["train"] & goals["test"]


def test_latent_checkpoint_refused_where_the_component_does_not_exist(latent_run, tmp_path):
    """A checkpoint whose metadata hides a component the task does not have is refused in one line."""
    run = tmp_path / "run"
    shutil.copytree(latent_run / "run", run)
    for meta_path in run.glob("checkpoints/*/metadata.json"):
        meta = json.loads(meta_path.read_text())
        meta["tasks"][TASK]["hidden_observation"] = {"components": ["setpoint"], "indices": [0], "fill": 0.0}
        meta_path.write_text(json.dumps(meta))
    proc = eval_cli(run, tmp_path / "eval")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "no observation component 'setpoint'" in lines[0], proc.stderr
    assert not (tmp_path / "eval").exists()


def test_check_components_names_the_missing_one():
    from vintix_data.hiding import HiddenObservation, HidingError, check_components
    from vintix_data.registry import get_task

    hidden = HiddenObservation(("goal",), (36, 37, 38))
    check_components(get_task(TASK), hidden)
    with pytest.raises(HidingError, match="InvertedPendulum-v5 has no observation component 'goal'"):
        check_components(get_task("InvertedPendulum-v5"), hidden)
    with pytest.raises(HidingError, match="columns"):
        check_components(get_task(TASK), HiddenObservation(("goal",), (0, 1, 2)))


def test_cleared_rollout_batched_equals_run_by_run(latent_run):
    """The batched context-reset rollout gives every run the returns it gets on an agent of its own, up to float
    differences between batch shapes (torch picks kernels by shape; MuJoCo then amplifies them a little)."""
    import torch

    from vintix_model.evaluate.config import EvalConfig
    from vintix_model.evaluate.runner import _rollout, resolve_task
    from vintix_model.model.vintix import Vintix

    model = Vintix.from_pretrained(str(latent_run / "run"))
    cfg = EvalConfig(task=TASK, episodes=2, seeds=2, variation={"goal_set": "test"})
    task = resolve_task(model, cfg)
    assert task.hidden is not None and np.all(task.observe(np.ones(39))[36:] == 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # other tests change it; the kernels (and their last bits) follow the thread count
    try:
        batched = _rollout(model, task, cfg, None, clear_context=True, rows=None)
        alone = [_rollout(model, task, cfg, None, clear_context=True, rows=[s]) for s in range(2)]
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_allclose(batched["returns"], [a["returns"][0] for a in alone], rtol=0.05)


def test_paired_difference_statistics():
    rng = np.random.default_rng(0)
    cleared = rng.normal(500, 50, size=(40, 9))
    full = cleared + 30 + rng.normal(0, 10, size=(40, 9))
    d = paired_difference(full.tolist(), cleared.tolist())
    assert last_third(9) == slice(6, 9) and d["last_third"]["shots"] == [7, 9]
    lo, hi = d["last_third"]["ci95"]
    assert 25 < lo < d["last_third"]["mean"] < hi < 35 and d["last_third"]["runs_positive"] == 40
    same = paired_difference(cleared.tolist(), cleared.tolist())
    assert same["last_third"]["mean"] == 0 and same["last_third"]["ci95"] == [0.0, 0.0]
    with pytest.raises(ValueError, match="paired runs differ in shape"):
        paired_difference(full[:3].tolist(), cleared.tolist())


def test_an_arm_pools_its_training_seeds_goal_by_goal(latent_run, tmp_path):
    """benchmarks/icrl_seeds.py reads the eval's results.json as written, pools by goal, refuses another protocol."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import icrl_seeds

    a, b, other = tmp_path / "a", tmp_path / "b", tmp_path / "other"
    for out, seed in ((a, "0"), (b, "0"), (other, "1")):
        proc = eval_cli(latent_run / "run", out, "--variation", "goal_set=test", "--ablation", "--seed", seed)
        assert proc.returncode == 0, proc.stderr
    r = json.loads((a / "results.json").read_text())
    one = icrl_seeds.load(a)
    assert one["train_seed"] == 0 and one["shots"] == [3, 3]
    np.testing.assert_array_equal(one["full"], np.asarray(r["per_seed"]["returns"])[:, 2])
    np.testing.assert_allclose(one["paired"], r["ablation"]["paired_difference"]["last_third"]["per_run"], atol=1e-5)
    # one seed: the pool is that evaluation, and drawing seeds adds nothing to the interval
    pool = icrl_seeds.arm_over_seeds([one], agnostic=-1e9)
    assert pool["full"]["mean"] == pytest.approx(r["summary"]["last_third_mean"])
    assert pool["full"]["ci95_seeds_and_goals"] == pool["full"]["ci95_goals"]
    meets = r["ablation"]["paired_difference"]["last_third"]["ci95"][0] > 0
    assert pool["seeds_meeting_goal"] == meets and pool["arm_meets_goal"] == meets
    # the same checkpoint evaluated twice is one seed, not two
    with pytest.raises(icrl_seeds.SeedsError, match="evaluate the same checkpoint"):
        icrl_seeds.arm_over_seeds([one, icrl_seeds.load(b)], agnostic=0.0)
    with pytest.raises(icrl_seeds.SeedsError, match="its config differs"):
        icrl_seeds.arm_over_seeds([one, {**icrl_seeds.load(other), "checkpoint": "another"}], agnostic=0.0)
    proc = subprocess.run(
        [sys.executable, "benchmarks/icrl_seeds.py", "--agnostic", "0", str(a), str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert proc.returncode == 1 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


def test_the_seed_level_interval_carries_the_spread_between_seeds():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import icrl_seeds

    def seed(full: float, paired: float) -> dict:
        return {
            "folder": f"seed-{full}",
            "checkpoint": f"run-{full}",
            "train_seed": None,
            "full": np.full(50, full),
            "paired": np.full(50, paired),
            "shots": [9, 12],
            "full_ci95": [full, full],
            "paired_ci95": [paired, paired],
            "match": {"task": "t", "config": {}, "variations": []},
        }

    # every goal alike: over goals nothing varies; over seeds, a quarter of the draws are all-A and all-B
    pool = icrl_seeds.arm_over_seeds([seed(700, 10), seed(600, -10)], agnostic=631.4)
    assert pool["full"]["mean"] == 650 and pool["full"]["ci95_goals"] == [650, 650]
    assert pool["full"]["ci95_seeds_and_goals"] == [600, 700] and pool["paired"]["ci95_seeds_and_goals"] == [-10, 10]
    assert [s["meets_goal"] for s in pool["per_seed"]] == [True, False] and pool["seeds_meeting_goal"] == 1
    assert not pool["arm_meets_goal"]
    assert icrl_seeds.arm_over_seeds([seed(700, 10), seed(680, 5)], agnostic=631.4)["arm_meets_goal"]
    with pytest.raises(icrl_seeds.SeedsError, match="no evaluations"):
        icrl_seeds.arm_over_seeds([], agnostic=0.0)
