"""The leak audit (`vintix-data audit`, docs/design.md §8) on real reach-v3 collections.

reach-v3 places the puck from the task's random vector, so with one variation per history (`--fixed-goal`) the puck
columns are a per-history task ID that `--hide goal` leaves visible; the audit must find them (a resting puck
jitters by ~1e-4, so "constant" is a ratio, not equality) and must find nothing once objects are hidden too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import one_line_error, run_cli

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

SMALL = dict(histories=3, steps=400, p=3.0, f=0.5, reference_episodes=4, force=True, command=["test_audit"])


def collect_reach(out: Path, hide: tuple[str, ...], fixed_goal: bool = True) -> Path:
    from vintix_data.collect import CollectConfig, collect

    return collect(CollectConfig(task="reach-v3", out=str(out), hide=hide, fixed_goal=fixed_goal, **SMALL))


@pytest.fixture(scope="module")
def goal_hidden(tmp_path_factory) -> Path:
    return collect_reach(tmp_path_factory.mktemp("audit") / "goal", ("goal",))


@pytest.fixture(scope="module")
def objects_hidden(tmp_path_factory) -> Path:
    return collect_reach(tmp_path_factory.mktemp("audit") / "clean", ("goal", "objects", "previous_objects"))


def test_hidden_goal_alone_leaves_the_puck_as_a_task_id(goal_hidden):
    proc = run_cli("audit", str(goal_hidden), "--json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    found = {f["component"]: f for f in report["findings"]}
    assert set(found) == {"objects", "previous_objects"}, report
    # the puck's x and y (its z rests on the table, equal in every variation); the previous frame's copy of them
    assert found["objects"]["columns"] == [4, 5] and found["previous_objects"]["columns"] == [22, 23]
    assert all(f["level"] == "history" and f["distinct"] == 3 and f["groups"] == 3 for f in found.values())
    assert report["hide"] == ["objects", "previous_objects"]
    text = run_cli("audit", str(goal_hidden))
    assert text.returncode == 1 and "--hide objects --hide previous_objects" in text.stdout, text.stdout
    # validate reports it on latent data as a note, not a failure (the dataset is well-formed)
    val = run_cli("validate", str(goal_hidden))
    assert val.returncode == 0 and "task ID visible: objects: columns 4, 5" in val.stderr, val.stderr


def test_hiding_objects_too_is_clean(objects_hidden):
    proc = run_cli("audit", str(objects_hidden), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["findings"] == [] and report["hidden"] == ["objects", "previous_objects", "goal"]
    val = run_cli("validate", str(objects_hidden))
    assert val.returncode == 0 and "task ID" not in val.stderr, val.stderr


def test_a_visible_goal_is_an_exact_task_id_and_per_episode_variations_are_found(tmp_path):
    from vintix_data.audit import audit

    full = audit(collect_reach(tmp_path / "full", ()))  # the fully observed control: the goal itself is the task ID
    goal = {f.component: f for f in full.findings}["goal"]
    assert goal.columns == [36, 37, 38] and goal.ratio == 0.0 and goal.level == "history"
    per_episode = audit(collect_reach(tmp_path / "episodes", ("goal",), fixed_goal=False))
    found = {f.component: f for f in per_episode.findings}
    assert set(found) == {"objects", "previous_objects"} and found["objects"].level == "episode", per_episode.findings


def test_bad_folder_is_one_line(tmp_path):
    one_line_error(run_cli("audit", str(tmp_path / "missing")), "not a directory")
    (tmp_path / "empty").mkdir()
    one_line_error(run_cli("audit", str(tmp_path / "empty")), "info.json")
