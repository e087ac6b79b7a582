"""Latent-task data (docs/design.md §8): `collect --hide`, its record in info.json/card/name, validate's hidden check,
Meta-World's per-history goals (`--fixed-goal`) and held-out goal set (`goal_set=test`).

Real envs, real files, the real CLI; sizes kept small (the whole file runs in well under a minute on one core).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import one_line_error, run_cli

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

MW = "reach-v3"
IB = "industrial-benchmark-50-v1"
GOAL = [36, 37, 38]
# 3 histories x 4 episodes of 100 steps; p = 3 keeps the first episode noisy, f = 0.5 leaves the last two noise-free,
# so the learning-curve checks of validate pass on these few episodes. The scripted expert passes the gate (README);
# --force only skips its cost here.
MW_LATENT = [
    "--fixed-goal",
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
IB_LATENT = [
    "--demonstrator",
    "zero",
    "--force",
    "--histories",
    "2",
    "--steps",
    "1000",
    "--p",
    "3",
    "--f",
    "0.5",
    "--reference-episodes",
    "8",
]


def rows(folder: Path) -> pa.Table:
    return pq.read_table(sorted((folder / "data").glob("*.parquet")))


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as a NumPy array (fixed-size lists -> 2-D), with the dtype the file stores."""
    col = table.column(name).combine_chunks()
    if pa.types.is_fixed_size_list(col.type):
        return col.values.to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)
    return col.to_numpy(zero_copy_only=False)


def episodes(folder: Path) -> dict:
    return pq.read_table(folder / "meta" / "episodes.parquet").to_pydict()


def info(folder: Path) -> dict:
    return json.loads((folder / "meta" / "info.json").read_text())


def manifest(folder: Path) -> list:
    """The manifest's entries for the files that depend only on the data (info.json, the card and the plot record
    provenance such as the date and command line, so their entries differ between equal collections)."""
    from vintix_data.manifest import data_manifest

    return data_manifest(folder)


def collect_here(out: Path, task: str = MW, **kw) -> Path:
    """The same collection as the CLI's, in this process (no second start-up, MT1's variations cached)."""
    from vintix_data.collect import CollectConfig, collect

    settings = dict(
        fixed_goal=True, histories=3, steps=400, p=3.0, f=0.5, reference_episodes=4, force=True, command=["test_latent"]
    )
    from vintix_data.validate import validate

    folder = collect(CollectConfig(task=task, out=str(out), **{**settings, **kw}))
    report = validate(folder)  # what the CLI runs after collecting
    assert report.ok, report.errors
    return folder


@pytest.fixture(scope="module")
def hidden_mw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("latent") / "reach-hidden"
    run_cli("collect", MW, "--out", str(out), "--hide", "goal", *MW_LATENT, check=True)
    return out


@pytest.fixture(scope="module")
def full_mw(tmp_path_factory) -> Path:
    return collect_here(tmp_path_factory.mktemp("latent") / "reach-full")  # = MW_LATENT without --hide


# -- Meta-World: the goal hidden -----------------------------------------------------------------


def test_hidden_goal_rows_info_card_and_validate(hidden_mw):
    from datasets import load_dataset

    from vintix_data.domains.metaworld import history_seed, variation_index
    from vintix_data.format import DatasetInfo
    from vintix_data.validate import validate

    obs = np.asarray(load_dataset(str(hidden_mw), split="train")["observation"], np.float32)
    assert obs.shape == (1200, 39)
    assert np.all(obs[:, GOAL] == 0.0)
    assert np.all(obs[:, :3].std(0) > 0)  # the hand still moves in the rows
    ep = episodes(hidden_mw)
    final = np.asarray(ep["final_observation"], np.float32)
    assert final.shape == (12, 39) and np.all(final[:, GOAL] == 0.0) and np.any(final[:, :3] != 0)

    meta = info(hidden_mw)
    assert meta["hidden_observation"] == {"components": ["goal"], "indices": GOAL, "fill": 0.0}
    assert meta["extra"] == {"env_options": {"fixed_goal": True}}
    assert DatasetInfo.load(hidden_mw).name == "vintix-reach-v3-hidden-goal"
    card = (hidden_mw / "README.md").read_text()
    assert "`vintix-reach-v3-hidden-goal`" in card and "with the goal hidden" in card
    assert "columns 36, 37, 38" in card and "latent-task" in card

    report = validate(hidden_mw)
    assert report.ok, report.errors

    # one variation per history, distinct across histories, and still a function of the reset seed alone
    per_history = {
        h: {(v, s) for hh, v, s in zip(ep["history"], ep["variation"], ep["reset_seed"]) if hh == h} for h in range(3)
    }
    assert all(len(v) == 1 for v in per_history.values())
    (v0, s0), (v1, s1), (v2, s2) = (next(iter(per_history[h])) for h in range(3))
    assert len({v0, v1, v2}) == 3
    assert [s0, s1, s2] == [history_seed(0, h) for h in range(3)]
    assert [v0, v1, v2] == [variation_index(s) for s in (s0, s1, s2)]


def test_hiding_does_not_change_what_the_demonstrator_did(hidden_mw, full_mw):
    """Same seed, with and without --hide goal: every column's bytes match except the goal columns."""
    assert info(full_mw)["hidden_observation"] is None
    h, f = rows(hidden_mw), rows(full_mw)
    assert h.num_rows == f.num_rows == 1200
    for name in (
        "history",
        "episode",
        "step",
        "t",
        "action",
        "demonstrator_action",
        "epsilon",
        "reward",
        "terminated",
        "truncated",
    ):
        assert column(h, name).tobytes() == column(f, name).tobytes(), name
    oh, of = column(h, "observation"), column(f, "observation")
    other = [i for i in range(39) if i not in GOAL]
    assert oh[:, other].tobytes() == of[:, other].tobytes()
    assert np.all(oh[:, GOAL] == 0.0) and np.all(np.abs(of[:, GOAL]).sum(1) > 0)
    # the full data show one goal per history (fixed goal), three different ones
    hist = column(f, "history")
    goals = {tuple(np.unique(of[hist == k][:, GOAL], axis=0).ravel()) for k in range(3)}
    assert len(goals) == 3 and all(len(g) == 3 for g in goals)

    eh, ef = episodes(hidden_mw), episodes(full_mw)
    for key in ef:
        if key != "final_observation":
            assert eh[key] == ef[key], key
    fh, ff = np.asarray(eh["final_observation"], np.float32), np.asarray(ef["final_observation"], np.float32)
    assert fh[:, other].tobytes() == ff[:, other].tobytes() and np.all(ff[:, GOAL] != 0)
    # the measured references are the demonstrator's on the full observation: the same in both
    assert info(hidden_mw)["reference_scores"] == info(full_mw)["reference_scores"]


def test_hidden_collection_is_deterministic(hidden_mw, tmp_path):
    again = tmp_path / "again"  # also over 3 sub-envs: the masking does not depend on the batch
    collect_here(again, hide=("goal",), num_envs=3, vector="sync")
    assert manifest(again) == manifest(hidden_mw)
    assert info(again)["hidden_observation"] == info(hidden_mw)["hidden_observation"]


def test_validate_rejects_a_leaked_hidden_column(hidden_mw, tmp_path):
    """A goal value written into a shard (manifest rewritten to match): the hidden check names the row (the stats
    recomputed from the rows see the changed mean of that column too)."""
    from vintix_data.manifest import write_manifest
    from vintix_data.validate import validate

    bad = tmp_path / "bad"
    shutil.copytree(hidden_mw, bad)
    shard = sorted((bad / "data").glob("*.parquet"))[0]
    table = pq.read_table(shard)
    obs = column(table, "observation").copy()
    obs[123, 37] = 0.25
    col = pa.FixedSizeListArray.from_arrays(pa.array(obs.ravel(), pa.float32()), 39)
    table = table.set_column(table.schema.get_field_index("observation"), table.schema.field("observation"), col)
    pq.write_table(table, shard, compression="zstd")
    write_manifest(bad)
    report = validate(bad)
    assert not report.ok and "hidden" in report.errors[0], report.errors
    assert "history 0 episode 1 t=123" in report.errors[0] and "goal" in report.errors[0]
    assert all("hidden" in e or "observation mean[37]" in e for e in report.errors), report.errors
    proc = run_cli("validate", str(bad))
    assert proc.returncode == 1 and "hidden" in proc.stderr, proc.stderr

    # the same for the final observation in meta/episodes.parquet
    bad2 = tmp_path / "bad2"
    shutil.copytree(hidden_mw, bad2)
    path = bad2 / "meta" / "episodes.parquet"
    ep = pq.read_table(path)
    final = column(ep, "final_observation").copy()
    final[5, 36] = -0.1
    col = pa.FixedSizeListArray.from_arrays(pa.array(final.ravel(), pa.float32()), 39)
    ep = ep.set_column(ep.schema.get_field_index("final_observation"), ep.schema.field("final_observation"), col)
    pq.write_table(ep, path)
    write_manifest(bad2)
    report = validate(bad2)
    assert not report.ok and report.errors and all("hidden" in e for e in report.errors), report.errors
    assert "episodes.parquet" in report.errors[0] and "history 1 episode 1" in report.errors[0]


# -- Industrial Benchmark: the setpoint hidden ---------------------------------------------------


def test_ib_hidden_setpoint_with_a_fill(tmp_path):
    from vintix_data.format import DatasetInfo
    from vintix_data.validate import validate

    out = tmp_path / "ib"
    run_cli("collect", IB, "--out", str(out), "--hide", "setpoint", "--hide-fill", "0.5", *IB_LATENT, check=True)
    obs = column(rows(out), "observation")
    assert obs.shape == (2000, 6) and np.all(obs[:, 0] == np.float32(0.5))
    assert np.all(obs[:, 1:].std(0) > 0)
    final = np.asarray(episodes(out)["final_observation"], np.float32)
    assert np.all(final[:, 0] == np.float32(0.5))
    assert info(out)["hidden_observation"] == {"components": ["setpoint"], "indices": [0], "fill": 0.5}
    assert DatasetInfo.load(out).name == "vintix-industrial-benchmark-50-v1-hidden-setpoint"
    assert "`vintix-industrial-benchmark-50-v1-hidden-setpoint`" in (out / "README.md").read_text()
    report = validate(out)
    assert report.ok, report.errors


# -- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, fragments",
    [
        (
            [MW, "--hide", "goals"],
            [
                "'goals'",
                "not an observation component of reach-v3",
                "valid: hand, gripper, objects, previous_hand, previous_gripper, previous_objects, goal",
            ],
        ),
        (
            ["InvertedPendulum-v5", "--hide", "goal"],
            ["--hide", "InvertedPendulum-v5", "no named observation components"],
        ),
        ([MW, "--hide", "goal", "--hide-fill", "nan"], ["--hide-fill must be a finite number"]),
        ([IB, "--hide-fill", "nan", "--demonstrator", "zero"], ["--hide-fill must be a finite number"]),
    ],
)
def test_bad_hide_input_is_one_line_and_writes_nothing(tmp_path, args, fragments):
    out = tmp_path / "o"
    one_line_error(run_cli("collect", *args, "--out", str(out)), *fragments)
    assert not out.exists()


# -- Meta-World goal sets and per-history goals --------------------------------------------------


def _goals(task) -> dict[int, tuple]:
    """Variation -> the goal read off the full observation after a seeded reset, for all 50 variations."""
    from vintix_data.domains import make_env
    from vintix_data.domains.metaworld import variation_index

    seeds = {}  # one reset seed per variation (the variation is a function of the seed alone)
    for s in range(5000):
        seeds.setdefault(variation_index(s), s)
    env = make_env(task)
    goals = {}
    for v, s in sorted(seeds.items()):
        obs, inf = env.reset(seed=s)
        assert inf["variation"] == v
        goals[v] = tuple(np.round(obs[GOAL].astype(np.float64), 6))
    env.close()
    assert len(goals) == 50
    return goals


def test_goal_set_test_is_disjoint_from_train(tmp_path):
    from vintix_data.domains import configure_task
    from vintix_data.registry import get_task

    train = configure_task(get_task(MW))
    test = configure_task(get_task(MW), env_options={"goal_set": "test"})
    assert train.env_kwargs["seed"] == 0 and test.env_kwargs["seed"] == 1
    assert configure_task(get_task(MW), env_options={"goal_set": "train"}) == train
    g_train, g_test = _goals(train), _goals(test)
    assert len(set(g_train.values())) == 50 and len(set(g_test.values())) == 50
    assert not set(g_train.values()) & set(g_test.values())

    out = collect_here(tmp_path / "test-goals", histories=1, env_options={"goal_set": "test"})
    meta = info(out)
    assert meta["env_kwargs"] == {"env_name": "reach-v3", "seed": 1}
    assert meta["extra"] == {"env_options": {"fixed_goal": True, "goal_set": "test"}}
    variation = set(episodes(out)["variation"])
    assert len(variation) == 1
    recorded = {tuple(np.round(g.astype(np.float64), 6)) for g in column(rows(out), "observation")[:, GOAL]}
    assert recorded == {g_test[variation.pop()]}  # the rows ran the held-out goal the episode table names


def test_fixed_goal_gives_fifty_distinct_variations():
    from vintix_data.domains.base import history_variation_seed
    from vintix_data.domains.metaworld import goal_order, history_seed, variation_index

    seeds = [history_seed(0, h) for h in range(50)]
    variations = [variation_index(s) for s in seeds]
    assert sorted(variations) == list(range(50))
    assert variations == [int(v) for v in goal_order(0)]
    assert variation_index(history_seed(0, 50)) == variations[0]  # repeats after 50 histories
    # deterministic: the same seeds recomputed without the cache, and another seed gives another order
    history_variation_seed.cache_clear()
    assert [history_seed(0, h) for h in range(50)] == seeds
    assert [variation_index(history_seed(7, h)) for h in range(50)] != variations
    assert sorted(variation_index(history_seed(7, h)) for h in range(50)) == list(range(50))


def test_ib_setpoints_one_per_history_hidden(tmp_path):
    """The latent Industrial Benchmark task: --env-option setpoints=... gives each history one setpoint of the list
    (distinct up to the list's length), and --hide setpoint keeps it out of the rows."""
    out = tmp_path / "ib-setpoints"
    run_cli(
        "collect",
        IB,
        "--out",
        str(out),
        "--demonstrator",
        "zero",
        "--force",
        "--env-option",
        "setpoints=20,40,60",
        "--hide",
        "setpoint",
        "--histories",
        "3",
        "--steps",
        "500",
        "--reference-episodes",
        "20",
        check=True,
    )
    info = json.loads((out / "meta/info.json").read_text())
    assert info["extra"]["env_options"] == {"setpoints": [20.0, 40.0, 60.0]}
    episodes = pq.read_table(out / "meta/episodes.parquet").to_pydict()
    per_history = {h: {v for hh, v in zip(episodes["history"], episodes["variation"]) if hh == h} for h in range(3)}
    assert all(len(v) == 1 for v in per_history.values())
    assert sorted(next(iter(v)) for v in per_history.values()) == [0, 1, 2]
    obs = np.asarray(pq.read_table(out / "data").column("observation").to_pylist())
    assert (obs[:, 0] == 0.0).all() and obs[:, 1:].std() > 0


def test_ib_setpoints_follow_the_reset_seed_and_bad_lists_are_refused():
    from vintix_data.domains import configure_task, episode_reset_seed, make_env
    from vintix_data.errors import UserError
    from vintix_data.registry import get_task

    task = configure_task(get_task(IB), env_options={"setpoints": "20,40,60"})
    env = make_env(task)
    seen = []
    for h in range(3):
        seed = episode_reset_seed(task, 0, h, 5)
        assert seed == episode_reset_seed(task, 0, h, 0)  # every episode of a history: the same setpoint
        obs, info = env.reset(seed=seed)
        assert obs[0] == [20.0, 40.0, 60.0][info["variation"]]
        seen.append(info["variation"])
    env.close()
    assert sorted(seen) == [0, 1, 2]
    for bad in ("20", "20,20", "20,140", "a,b"):
        with pytest.raises(UserError, match="setpoints"):
            configure_task(get_task(IB), env_options={"setpoints": bad})
    with pytest.raises(UserError, match="unknown env option"):
        configure_task(get_task(IB), env_options={"viscosity": "0.1"})
