"""Shared fixtures: real environments, real files, real SB3 checkpoints trained for a few seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
# `demonstrator train` installs default demonstrators into $VINTIX_CACHE: never the user's cache from tests.
os.environ["VINTIX_CACHE"] = tempfile.mkdtemp(prefix="vintix-test-cache-")

TASK = "industrial-benchmark-50-v1"


def run_cli(
    *args: str, check: bool = False, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `vintix-data ...` in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "vintix_data.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vintix-data {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def run_model_cli(
    *args: str, check: bool = False, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `vintix-model ...` in a subprocess (one torch thread, Hub offline), as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "vintix_model.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"vintix-model {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def one_line_error(proc: subprocess.CompletedProcess, *fragments: str, code: int = 2) -> None:
    """The CLI refused with exit ``code`` and exactly one line on stderr (no traceback) naming ``fragments``."""
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for f in fragments:
        assert f in proc.stderr, (f, proc.stderr)


def kill_after_checkpoint(argv: list[str], ckpt: Path, timeout: float = 300) -> None:
    """Run ``argv`` and SIGKILL it as soon as ``ckpt`` exists (a training killed right after its first checkpoint)."""
    import signal
    import time

    proc = subprocess.Popen(argv)
    deadline = time.time() + timeout
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_mid_collection(args: list[str], out: Path, min_parts: int, timeout: float = 120) -> int:
    """Start `vintix-data collect ARGS --out OUT`, SIGKILL it once `min_parts` episodes are on disk; return the count."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "vintix_data.cli", *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    parts = out / ".vintix" / "parts"
    deadline = time.time() + timeout
    while time.time() < deadline and len(list(parts.rglob("*.npz"))) < min_parts:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return len(list(parts.rglob("*.npz")))


@pytest.fixture
def tmpfs(tmp_path):
    """Mount small tmpfs file systems under tmp_path (root in a container allows it; skipped elsewhere). A read-only
    one (``"ro,size=1m"``) is the folder even root cannot write in; permission bits do not stop root. ``name`` may be
    a folder that exists already (a mount on a folder inside another mount)."""
    mounted = []

    def mount(name: str, options: str) -> Path:
        where = tmp_path / name
        where.mkdir(exist_ok=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):  # inner mounts first
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(scope="session")
def ppo_zip(tmp_path_factory) -> Path:
    """A real PPO checkpoint for IB p50, trained for one rollout through the CLI."""
    path = tmp_path_factory.mktemp("demo") / "ppo.zip"
    run_cli("demonstrator", "train", TASK, "--out", str(path), "--timesteps", "2500", check=True)
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A tiny but complete collection (2 histories x 5,000 steps) with the zero-action demonstrator."""
    out = tmp_path_factory.mktemp("ds") / "ib50"
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
        check=True,
    )
    return out


# -- the project's test Hub (tests/hub_server.py): one server per test module, clients pointed at it over HTTP ------

HUB_TOKEN = "hf_vintix_test_token"


def hub_client_env(url: str, home: Path) -> dict[str, str]:
    """The environment that points huggingface_hub and datasets (in-process or CLI subprocesses) at a test Hub."""
    return {
        "HF_ENDPOINT": url,
        "HF_TOKEN": HUB_TOKEN,
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_DATASETS_OFFLINE": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


@pytest.fixture(scope="module")
def hub():
    from tests.hub_server import HubServer

    with HubServer(tokens={HUB_TOKEN}) as server:
        yield server


@pytest.fixture(scope="module")
def hub_env(hub, tmp_path_factory) -> dict[str, str]:
    return hub_client_env(hub.url, tmp_path_factory.mktemp("hf_home"))
