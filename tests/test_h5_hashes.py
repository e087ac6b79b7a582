"""export-h5 writes a hash list, import-h5 --sha256 checks the files against it, and --chunk-check flags what flipped
bits make of a float (issue 17, item 4). Real HDF5 files (h5py), the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import one_line_error, run_cli

h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def exported(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("h5") / "ib50"
    proc = run_cli("export-h5", str(tiny_dataset), "--out", str(out), "--chunk-rows", "2000", check=True)
    assert f"file hashes in {out.parent / 'ib50.sha256'}" in proc.stderr
    return out


def flip_two_bytes(path: Path) -> None:
    """Turn the first two action values of the first group into float32 denormals (~1e-43), in place: the file stays
    a readable HDF5 file of the right shapes and dtypes."""
    with h5py.File(path, "r") as f:
        group = sorted(f.keys(), key=lambda k: int(k.split("-")[0]))[0]
        offset = f[group]["action"].id.get_offset()
    raw = bytearray(path.read_bytes())
    for i in range(2):  # little-endian float32: zero the three high bytes, keep one low byte set -> a denormal
        raw[offset + 4 * i : offset + 4 * i + 4] = bytes([0x47, 0x00, 0x00, 0x00])
    path.write_bytes(bytes(raw))


def test_the_hash_list_is_sha256sum_format_and_a_round_trip_checks_end_to_end(exported, tmp_path):
    sums = exported.parent / "ib50.sha256"
    lines = sums.read_text().splitlines()
    assert sorted(ln.split("  ")[1] for ln in lines) == sorted(f"ib50/{p.name}" for p in exported.iterdir())
    assert all(p.suffix in (".h5", ".json") for p in exported.iterdir())  # the task folder keeps the original layout
    back = tmp_path / "back"
    proc = run_cli(
        "import-h5", str(exported), "--task", "industrial-benchmark-50-v1", "--out", str(back), "--sha256", str(sums)
    )
    assert proc.returncode == 0, proc.stderr
    again = tmp_path / "again" / "ib50"
    run_cli("export-h5", str(back), "--out", str(again), check=True)
    assert (again.parent / "ib50.sha256").read_text() == sums.read_text()  # the same bytes, end to end


def test_a_corrupted_file_is_refused_by_its_hash_and_by_chunk_check(exported, tmp_path):
    bad = tmp_path / "ib50"
    shutil.copytree(exported, bad)
    victim = sorted(bad.glob("*.h5"))[0]
    flip_two_bytes(victim)
    with h5py.File(victim, "r") as f:
        group = sorted(f.keys(), key=lambda k: int(k.split("-")[0]))[0]
        values = f[group]["action"][0, :2]
    assert np.all((values != 0) & (np.abs(values) < 1e-38)), values  # still floats: nothing else notices
    sums = exported.parent / "ib50.sha256"
    proc = run_cli(
        "import-h5",
        str(bad),
        "--task",
        "industrial-benchmark-50-v1",
        "--out",
        str(tmp_path / "a"),
        "--sha256",
        str(sums),
    )
    one_line_error(proc, f"{victim.name}: sha256", "listed in --sha256")
    proc = run_cli(
        "import-h5", str(bad), "--task", "industrial-benchmark-50-v1", "--out", str(tmp_path / "b"), "--chunk-check"
    )
    one_line_error(proc, victim.name, "'action' has a denormal value", "at row 0")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_chunk_check_flags_an_absurd_magnitude_and_a_bad_list_is_one_line(exported, tmp_path):
    bad = tmp_path / "ib50"
    shutil.copytree(exported, bad)
    victim = sorted(bad.glob("*.h5"))[-1]
    with h5py.File(victim, "r+") as f:
        group = sorted(f.keys(), key=lambda k: int(k.split("-")[0]))[-1]
        f[group]["reward"][5] = 3.0e38
    proc = run_cli(
        "import-h5", str(bad), "--task", "industrial-benchmark-50-v1", "--out", str(tmp_path / "a"), "--chunk-check"
    )
    one_line_error(proc, "'reward' has a value beyond +-1e+09")
    junk = tmp_path / "junk.sha256"
    junk.write_text("not a hash list\n")
    one_line_error(
        run_cli(
            "import-h5",
            str(exported),
            "--task",
            "industrial-benchmark-50-v1",
            "--out",
            str(tmp_path / "c"),
            "--sha256",
            str(junk),
        ),
        "not '<sha256>  <file>'",
    )
    short = tmp_path / "short.sha256"
    short.write_text("\n".join((exported.parent / "ib50.sha256").read_text().splitlines()[1:]) + "\n")
    one_line_error(
        run_cli(
            "import-h5",
            str(exported),
            "--task",
            "industrial-benchmark-50-v1",
            "--out",
            str(tmp_path / "d"),
            "--sha256",
            str(short),
        ),
        "not listed in --sha256",
    )
