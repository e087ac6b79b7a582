"""The reward-driven learner demonstrator (`collect --behaviour learner`, docs/design.md §8) on real reach-v3
collections.

What must hold: the learner finds the hidden goal from rewards (its last, noise-free episode scores about what the
scripted expert that sees the goal scores); it never reads the goal (the labels are rebuilt here from the recorded
rows alone, whose goal columns are hidden, and junk goal columns change nothing); its intended action is
`demonstrator_action` and the executed action is that, noise-mixed; and a killed collection resumes to the bytes of
an uninterrupted one (the learner's state is rebuilt from the saved rows).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import kill_mid_collection, one_line_error, run_cli
from tests.test_behaviour import data_manifest, rows, true_goals

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

ARGS = [
    "collect",
    "reach-v3",
    "--behaviour",
    "learner",
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


@pytest.fixture(scope="module")
def learned(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("learner") / "learner"
    run_cli(*ARGS, "--out", str(out), check=True)  # check=True: validate's mixing and curve checks pass too
    return out


def rebuilt_goals(folder: Path, junk_goal: bool = False) -> np.ndarray:
    """Each row's goal as a fresh learner rebuilds it from the recorded rows alone (the goal the demonstrator was
    aimed at for that row): fresh per history, updated with each transition (next observation, reward)."""
    from vintix_data.domains import configure_task
    from vintix_data.domains.metaworld_goals import GOAL_COLUMNS
    from vintix_data.registry import get_task

    r = rows(folder)
    eps = pq.read_table(folder / "meta" / "episodes.parquet").to_pydict()
    learner = configure_task(get_task("reach-v3"), fixed_goal=True).learner(1)
    junk = np.random.default_rng(3)
    aims = np.zeros((len(r["reward"]), 3))
    for j, (h, first, n) in enumerate(zip(eps["history"], eps["first_row"], eps["length"])):
        if j == 0 or eps["history"][j - 1] != h:
            learner.start(0)
        following = np.concatenate(
            [r["observation"][first + 1 : first + n], np.asarray(eps["final_observation"][j], np.float32)[None]]
        )
        if junk_goal:  # what a learner that read the goal columns would see differently
            following = following.copy()
            following[:, GOAL_COLUMNS] = junk.uniform(-1, 1, (n, len(GOAL_COLUMNS)))
        for i in range(n):
            aims[first + i] = learner.goals()[0]
            learner.observe(0, following[i], r["reward"][first + i])
    return aims


def test_labels_are_the_learners_action_rebuilt_from_the_rows_alone(learned):
    """demonstrator_action = the scripted expert aimed at the posterior mean that the recorded rows (goal hidden)
    give; action = that, noise-mixed. Junk in the goal columns rebuilds the same goals."""
    from vintix_data.collect.parts import episode_noise
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.domains.metaworld_goals import aim
    from vintix_data.schedule import NoiseSchedule

    r = rows(learned)
    assert not r["observation"][:, 36:39].any()  # the rows hide the goal: the rebuild cannot read it
    aims = rebuilt_goals(learned)
    assert np.array_equal(aims, rebuilt_goals(learned, junk_goal=True))
    expert = ScriptedDemonstrator("reach-v3")
    labels = expert.act(aim(r["observation"].astype(np.float64), aims))
    # float32 rows against the float64 observations the collector's expert saw: 5 x float32 rounding of the hand
    assert np.abs(labels - r["demonstrator_action"]).max() < 1e-5
    truth = expert.act(aim(r["observation"].astype(np.float64), true_goals(learned)))
    assert np.abs(truth - r["demonstrator_action"]).max() > 0.5  # early on the learner is not the true expert
    eps = NoiseSchedule(p=3.0, f=0.5, steps=400).epsilon(r["t"])[:, None]
    for h in range(3):
        for k in range(4):
            at = (r["history"] == h) & (r["episode"] == k)
            noise = episode_noise(0, h, k, -np.ones(4), np.ones(4), 100)
            expected = np.clip((1 - eps[at]) * r["demonstrator_action"][at].astype(np.float64) + eps[at] * noise, -1, 1)
            assert np.abs(r["action"][at] - expected).max() < 1e-6, (h, k)
    info = json.loads((learned / "meta" / "info.json").read_text())
    assert info["extra"]["behaviour"]["kind"] == "learner" and info["extra"]["behaviour"]["grid"] == [21, 11, 26]
    assert "Reward-driven learner (`learner`)" in (learned / "README.md").read_text()


def test_the_learner_finds_the_goal(learned):
    """Its last, noise-free episode scores within 3% of the scripted expert aimed at the true goal (same reset), far
    above its first; and the posterior rebuilt from a history's rows ends within 2 cm of the true goal."""
    from vintix_data.domains import configure_task
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.registry import get_task

    eps = pq.read_table(learned / "meta" / "episodes.parquet").to_pydict()
    env = configure_task(get_task("reach-v3"), fixed_goal=True).make_env()
    expert = ScriptedDemonstrator("reach-v3")
    goals = true_goals(learned)
    aims = rebuilt_goals(learned)
    for h in range(3):
        js = [j for j, hh in enumerate(eps["history"]) if hh == h]
        first, last = js[0], js[-1]
        obs, _ = env.reset(seed=eps["reset_seed"][last])
        done, ret = False, 0.0
        while not done:
            obs, rew, term, trunc, _ = env.step(expert.act(obs[None])[0])
            ret += float(rew)
            done = term or trunc
        assert eps["return"][last] > 0.97 * ret, (h, eps["return"][last], ret)
        assert eps["return"][first] < 0.5 * ret
        end = eps["first_row"][last] + eps["length"][last] - 1
        assert np.linalg.norm(aims[end] - goals[end]) < 0.02, (h, aims[end], goals[end])
    env.close()


def test_killed_and_resumed_gives_the_uninterrupted_bytes(learned, tmp_path):
    """The learner's state is rebuilt from the saved episodes of a resumed history (and a slot reused by another
    history starts fresh): same bytes as one uninterrupted run, whatever --num-envs."""
    longer = [*ARGS[: ARGS.index("--histories")], "--histories", "4", *ARGS[ARGS.index("--histories") + 2 :]]
    full, killed = tmp_path / "full", tmp_path / "killed"
    run_cli(*longer, "--out", str(full), check=True)
    n = kill_mid_collection([*longer, "--num-envs", "2", "--vector", "sync"], killed, min_parts=5)
    assert 5 <= n < 16, "the kill should land mid-collection"
    other = run_cli(*[a if a != "learner" else "decoy" for a in longer], "--out", str(killed), "--resume")
    one_line_error(other, "different settings", "behaviour")
    run_cli(*longer, "--num-envs", "2", "--vector", "sync", "--out", str(killed), "--resume", check=True)
    assert data_manifest(killed) == data_manifest(full)
    a, b = rows(learned), rows(full)  # histories are independent: the fixture's 3 are the first 3 of these 4
    keep = b["history"] < 3
    assert all(np.array_equal(a[k], b[k][keep]) for k in ("action", "demonstrator_action", "reward"))


def test_a_nearly_noise_free_learner_history_is_held_to_the_learners_own_first_tenth(tmp_path):
    """With eps at 0 after 5% of a history (--f 0.95), a learner's first tenth scores what the learner does while it
    looks for the goal, far below the privileged mixture at that tenth's eps; validate holds it to the learner's
    first tenth, run as collected (it refused such correct data before), and a first tenth that does not fit that
    band still fails."""
    from vintix_data.collect.finalize import reference_scores
    from vintix_data.domains import configure_task
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.registry import get_task
    from vintix_data.schedule import NoiseSchedule
    from vintix_data.validate import validate

    args = [*ARGS[: ARGS.index("--steps")], "--steps", "1000", "--p", "2", "--f", "0.95", "--reference-episodes", "6"]
    out = tmp_path / "nearly-noise-free"
    run_cli(*args, "--force", "--out", str(out), check=True)
    refs = json.loads((out / "meta" / "info.json").read_text())["reference_scores"]
    assert refs["first_tenth_behaviour"] == "learner" and 0.1 < refs["first_tenth_epsilon"] < 0.5
    task = configure_task(get_task("reach-v3"), fixed_goal=True)
    schedule = NoiseSchedule(p=2.0, f=0.95, steps=1000)
    mixture = reference_scores(task, ScriptedDemonstrator("reach-v3"), 6, 0, schedule)  # what it was held to before
    assert mixture.first_tenth_behaviour is None
    assert refs["first_tenth_mean"] < mixture.first_tenth_mean - 100, (refs["first_tenth_mean"], mixture)
    report = validate(out)
    assert report.ok and report.figures["first_tenth_band"][1] < mixture.first_tenth_mean, report.figures
    info = json.loads((out / "meta" / "info.json").read_text())
    info["reference_scores"]["first_tenth_mean"] = mixture.first_tenth_mean  # the old, privileged reference
    (out / "meta" / "info.json").write_text(json.dumps(info))
    bad = validate(out)
    assert not bad.ok and any("outside the learner band" in line for line in bad.errors), bad.errors


def test_learner_decoy_labels_are_the_learners_and_a_share_of_episodes_execute_a_decoy(tmp_path):
    """--behaviour learner-decoy: demonstrator_action is the learner's intended action rebuilt from the rows alone
    (its posterior also learns from the decoy episodes' rewards); per episode, drawn from the episode's seed, the
    executed action is that label noise-mixed, or (a third) the expert aimed at a decoy goal noise-mixed."""
    from vintix_data.collect.config import LEARNER_DECOY_SHARE
    from vintix_data.collect.parts import episode_behaviour, episode_noise
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.domains.metaworld_goals import aim
    from vintix_data.schedule import NoiseSchedule

    out = tmp_path / "learner-decoy"
    run_cli(*[a if a != "learner" else "learner-decoy" for a in ARGS], "--out", str(out), check=True)
    r = rows(out)
    obs = r["observation"].astype(np.float64)
    expert = ScriptedDemonstrator("reach-v3")
    assert np.abs(expert.act(aim(obs, rebuilt_goals(out))) - r["demonstrator_action"]).max() < 1e-5
    eps_all = NoiseSchedule(p=3.0, f=0.5, steps=400).epsilon(np.arange(400))
    kinds = []
    for h in range(3):
        for k in range(4):
            at = (r["history"] == h) & (r["episode"] == k)
            draws = episode_behaviour(0, h, k)
            decoyed = draws.random() < LEARNER_DECOY_SHARE
            goal = draws.uniform([-0.1, 0.8, 0.05], [0.1, 0.9, 0.3])
            executed = (
                expert.act(aim(obs[at], np.tile(goal, (at.sum(), 1)))) if decoyed else r["demonstrator_action"][at]
            )
            eps = eps_all[r["t"][at]][:, None]
            noise = episode_noise(0, h, k, -np.ones(4), np.ones(4), 100)
            expected = np.clip((1 - eps) * executed.astype(np.float64) + eps * noise, -1, 1)
            assert np.abs(r["action"][at] - expected).max() < 1e-5, (h, k, decoyed)
            kinds.append(decoyed)
    assert any(kinds) and not all(kinds), kinds
    info = json.loads((out / "meta" / "info.json").read_text())
    record = info["extra"]["behaviour"]
    assert record["kind"] == "learner-decoy" and record["decoy_share"] == LEARNER_DECOY_SHARE
    assert record["grid"] == [21, 11, 26] and record["decoy"]["distribution"] == "uniform"


def test_refusals(tmp_path):
    base = ["collect", "reach-v3", "--behaviour", "learner", "--histories", "1", "--steps", "200"]
    one_line_error(run_cli(*base, "--out", str(tmp_path / "a")), "--fixed-goal")
    one_line_error(
        run_cli(*base, "--fixed-goal", "--hide", "hand", "--out", str(tmp_path / "b")),
        "reads observation columns [0, 1, 2]",
    )
    one_line_error(
        run_cli(
            "collect",
            "industrial-benchmark-50-v1",
            "--demonstrator",
            "zero",
            "--behaviour",
            "learner",
            "--out",
            str(tmp_path / "c"),
        ),
        "no reward-driven learner",
    )
    assert not any((tmp_path / x).exists() for x in "abc")


def test_first_windows_adds_each_historys_cold_start():
    """train.first_windows=k: every history's t = 0 window k more times per epoch, nothing else changed."""
    from vintix_model.data.sampler import task_windows

    history = np.repeat([0, 1, 2], [50, 30, 8])  # the third history is too short for one window
    episode = np.concatenate([np.arange(n) // 10 for n in (50, 30, 8)])
    plain = task_windows(history, episode, 9, 4, 1)
    more = task_windows(history, episode, 9, 4, 1, first=3)
    assert plain.starts.tolist() == [0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 50, 54, 58, 62, 66]
    assert more.starts.tolist() == [0, 0, 0] + plain.starts[:10].tolist() + [50, 50, 50] + plain.starts[10:].tolist()
    assert np.array_equal(more.kept, plain.kept)
