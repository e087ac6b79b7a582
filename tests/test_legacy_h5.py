"""import-h5 / export-h5: real HDF5 files in the original Vintix layout, written here by hand with h5py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import TASK, run_cli
from vintix_data.format import DatasetInfo, fixed_list_to_numpy
from vintix_data.legacy_h5 import OriginalLayoutReader, import_h5
from vintix_data.validate import validate

IB_LENGTHS = [250, 100, 250, 250, 250, 134]  # one early end (terminated), a partial last episode (cut)


def make_history(lengths: list[int], obs_dim: int, act_dim: int, seed: int, demo: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = sum(lengths)
    h = {
        "proprio_observation": rng.normal(50, 10, (n, obs_dim)).astype(np.float32),
        "action": rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
        "reward": rng.uniform(-5, 0, n).astype(np.float32),
        "step_num": np.concatenate([np.arange(k, dtype=np.int32) for k in lengths]),
    }
    if demo:
        h["demonstrator_action"] = rng.uniform(-1, 1, (n, act_dim)).astype(np.float32)
    return h


def write_h5(
    path: Path, history: dict[str, np.ndarray], chunk: int, groups: list[tuple[int, int]] | None = None
) -> None:
    """One history in the original layout: groups "<first>-<last>" (last inclusive) of ``chunk`` rows."""
    n = len(history["reward"])
    groups = groups or [(a, min(a + chunk, n) - 1) for a in range(0, n, chunk)]
    with h5py.File(path, "w") as f:
        for first, last in groups:
            g = f.create_group(f"{first}-{last}")
            for key, x in history.items():
                g.create_dataset(key, data=x[first : last + 1])


def write_task(
    folder: Path, histories: list[dict], chunk: int, task_name: str, obs_dim: int, act_dim: int, metadata: bool = True
) -> Path:
    folder.mkdir(parents=True)
    for i, h in enumerate(histories):
        write_h5(folder / f"{folder.name}_{i:03d}.h5", h, chunk)
    if metadata:
        (folder / f"{folder.name}.json").write_text(
            json.dumps(
                {
                    "task_name": task_name,
                    "observation_shape": {"proprio": [obs_dim]},
                    "action_dim": act_dim,
                    "action_type": "continuous",
                    "group_name": "industrial_benchmark",
                },
                indent=4,
            )
        )
    return folder


def rows(folder: Path):
    return pq.read_table(sorted((folder / "data").glob("*.parquet")))


def column_digest(table, columns=("observation", "action", "reward", "step")) -> str:
    h = hashlib.sha256()
    for c in columns:
        col = table.column(c).combine_chunks()
        x = fixed_list_to_numpy(col) if c in ("observation", "action") else col.to_numpy()
        h.update(c.encode())
        h.update(np.ascontiguousarray(x).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def ib_source(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Two IB histories by hand: chunks of 300 rows, Vintix II demonstrator_action, a partial last episode."""
    hs = [make_history(IB_LENGTHS, 6, 3, seed, demo=True) for seed in (1, 2)]
    return write_task(tmp_path_factory.mktemp("src") / "ib50_release", hs, 300, TASK, 6, 3), hs


def test_hand_made_vintix_ii_file_imports_exactly(ib_source, tmp_path):
    src, hs = ib_source
    out = tmp_path / "imported"
    proc = run_cli("import-h5", str(src), "--task", "industrial-benchmark-50-v1", "--out", str(out), "--chunk-check")
    assert proc.returncode == 0, proc.stderr
    assert validate(out).ok
    t = rows(out)
    n = sum(IB_LENGTHS)
    assert t.num_rows == 2 * n
    for hist, h in enumerate(hs):
        part = t.slice(hist * n, n)
        assert np.array_equal(fixed_list_to_numpy(part.column("observation")), h["proprio_observation"])
        assert np.array_equal(fixed_list_to_numpy(part.column("action")), h["action"])
        assert np.array_equal(fixed_list_to_numpy(part.column("demonstrator_action")), h["demonstrator_action"])
        assert np.array_equal(part.column("reward").to_numpy(), h["reward"])
        assert np.array_equal(part.column("step").to_numpy(), h["step_num"])
        assert np.array_equal(part.column("t").to_numpy(), np.arange(n))
        assert part.column("history").to_numpy().tolist() == [hist] * n
        assert part.column("epsilon").null_count == n
        ends = np.cumsum(IB_LENGTHS) - 1
        term = part.column("terminated").to_numpy(zero_copy_only=False)
        trunc = part.column("truncated").to_numpy(zero_copy_only=False)
        # 250-step episodes hit the IB limit (truncated), the 100-step one ended early (terminated),
        # the partial last one was cut by the history's end (truncated); no other row ends an episode
        assert np.flatnonzero(term).tolist() == [ends[1]]
        assert np.flatnonzero(trunc).tolist() == [e for i, e in enumerate(ends) if i != 1]
    eps = pq.read_table(out / "meta" / "episodes.parquet").to_pylist()
    assert [e["length"] for e in eps] == IB_LENGTHS * 2
    expected = [float(r.sum(dtype=np.float64)) for h in hs for r in np.split(h["reward"], np.cumsum(IB_LENGTHS)[:-1])]
    assert [e["return"] for e in eps] == expected
    assert eps[-1]["truncated"] and eps[1]["terminated"] and eps[0]["final_observation"] is None

    info = DatasetInfo.load(out)
    assert info.source == "import-h5" and info.schedule is None and info.episode_limit == 250
    assert info.reference_scores.random_mean is None and info.reference_scores.paper_expert_mean is not None
    assert info.extra["h5_source"]["layout"].startswith("vintix-ii")
    assert [f["chunk_rows"] for f in info.extra["h5_source"]["files"]] == [300, 300]
    card = (out / "README.md").read_text()
    assert "Imported data" in card
    for p in sorted(src.glob("*.h5")):
        assert hashlib.sha256(p.read_bytes()).hexdigest() in card
    assert (out / "plots" / "learning_curve.png").stat().st_size > 0
    assert validate(out).figures["curve"].startswith("skipped")

    # and back: the same groups, dtypes and values; the metadata JSON verbatim
    back = tmp_path / "ib50_release"
    run_cli("export-h5", str(out), "--out", str(back), check=True)
    assert sorted(p.name for p in back.iterdir()) == sorted(p.name for p in src.iterdir())
    assert (back / "ib50_release.json").read_bytes() == (src / "ib50_release.json").read_bytes()
    for p in sorted(src.glob("*.h5")):
        with h5py.File(p) as a, h5py.File(back / p.name) as b:
            assert sorted(a.keys()) == sorted(b.keys())
            for k in a.keys():
                assert sorted(a[k].keys()) == sorted(b[k].keys())
                for d in a[k].keys():
                    assert b[k][d].dtype == a[k][d].dtype and np.array_equal(b[k][d][()], a[k][d][()])


def test_bidexhands_camelcase_name_vintix_i_and_episode_limit_from_data(tmp_path):
    lengths = [250, 120, 250, 80]  # the registry only has the paper's mean length (249) for this task
    hs = [make_history(lengths, 428, 52, s, demo=False) for s in (3, 4)]
    src = write_task(tmp_path / "ShadowHandBlockStack", hs, 256, "ShadowHandBlockStack", 428, 52)
    out = tmp_path / "blockstack"
    info, report = import_h5(src, out)  # in process: the CLI is exercised by the other tests
    assert report.ok and DatasetInfo.load(out) == info
    assert info.task == "shadowhandblockstack" and info.domain == "bi-dexhands"
    assert info.episode_limit == 250 and "longest episode" in info.extra["episode_limit_source"]
    assert info.action_space["low"][0] == float("-inf")  # IsaacGym is not here: bounds unknown, left open
    t = rows(out)
    assert t.column("demonstrator_action").null_count == t.num_rows
    term = t.column("terminated").to_numpy(zero_copy_only=False)[: sum(lengths)]
    assert np.flatnonzero(term).tolist() == [369]  # the 120-step episode; the last (80) was cut, so truncated
    wrong = run_cli("import-h5", str(src), "--task", TASK, "--out", str(tmp_path / "x"))
    assert wrong.returncode == 2 and "ShadowHandBlockStack" in wrong.stderr and not (tmp_path / "x").exists()


def test_round_trip_collect_export_import(tiny_dataset, tmp_path):
    exported = tmp_path / "ib50"
    run_cli("export-h5", str(tiny_dataset), "--out", str(exported), "--chunk-rows", "1500", check=True)
    files = sorted(exported.glob("*.h5"))
    assert len(files) == 2 and (exported / "ib50.json").exists()
    with h5py.File(files[0]) as f:
        assert sorted(f.keys(), key=lambda k: int(k.split("-")[0]))[:2] == ["0-1499", "1500-2999"]
        g = f["4500-4999"]
        assert g["proprio_observation"].dtype == np.float32 and g["proprio_observation"].shape == (500, 6)
        assert g["step_num"].dtype == np.int32 and g["reward"].shape == (500,) and "demonstrator_action" in g
    imported = tmp_path / "imported"
    run_cli("import-h5", str(exported), "--out", str(imported), check=True)
    a, b = rows(tiny_dataset), rows(imported)
    assert column_digest(a) == column_digest(b)
    for c in ("history", "episode", "t", "demonstrator_action", "terminated", "truncated"):
        assert a.column(c).equals(b.column(c)), c
    ea, eb = (pq.read_table(d / "meta" / "episodes.parquet") for d in (tiny_dataset, imported))
    assert ea.column("return").equals(eb.column("return")) and ea.column("length").equals(eb.column("length"))
    # the released loader's access pattern reads the export as the same rows
    obs = fixed_list_to_numpy(a.column("observation"))
    with OriginalLayoutReader(exported, context_len=2048) as reader:
        w = reader.window(1, 1400)  # crosses the 1500-row group border
        assert np.array_equal(w["observation"], obs[5000 + 1401 : 5000 + 3449])
        assert np.array_equal(w["step_num"], a.column("step").to_numpy()[5000 + 1401 : 5000 + 3449])
    # export(import(export)) gives the same bytes
    again = tmp_path / "again" / "ib50"
    run_cli("export-h5", str(imported), "--out", str(again), check=True)
    for p in sorted(exported.iterdir()):
        assert (again / p.name).read_bytes() == p.read_bytes(), p.name


def _bad_step_start(src: Path, hs):
    h = dict(hs[0], step_num=hs[0]["step_num"] + 5)
    write_h5(src / "ib50_release_000.h5", h, 300)
    return "ib50_release_000.h5", "'0-299'", "starts at step_num 5"


def _overlap(src: Path, hs):
    write_h5(src / "ib50_release_001.h5", hs[1], 0, groups=[(0, 599), (500, 1233)])
    return "ib50_release_001.h5", "'500-1233'", "overlap"


def _missing_rows(src: Path, hs):
    write_h5(src / "ib50_release_001.h5", hs[1], 0, groups=[(0, 299), (600, 1233)])
    return "ib50_release_001.h5", "'600-1233'", "rows 300..599 are missing"


def _dims(src: Path, hs):
    h = dict(hs[1], proprio_observation=np.zeros((len(hs[1]["reward"]), 7), np.float32))
    write_h5(src / "ib50_release_001.h5", h, 300)
    return "ib50_release_001.h5", "'0-299'", "obs dim 7"


def _no_metadata(src: Path, hs):
    (src / "ib50_release.json").rename(src / "metadata.json")
    return "ib50_release.json", None, "missing metadata JSON"


@pytest.mark.parametrize(
    "corrupt",
    [_bad_step_start, _overlap, _missing_rows, _dims, _no_metadata],
    ids=["not-step-0", "overlap", "missing-rows", "dims", "no-metadata"],
)
def test_bad_input_is_one_line_naming_file_and_group(tmp_path, corrupt):
    hs = [make_history(IB_LENGTHS, 6, 3, seed, demo=True) for seed in (1, 2)]
    src = write_task(tmp_path / "ib50_release", hs, 300, TASK, 6, 3)
    file, group, what = corrupt(src, hs)
    out = tmp_path / "out"
    proc = run_cli("import-h5", str(src), "--out", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert file in lines[0] and what in lines[0] and "Traceback" not in proc.stderr
    if group:
        assert f"group {group}" in lines[0]
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_bad_values_fail_before_or_after_writing_without_publishing(tmp_path):
    h = make_history(IB_LENGTHS, 6, 3, 7, demo=False)
    h["proprio_observation"][700, 2] = np.nan
    src = write_task(tmp_path / "nan_release", [h], 300, TASK, 6, 3)
    proc = run_cli("import-h5", str(src), "--out", str(tmp_path / "a"), "--chunk-check")
    assert proc.returncode == 2 and "group '600-899'" in proc.stderr and "NaN" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "a").exists()
    proc = run_cli("import-h5", str(src), "--out", str(tmp_path / "b"))  # written, then refused by validate
    assert proc.returncode == 1 and "invalid:" in proc.stderr and "NaN" in proc.stderr
    assert not (tmp_path / "b").exists()


def test_unequal_histories_need_truncate(tmp_path):
    hs = [make_history(IB_LENGTHS, 6, 3, 1, demo=False), make_history(IB_LENGTHS[:-1], 6, 3, 2, demo=False)]
    src = write_task(tmp_path / "uneven", hs, 500, TASK, 6, 3)
    proc = run_cli("import-h5", str(src), "--out", str(tmp_path / "a"))
    assert proc.returncode == 2 and "--truncate-histories" in proc.stderr and "uneven_001.h5: 1100 rows" in proc.stderr
    info, _ = import_h5(src, tmp_path / "b", truncate_histories=True)
    assert info.steps_per_history == sum(IB_LENGTHS[:-1]) and info.extra["h5_source"]["truncated_to_rows"] == 1100
    eps = pq.read_table(tmp_path / "b" / "meta" / "episodes.parquet").to_pylist()
    assert eps[4]["length"] == 250 and eps[4]["truncated"]  # history 0 cut right at an episode end


def test_existing_output_is_refused(ib_source, tmp_path):
    src, _ = ib_source
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    proc = run_cli("import-h5", str(src), "--out", str(out))
    assert proc.returncode == 2 and "already exists" in proc.stderr and (out / "keep.txt").read_text() == "mine"
