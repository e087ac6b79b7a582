"""`vintix-data release`: units on a local Ray and on local processes give the bytes of a sequential `collect`, a
killed unit is retried, a killed driver resumes without redoing finished units, and bad input is one line."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import one_line_error, run_cli

TASKS = ["industrial-benchmark-50-v1", "industrial-benchmark-70-v1"]
SMALL = ["--histories", "2", "--steps", "3000", "--reference-episodes", "2", "--gate-episodes", "2", "--force"]


def data_digests(folder: Path) -> dict[str, str]:
    """sha256 of what a collection determines: shards, episode table, stats (info.json also holds dates and commands)."""
    files = sorted((folder / "data").glob("*.parquet")) + [
        folder / "meta" / "episodes.parquet",
        folder / "meta" / "stats.json",
    ]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def unit_events(root: Path) -> list[dict]:
    path = root / ".release" / "units.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def cache(tmp_path_factory, ppo_zip) -> Path:
    """A demonstrator cache where both tasks have an installed default (the release copies it into its root)."""
    root = tmp_path_factory.mktemp("cache")
    (root / "demonstrators").mkdir()
    for task in TASKS:
        shutil.copyfile(ppo_zip, root / "demonstrators" / f"{task}.zip")
    return root


def start_release(root: Path, cache: Path, *extra: str) -> subprocess.Popen:
    """The driver in its own session, so the test can kill it with every Ray process it started."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vintix_data.cli",
            "release",
            *TASKS,
            "--out",
            str(root),
            *SMALL,
            "--executor",
            "ray",
            "--workers",
            "2",
            *extra,
        ],
        env={**os.environ, "VINTIX_CACHE": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(predicate, timeout: float = 300, what: str = "") -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory, cache) -> dict[str, dict[str, str]]:
    """Each task collected by plain `collect` (one process), with the demonstrator the release uses."""
    digests = {}
    for task in TASKS:
        out = tmp_path_factory.mktemp("seq") / task
        # exit 1 is allowed: so small a history may fail validate's learning-curve check, the bytes are what count
        run_cli(
            "collect",
            task,
            "--out",
            str(out),
            "--demonstrator",
            f"sb3:{cache / 'demonstrators' / (task + '.zip')}",
            *SMALL,
        )
        assert (out / "meta" / "stats.json").exists(), task
        digests[task] = data_digests(out)
    return digests


def test_ray_release_equals_sequential_collect_with_a_worker_killed_mid_unit(tmp_path, cache, sequential):
    root = tmp_path / "R"
    proc = start_release(root, cache)
    running = root / ".release" / "running"
    victim = {}

    def a_history_half_done() -> bool:
        for pid_file in running.glob("*.pid") if running.exists() else []:
            task, h = pid_file.stem.rsplit(".h", 1)
            parts = root / "datasets" / task / ".vintix" / "parts" / f"h{int(h):05d}"
            if len(list(parts.glob("*.npz"))) >= 3:
                victim.update(task=task, history=int(h), pid=int(pid_file.read_text()))
                return True
        return False

    wait_for(a_history_half_done, what="a history unit with 3 episodes saved")
    os.kill(victim["pid"], signal.SIGKILL)  # the Ray worker process running that unit
    proc.wait(timeout=600)
    unit = f"{victim['task']}/h{victim['history']}"
    starts = [e for e in unit_events(root) if e["unit"] == unit and e["event"] == "start"]
    assert len(starts) == 2 and starts[0]["pid"] == victim["pid"] != starts[1]["pid"], starts
    for task in TASKS:
        state = json.loads((root / "datasets" / task / ".vintix" / "state.json").read_text())
        assert state["complete"], task
        assert data_digests(root / "datasets" / task) == sequential[task], task
    assert (root / "report.md").exists() and (root / "report.png").exists()
    report = json.loads((root / "report.json").read_text())
    assert [r["transitions"] for r in report["rows"]] == [6000, 6000]


def test_resume_after_the_driver_is_killed_redoes_no_finished_unit(tmp_path, cache, sequential):
    root = tmp_path / "R"
    proc = start_release(root, cache)
    wait_for(
        lambda: sum(e["event"] == "done" and "/h" in e["unit"] for e in unit_events(root)) >= 2,
        what="two finished history units",
    )
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the local Ray it started, mid-release
    proc.wait()
    first = unit_events(root)
    done_before = {e["unit"] for e in first if e["event"] == "done"}
    resumed = run_cli(
        "release",
        *TASKS,
        "--out",
        str(root),
        *SMALL,
        "--executor",
        "ray",
        "--workers",
        "2",
        "--resume",
        env={"VINTIX_CACHE": str(cache)},
    )
    assert resumed.returncode in (0, 1), resumed.stderr  # 1: a tiny dataset may fail validate's learning-curve check
    for task in TASKS:  # stderr is a pipe here, as in a background run's log: a plain line per finished task
        assert re.search(rf"tasks [12]/2, steps [\d,]+/12,000: {task} done \((valid|INVALID)\)", resumed.stderr), task
    second = unit_events(root)[len(first) :]
    redone = {e["unit"] for e in second if e["event"] == "start"} & done_before
    assert not redone, redone
    assert {e["unit"] for e in second if e["event"] == "start"}, "the resumed run ran the unfinished units"
    for task in TASKS:
        assert data_digests(root / "datasets" / task) == sequential[task], task
    runs = json.loads((root / "release.json").read_text())["runs"]
    assert len(runs) == 2 and runs[-1]["finished"]
    assert "resumed 1 times" in (root / "report.md").read_text()


def test_local_executor_trains_its_demonstrator_and_retries_a_killed_unit(tmp_path):
    root = tmp_path / "R"
    cache = tmp_path / "empty-cache"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vintix_data.cli",
            "release",
            TASKS[0],
            "--out",
            str(root),
            "--histories",
            "1",
            "--steps",
            "2000",
            "--ppo-timesteps",
            "2500",
            "--reference-episodes",
            "2",
            "--gate-episodes",
            "2",
            "--force",
            "--workers",
            "2",
        ],
        env={**os.environ, "VINTIX_CACHE": str(cache)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    pid_file = root / ".release" / "running" / f"{TASKS[0]}.h0.pid"
    parts = root / "datasets" / TASKS[0] / ".vintix" / "parts" / "h00000"
    wait_for(lambda: pid_file.exists() and len(list(parts.glob("*.npz"))) >= 2, what="the history unit")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)
    proc.wait(timeout=600)
    events = unit_events(root)
    assert [e["unit"] for e in events if e["event"] == "start"].count(f"{TASKS[0]}/h0") == 2
    assert any(e["unit"] == f"{TASKS[0]}/train" and e["event"] == "done" for e in events)
    assert (root / "demonstrators" / f"{TASKS[0]}.zip").exists()
    tasks = json.loads((root / ".release" / "tasks.json").read_text())
    assert tasks[TASKS[0]]["demonstrator_source"] == "trained by this release"
    assert tasks[TASKS[0]]["stage"] in ("done", "failed") and "histories_done" in tasks[TASKS[0]]
    seq = tmp_path / "seq"
    run_cli(
        "collect",
        TASKS[0],
        "--out",
        str(seq),
        "--demonstrator",
        f"sb3:{root / 'demonstrators' / (TASKS[0] + '.zip')}",
        "--histories",
        "1",
        "--steps",
        "2000",
        "--reference-episodes",
        "2",
        "--gate-episodes",
        "2",
        "--force",
    )
    assert data_digests(root / "datasets" / TASKS[0]) == data_digests(seq)


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, cache):
    root = tmp_path / "R"
    one_line_error(run_cli("release", "ml45-trian", "--out", str(root)), "unknown selection 'ml45-trian'", "ml45-train")
    one_line_error(
        run_cli("release", "ib", "--out", str(root), "--executor", "ray", "--ray-address", "127.0.0.1:9"),
        "no Ray cluster answers",
    )
    assert not root.exists()
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(run_cli("release", "ib", "--out", str(a_file)), "is a file")
    # a root holding another release: refused without --resume, and with --resume when the settings differ
    root.mkdir()
    (root / "release.json").write_text(
        json.dumps({"format": "vintix-release/1", "settings": {"selection": ["mujoco"]}})
    )
    before = (root / "release.json").read_text()
    one_line_error(run_cli("release", "ib", "--out", str(root)), "already holds a release", "other settings")
    one_line_error(run_cli("release", "ib", "--out", str(root), "--resume"), "other settings", "selection")
    assert (root / "release.json").read_text() == before and sorted(os.listdir(root)) == ["release.json"]
    # a root another driver is writing: one line naming its pid
    from vintix_data.locking import exclusive_lock

    with exclusive_lock(root, "release"):
        one_line_error(
            run_cli("release", "mujoco", "--out", str(root), "--resume"), "is in use by pid", str(os.getpid())
        )


def test_progress_writes_plain_lines_only_where_no_bars_are_drawn():
    from rich.console import Console

    from vintix_data.release.progress import ReleaseProgress

    for terminal in (False, True):
        out = io.StringIO()
        progress = ReleaseProgress(
            4, 9000, console=Console(file=out, force_terminal=terminal, width=60), refresh_s=0.0, log_every_s=0.0
        )
        progress.resumed(3000, 1)
        progress.advance(1500)
        now = time.perf_counter()
        progress.show({"a-v1/h0": now, "a-v1/h1": now, "b-v1/train": now}, {"c-v1": {"stage": "failed"}})
        progress.task_done("a-v1", "valid")
        # tasks took 1,000 and 1,400 s; b-v1 has had 200 s of its ~1,200 recorded and its running unit 300 s more,
        # d-v1 none, 3 units ran at once
        tasks = {
            "z-v1": {"stage": "done", "wall_s": 1000.0},
            "a-v1": {"stage": "done", "wall_s": 1400.0},
            "b-v1": {"stage": "collect", "wall_s": 200.0},
            "c-v1": {"stage": "failed"},
            "d-v1": {"stage": "train"},
        }
        progress.show({"b-v1/h3": time.perf_counter() - 300.0}, tasks)
        progress.close()
        lines = [line for line in out.getvalue().splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]
        if terminal:
            assert not lines, lines
        else:
            assert re.search(
                r"tasks 1/4, steps 4,500/9,000: [\d,]+ steps/s, running: 2 history, 1 train; 1 failed$", lines[0]
            ), lines
            assert len(lines) == 4 and lines[1].endswith("tasks 2/4, steps 4,500/9,000: a-v1 done (valid)"), lines
            assert lines[2].endswith("steps/s, running: 1 history; 1 failed, ~0:10:33 left"), (
                lines
            )  # (700 + 1200) s / 3


@pytest.mark.parametrize("kind", ["local", "ray"])
def test_a_unit_that_raises_is_reported_by_its_own_exception_in_one_plain_line(kind):
    """A bug in a unit is reported against its task in one line naming the unit's exception, on both executors,
    and not retried. On Ray it arrives as a RayTaskError whose first line is Ray's coloured header (a release report
    once read 'RayTaskError(ModuleNotFoundError): \\x1b[36mray::_ray_unit()\\x1b[39m (pid=..., ip=...)', the missing
    module nowhere); a local process used to die of it, be run again twice, and be reported as 'died 3 times'."""
    from vintix_data.release.executors import make_executor

    ex = make_executor(kind, 1, 2, None)
    try:
        ex.submit("t-v1/finalize", int, "x")  # int("x", progress=...) raises a TypeError in the unit's process
        done = []
        deadline = time.time() + 120
        while not done and time.time() < deadline:
            done = ex.wait(0.5)
    finally:
        ex.close()
    assert done == [
        (
            "t-v1/finalize",
            {"error": "unit t-v1/finalize: TypeError: 'progress' is an invalid keyword argument for int()"},
        )
    ], done


def test_selections_name_registry_sets_in_registry_order():
    from vintix_data.registry import all_tasks
    from vintix_data.selection import SelectionError, select_tasks

    ids = lambda *words: [t.id for t in select_tasks(list(words))]  # noqa: E731
    assert len(ids("paper")) == 82 and not any(t.domain == "bi-dexhands" for t in select_tasks("paper"))
    assert len(ids("ml45-train")) == 45 and len(ids("ml45-test")) == 5 and len(ids("ib")) == 21
    assert ids("domain:meta-world") == ids("metaworld") == ids("ml45-train", "ml45-test")
    order = [t.id for t in all_tasks()]
    mixed = ids("reach-v3", "ib", "industrial-benchmark-50-v1")  # a union, each once, in registry order
    assert len(mixed) == 22 and mixed == sorted(mixed, key=order.index)
    assert set(ids("split:test")) == {t.id for t in all_tasks() if t.split == "test"}
    with pytest.raises(SelectionError, match="did you mean 'ml45-train'"):
        select_tasks("ml45-trian")
    with pytest.raises(SelectionError, match="unknown split"):
        select_tasks("split:dev")
