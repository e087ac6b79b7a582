"""What a hostile or unlucky user does to a run (issue 17, items 2 and 3): two writers on one folder, bad --out paths,
a full disk, absurd sizes, a kill at the worst moment. Each ends in one line (exit 2) with nothing written, or in a
folder that the next run accepts; the data stay those of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import TASK, kill_mid_collection, one_line_error, run_cli, run_model_cli
from vintix_data.locking import LOCK_NAME, LockedError, exclusive_lock
from vintix_data.manifest import data_manifest

SMALL = ["--demonstrator", "zero", "--histories", "2", "--steps", "5000", "--reference-episodes", "10"]


def collect_args(out: Path, *extra: str) -> list[str]:
    return ["collect", TASK, "--out", str(out), *SMALL, *extra]


def tree(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the lock ------------------------------------------------------------------------------------


def test_the_lock_names_its_holder_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "new"
    with exclusive_lock(folder, "collect"):
        assert (folder / LOCK_NAME).read_text().strip() == str(os.getpid())
        code = (
            "import sys; from vintix_data.locking import exclusive_lock, LockedError\n"
            "try:\n    exclusive_lock(sys.argv[1], 'collect').__enter__()\n"
            "except LockedError as e:\n    print(e); sys.exit(3)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True)
        assert proc.returncode == 3 and f"in use by pid {os.getpid()}" in proc.stdout, proc
        # a second open file description in this process is refused too
        with pytest.raises(LockedError), exclusive_lock(folder, "collect"):
            pass
    assert not folder.exists()  # created for the lock and still empty: removed again
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "x").write_text("x")
    with exclusive_lock(kept, "collect"):
        pass
    assert tree(kept) == {"x": b"x"}


def test_two_resumes_together_one_runs_the_other_gets_one_line(tiny_dataset, tmp_path):
    # Deterministic, not a race: the first resume is frozen (SIGSTOP) once it holds the lock, so the second always
    # meets it, however loaded the machine (two resumes merely started together can run one after the other).
    out = tmp_path / "ds"
    n = kill_mid_collection(["collect", TASK, *SMALL], out, min_parts=4)
    assert 4 <= n < 40
    cmd = [sys.executable, "-m", "vintix_data.cli", *collect_args(out), "--resume"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock, deadline = out / LOCK_NAME, time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(first.pid):
            break
        time.sleep(0.01)
    assert first.poll() is None, "the first resume ended before it was seen holding the lock"
    first.send_signal(signal.SIGSTOP)
    try:
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGCONT)
    _, first_err = first.communicate(timeout=600)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr and len(second.stderr.strip().splitlines()) == 1, second.stderr
    assert f"is in use by pid {first.pid}" in second.stderr, second.stderr
    assert data_manifest(out) == data_manifest(tiny_dataset)
    assert not lock.exists() and not (out / ".vintix" / "parts").exists()


def test_train_holds_a_lock_on_its_run_folder(tmp_path):
    run = tmp_path / "run"
    with exclusive_lock(run, "vintix-model train"):
        proc = run_model_cli(
            "train", "--datasets", str(tmp_path / "no-such-dataset"), "--out", str(run), "--steps", "2"
        )
        one_line_error(proc, f"is in use by pid {os.getpid()}")


# -- pre-checks: one line, exit 2, nothing written ---------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--steps", "1000000000000"], "--steps 1,000,000,000,000 is more than the 1,000,000,000"),
        (["--histories", "1000000000"], "--histories 1,000,000,000 is more than the 100,000"),
        (["--steps", "999999999", "--workers", "16", "--num-envs", "16"], "of memory, only"),
        (["--histories", "100000", "--steps", "100000000"], "free on that file system"),
    ],
)
def test_sizes_beyond_bounds_memory_or_disk_are_refused_before_anything_is_created(tmp_path, extra, message):
    out = tmp_path / "out"
    proc = run_cli("collect", TASK, "--out", str(out), "--demonstrator", "zero", "--reference-episodes", "2", *extra)
    one_line_error(proc, message)
    assert not out.exists()


def test_bad_out_paths_are_one_line(tmp_path, tmpfs):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    one_line_error(run_cli(*collect_args(afile)), f"--out {afile} is a file, not a folder")
    one_line_error(run_cli(*collect_args(afile / "sub")), f"{afile} is a file, not a folder")
    assert afile.read_text() == "keep me"
    proc = run_cli(*collect_args(Path("/proc") / f"vintix-{uuid.uuid4().hex[:8]}"))
    one_line_error(proc, "cannot write in /proc")
    ro = tmpfs("ro", "ro,size=1m")
    one_line_error(run_cli(*collect_args(ro / "ds")), "Read-only file system")
    one_line_error(run_cli("info", str(afile)), "is a file, not a dataset folder")
    one_line_error(
        run_model_cli("train", "--datasets", str(tmp_path), "--out", str(afile), "--steps", "2"),
        f"--out {afile} is a file, not a folder",
    )
    assert afile.read_text() == "keep me"


def test_an_out_path_that_is_not_utf8_is_refused_before_collecting(tmp_path):
    out = os.path.join(os.fsencode(tmp_path), b"ds-\xff")
    proc = subprocess.run(
        [sys.executable, "-m", "vintix_data.cli", "collect", TASK, "--out", out, *SMALL], capture_output=True, text=True
    )
    one_line_error(proc, "not valid UTF-8")
    assert os.listdir(os.fsencode(tmp_path)) == []


def test_a_full_disk_mid_collection_is_one_line_and_resumes_to_the_same_data(tiny_dataset, tmp_path, tmpfs):
    disk = tmpfs("small", "size=40m")
    out = disk / "ds"
    proc = subprocess.Popen(
        [sys.executable, "-m", "vintix_data.cli", *collect_args(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parts = out / ".vintix" / "parts"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(parts.rglob("*.npz"))) < 3 and proc.poll() is None:
        time.sleep(0.02)
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    for block in (1 << 20, 4096, 1):  # fill the file system to the last byte
        try:
            while True:
                os.write(fd, b"\0" * block)
        except OSError:
            pass
    os.close(fd)
    _stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 2, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("error: "), stderr
    assert "No space left on device" in stderr and "--resume" in stderr
    saved = sorted(parts.rglob("*.npz"))
    assert saved and all(p.stat().st_size > 0 for p in saved)
    filler.unlink()
    run_cli(*collect_args(out), "--resume", check=True)
    assert data_manifest(out) == data_manifest(tiny_dataset)


# -- the state: atomic with the folder; no leftover parts --------------------------------------------


def test_a_kill_while_the_state_is_made_leaves_a_folder_a_fresh_run_accepts(tiny_dataset, tmp_path):
    out = tmp_path / "ds"
    half = out / ".vintix.tmp-12345-abcd"  # what a kill between the folder and the state's rename leaves
    half.mkdir(parents=True)
    (half / "state.json").write_text("{")
    (out / LOCK_NAME).write_text("12345\n")
    one_line_error(run_cli(*collect_args(out), "--resume"), "holds no collection state")
    run_cli(*collect_args(out), check=True)
    assert not half.exists() and data_manifest(out) == data_manifest(tiny_dataset)
    assert json.loads((out / ".vintix" / "state.json").read_text())["complete"] is True


def test_a_resume_of_a_complete_run_removes_leftover_parts(tiny_dataset, tmp_path):
    out = tmp_path / "ds"
    shutil.copytree(tiny_dataset, out)
    left = out / ".vintix" / "parts" / "h00000"
    left.mkdir(parents=True)
    (left / "e0000000.npz").write_bytes(b"left by a kill after the state said complete")
    (left / "e0000001.npz.tmp").write_bytes(b"")
    before = {k: v for k, v in tree(out).items() if not k.startswith(".vintix/parts")}
    run_cli(*collect_args(out), "--resume", check=True)
    assert not (out / ".vintix" / "parts").exists()
    assert tree(out) == before
