import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from vintix_data.format import file_sha256
from vintix_data.manifest import manifest_fingerprint, write_manifest
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
    """The cause once, then one line for every check that needed its rows (issue 24, item 2)."""
    path = copy / SHARD
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    proc = run_cli("validate", str(copy))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"invalid: {SHARD}: sha256 does not match the manifest (corrupted or modified)",
        f"note: 15 checks skipped: they need the rows of {SHARD}",
    ], proc.stderr
    assert path.read_bytes() == bytes(data)


def test_truncated_shard_is_reported_once(copy):
    path = copy / SHARD
    path.write_bytes(path.read_bytes()[:1000])
    report = validate(copy)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{SHARD}: size 1000 != manifest ")
    assert report.skipped == [f"15 checks skipped: they need the rows of {SHARD}"]
    manifest = json.loads((copy / "meta/manifest.json").read_text())
    entry = next(e for e in manifest["files"] if e["name"] == SHARD)
    entry.update(size=1000, sha256=file_sha256(path))  # the manifest now vouches for the truncated file ...
    manifest["data_fingerprint"] = manifest_fingerprint(manifest)
    (copy / "meta/manifest.json").write_text(json.dumps(manifest))  # ... so reading it is what fails
    report = validate(copy)
    assert len(report.errors) == 1 and report.errors[0].startswith(f"{SHARD}: unreadable parquet"), report.errors
    assert report.skipped == [f"15 checks skipped: they need the rows of {SHARD}"]


@pytest.mark.parametrize(
    "column, mutate, expected",
    [
        ("epsilon", lambda c: plain(c, lambda x: x.__setitem__(123, 0.5)), "epsilon 0.5 != schedule"),
        ("action", lambda c: fixed(c, lambda x: x.__setitem__((7, 1), 1.5)), "outside the action space"),
        ("action", lambda c: fixed(c, lambda x: x.__setitem__((4800, 0), 0.9)), "exceeds eps * max|bound|"),
        ("observation", lambda c: fixed(c, lambda x: x.__setitem__((9, 2), np.nan)), "observation has NaN"),
        ("step", lambda c: plain(c, lambda x: x.__setitem__(251, 0)), "does not reset at the episode start"),
        ("t", lambda c: plain(c, lambda x: x.__setitem__(17, 99)), "t not contiguous"),
        ("truncated", lambda c: plain(c, lambda x: x.__setitem__(249, False)), "disagrees with the episode boundary"),
    ],
)
def test_semantic_corruptions_are_named(copy, column, mutate, expected):
    rewrite(copy, column, mutate)
    errors = validate(copy).errors
    assert any(expected in e for e in errors), errors


def test_learning_curve_checks(copy):
    # Move the measured random reference far away: the first decile no longer sits in its band.
    info = json.loads((copy / "meta/info.json").read_text())
    refs = info["reference_scores"]
    refs["random_mean"] = -100.0
    if refs.get("first_tenth_mean") is not None:  # the first tenth is held to the mixture at its eps
        refs["first_tenth_mean"] = -100.0
    (copy / "meta/info.json").write_text(json.dumps(info))
    write_manifest(copy)  # the manifest covers info.json: re-made, so only the curve check can object
    errors = validate(copy).errors
    assert any("first-decile mean return" in e and "band" in e for e in errors)
    assert validate(copy, ValidationConfig(check_curve=False)).ok


def test_missing_info_and_not_a_folder(tmp_path):
    assert "not a directory" in validate(tmp_path / "nope").errors[0]
    (tmp_path / "empty").mkdir()
    assert "no meta/info.json" in validate(tmp_path / "empty").errors[0]
    proc = run_cli("validate", str(tmp_path / "empty"))
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1


def curve_report(copy: Path, returns_by_history: list[list[float]], limit: int = 100, **refs):
    """Run the learning-curve check on synthetic episode returns with the copy's info (references overridden)."""
    from vintix_data.format import DatasetInfo
    from vintix_data.validate import ValidationReport, _check_curve

    info = DatasetInfo.load(copy)
    for k, v in refs.items():
        setattr(info.reference_scores, k, v)
    info.episode_limit = limit
    info.steps_per_history = limit * len(returns_by_history[0])
    keys = [(h, k) for h, rets in enumerate(returns_by_history) for k in range(len(rets))]
    returns = [r for rets in returns_by_history for r in rets]
    report = ValidationReport()
    _check_curve(info, keys, returns, ValidationConfig(), report, [limit] * len(returns))
    return report


REFS = dict(
    random_mean=140.0,
    random_std=40.0,
    demonstrator_mean=840.0,
    demonstrator_std=20.0,
    first_tenth_mean=None,
    last_tenth_mean=None,
)


def test_curve_bands_widen_with_the_number_of_histories(copy):
    climb = list(np.linspace(140, 840, 20))
    report = curve_report(copy, [climb] * 50, **REFS)
    assert report.ok and abs(report.figures["band_z"] - 3.29) < 0.01
    assert curve_report(copy, [climb], **REFS).figures["band_z"] == 2.0


def test_curve_high_noisy_start_of_one_history_is_a_note_not_a_failure(copy):
    """--fixed-goal: a goal near the start lets noisy play score above the random band; still nearer random than expert."""
    climb = list(np.linspace(140, 840, 20))
    easy = [300.0, 300.0] + climb[2:]
    report = curve_report(copy, [climb] * 49 + [easy], **REFS)
    assert report.ok and any("below the midpoint" in n for n in report.notes), report.errors
    expert_from_start = [840.0] * 20  # no noise at the start: nearer the expert than random, a real failure
    bad = curve_report(copy, [climb] * 49 + [expert_from_start], **REFS)
    assert any("first-decile mean return" in e for e in bad.errors)


def test_curve_first_tenth_held_to_the_mixture_at_its_eps(copy):
    """A short history's first tenth runs at eps ~0.9: its band comes from the mixture measured at that eps."""
    climb = [590.0, 610.0] + list(np.linspace(650, 840, 18))  # returns saturate: eps 0.9 already scores 600
    assert not curve_report(copy, [climb] * 2, **REFS).ok
    ok = curve_report(
        copy, [climb] * 2, **{**REFS, "first_tenth_mean": 600.0, "first_tenth_std": 40.0, "first_tenth_epsilon": 0.9}
    )
    assert ok.ok and not ok.notes, (ok.errors, ok.notes)


def test_curve_rise_is_a_one_sided_rank_test(copy):
    noisy_rise = list(np.linspace(140, 840, 30) + np.random.default_rng(0).normal(0, 150, 30))
    noisy_rise[:3], noisy_rise[-3:] = [140.0] * 3, [840.0] * 3
    report = curve_report(copy, [noisy_rise], **REFS)
    assert report.ok, report.errors  # rho well below the old 0.5 threshold, yet a significant rise
    no_rise = curve_report(
        copy, [list(np.random.default_rng(1).normal(140, 40, 30))], **{**REFS, "demonstrator_mean": 140.0}
    )
    assert any("does not rise" in e for e in no_rise.errors)
    short = curve_report(copy, [[140.0, 500.0, 450.0, 840.0]], **REFS)  # 4 episodes: too few to test a rise
    assert short.ok and any("inconclusive" in n for n in short.notes)
