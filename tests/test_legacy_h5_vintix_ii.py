"""Vintix II's HDF5 files: its demonstrator-action key names in import-h5, unknown datasets refused by name, and
``export-h5 --flavor vintix-ii`` read back the way Vintix II's loader reads it (``train/data/torch_dataloaders.py``:
``FoundationMapDataset`` reads ``demonstrator_actions``; ``FoundationRandomMapDataset`` ``expert_action`` or
``demonstrator_actions``)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.conftest import TASK, one_line_error, run_cli
from tests.test_legacy_h5 import IB_LENGTHS, make_history, rows, write_task
from vintix_data.format import DatasetInfo, fixed_list_to_numpy


def vintix_ii_task(folder: Path, key: str, seeds=(1, 2), extra: dict | None = None) -> tuple[Path, list[dict]]:
    hs = [make_history(IB_LENGTHS, 6, 3, seed, demo=True) for seed in seeds]
    for h in hs:
        h[key] = h.pop("demonstrator_action")
        h.update(extra or {})
    return write_task(folder, hs, 300, TASK, 6, 3), hs


def vintix_ii_loader_sample(folder: Path, start: int, context: int) -> dict[str, np.ndarray]:
    """What Vintix II's FoundationMapDataset (add_demonstrator_actions=True) reads for a window of the first file:
    its groups sorted by first row, ``gr.get('demonstrator_actions')`` stacked and sliced like the other keys."""
    path = sorted(p for p in folder.iterdir() if p.name.endswith(".h5"))[0]
    meta = json.loads((folder / f"{folder.name}.json").read_text())
    with h5py.File(path, "r") as f:
        keys = sorted(f.keys(), key=lambda k: int(k.split("-")[0]))
        stack = lambda name: np.concatenate([np.array(f.get(k).get(name)) for k in keys])  # noqa: E731
        obs, acs, demo, step = (stack(n) for n in ("proprio_observation", "action", "demonstrator_actions", "step_num"))
    sl = slice(start, start + context + 1)
    return {
        "task_name": meta["task_name"],
        "observation": obs[sl][1:],
        "prev_action": acs[sl][:-1],
        "step_num": step[sl][1:],
        "demonstrator_action": demo[sl].astype(np.float32)[-1],
    }


@pytest.mark.parametrize("key", ["demonstrator_actions", "expert_action"])
def test_vintix_ii_key_names_import_with_demonstrator_actions_intact(tmp_path, key):
    src, hs = vintix_ii_task(tmp_path / "ib50_vintix2", key)
    out = tmp_path / "imported"
    proc = run_cli("import-h5", str(src), "--out", str(out), "--chunk-check")
    assert proc.returncode == 0, proc.stderr
    assert f"vintix-ii ({key})" in proc.stderr
    t, n = rows(out), sum(IB_LENGTHS)
    assert t.column("demonstrator_action").null_count == 0
    for hist, h in enumerate(hs):
        part = t.slice(hist * n, n)
        assert np.array_equal(fixed_list_to_numpy(part.column("demonstrator_action")), h[key])
        assert np.array_equal(fixed_list_to_numpy(part.column("action")), h["action"])
    info = DatasetInfo.load(out)
    assert (
        info.extra["h5_source"]["demonstrator_key"] == key and "demonstrator_action" not in info.extra["missing_fields"]
    )
    # exported back under the name it came with, byte-for-byte values
    back = tmp_path / "ib50_vintix2_back"
    run_cli("export-h5", str(out), "--out", str(back), check=True)
    for p in sorted(src.glob("*.h5")):
        with h5py.File(p) as a, h5py.File(back / p.name) as b:
            for g in a.keys():
                assert sorted(a[g].keys()) == sorted(b[g].keys())
                assert np.array_equal(a[g][key][()], b[g][key][()])


def test_unknown_or_ambiguous_datasets_are_refused_by_name(tmp_path):
    n = sum(IB_LENGTHS)
    src, _ = vintix_ii_task(
        tmp_path / "extra", "demonstrator_actions", extra={"next_observation": np.zeros((n, 6), np.float32)}
    )
    out = tmp_path / "out"
    one_line_error(
        run_cli("import-h5", str(src), "--out", str(out)),
        "dataset 'next_observation'",
        "is not one import-h5 understands",
        "extra_000.h5",
    )
    assert not out.exists()
    both, _ = vintix_ii_task(
        tmp_path / "both", "expert_action", extra={"demonstrator_actions": np.zeros((n, 3), np.float32)}
    )
    one_line_error(
        run_cli("import-h5", str(both), "--out", str(out)), "has both 'demonstrator_actions' and 'expert_action'"
    )
    assert not out.exists()


def test_export_flavor_vintix_ii_is_what_the_vintix_ii_loader_reads(tmp_path):
    src, hs = vintix_ii_task(tmp_path / "ours", "demonstrator_action")  # our own name, as export-h5 writes by default
    imported = tmp_path / "imported"
    run_cli("import-h5", str(src), "--out", str(imported), check=True)
    out = tmp_path / "ib50_for_vintix2"
    proc = run_cli("export-h5", str(imported), "--out", str(out), "--flavor", "vintix-ii", check=True)
    assert "with demonstrator_actions" in proc.stderr, proc.stderr
    with h5py.File(sorted(out.glob("*.h5"))[0]) as f:
        for g in f.values():
            assert sorted(g.keys()) == ["action", "demonstrator_actions", "proprio_observation", "reward", "step_num"]
    for start in (0, 299, 700):
        sample = vintix_ii_loader_sample(out, start, context=64)
        assert sample["task_name"] == TASK
        assert np.array_equal(sample["demonstrator_action"], hs[0]["demonstrator_action"][start + 64])
        assert np.array_equal(sample["prev_action"], hs[0]["action"][start : start + 64])
        assert np.array_equal(sample["observation"], hs[0]["proprio_observation"][start + 1 : start + 65])

    # Vintix I data has no demonstrator actions to give Vintix II's loader; an unknown flavor is a usage error
    plain = write_task(tmp_path / "plain", [make_history(IB_LENGTHS, 6, 3, 3, demo=False)], 300, TASK, 6, 3)
    run_cli("import-h5", str(plain), "--out", str(tmp_path / "plain_ds"), check=True)
    one_line_error(
        run_cli("export-h5", str(tmp_path / "plain_ds"), "--out", str(tmp_path / "x"), "--flavor", "vintix-ii"),
        "--flavor vintix-ii",
    )
    one_line_error(
        run_cli("export-h5", str(imported), "--out", str(tmp_path / "y"), "--flavor", "vintix-3"),
        "--flavor must be one of vintix-i, vintix-ii",
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()
