"""Every command that writes a local output checks it up front, as ``collect`` does (issue 24, item 6): an ``--out``
under ``/proc`` or on a read-only file system is one line, exit 2, before any work and with nothing written.

Before, ``import-h5``/``export-h5`` ended in a raw ``FileNotFoundError``/``OSError`` traceback, ``vintix-model eval``
played every episode and ``demonstrator train`` trained to the end before failing at the write. The read-only folder
is a read-only tmpfs: root, which runs these tests in the container, writes through permission bits.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import TASK, one_line_error, run_cli, run_model_cli
from tests.test_convert import write_original
from tests.test_legacy_h5 import IB_LENGTHS, make_history, write_task
from vintix_data.preflight import PreflightError, check_output_path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """Real inputs for each command: an HDF5 source, the dataset imported from it, an original-layout checkpoint
    and the vintix checkpoint converted from it (evaluable on IB)."""
    from vintix_data.legacy_h5 import import_h5

    root = tmp_path_factory.mktemp("inputs")
    hs = [make_history(IB_LENGTHS, 6, 3, seed, demo=True) for seed in (1, 2)]
    src = write_task(root / "ib50_release", hs, 300, TASK, 6, 3)
    import_h5(src, root / "ds")
    original = write_original(root / "Vintix")
    run_model_cli("convert", str(original), "--out", str(root / "ckpt"), check=True)
    return {"src": src, "ds": root / "ds", "original": original, "ckpt": root / "ckpt"}


def commands(inputs: dict[str, Path], out: Path) -> dict[str, tuple]:
    """Each writing command, aimed at ``out`` (``demonstrator train`` at ``out.zip``)."""
    return {
        "import-h5": (run_cli, "import-h5", str(inputs["src"]), "--out", str(out)),
        "export-h5": (run_cli, "export-h5", str(inputs["ds"]), "--out", str(out)),
        "release": (run_cli, "release", TASK, "--out", str(out)),
        "demonstrator train": (run_cli, "demonstrator", "train", TASK, "--out", f"{out}.zip", "--timesteps", "2500"),
        "vintix-model train": (
            run_model_cli,
            "train",
            "--datasets",
            str(inputs["ds"]),
            "--out",
            str(out),
            "--steps",
            "2",
        ),
        "vintix-model eval": (
            run_model_cli,
            "eval",
            str(inputs["ckpt"]),
            "--task",
            TASK,
            "--episodes",
            "1",
            "--seeds",
            "1",
            "--quiet",
            "--out",
            str(out),
        ),
        "vintix-model convert": (run_model_cli, "convert", str(inputs["original"]), "--out", str(out)),
    }


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_every_writing_command_refuses_an_out_under_proc(inputs, tmp_path):
    out = Path("/proc") / f"vintix-{uuid.uuid4().hex[:8]}" / "ib"
    before = listing(inputs["ds"].parent)
    for name, (runner, *args) in commands(inputs, out).items():
        proc = runner(*args, env={"VINTIX_CACHE": str(tmp_path / "cache")})
        one_line_error(proc, f"--out {out}", "cannot write in /proc")
        assert not out.parent.exists(), name
    assert listing(inputs["ds"].parent) == before and not (tmp_path / "cache").exists()


def test_every_writing_command_refuses_a_read_only_folder(inputs, tmp_path, tmpfs):
    ro = tmpfs("ro", "ro,size=1m")
    for name, (runner, *args) in commands(inputs, ro / "ib").items():
        proc = runner(*args, env={"VINTIX_CACHE": str(tmp_path / "cache")})
        one_line_error(proc, f"--out {ro / 'ib'}", f"cannot write in {ro}", "Read-only file system")
        assert os.listdir(ro) == [], name
    assert not (tmp_path / "cache").exists()


def test_a_writable_out_in_a_read_only_parent_is_refused_where_the_output_is_renamed_into_place(
    inputs, tmp_path, tmpfs
):
    """import-h5, export-h5 and convert build their folder as a hidden sibling of --out and rename it: a writable
    (empty) --out whose parent is read-only could never receive it."""
    parent = tmpfs("parent", "size=1m")
    (parent / "out").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(parent)], check=True)
    out = tmpfs("parent/out", "size=1m")
    (out / "probe").mkdir()  # --out itself is writable
    (out / "probe").rmdir()
    every = commands(inputs, out)
    for name in ("import-h5", "export-h5", "vintix-model convert"):
        runner, *args = every[name]
        one_line_error(runner(*args), f"--out {out}", f"cannot write in {parent}", "Read-only file system")
        assert os.listdir(out) == [] and os.listdir(parent) == ["out"], name


def test_check_output_path_by_kind(tmp_path):
    a_file = tmp_path / "f.zip"
    a_file.write_text("x")
    assert check_output_path(a_file, kind="file") == tmp_path  # a file is replaced atomically
    assert check_output_path(tmp_path / "new" / "deeper", kind="staged") == tmp_path
    with pytest.raises(PreflightError, match="is a folder, not a file"):
        check_output_path(tmp_path, "--out", kind="file")
    with pytest.raises(PreflightError, match="is a file, not a folder"):
        check_output_path(a_file, kind="staged")
    with pytest.raises(PreflightError, match=r"--model-out /proc/x/m.zip: cannot write in /proc"):
        check_output_path("/proc/x/m.zip", "--model-out", kind="file")
    with pytest.raises(ValueError, match="kind"):
        check_output_path(tmp_path, kind="somewhere")
    assert os.listdir(tmp_path) == ["f.zip"]  # the probes leave nothing


def test_demonstrator_train_checks_the_cache_it_installs_into_before_training(tmp_path):
    """The zip is installed in $VINTIX_CACHE after training: an unwritable cache was a traceback after the training."""
    cache = Path("/proc") / f"vintix-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "d.zip"
    proc = run_cli(
        "demonstrator", "train", TASK, "--out", str(out), "--timesteps", "2500", env={"VINTIX_CACHE": str(cache)}
    )
    one_line_error(proc, f"the demonstrator cache {cache / 'demonstrators'}: cannot write in /proc", "--no-install")
    assert os.listdir(tmp_path) == []
