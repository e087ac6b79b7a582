"""`release --executor ray --ray-address`: an address that accepts TCP and then says nothing is one line within
``--ray-timeout`` with nothing written (issue 24, item 5); before, ``ray.init`` waited for more than ten minutes.
A real Ray cluster passes the same probe."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import one_line_error, run_cli
from vintix_data.release import ReleaseError
from vintix_data.release.executors import probe_ray

pytest.importorskip("ray")


@contextlib.contextmanager
def silent_server(seconds: float):
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte; it stops by itself after
    ``seconds`` (or when the block ends). Yields its port."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop, held = threading.Event(), []

    def serve():
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(socket.timeout):
                held.append(srv.accept()[0])
        for c in held:
            c.close()
        srv.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield srv.getsockname()[1]
    finally:
        stop.set()
        thread.join()


def test_a_silent_ray_address_is_one_line_within_the_timeout_and_writes_nothing(tmp_path):
    root = tmp_path / "R"
    timeout = 5
    with silent_server(300) as port:
        start = time.monotonic()
        # the old code waited in ray.init for well over the 180 s allowed here (subprocess.TimeoutExpired)
        proc = run_cli(
            "release",
            "ib",
            "--out",
            str(root),
            "--executor",
            "ray",
            "--ray-address",
            f"127.0.0.1:{port}",
            "--ray-timeout",
            str(timeout),
            timeout=180,
        )
        elapsed = time.monotonic() - start
        one_line_error(proc, f"--ray-address 127.0.0.1:{port}: no answer from Ray within {timeout} s", "--ray-timeout")
        # the CLI's own start (imports, the task selection) on a loaded 2-core machine took up to ~7 s more
        assert elapsed < timeout + 30, elapsed
        assert not root.exists() and os.listdir(tmp_path) == []

        start = time.monotonic()
        with pytest.raises(ReleaseError, match="no answer from Ray within 2 s"):
            probe_ray(f"127.0.0.1:{port}", 2.0)
        assert 2.0 <= time.monotonic() - start < 2.0 + 5, time.monotonic() - start


def test_bad_ray_timeouts_are_one_line(tmp_path):
    for bad in ("0", "-1", "inf"):
        one_line_error(
            run_cli("release", "ib", "--out", str(tmp_path / "R"), "--executor", "ray", "--ray-timeout", bad),
            "--ray-timeout must be a number of seconds > 0",
        )
    assert os.listdir(tmp_path) == []


def test_a_real_ray_cluster_passes_the_probe():
    """A one-CPU Ray cluster started by a helper process (its own session, killed as a group however the test ends):
    the probe connects and reads its CPUs; a local Ray needs no probe. The installed Ray (2.60) turns token
    authentication on for a cluster that ``ray.init`` starts, and a driver given an explicit address then needs the
    token (``RAY_AUTH_MODE=token``): the helper's cluster runs without it."""
    code = (
        "import sys, ray\n"
        "ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)\n"
        "print(ray.get_runtime_context().gcs_address, flush=True)\n"
        "sys.stdin.read()\n"
        "ray.shutdown()\n"
    )
    helper = subprocess.Popen(
        [sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
    )
    try:
        address = helper.stdout.readline().strip()
        assert address, "the helper's Ray did not start"
        assert probe_ray(address, 120.0) == 1.0
        assert probe_ray(None, 0.001) is None
    finally:
        helper.stdin.close()
        try:
            helper.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(helper.pid, signal.SIGKILL)
            helper.wait()
