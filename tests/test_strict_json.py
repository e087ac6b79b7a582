"""Strict JSON everywhere the project writes JSON: every *.json / *.jsonl of freshly collected Industrial Benchmark and
MuJoCo dataset folders (InvertedPendulum-v5's observation space is unbounded), of a trained checkpoint and of an
evaluation parse with a parser that refuses Infinity/NaN; the unbounded spaces read back as +-inf."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TASK, run_cli
from vintix_data.jsonio import dumps, loads_strict, restore_space_bounds, strict

FAST = [
    "--set",
    "model.context=64",
    "--set",
    "train.stride=16",
    "--set",
    "train.num_workers=0",
    "--set",
    "train.warmup_steps=1",
    "--set",
    "train.save_every=2",
]


def refuse(name):
    raise ValueError(f"non-JSON constant {name}")


def strict_files(folder: Path) -> list[Path]:
    """Parse every *.json and *.jsonl under ``folder`` (dot-folders included) strictly; return them."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix in (".json", ".jsonl") and p.is_file())
    for p in files:
        text = p.read_text()
        for doc in text.splitlines() if p.suffix == ".jsonl" else [text]:
            json.loads(doc, parse_constant=refuse)
    return files


def run_model(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vintix_model.cli", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **env},
    )


def test_the_encoder_writes_null_for_non_finite_and_space_bounds_come_back():
    value = {"a": [1.0, math.inf, -math.inf, math.nan], "b": (1, "x", None, True)}
    assert json.loads(dumps(value), parse_constant=refuse) == {"a": [1.0, None, None, None], "b": [1, "x", None, True]}
    import numpy as np

    assert strict({"x": np.float32(np.inf), "y": np.arange(2), "z": np.float64(0.5)}) == {
        "x": None,
        "y": [0, 1],
        "z": 0.5,
    }
    with pytest.raises(ValueError):
        json.dumps({"x": math.inf}, allow_nan=False)  # what dumps() guards against, were strict() to miss a value
    space = restore_space_bounds({"low": [None, -1.0], "high": [None, 2.0], "shape": [2]})
    assert space == {"low": [-math.inf, -1.0], "high": [math.inf, 2.0], "shape": [2]}
    with pytest.raises(ValueError, match="Infinity"):
        loads_strict('{"low": -Infinity}')


def test_every_written_json_file_is_strict(tmp_path):
    pytest.importorskip("mujoco")
    from vintix_data.format import DatasetInfo

    ib = tmp_path / "ib"
    run_cli(
        "collect",
        TASK,
        "--out",
        str(ib),
        "--demonstrator",
        "zero",
        "--histories",
        "2",
        "--steps",
        "2500",
        "--reference-episodes",
        "10",
        check=True,
    )
    ip = tmp_path / "ip"
    # random, forced past the gate: its histories do not learn, so `validate` (run by collect) flags the learning
    # curve and collect exits 1, but every file of the folder is written first, and that is what is checked here
    proc = run_cli(
        "collect",
        "InvertedPendulum-v5",
        "--out",
        str(ip),
        "--demonstrator",
        "random",
        "--force",
        "--histories",
        "2",
        "--steps",
        "1000",
        "--reference-episodes",
        "2",
        "--gate-episodes",
        "2",
    )
    assert proc.returncode in (0, 1) and "Traceback" not in proc.stderr, proc.stderr
    assert {p.relative_to(ip).as_posix() for p in strict_files(ip)} >= {
        "meta/info.json",
        "meta/stats.json",
        "meta/manifest.json",
        ".vintix/state.json",
    }
    raw = json.loads((ip / "meta" / "info.json").read_text(), parse_constant=refuse)
    assert raw["observation_space"]["low"] == [None] * 4 and raw["observation_space"]["high"] == [None] * 4
    info = DatasetInfo.load(ip)  # the reader rebuilds the unbounded space
    assert info.observation_space["low"] == [-math.inf] * 4 and info.observation_space["high"] == [math.inf] * 4
    assert info.action_space["low"] == [-3.0] and DatasetInfo.from_dict(json.loads(info.to_json())) == info
    assert "meta/info.json" in {p.relative_to(ib).as_posix() for p in strict_files(ib)}

    env = {"VINTIX_CACHE": str(tmp_path / "cache")}
    run = tmp_path / "run"
    proc = run_model("train", "--datasets", str(ib), "--out", str(run), "--steps", "2", "--quiet", *FAST, env=env)
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in strict_files(run)}
    assert {"config.json", "metadata.json", "metrics.jsonl"} <= names, names
    ev = tmp_path / "eval"
    proc = run_model(
        "eval", str(run), "--task", TASK, "--episodes", "1", "--seeds", "1", "--quiet", "--out", str(ev), env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "results.json" in {p.name for p in strict_files(ev)}
    strict_files(tmp_path / "cache")  # the array cache's bookkeeping

    # and the --json outputs of the CLIs
    for out in (
        run_cli("validate", str(ib), "--json", check=True).stdout,
        run_cli("tasks", "--json", check=True).stdout,
        run_model("describe", "--preset", "tiny", "--json", env=env).stdout,
    ):
        json.loads(out, parse_constant=refuse)
