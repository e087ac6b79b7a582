"""One CLI: the same domain names everywhere, whole ids in piped and 80-column tables, exit codes scripts can rely
on, strict option parsing. The real `vintix-data` / `vintix-model` in subprocesses (stdout is a pipe, as in `| cat`)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TASK, one_line_error, run_cli
from tests.conftest import run_model_cli as run_model
from vintix_data.registry import DOMAIN_ALIASES, DOMAINS, canonical_domain, list_tasks

# -- domain names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alias, domain",
    [
        ("metaworld", "meta-world"),
        ("Meta-World", "meta-world"),
        ("meta_world", "meta-world"),
        ("ib", "industrial-benchmark"),
        ("IB", "industrial-benchmark"),
        ("industrial-benchmark", "industrial-benchmark"),
        ("mujoco", "mujoco"),
        ("bidexhands", "bi-dexhands"),
        ("bi-dexhands", "bi-dexhands"),
    ],
)
def test_one_alias_table(alias, domain):
    assert canonical_domain(alias) == domain
    assert {t.domain for t in list_tasks(alias)} == {domain}
    assert set(DOMAIN_ALIASES.values()) == set(DOMAINS)


def test_tasks_and_the_gate_accept_the_same_domain_names(tmp_path):
    ids = [r["id"] for r in json.loads(run_cli("tasks", "--domain", "metaworld", "--json", check=True).stdout)]
    assert len(ids) == 50 and "button-press-topdown-wall-v3" in ids
    assert (
        json.loads(run_cli("tasks", "--domain", "ib", "--split", "test", "--json", check=True).stdout)[0]["id"]
        == "industrial-benchmark-80-v1"
    )
    # `demonstrator eval --all` resolves the alias through the same function (its JSON names the canonical domain)
    proc = run_cli(
        "demonstrator",
        "eval",
        "--all",
        "--domain",
        "ib",
        "--demonstrator",
        "random",
        "--episodes",
        "2",
        "--episode-limit",
        "5",
        "--json",
    )
    assert json.loads(proc.stdout)["domain"] == "industrial-benchmark"
    for args in (["tasks", "--domain", "atari"], ["demonstrator", "eval", "--all", "--domain", "atari"]):
        one_line_error(run_cli(*args), "unknown domain 'atari'", "meta-world (metaworld)")


# -- tables: whole ids, piped or at 80 columns ----------------------------------------------------


@pytest.mark.parametrize("columns", [None, "80", "40"])
def test_tasks_table_keeps_every_id_whole_when_piped(columns):
    env = {"COLUMNS": columns} if columns else {}
    proc = run_cli("tasks", "--domain", "metaworld", check=True, env=env)
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines if line.startswith(("┃", "│", "┏", "└"))) <= 80  # at least 80 wide, no more
    cells = {m.group(1) for line in lines for m in [re.match(r"│ (\S+)\s+│", line)] if m}
    assert cells == {t.id for t in list_tasks("meta-world")}, sorted({t.id for t in list_tasks("meta-world")} - cells)
    assert "not shown at this width" in proc.stdout and "--tsv" in proc.stdout


def test_tasks_tsv_for_scripts():
    proc = run_cli("tasks", "--domain", "ib", "--tsv", check=True)
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert rows[0][:3] == ["id", "domain", "split"] and len(rows) == 22
    assert {len(r) for r in rows} == {len(rows[0])} and rows[1][0] == "industrial-benchmark-0-v1"
    one_line_error(run_cli("tasks", "--json", "--tsv"), "not both")


def test_gate_all_exits_1_when_any_task_fails_shows_progress_and_whole_ids_at_80_columns():
    proc = run_cli(
        "demonstrator",
        "eval",
        "--all",
        "--domain",
        "industrial-benchmark",
        "--demonstrator",
        "random",
        "--episodes",
        "2",
        "--episode-limit",
        "5",
        env={"COLUMNS": "80"},
    )
    assert proc.returncode == 1, proc.stderr
    ids = {t.id for t in list_tasks("ib")}
    table = [line for line in proc.stdout.splitlines() if line.startswith(("┃", "│", "┏", "└"))]
    assert max(map(len, table)) <= 80
    cells = {m.group(1) for line in table for m in [re.match(r"│ (\S+)\s+│", line)] if m}
    assert cells == ids
    assert all(
        line.rstrip("│ ").endswith("FAIL") for line in table if line.startswith("│ industrial")
    )  # one short cell
    details = [line for line in proc.stdout.splitlines() if ": FAIL: " in line]
    assert len(details) == 21 and all("not clearly above random" in line for line in details)  # the reasons, under it
    assert "0 of 21 pass the gate" in proc.stdout
    assert re.search(r"21/21", proc.stderr), proc.stderr  # the progress bar (tasks done / total) is on stderr


def test_gate_of_one_task_exits_1_when_it_fails_and_says_so_in_json():
    args = ["demonstrator", "eval", TASK, "--demonstrator", "random", "--episodes", "3", "--episode-limit", "20"]
    proc = run_cli(*args)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith(f"{TASK}: random fails the gate: mean return")
    as_json = run_cli(*args, "--json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["passed"] is False
    ok = run_cli(
        "demonstrator", "eval", TASK, "--demonstrator", "zero", "--episodes", "10", "--json"
    )  # as the fixtures' gate
    assert ok.returncode == 0 and json.loads(ok.stdout)["passed"] is True, ok.stdout


# -- info, collect, train --help, --variation -----------------------------------------------------


def test_info_names_a_missing_folder_and_a_file(tmp_path):
    one_line_error(run_cli("info", str(tmp_path / "nope")), f"no such folder: {tmp_path / 'nope'}")
    (tmp_path / "f.txt").write_text("x")
    one_line_error(run_cli("info", str(tmp_path / "f.txt")), "is a file, not a dataset folder")
    one_line_error(run_cli("info", str(tmp_path)), "no meta/info.json")


def test_collect_workers_alone_brings_its_sub_envs(tmp_path):
    out = tmp_path / "w2"
    run_cli(
        "collect",
        TASK,
        "--out",
        str(out),
        "--demonstrator",
        "zero",
        "--histories",
        "2",
        "--steps",
        "5000",
        "--reference-episodes",
        "10",
        "--workers",
        "2",
        check=True,
    )  # the settings of conftest's tiny_dataset
    assert (out / "meta" / "manifest.json").exists()
    one_line_error(
        run_cli("collect", TASK, "--out", str(tmp_path / "bad"), "--workers", "2", "--num-envs", "1"),
        "--workers must be between 1 and --num-envs (1)",
    )


def test_train_help_has_no_stray_positional_and_datasets_still_take_several_values(tmp_path):
    proc = run_model("train", "--help", env={"COLUMNS": "120"})
    assert proc.returncode == 0
    usage = next(line for line in proc.stdout.splitlines() if "Usage:" in line)
    assert usage.split()[-2:] == ["train", "[OPTIONS]"], usage  # (the program name is python -m ... here)
    assert "more" not in proc.stdout.lower().replace("more datasets", "")
    # `--datasets A B` still reads B as a second dataset (the hidden argument): both are checked, the first fails
    bad = run_model("train", "--datasets", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "run"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_switch_options_parse_strictly():
    from vintix_data.domains import parse_bool, parse_options

    assert parse_options(["fixed_goal=false", "viscosity=0.05"], "--variation") == {
        "fixed_goal": False,
        "viscosity": "0.05",
    }
    assert [parse_bool(v, "x") for v in ("true", "1", "YES", "on", "false", "0", "No", "off")] == [True] * 4 + [
        False
    ] * 4
    with pytest.raises(ValueError, match="--variation fixed_goal takes true or false"):
        parse_options(["fixed_goal=flase"], "--variation")
    with pytest.raises(ValueError, match="--variation takes KEY=VALUE"):
        parse_options(["fixed_goal"], "--variation")


def test_variation_fixed_goal_false_is_off_and_true_is_on(tmp_path):
    pytest.importorskip("metaworld")
    from vintix_data.domains import parse_options
    from vintix_model.evaluate.config import EvalConfig
    from vintix_model.evaluate.runner import resolve_task
    from vintix_model.model.config import ModelConfig
    from vintix_model.model.groups import GroupSpec
    from vintix_model.model.vintix import Vintix

    group = "meta-world-39x4"
    cfg = ModelConfig(obs_emb=15, act_emb=15, rew_emb=2, n_layer=1, n_head=2, d_mlp=32, context=16)
    model = Vintix(
        cfg,
        {group: GroupSpec(group, 39, 4)},
        {"reach-v3": {"group": group, "obs_mean": [0.0] * 39, "obs_std": [1.0] * 39, "reward_scale": 1.0}},
    )

    def options(*items):
        return resolve_task(
            model, EvalConfig(task="reach-v3", variation=parse_options(list(items), "--variation"))
        ).spec.env_options

    assert "fixed_goal" not in options("fixed_goal=false") and "fixed_goal" not in options()
    assert options("fixed_goal=true")["fixed_goal"] is True
    one_line_error(
        run_model("eval", str(tmp_path), "--task", "reach-v3", "--variation", "fixed_goal=maybe"),
        "--variation fixed_goal takes true or false",
    )
    help_text = run_model("eval", "--help", env={"COLUMNS": "200"}).stdout
    assert "fixed_goal" in help_text and "viscosity" in help_text


def test_loader_benchmark_needs_no_machine_specific_path(tmp_path):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "loader_vs_h5.py"
    assert "/work/" not in script.read_text()  # its default collects a dataset into --work instead
    proc = subprocess.run(
        [sys.executable, str(script), "--dataset", str(tmp_path / "nope"), "--work", str(tmp_path / "w")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"error: --dataset {tmp_path / 'nope'}: not a dataset folder (no meta/manifest.json)"
