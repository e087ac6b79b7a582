"""Where units run: local child processes (no set-up) or Ray (a local one, or a cluster's address).

Both give the driver the same three calls: ``submit(key, fn, *args)``, ``wait(timeout)`` -> finished
``(key, result)`` pairs, and ``drain_progress()`` -> the collectors' progress events. A unit whose *process* dies
(SIGKILL, OOM killer, a lost node) is run again, at most ``max_retries`` times: by our own loop locally, by Ray's
task retries on Ray. After that the result is ``{"error": ...}``. Units are idempotent (vintix_data.release.units),
so a retry continues from the episodes already saved. A unit that *raises* (a bug) is not run again, since it
would raise again: its error is one line naming its exception, on both executors.
"""

from __future__ import annotations

import contextlib
import os
import queue as queue_mod
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from urllib.parse import urlparse

from vintix_data.collect.workers import QueueProgress
from vintix_data.release.config import ReleaseError
from vintix_data.release.units import guarded

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_line(e: BaseException) -> str:
    """One plain line for the report: the unit's own exception (on Ray, the cause of a RayTaskError, whose own
    first line is Ray's header in terminal colours, naming the worker), else Ray's error (a dead worker)."""
    cause = getattr(e, "cause", None)
    err = cause if isinstance(cause, BaseException) else e
    lines = _ANSI.sub("", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def _child(key, fn, args, results, progress_q) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the driver's handler it was forked with
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # one unit per core: no BLAS or torch thread pools fighting
    os.environ.setdefault("MKL_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    try:
        result = guarded(fn, *args, progress=QueueProgress(progress_q))
    except Exception as e:  # a bug in the unit: reported against its task as on Ray, not retried (it would recur)
        traceback.print_exc()
        result = {"error": f"unit {key}: {error_line(e)}"}
    results.put((key, result))


class LocalExecutor:
    """One forked process per unit, at most ``capacity`` at once."""

    def __init__(self, capacity: int, max_retries: int):
        import multiprocessing as mp

        import stable_baselines3  # noqa: F401  imported once here, so no forked unit pays for torch's import
        import torch  # noqa: F401

        self.ctx = mp.get_context("fork")
        self.capacity, self.max_retries = capacity, max_retries
        self.results, self.progress = self.ctx.Queue(), self.ctx.Queue()
        self.running: dict[str, tuple] = {}  # key -> (process, fn, args, attempt)

    def _start(self, key, fn, args, attempt) -> None:
        p = self.ctx.Process(target=_child, args=(key, fn, args, self.results, self.progress), daemon=False)
        p.start()
        self.running[key] = (p, fn, args, attempt)

    def submit(self, key: str, fn, *args) -> None:
        self._start(key, fn, args, 0)

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        done = []
        try:
            key, result = self.results.get(timeout=timeout)
            done.append((key, result))
            while True:
                done.append(self.results.get_nowait())
        except queue_mod.Empty:
            pass
        for key, _ in done:
            p = self.running.pop(key)[0]
            p.join()
        for key, (p, fn, args, attempt) in list(self.running.items()):
            if p.is_alive() or p.exitcode is None:
                continue
            p.join()
            try:  # it may have put its result just before exiting
                k, result = self.results.get(timeout=1.0)
                done.append((k, result))
                self.running.pop(k)[0].join()
                continue
            except queue_mod.Empty:
                pass
            del self.running[key]
            if attempt < self.max_retries:
                self._start(key, fn, args, attempt + 1)
            else:
                done.append(
                    (key, {"error": f"unit {key}: its process died {attempt + 1} times (last exit code {p.exitcode})"})
                )
        return done

    def drain_progress(self) -> list[tuple]:
        events = []
        try:
            while True:
                events.append(self.progress.get_nowait())
        except queue_mod.Empty:
            return events

    def close(self) -> None:
        for p, *_ in self.running.values():
            p.kill()
            p.join()


def check_ray_address(address: str | None, timeout_s: float = 5.0) -> None:
    """A cluster address must answer before anything is written (Ray itself waits a long time, then fails)."""
    if address in (None, "", "auto", "local"):
        return
    url = urlparse(address if "://" in address else f"ray://{address}")
    host, port = url.hostname, url.port
    if not host or not port:
        raise ReleaseError(f"--ray-address {address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as e:
        raise ReleaseError(f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e})") from None


# The probe's own program: connect as a driver, report the cluster's CPUs on stdout (Ray's C++ core logs go to stderr),
# disconnect. A failure is reported as one line on stdout, so the parent never has to parse Ray's logs.
_PROBE = """
import sys
try:
    import ray
    ray.init(address=sys.argv[1], log_to_driver=False, logging_level="ERROR")
    cpus = ray.cluster_resources().get("CPU", 0)
    ray.shutdown()
except Exception as e:
    lines = str(e).strip().splitlines()
    print("error " + type(e).__name__ + ": " + (lines[0] if lines else ""), flush=True)
    sys.exit(1)
print("ok", cpus, flush=True)
"""


def probe_ray(address: str | None, timeout_s: float) -> float | None:
    """Connect to the Ray cluster at ``address`` in a child process, killed (with its process group) when it has not
    connected within ``timeout_s`` seconds (Ray's own import included); returns the cluster's CPUs.

    An address that accepts TCP but never answers (a firewall that accepts, a stopped process's port taken by
    another program, a cluster whose GCS hangs) passes :func:`check_ray_address` and then makes ``ray.init`` wait
    for well over ten minutes. Why a child process and not a thread or a signal: ``ray.init`` blocks in Ray's C++
    core, where a ``SIGALRM`` handler set to 3 s had not run after 35 s (tried with Ray 2.60), and a thread running
    it cannot be stopped: abandoned, it would stay in Ray's process-wide worker state, which the real ``ray.init``
    shares. A child killed with its process group leaves nothing behind here, and costs little next to a release: a
    Python start, Ray's import and one connection (a short driver job on the cluster). The real ``ray.init``
    follows only after the probe connected. None for a local Ray (nothing to wait for)."""
    if address in (None, "", "local"):
        return None
    proc = subprocess.Popen(
        [sys.executable, "-c", _PROBE, address],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, _ = proc.communicate(timeout=timeout_s)
    except BaseException as e:  # the timeout, or Ctrl-C (which the probe, in its own session, does not get)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the probe and anything it started
        proc.communicate()
        if not isinstance(e, subprocess.TimeoutExpired):
            raise
        raise ReleaseError(
            f"--ray-address {address}: no answer from Ray within {timeout_s:g} s (it accepts "
            "connections but does not answer as a Ray cluster; --ray-timeout sets the wait)"
        ) from None
    last = (stdout.strip().splitlines() or [""])[-1]
    if proc.returncode == 0 and last.startswith("ok "):
        return float(last.split()[1])
    why = last[len("error ") :] if last.startswith("error ") else f"the probe exited with code {proc.returncode}"
    raise ReleaseError(f"--ray-address {address}: Ray did not connect ({why})")


@contextlib.contextmanager
def stderr_captured():
    """File descriptor 2 goes to a temporary file for the block (what C++ libraries print there included)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _warm_up() -> None:
    """What every unit imports (torch, SB3, the collector): paid here, while the driver gates its first tasks."""
    import stable_baselines3  # noqa: F401
    import torch

    import vintix_data.collect  # noqa: F401

    torch.set_num_threads(1)


def _ray_unit(key, fn, args, progress_q):
    import torch

    torch.set_num_threads(1)
    return key, guarded(fn, *args, progress=QueueProgress(progress_q))


class RayExecutor:
    """One Ray task (1 CPU) per unit; Ray retries a unit whose worker dies (``max_retries``)."""

    def __init__(self, capacity: int | None, max_retries: int, address: str | None):
        try:
            import ray
            from ray.util.queue import Queue
        except ImportError:
            raise ReleaseError("--executor ray needs Ray: pip install 'vintix[ray]'") from None
        self.ray = ray
        env = {"env_vars": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}}
        if address in (None, "", "local") and os.environ.get("PYTHONPATH"):  # a local Ray's workers import what we do
            env["env_vars"]["PYTHONPATH"] = os.environ["PYTHONPATH"]
        try:
            with stderr_captured():  # Ray's C++ core logs each connection retry on fd 2: the user gets our one line
                if address in (None, "", "local"):
                    ray.init(
                        num_cpus=capacity,
                        include_dashboard=False,
                        log_to_driver=False,
                        runtime_env=env,
                        logging_level="WARNING",
                        ignore_reinit_error=True,
                    )
                else:
                    ray.init(
                        address=address,
                        log_to_driver=False,
                        runtime_env=env,
                        ignore_reinit_error=True,
                        logging_level="WARNING",
                    )
        except (ConnectionError, RuntimeError) as e:
            raise ReleaseError(f"Ray did not start ({str(e).splitlines()[0]})") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.capacity = min(capacity, cpus) if capacity else cpus
        self.progress = Queue(actor_options={"num_cpus": 0})
        self.remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(_ray_unit)
        self.refs: dict = {}  # ObjectRef -> key
        # Ray starts a worker process when a task first needs one, and a unit's imports take seconds: without this,
        # the second worker of a 2-core release began its first history ~4.5 s after the first (measured). Workers
        # are reused for later tasks, so each core's worker starts (and imports) once, in parallel with the gates.
        warm = ray.remote(num_cpus=1)(_warm_up)
        self.warming = [warm.remote() for _ in range(self.capacity)]

    def submit(self, key: str, fn, *args) -> None:
        self.refs[self.remote.remote(key, fn, args, self.progress)] = key

    def wait(self, timeout: float) -> list[tuple[str, dict]]:
        if not self.refs:
            time.sleep(timeout)
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout, fetch_local=True)
        done = []
        for ref in ready:
            key = self.refs.pop(ref)
            try:
                done.append(self.ray.get(ref))
            except self.ray.exceptions.RayError as e:  # the worker died more often than max_retries, or a bug
                done.append((key, {"error": f"unit {key}: {error_line(e)}"}))
        return done

    def drain_progress(self) -> list[tuple]:
        n = self.progress.qsize()
        return self.progress.get_nowait_batch(n) if n else []

    def close(self) -> None:
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        self.ray.shutdown()


def make_executor(kind: str, capacity: int | None, max_retries: int, address: str | None):
    if kind == "ray":
        return RayExecutor(capacity, max_retries, address)
    return LocalExecutor(capacity or os.cpu_count() or 1, max_retries)
