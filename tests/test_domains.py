"""Meta-World, MuJoCo and Bi-DexHands domains, and the demonstrator gate: real envs, real files, the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import kill_mid_collection, one_line_error, run_cli

pytest.importorskip(
    "metaworld", reason="install with pip install -e '.[dev]' (metaworld and gymnasium[mujoco] in one command)"
)

MW = "reach-v3"
MW_SMALL = ["--histories", "2", "--steps", "1500", "--reference-episodes", "3", "--gate-episodes", "3"]
IP = "InvertedPendulum-v5"


def manifest(folder: Path) -> list:
    """The manifest's entries for the files that depend only on the data (info.json, the card and the plot record
    provenance such as the date and command line, so their entries differ between equal collections)."""
    from vintix_data.manifest import data_manifest

    return data_manifest(folder)


# -- Meta-World ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mw_dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mw") / "reach"
    run_cli("collect", MW, "--out", str(out), *MW_SMALL, check=True)
    return out


def test_metaworld_registry_and_env():
    from vintix_data.domains import make_env
    from vintix_data.registry import get_task, list_tasks

    tasks = list_tasks("meta-world")
    assert len(tasks) == 50 and all(t.id.endswith("-v3") and t.episode_limit == 100 for t in tasks)
    import metaworld
    from metaworld.env_dict import ML45_V3

    assert {t.env_kwargs["env_name"] for t in tasks} == set(metaworld.ALL_V3_ENVIRONMENTS)
    assert {t.id for t in list_tasks("meta-world", "test")} == set(ML45_V3["test"])
    env = make_env(get_task("push-v3"))
    assert env.observation_space.shape == (39,) and env.action_space.shape == (4,)
    # MT1 ignores reset(seed=): our adapter makes the variation, and the whole episode, a function of the seed
    a, info_a = env.reset(seed=11)
    b, info_b = env.reset(seed=12)
    c, info_c = env.reset(seed=11)
    assert info_a["variation"] == info_c["variation"] and np.array_equal(a, c) and not np.array_equal(a, b)
    assert np.any(a[36:39] != 0), "the goal is observed although MT1's space claims [0, 0, 0] bounds"
    steps = 0
    while True:
        _, _, terminated, truncated, _ = env.step(np.zeros(4, np.float32))
        steps += 1
        if terminated or truncated:
            break
    assert (steps, terminated) == (100, False)


@pytest.mark.filterwarnings("ignore:Constant")
def test_scripted_expert_is_batch_invariant_and_matches_metaworld():
    from metaworld.policies import ENV_POLICY_MAP

    from vintix_data.demonstrators import load_demonstrator
    from vintix_data.domains import make_env
    from vintix_data.registry import get_task

    task = get_task("pick-place-v3")
    env = make_env(task)
    demo = load_demonstrator("scripted", env.observation_space, env.action_space, task=task)
    assert demo.kind == "scripted"
    obs = []
    for s in range(6):
        o, _ = env.reset(seed=s)
        obs.append(o)
        for _ in range(7):
            o, *_ = env.step(np.random.default_rng(s).uniform(-1, 1, 4))
            obs.append(o)
    obs = np.array(obs)
    batch = demo.act(obs)
    rows = np.concatenate([demo.act(obs[i : i + 1]) for i in range(len(obs))])
    assert batch.dtype == np.float32 and batch.tobytes() == rows.tobytes()
    ref = np.array([np.clip(ENV_POLICY_MAP["pick-place-v3"]().get_action(o), -1, 1) for o in obs], np.float32)
    assert np.array_equal(batch, ref)


def test_metaworld_collection_is_deterministic_and_records_variations(mw_dataset, tmp_path):
    info = json.loads((mw_dataset / "meta" / "info.json").read_text())
    assert info["env_kwargs"] == {"env_name": "reach-v3", "seed": 0} and info["demonstrator"]["kind"] == "scripted"
    ep = pq.read_table(mw_dataset / "meta" / "episodes.parquet").to_pydict()
    assert len(ep["variation"]) == 30 and len(set(ep["variation"])) > 5  # the goal varies per episode
    from vintix_data.domains.metaworld import variation_index

    assert ep["variation"] == [variation_index(s) for s in ep["reset_seed"]]
    two = tmp_path / "two-envs"
    run_cli("collect", MW, "--out", str(two), *MW_SMALL, "--num-envs", "2", check=True)
    assert manifest(two) == manifest(mw_dataset)
    fixed = tmp_path / "fixed"
    run_cli("collect", MW, "--out", str(fixed), *MW_SMALL, "--fixed-goal", check=True)
    fep = pq.read_table(fixed / "meta" / "episodes.parquet").to_pydict()
    per_history = {h: {v for hh, v in zip(fep["history"], fep["variation"]) if hh == h} for h in (0, 1)}
    assert all(len(v) == 1 for v in per_history.values()) and per_history[0] != per_history[1]
    assert json.loads((fixed / "meta" / "info.json").read_text())["extra"] == {"env_options": {"fixed_goal": True}}
    assert manifest(fixed) != manifest(mw_dataset)


def test_metaworld_sigkill_then_resume_gives_the_uninterrupted_bytes(mw_dataset, tmp_path):
    killed = tmp_path / "killed"
    args = ["collect", MW, *MW_SMALL, "--out", str(killed)]
    n = kill_mid_collection(args[:-2], killed, min_parts=8)
    assert 8 <= n < 30 and not (killed / "meta" / "manifest.json").exists()
    run_cli(*args, "--resume", check=True)
    assert manifest(killed) == manifest(mw_dataset)


# -- MuJoCo --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ip_ppo(tmp_path_factory) -> Path:
    """A real PPO demonstrator for InvertedPendulum-v5, trained through the CLI for 4096 steps (~85 return)."""
    path = tmp_path_factory.mktemp("ip") / "ppo-ip.zip"
    run_cli(
        "demonstrator",
        "train",
        IP,
        "--algo",
        "ppo",
        "--timesteps",
        "4096",
        "--out",
        str(path),
        "--no-install",
        check=True,
    )
    return path


def test_mujoco_collection_is_deterministic_with_variations(ip_ppo, tmp_path):
    args = [
        "--demonstrator",
        f"sb3:{ip_ppo}",
        "--histories",
        "2",
        "--steps",
        "2500",
        "--reference-episodes",
        "5",
        "--env-option",
        "viscosity=0.05",
        "--env-option",
        "gravity=1.1",
    ]
    one, two = tmp_path / "one", tmp_path / "two"
    run_cli("collect", IP, "--out", str(one), *args, check=True)
    run_cli("collect", IP, "--out", str(two), *args, "--num-envs", "2", check=True)
    assert manifest(one) == manifest(two)
    info = json.loads((one / "meta" / "info.json").read_text())
    assert info["env_id"] == IP and info["extra"] == {"env_options": {"viscosity": 0.05, "gravity": 1.1}}
    assert info["reward_scale"] == 0.1 and info["demonstrator"]["id"].startswith("PPO:")
    # the paper's table is for InvertedPendulum-v4: shown in the card, not used to normalize a v5 score
    assert info["demonstrator"]["paper_comparable"] is False and info["demonstrator"]["normalized_score_paper"] is None
    assert info["reference_scores"]["paper_expert_mean"] == 1000.0
    ep = pq.read_table(one / "meta" / "episodes.parquet").to_pydict()
    assert set(ep["variation"]) == {None} and len(ep["length"]) > 20  # episodes end when the pole falls


def test_mujoco_env_options_and_versions():
    from vintix_data.domains import configure_task, make_env
    from vintix_data.registry import get_task

    base = get_task("HalfCheetah-v5")
    env = make_env(configure_task(base, env_options={"viscosity": "0.1", "gravity": "0.9"}))
    assert env.unwrapped.model.opt.viscosity == 0.1 and env.unwrapped.model.opt.gravity[2] == pytest.approx(-9.81 * 0.9)
    assert make_env(base).unwrapped.model.opt.viscosity == 0.0
    v4 = configure_task(base, env_options={"version": "v4"})
    assert (v4.id, v4.env_id, v4.hub_name) == ("HalfCheetah-v4", "HalfCheetah-v4", "vintix-HalfCheetah-v4")
    assert make_env(v4).observation_space.shape == (17,)
    dims = {
        t.id: make_env(t).observation_space.shape[0] for t in map(get_task, ("Ant-v5", "Humanoid-v5", "Reacher-v5"))
    }
    assert dims == {"Ant-v5": 105, "Humanoid-v5": 348, "Reacher-v5": 10}  # the paper table's dims
    assert get_task("Hopper-v5").episode_sparsity == 2 and get_task("HumanoidStandup-v5").reward_scale == 0.01


def test_train_sac_and_td3_zips_load_with_the_space_check(tmp_path):
    from vintix_data.demonstrators import load_demonstrator
    from vintix_data.domains import make_env
    from vintix_data.registry import get_task

    env = make_env(get_task(IP))
    obs = np.array([env.reset(seed=s)[0] for s in range(5)])
    for algo in ("sac", "td3"):
        path = tmp_path / f"{algo}.zip"
        run_cli(
            "demonstrator",
            "train",
            IP,
            "--algo",
            algo,
            "--timesteps",
            "200",
            "--out",
            str(path),
            "--no-install",
            check=True,
        )
        demo = load_demonstrator(f"sb3:{path}", env.observation_space, env.action_space)
        assert demo.algo == algo.upper()
        batch = demo.act(obs)
        assert batch.shape == (5, 1) and np.all(np.abs(batch) <= 3.0)
        assert batch.tobytes() == np.concatenate([demo.act(obs[i : i + 1]) for i in range(5)]).tobytes()


def test_eval_all_domain_reports_a_table(tmp_path):
    proc = run_cli(
        "demonstrator",
        "eval",
        "--all",
        "--domain",
        "mujoco",
        "--demonstrator",
        "zero",
        "--episodes",
        "1",
        "--episode-limit",
        "5",
        "--json",
    )
    r = json.loads(proc.stdout)
    assert r["domain"] == "mujoco" and len(r["tasks"]) == 11
    assert proc.returncode == (1 if r["failed"] else 0) and r["passed"] == (
        not r["failed"]
    )  # any failure fails the run
    assert all({"random_mean", "demonstrator_mean", "passed"} <= set(t) for t in r["tasks"])
    one = json.loads(run_cli("demonstrator", "eval", MW, "--episodes", "3", "--json", check=True).stdout)
    assert one["passed"] and one["demonstrator_success_rate"] == 1.0 and one["random_success_rate"] == 0.0
    assert one["paper_comparable"] is False and one["normalized_score_paper"] is None  # v3 vs the paper's v2
    assert one["paper_expert_mean"] == 679.6


# -- the gate ------------------------------------------------------------------------------------


def test_gate_judgement():
    from vintix_data.demonstrators.gate import GateConfig, judge

    rnd = [150.0, 120.0, 180.0, 140.0, 160.0]
    assert judge([800.0, 790.0, 810.0, 805.0, 795.0], rnd, 1.0)[0]
    ok, required, reasons = judge([152.0, 121.0, 183.0, 139.0, 161.0], rnd)  # consistent but negligible gap
    assert not ok and required == pytest.approx(15.0) and "not clearly above" in reasons[0]
    # bimodal random returns (it succeeds now and then) do not hide a reliable gap, unlike a k x std rule
    rnd = [20.0, 700.0, 25.0, 30.0, 22.0, 18.0, 690.0, 26.0, 21.0, 24.0]
    assert judge([x + 250.0 + (i % 3) for i, x in enumerate(rnd)], rnd, 1.0)[0]
    assert not judge([x + 300.0 * (i % 3 == 0) for i, x in enumerate(rnd)], rnd, 1.0)[0]  # too noisy: 120 +- 49
    ok, _, reasons = judge([300.0, 310.0, 290.0], [2.0, 2.5, 1.5], 0.4)
    assert not ok and reasons == ["success rate 40% < 80%"]
    assert judge([300.0, 310.0, 290.0], [2.0, 2.5, 1.5], 0.4, GateConfig(min_success=0.3))[0]
    assert not judge([0.0, 0.0], [0.0, 0.0])[0]  # equal to a constant random baseline is not better


def test_collect_refuses_a_demonstrator_that_fails_the_gate(tmp_path):
    out = tmp_path / "refused"
    proc = run_cli("collect", MW, "--out", str(out), "--demonstrator", "random", *MW_SMALL)
    one_line_error(proc, "fails the gate", "success rate 0%", "--force")
    assert not out.exists()


# -- Bi-DexHands and bad input -------------------------------------------------------------------


def test_bidexhands_is_listed_but_not_collectable(tmp_path):
    rows = json.loads(run_cli("tasks", "--json", check=True).stdout)
    by_domain = {}
    for r in rows:
        by_domain.setdefault(r["domain"], set()).add(r["collectable"])
    assert by_domain == {"industrial-benchmark": {True}, "meta-world": {True}, "mujoco": {True}, "bi-dexhands": {False}}
    dex = [r for r in rows if r["domain"] == "bi-dexhands"]
    assert len(dex) == 20 and sum(r["split"] == "test" for r in dex) == 5
    assert {(r["obs_dim"], r["act_dim"]) for r in dex if r["id"] == "shadowhandover"} == {(398, 40)}
    for args in (
        ["collect", "shadowhandover", "--out", str(tmp_path / "x")],
        ["demonstrator", "eval", "shadowhandover"],
        ["demonstrator", "train", "shadowhandover", "--out", str(tmp_path / "d.zip")],
    ):
        one_line_error(run_cli(*args), "IsaacGym", "import-h5", "on PyPI")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["collect", "pick-plce-v3", "--out", "{tmp}/o"], ["unknown task", "did you mean 'pick-place-v3'"]),
        (["collect", "industrial-benchmark-50-v1", "--out", "{tmp}/o", "--fixed-goal"], ["--fixed-goal", "Meta-World"]),
        (["collect", IP, "--out", "{tmp}/o", "--fixed-goal"], ["--fixed-goal", "mujoco domain"]),
        (
            ["demonstrator", "train", IP, "--out", "{tmp}/d.zip", "--algo", "dqn"],
            ["unknown --algo 'dqn'", "tqc, sac, td3, ppo, bc"],
        ),
        (["collect", "Pusher-v4", "--out", "{tmp}/o"], ["Pusher-v4 needs mujoco<3"]),
        (["collect", "Pusher-v5", "--out", "{tmp}/o", "--env-option", "version=v4"], ["Pusher-v4 needs mujoco<3"]),
        (["collect", IP, "--out", "{tmp}/o", "--env-option", "wind=3"], ["unknown env option 'wind'", "viscosity"]),
        (["collect", IP, "--out", "{tmp}/o", "--env-option", "gravity"], ["KEY=VALUE"]),
        (["collect", MW, "--out", "{tmp}/o", "--episode-limit", "600"], ["max_path_length of 500"]),
        (["collect", IP, "--out", "{tmp}/o", "--demonstrator", "scripted"], ["scripted", "has none"]),
    ],
)
def test_bad_domain_input_is_one_line(tmp_path, args, fragments):
    proc = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    one_line_error(proc, *fragments)
    assert not (tmp_path / "o").exists()


def test_space_mismatched_zip_is_refused_for_metaworld(ppo_zip, tmp_path):
    proc = run_cli("collect", MW, "--out", str(tmp_path / "o"), "--demonstrator", f"sb3:{ppo_zip}")
    one_line_error(proc, "does not match", "high=(100.0, 100.0")  # bounds survive rich's markup parser
    assert not (tmp_path / "o").exists()
