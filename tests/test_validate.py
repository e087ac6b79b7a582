import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from vintix_data.format import write_manifest
from vintix_data.validate import ValidationConfig, validate

SHARD = "data/train-00000-of-00001.parquet"


@pytest.fixture
def copy(tiny_dataset, tmp_path) -> Path:
    dst = tmp_path / "ds"
    shutil.copytree(tiny_dataset, dst)
    return dst


def rewrite(folder: Path, column: str, fn) -> None:
    """Change one column of the shard and re-manifest, so only the semantic check can object."""
    path = folder / SHARD
    table = pq.read_table(path)
    col = table.column(column).combine_chunks()
    table = table.set_column(table.schema.get_field_index(column), table.schema.field(column), fn(col))
    pq.write_table(table, path)
    write_manifest(folder)


def fixed(col, fn):
    d = col.type.list_size
    x = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, d).copy()
    fn(x)
    return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float32()), d)


def plain(col, fn):
    x = col.to_numpy(zero_copy_only=False).copy()
    fn(x)
    return pa.array(x, col.type)


def test_clean_dataset_passes_with_figures(tiny_dataset):
    report = validate(tiny_dataset)
    assert report.ok, report.errors
    h0 = report.figures["histories"][0]
    assert h0["spearman"] > 0.5 and h0["first_decile"] < h0["last_decile"]
    proc = run_cli("validate", str(tiny_dataset), "--json", check=True)
    assert json.loads(proc.stdout)["ok"] is True


def test_corrupted_shard_fails_in_one_line_and_is_left_alone(copy):
    path = copy / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    proc = run_cli("validate", str(copy))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "sha256 does not match the manifest" in proc.stderr
    assert path.read_bytes() == bytes(data)


def test_truncated_shard_is_unreadable(copy):
    path = copy / SHARD
    path.write_bytes(path.read_bytes()[:1000])
    errors = validate(copy).errors
    assert any("size" in e for e in errors) and any("unreadable parquet" in e for e in errors)


@pytest.mark.parametrize("column, mutate, expected", [
    ("epsilon", lambda c: plain(c, lambda x: x.__setitem__(123, 0.5)), "epsilon 0.5 != schedule"),
    ("action", lambda c: fixed(c, lambda x: x.__setitem__((7, 1), 1.5)), "outside the action space"),
    ("action", lambda c: fixed(c, lambda x: x.__setitem__((4800, 0), 0.9)), "exceeds eps * max|bound|"),
    ("observation", lambda c: fixed(c, lambda x: x.__setitem__((9, 2), np.nan)), "observation has NaN"),
    ("step", lambda c: plain(c, lambda x: x.__setitem__(251, 0)), "does not reset at the episode start"),
    ("t", lambda c: plain(c, lambda x: x.__setitem__(17, 99)), "t not contiguous"),
    ("truncated", lambda c: plain(c, lambda x: x.__setitem__(249, False)), "disagrees with the episode boundary"),
])
def test_semantic_corruptions_are_named(copy, column, mutate, expected):
    rewrite(copy, column, mutate)
    errors = validate(copy).errors
    assert any(expected in e for e in errors), errors


def test_learning_curve_checks(copy):
    # Move the measured random reference far away: the first decile no longer sits in its band.
    info = json.loads((copy / "meta/info.json").read_text())
    info["reference_scores"]["random_mean"] = -100.0
    (copy / "meta/info.json").write_text(json.dumps(info))
    errors = validate(copy).errors
    assert any("first-decile mean return" in e and "random band" in e for e in errors)
    assert validate(copy, ValidationConfig(check_curve=False)).ok


def test_missing_info_and_not_a_folder(tmp_path):
    assert "not a directory" in validate(tmp_path / "nope").errors[0]
    (tmp_path / "empty").mkdir()
    assert "no meta/info.json" in validate(tmp_path / "empty").errors[0]
    proc = run_cli("validate", str(tmp_path / "empty"))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
