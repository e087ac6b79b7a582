import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from datasets import load_dataset

from tests.conftest import TASK, kill_mid_collection, run_cli
from vintix_data.format import DatasetInfo, row_schema
from vintix_data.schedule import NoiseSchedule

SMALL = ["--demonstrator", "zero", "--histories", "2", "--steps", "5000", "--reference-episodes", "10"]


def manifest(folder: Path) -> list:
    """The manifest's entries for the files that depend only on the data (info.json, the card and the plot record
    provenance such as the date and command line, so their entries differ between equal collections)."""
    from vintix_data.manifest import data_manifest

    return data_manifest(folder)


def tree_snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_tiny_collection_is_a_loadable_dataset(tiny_dataset):
    info = DatasetInfo.load(tiny_dataset)
    assert (info.histories, info.steps_per_history, info.total_steps, info.num_shards) == (2, 5000, 10000, 1)
    assert (
        info.demonstrator["kind"] == "zero"
        and info.reference_scores.demonstrator_mean > info.reference_scores.random_mean
    )
    assert info.provenance["vintix_version"] and "collect" in info.provenance["command"]
    table = pq.read_table(tiny_dataset / "data")
    assert table.schema.equals(row_schema(6, 3), check_metadata=False)
    ds = load_dataset(str(tiny_dataset), split="train")
    assert ds.num_rows == 10000 and ds.column_names == table.column_names
    assert ds["t"][:3] == [0, 1, 2] and ds["history"][-1] == 1
    np.testing.assert_array_equal(
        np.array(ds["observation"][:500], np.float32),
        np.stack(table.column("observation").to_numpy(zero_copy_only=False)[:500]),
    )
    streamed = [r for _, r in zip(range(300), load_dataset(str(tiny_dataset), split="train", streaming=True))]
    assert [r["t"] for r in streamed] == list(range(300))
    assert streamed[42]["reward"] == pytest.approx(ds[42]["reward"])
    eps = np.array(ds["epsilon"], np.float32)[:5000]
    assert np.array_equal(eps, NoiseSchedule(1.0, 0.1, 5000).epsilon(np.arange(5000)).astype(np.float32))
    first = ds.filter(lambda r: r["step"] == 0)["observation"]
    assert np.all(np.array(first)[:, 1:4] == 50.0), "every episode starts from IB's reset state"
    for f in ("README.md", "plots/learning_curve.png", "meta/stats.json", "meta/episodes.parquet"):
        assert (tiny_dataset / f).exists(), f
    assert not (tiny_dataset / ".vintix" / "parts").exists()


def test_same_seed_same_bytes_whatever_the_vector_env(tiny_dataset, tmp_path):
    again = tmp_path / "again"
    run_cli("collect", TASK, "--out", str(again), *SMALL, "--num-envs", "2", "--vector", "async", check=True)
    assert manifest(again) == manifest(tiny_dataset)
    workers = tmp_path / "workers"
    run_cli("collect", TASK, "--out", str(workers), *SMALL, "--num-envs", "2", "--workers", "2", check=True)
    assert manifest(workers) == manifest(tiny_dataset)
    other = tmp_path / "other-seed"
    run_cli("collect", TASK, "--out", str(other), *SMALL, "--seed", "1", check=True)
    assert manifest(other) != manifest(tiny_dataset)


def test_sigkill_then_resume_gives_the_uninterrupted_bytes(tmp_path):
    args = [
        "collect",
        TASK,
        "--demonstrator",
        "zero",
        "--histories",
        "3",
        "--steps",
        "20000",
        "--reference-episodes",
        "5",
    ]
    full = tmp_path / "full"
    run_cli(*args, "--out", str(full), "--num-envs", "3", "--vector", "sync", check=True)
    killed = tmp_path / "killed"
    n_parts = kill_mid_collection(args, killed, min_parts=30)
    assert 30 <= n_parts < 240, "the kill should land mid-collection"
    assert not (killed / "meta" / "manifest.json").exists()
    refused = run_cli(*args, "--out", str(killed))
    assert refused.returncode == 2 and "--resume" in refused.stderr
    run_cli(*args, "--out", str(killed), "--resume", check=True)
    assert manifest(killed) == manifest(full)
    assert (killed / "data").exists() and tree_snapshot(killed / "data") == tree_snapshot(full / "data")
    before = tree_snapshot(killed)
    again = run_cli(*args, "--out", str(killed), "--resume", check=True)  # complete: nothing left to do
    assert tree_snapshot(killed) == before and "collected and validated" in again.stderr


def test_resume_with_other_settings_is_refused(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    before = tree_snapshot(copy)
    proc = run_cli("collect", TASK, "--out", str(copy), *SMALL, "--p", "2.0", "--resume")
    assert proc.returncode == 2 and "different settings (p)" in proc.stderr
    assert tree_snapshot(copy) == before


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--p", "0"], "--p must be > 0"),
        (["--f", "1.2"], "--f must be in [0, 1)"),
        (["--demonstrator", "sb3:/no/such/file.zip"], "checkpoint not found"),
        (["--histories", "0"], "--histories must be >= 1"),
    ],
)
def test_bad_collect_input_is_one_line_and_writes_nothing(tmp_path, extra, message):
    out = tmp_path / "out"
    args = ["collect", TASK, "--out", str(out), "--demonstrator", "zero", "--steps", "1000", *extra]
    proc = run_cli(*args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unknown_task_and_wrong_space_checkpoint(tmp_path):
    proc = run_cli("collect", "industrial-benchmark-51-v1", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "unknown task" in proc.stderr and "Traceback" not in proc.stderr
    import gymnasium as gym
    from stable_baselines3 import PPO

    ckpt = tmp_path / "pendulum.zip"
    PPO("MlpPolicy", gym.make("Pendulum-v1"), device="cpu", n_steps=64, batch_size=32).save(ckpt)
    proc = run_cli("collect", TASK, "--out", str(tmp_path / "y"), "--demonstrator", f"sb3:{ckpt}")
    assert proc.returncode == 2 and "does not match" in proc.stderr and not (tmp_path / "y").exists()


def test_existing_output_is_never_touched(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy)
    before = tree_snapshot(copy)
    proc = run_cli("collect", TASK, "--out", str(copy), *SMALL)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert tree_snapshot(copy) == before


def test_resume_refuses_a_changed_checkpoint(tmp_path, ppo_zip):
    import gymnasium as gym
    from stable_baselines3 import PPO

    ckpt = tmp_path / "demo.zip"
    shutil.copyfile(ppo_zip, ckpt)
    out = tmp_path / "ds"
    args = [
        "collect",
        TASK,
        "--out",
        str(out),
        "--demonstrator",
        f"sb3:{ckpt}",
        "--histories",
        "1",
        "--steps",
        "2500",
        "--reference-episodes",
        "3",
        "--force",
    ]
    first = run_cli(*args)  # a one-rollout PPO may not show a learning curve: validation may say so (exit 1)
    assert first.returncode in (0, 1) and (out / "meta" / "manifest.json").exists(), first.stderr
    PPO("MlpPolicy", gym.make("vintix/IndustrialBenchmark-v1"), device="cpu", seed=3).save(ckpt)  # same path, new bytes
    proc = run_cli(*args, "--resume")
    assert proc.returncode == 2 and "demonstrator_sha256" in proc.stderr
