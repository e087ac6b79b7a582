import json

import pytest

from tests.conftest import run_cli
from vintix_data.registry import UnknownTaskError, all_tasks, get_task, list_tasks


def test_the_paper_has_102_tasks_in_four_domains():
    tasks = all_tasks()
    assert len(tasks) == 102
    counts = {d: len(list_tasks(d)) for d in ("mujoco", "meta-world", "bi-dexhands", "industrial-benchmark")}
    assert counts == {"mujoco": 11, "meta-world": 50, "bi-dexhands": 20, "industrial-benchmark": 21}
    assert len({t.id for t in tasks}) == 102 and len({t.hub_name for t in tasks}) == 102


def test_splits_follow_the_paper():
    assert {t.paper_name for t in list_tasks("meta-world", "test")} == {
        "bin-picking",
        "box-close",
        "door-lock",
        "door-unlock",
        "hand-insert",
    }
    assert [t.env_kwargs["setpoint"] for t in list_tasks("industrial-benchmark", "test")] == [80, 85, 90, 95, 100]
    assert len(list_tasks("bi-dexhands", "test")) == 5 and list_tasks("mujoco", "test") == []


def test_ib_task_row():
    t = get_task("industrial-benchmark-50-v1")
    assert (t.env_id, t.env_kwargs, t.episode_limit) == ("vintix/IndustrialBenchmark-v1", {"setpoint": 50}, 250)
    assert (t.history_steps, t.num_histories, t.obs_dim, t.act_dim) == (100_000, 15, 6, 3)
    assert (t.random_mean, t.expert_mean) == (-574.9, -377.9)
    assert t.hub_name == "vintix-industrial-benchmark-50-v1"
    assert t.normalized_score(-377.9) == pytest.approx(1.0) and t.normalized_score(-574.9) == pytest.approx(0.0)


def test_lookup_by_paper_name_and_hub_name():
    assert get_task("Ant-v4").id == "Ant-v5"
    assert get_task("vintix-assembly-v3").paper_name == "assembly"
    assert get_task("HalfCheetah-v4").reward_scale == 0.1 and get_task("Swimmer-v4").reward_scale == 1.0
    assert get_task("HumanoidStandup-v4").reward_scale == 0.01 and get_task("Hopper-v4").episode_sparsity == 2
    with pytest.raises(UnknownTaskError):
        get_task("no-such-task")


def test_tasks_cli_json_and_table():
    proc = run_cli("tasks", "--domain", "industrial-benchmark", "--split", "test", "--json", check=True)
    rows = json.loads(proc.stdout)
    assert [r["id"] for r in rows] == [f"industrial-benchmark-{p}-v1" for p in (80, 85, 90, 95, 100)]
    table = run_cli("tasks", "--domain", "mujoco", check=True, env={"COLUMNS": "250"})
    assert "Humanoid-v5" in table.stdout and "vintix-Ant-v5" in table.stdout
    bad = run_cli("tasks", "--domain", "atari")
    assert bad.returncode == 2 and "unknown domain" in bad.stderr and "Traceback" not in bad.stderr
