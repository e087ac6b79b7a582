"""vintix-model's writing commands check their paths before any work, with the checks `collect` runs
(``vintix_data.preflight``; issue 24 item 6): a path under /proc, a read-only file system or a file in the way is one
line, exit 2, and nothing is written. Before, `eval --out` evaluated the whole run and then died in a traceback
writing results.json, and `convert --out` read the source, then died writing its temporary folder."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import TASK, one_line_error, run_model_cli


@pytest.fixture(scope="module")
def run(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "run"
    sets = ["model.context=64", "train.stride=16", "train.num_workers=0", "train.warmup_steps=1", "train.save_every=2"]
    run_model_cli(
        "train",
        "--datasets",
        str(tiny_dataset),
        "--out",
        str(out),
        "--steps",
        "2",
        "--quiet",
        *sum((["--set", s] for s in sets), []),
        check=True,
    )
    return out


def test_bad_out_paths_of_train_eval_and_convert_are_one_line_and_write_nothing(run, tiny_dataset, tmp_path, tmpfs):
    afile = tmp_path / "afile"
    afile.write_text("keep me")
    source = tmp_path / "source"  # an empty folder: the --out check must come before the source is even read
    source.mkdir()
    ro = tmpfs("ro", "ro,size=1m")
    cases = [
        (Path("/proc") / f"vintix-{uuid.uuid4().hex[:8]}" / "out", "cannot write in /proc"),
        (ro / "out", "Read-only file system"),
        (afile / "out", f"{afile} is a file, not a folder"),
    ]
    for out, message in cases:
        one_line_error(
            run_model_cli("train", "--datasets", str(tiny_dataset), "--out", str(out), "--steps", "2"),
            f"--out {out}",
            message,
        )
        one_line_error(
            run_model_cli(
                "eval", str(run), "--task", TASK, "--episodes", "1", "--seeds", "1", "--quiet", "--out", str(out)
            ),
            f"--out {out}",
            message,
        )
        one_line_error(run_model_cli("convert", str(source), "--out", str(out)), f"--out {out}", message)
    one_line_error(run_model_cli("eval", str(run), "--task", TASK, "--out", str(afile)), f"--out {afile} is a file")
    one_line_error(run_model_cli("push", str(Path("/proc") / "vintix-none"), "--repo", "org/name"), "not a checkpoint")
    assert afile.read_text() == "keep me" and list(ro.iterdir()) == [] and list(source.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "ro", "source"]


def test_convert_into_an_empty_folder_whose_parent_is_read_only_is_refused_up_front(tmp_path, tmpfs):
    # the converted checkpoint is built in a temporary sibling of --out and renamed onto it: the parent must be writable
    parent = tmpfs("parent", "size=1m")
    (parent / "out").mkdir()
    source = tmp_path / "source"
    source.mkdir()
    out = parent / "out"
    if subprocess.run(["mount", "-o", "remount,ro", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("cannot remount a tmpfs read-only here")
    if (
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(out)], capture_output=True).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:  # out: an empty, writable folder in a read-only one
        one_line_error(
            run_model_cli("convert", str(source), "--out", str(out)),
            f"--out {out}: its parent {parent}",
            "Read-only file system",
        )
        assert list(out.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(out)], capture_output=True)
