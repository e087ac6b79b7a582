"""The catalogue of public experts (vintix_data/data/public_experts.csv): `collect` and `release` use a task's public
expert when none is installed, record the commit downloaded and the zip's sha256 in info.json and the card,
`demonstrator list` shows each task's route and recorded gate, and `release --train-missing` trains the catalogue's
algorithm with rl-zoo3's recipe instead. The experts are tiny real SAC trainings uploaded under the catalogue's names
to the project's test Hub (this machine reaches no Hub)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import HUB_TOKEN, run_cli
from vintix_data.catalogue import catalogue, public_expert
from vintix_data.demonstrators.recipes import ALGOS
from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, train_sb3
from vintix_data.format import file_sha256
from vintix_data.registry import get_task, list_tasks

TASK = "InvertedPendulum-v5"
TINY = {"learning_starts": 100, "buffer_size": 2000, "batch_size": 32, "policy_kwargs": {"net_arch": [32, 32]}}
SMALL = ["--reference-episodes", "2", "--gate-episodes", "2"]


def test_every_mujoco_task_is_catalogued_with_its_source_and_standup_has_no_expert():
    rows = catalogue()
    assert sorted(rows) == sorted(t.id for t in list_tasks("mujoco"))
    for task, e in rows.items():
        assert e.source and e.train_algo in ALGOS and e.env_version == "v5", task
        assert not e.verified  # nothing here was checked against the Hub: the data says so
        if e.repo:
            base = task.rsplit("-v", 1)[0]
            assert e.repo == f"farama-minari/{base}-v5-{e.algo}-expert", task
            assert e.file == f"{base.lower()}-v5-{e.algo}-expert.zip", task
            assert e.spec == f"hub:{e.repo}/{e.file}"
    assert {t for t, e in rows.items() if e.algo == "TQC" and e.repo} == {"HalfCheetah-v5", "Humanoid-v5"}
    assert rows["Swimmer-v5"].algo == "PPO"
    assert rows["HumanoidStandup-v5"].repo == "" and "obs 45" in rows["HumanoidStandup-v5"].note
    assert public_expert("industrial-benchmark-50-v1") is None


@pytest.fixture(scope="module")
def expert_on_hub(hub, tmp_path_factory):
    """A tiny real SAC for InvertedPendulum-v5 under the catalogue's repo and file on the test Hub."""
    from huggingface_hub import HfApi

    zip_path = tmp_path_factory.mktemp("expert") / "sac.zip"
    train_sb3(get_task(TASK), zip_path, SB3TrainConfig(algo="sac", timesteps=400, overrides=TINY), progress=False)
    e = public_expert(TASK)
    api = HfApi(endpoint=hub.url, token=HUB_TOKEN)
    api.create_repo(e.repo, exist_ok=True)
    api.upload_file(path_or_fileobj=str(zip_path), path_in_repo=e.file, repo_id=e.repo)
    return zip_path, api.model_info(e.repo).sha


def _routes(env: dict) -> dict:
    proc = run_cli("demonstrator", "list", "--domain", "mujoco", "--json", env=env, check=True)
    return {r["task"]: r for r in json.loads(proc.stdout)["tasks"]}


def test_collect_uses_the_catalogue_expert_and_records_commit_and_sha(hub_env, expert_on_hub, tmp_path):
    zip_path, commit = expert_on_hub
    env = {**hub_env, "VINTIX_CACHE": str(tmp_path / "cache")}
    e = public_expert(TASK)
    routes = _routes(env)
    assert routes[TASK]["route"] == "catalogue" and routes[TASK]["spec"] == e.spec and routes[TASK]["gate"] is None
    assert (
        routes["HumanoidStandup-v5"]["route"] == "release --train-missing"
        and routes["HumanoidStandup-v5"]["spec"] is None
    )

    # eval of the default demonstrator records its gate result beside the cache's zips; list shows it
    proc = run_cli("demonstrator", "eval", TASK, "--episodes", "2", "--json", env=env)
    assert proc.returncode in (0, 1), proc.stderr
    gate = _routes(env)[TASK]["gate"]
    assert gate is not None and gate["passed"] == json.loads(proc.stdout)["passed"]
    assert gate["source"]["commit"] == commit and gate["source"]["file_sha256"] == file_sha256(zip_path)

    out = tmp_path / "ds"
    # a 400-step SAC may write a dataset whose learning curve validate rejects (exit 1): the files are what is checked
    proc = run_cli(
        "collect", TASK, "--out", str(out), "--histories", "1", "--steps", "1000", "--force", *SMALL, env=env
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    demo = json.loads((out / "meta" / "info.json").read_text())["demonstrator"]
    assert demo["spec"] == e.spec and demo["sha256"] == file_sha256(zip_path)
    assert demo["source"] == {
        "route": "hub",
        "repo": e.repo,
        "file": e.file,
        "commit": commit,
        "file_sha256": file_sha256(zip_path),
        "vec_normalize_sha256": None,
        "catalogue": True,
    }
    card = (out / "README.md").read_text()
    assert commit in card and "the catalogue's public expert" in card

    # an installed demonstrator takes precedence; its recorded gate is keyed by its bytes
    (tmp_path / "cache" / "demonstrators").mkdir(parents=True, exist_ok=True)
    installed = tmp_path / "cache" / "demonstrators" / f"{TASK}.zip"
    shutil.copyfile(zip_path, installed)
    r = _routes(env)[TASK]
    assert r["route"] == "installed" and r["spec"] == f"sb3:{installed}" and r["gate"] is None


def _params(path: Path) -> dict:
    from stable_baselines3 import SAC

    return {k: v.numpy() for k, v in SAC.load(str(path), device="cpu").policy.state_dict().items()}


def test_release_names_routes_pins_the_catalogue_commit_and_trains_missing(hub_env, expert_on_hub, tmp_path):
    """One release: InvertedPendulum from the catalogue (pinned to the commit downloaded), Reacher installed; then
    Reacher with none installed and its catalogue expert not on the Hub: one line without --train-missing; with it,
    trained with the catalogue's algorithm (SAC) and rl-zoo3's recipe."""
    zip_path, commit = expert_on_hub
    cache = tmp_path / "cache"
    (cache / "demonstrators").mkdir(parents=True)
    reacher = tmp_path / "reacher.zip"
    train_sb3(
        get_task("Reacher-v5"), reacher, SB3TrainConfig(algo="sac", timesteps=300, overrides=TINY), progress=False
    )
    shutil.copyfile(reacher, cache / "demonstrators" / "Reacher-v5.zip")
    env = {**hub_env, "VINTIX_CACHE": str(cache)}
    root = tmp_path / "R"
    proc = run_cli(
        "release",
        TASK,
        "Reacher-v5",
        "--out",
        str(root),
        "--histories",
        "2",
        "--steps",
        "1000",
        "--force",
        *SMALL,
        env=env,
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    rows = {r["task"]: r for r in json.loads((root / "report.json").read_text())["rows"]}
    e = public_expert(TASK)
    assert rows[TASK]["demonstrator"] == f"{e.spec}@{commit}"
    assert (
        rows[TASK]["demonstrator_source"] == f"catalogue: {e.spec}@{commit[:12]} (sha256 {file_sha256(zip_path)[:12]})"
    )
    assert rows["Reacher-v5"]["demonstrator_source"].startswith("installed: ")
    # finalized and validated (tiny synthetic experts may fail validate's learning-curve bands: the real experts'
    # release is in the README)
    assert all(r["valid"] is not None and r["transitions"] == 2000 for r in rows.values())
    assert "catalogue: hub:farama-minari/InvertedPendulum-v5-SAC-expert" in (root / "report.md").read_text()
    info = json.loads((root / "datasets" / TASK / "meta" / "info.json").read_text())
    assert info["demonstrator"]["source"]["commit"] == commit and info["demonstrator"]["source"]["catalogue"]

    # no installed demonstrator (another cache) and the catalogue's Reacher repo is not on this Hub
    env2 = {**hub_env, "VINTIX_CACHE": str(tmp_path / "empty")}
    proc = run_cli(
        "release", "Reacher-v5", "--out", str(tmp_path / "R1"), "--histories", "1", "--steps", "500", *SMALL, env=env2
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert (
        "catalogue expert hub:farama-minari/Reacher-v5-SAC-expert" in proc.stderr and "--train-missing" in proc.stderr
    )
    root2 = tmp_path / "R2"
    steps = 10_100  # the recipe's 10,000 random warm-up steps, then 100 updates
    proc = run_cli(
        "release",
        "Reacher-v5",
        "--out",
        str(root2),
        "--histories",
        "1",
        "--steps",
        "500",
        "--force",
        "--train-missing",
        "--train-timesteps",
        str(steps),
        *SMALL,
        env=env2,
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    row = json.loads((root2 / "report.json").read_text())["rows"][0]
    assert (
        row["demonstrator_source"].startswith("trained by this release: SAC (rl-zoo3 2.9.2")
        and row["valid"] is not None
    )
    assert f"{steps:,} steps" in row["demonstrator_source"]
    tasks = json.loads((root2 / ".release" / "tasks.json").read_text())
    assert "farama-minari/Reacher-v5-SAC-expert" in tasks["Reacher-v5"]["catalogue_error"]
    # the same training as `demonstrator train --algo sac` with the same seed and length, parameter for parameter
    direct = tmp_path / "direct.zip"
    run_cli(
        "demonstrator",
        "train",
        "Reacher-v5",
        "--algo",
        "sac",
        "--timesteps",
        str(steps),
        "--out",
        str(direct),
        "--no-install",
        "--eval-episodes",
        "0",
        env=env2,
        check=True,
    )
    a, b = _params(root2 / "demonstrators" / "Reacher-v5.zip"), _params(direct)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert not (root2 / ".release" / "checkpoints" / "Reacher-v5.ckpt").exists()  # removed once the zip is written
