"""Reward relabelling in training (`train.relabel`, vintix_model/relabel.py, docs/design.md §8) on a real latent
reach-v3 collection.

The tolerance test: relabelling each window to its history's *own* goal must reproduce the stored rewards (the env's,
computed from the simulator's tcp_center) and `demonstrator_action` (metaworld's scripted expert on the full float64
observation). Measured on this collection (3 histories x 600 steps, seed 0): reward |error| median ~0.004, max ~0.3
on reach-v3's 0-10 scale (the hand-to-pads offset is not exactly (0, 0, -0.045)); labels within 2e-7 (float32
observations). The bounds below: median <= 0.02, max <= 0.5; labels <= 1e-5.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import one_line_error, run_model_cli

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

REWARD_MEDIAN, REWARD_MAX, LABEL_MAX = 0.02, 0.5, 1e-5
CONTEXT = 64
SMALL = dict(
    fixed_goal=True, histories=3, steps=600, p=3.0, f=0.5, reference_episodes=4, force=True, command=["test_relabel"]
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    old = os.environ.get("VINTIX_CACHE")
    os.environ["VINTIX_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("VINTIX_CACHE", None)
    else:
        os.environ["VINTIX_CACHE"] = old


@pytest.fixture(scope="module")
def latent(tmp_path_factory, cache) -> Path:
    from vintix_data.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("relabel") / "reach-latent"
    return collect(CollectConfig(task="reach-v3", out=str(out), hide=("goal", "objects", "previous_objects"), **SMALL))


def windows(folder: Path, mode: str = "uniform"):
    from vintix_model.data.arrays import prepare
    from vintix_model.data.relabel import window_relabel
    from vintix_model.data.sampler import WindowDataset, WindowOrder, index_tasks

    tasks = prepare([str(folder)], target="demonstrator_action")
    w = index_tasks(tasks, CONTEXT, 16)
    order = WindowOrder([len(x.starts) for x in w], 0)
    plain = WindowDataset(tasks, w, order, CONTEXT, "demonstrator_action")
    relabelled = WindowDataset(tasks, w, order, CONTEXT, "demonstrator_action")
    relabelled.relabel = window_relabel(tasks, mode, seed=0, target="demonstrator_action")
    return tasks, w, plain, relabelled


def own_goals(folder: Path) -> dict[int, np.ndarray]:
    """History -> its true goal (the rows hide it): its variation's goal, from the variation set the data used."""
    from vintix_data.domains.metaworld_goals import env_facts

    info = json.loads((folder / "meta" / "info.json").read_text())
    eps = pq.read_table(folder / "meta" / "episodes.parquet").to_pydict()
    goals = env_facts("reach-v3", info["env_kwargs"]["seed"])["variation_goals"]
    return {h: goals[v] for h, v in zip(eps["history"], eps["variation"])}


def test_relabelling_to_the_own_goal_reproduces_rewards_and_labels(latent, monkeypatch):
    tasks, w, plain, relabelled = windows(latent)
    goals = own_goals(latent)
    history = np.load(tasks[0].arrays / "history.npy")
    hook = relabelled.relabel
    # every window, relabelled to its own history's goal through the very hook training uses
    monkeypatch.setattr(hook, "goal", lambda task, position, window: goals[int(history[w[0].starts[window]])])
    errors, label_errors = [], []
    for window in range(len(w[0].starts)):
        a, b = plain[window], relabelled[(window, window)]
        inside = ~a["first"]  # at an episode start the previous reward is the padding vector's business
        errors.append(np.abs(a["prev_reward"] - b["prev_reward"])[inside])
        label_errors.append(np.abs(a["target"] - b["target"]).max())
        assert np.array_equal(a["obs"], b["obs"]) and np.array_equal(a["prev_action"], b["prev_action"])
    err = np.concatenate(errors)
    print(
        f"reward |error| median {np.median(err):.4f} p99 {np.percentile(err, 99):.4f} max {err.max():.4f} "
        f"over {len(err)} tokens; label max {max(label_errors):.2e}"
    )
    assert np.median(err) <= REWARD_MEDIAN and err.max() <= REWARD_MAX
    assert max(label_errors) <= LABEL_MAX


def test_fresh_goals_are_deterministic_in_the_box_and_label_with_the_real_expert(latent):
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.domains.metaworld_goals import aim

    tasks, w, plain, relabelled = windows(latent)
    a, b, again = relabelled[(0, 3)], relabelled[(1, 3)], relabelled[(0, 3)]
    assert np.array_equal(a["goal"], again["goal"]) and np.array_equal(a["prev_reward"], again["prev_reward"])
    assert not np.array_equal(a["goal"], b["goal"])  # the same window at another stream position: another task
    goals = np.stack([relabelled[(p, 0)]["goal"] for p in range(200)])
    low, high = np.array([-0.1, 0.8, 0.05]), np.array([0.1, 0.9, 0.3])
    assert (goals >= low).all() and (goals <= high).all() and (goals.std(0) > 0.2 * (high - low) / np.sqrt(12)).all()
    start = int(w[0].kept[w[0].starts[3]])
    raw = np.load(tasks[0].arrays / "observation.npy")[start + 1 : start + CONTEXT + 1].astype(np.float64)
    expert = ScriptedDemonstrator("reach-v3").act(aim(raw, np.tile(a["goal"], (len(raw), 1))))
    assert np.abs(expert - a["target"]).max() <= LABEL_MAX
    assert not np.allclose(a["target"], plain[3]["target"], atol=0.05)  # really another task's labels
    # the ablation draws among the dataset's own goals
    _, _, _, own = windows(latent, "dataset")
    drawn = {tuple(own[(p, 0)]["goal"]) for p in range(60)}
    assert drawn == {tuple(g) for g in own_goals(latent).values()}


def test_train_cli_relabels_and_refuses_what_it_cannot(latent, cache, tmp_path):
    env = {"VINTIX_CACHE": str(cache)}
    common = [
        "train",
        "--datasets",
        str(latent),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--set",
        f"model.context={CONTEXT}",
        "--set",
        "train.stride=16",
        "--set",
        "train.num_workers=0",
    ]
    run_model_cli(
        *common,
        "--out",
        str(tmp_path / "run"),
        "--set",
        "train.target=demonstrator_action",
        "--set",
        "train.relabel=uniform",
        env=env,
        check=True,
    )
    meta = json.loads(next((tmp_path / "run" / "checkpoints").glob("step-*/metadata.json")).read_text())
    assert meta["train_config"]["relabel"] == "uniform", meta["train_config"]
    one_line_error(
        run_model_cli(*common, "--out", str(tmp_path / "ad"), "--set", "train.relabel=uniform", env=env),
        "train.relabel needs train.target=demonstrator_action",
    )
    one_line_error(
        run_model_cli(*common, "--out", str(tmp_path / "bad"), "--set", "train.relabel=goals", env=env),
        "train.relabel must be one of",
    )


def test_relabelling_refuses_data_that_shows_the_goal(tmp_path, cache):
    from vintix_data.collect import CollectConfig, collect
    from vintix_model.data.arrays import DataError, prepare
    from vintix_model.data.relabel import window_relabel

    folder = collect(CollectConfig(task="reach-v3", out=str(tmp_path / "full"), **{**SMALL, "histories": 1}))
    tasks = prepare([str(folder)], target="demonstrator_action")
    with pytest.raises(DataError, match="shows the goal"):
        window_relabel(tasks, "uniform", 0, "demonstrator_action")
