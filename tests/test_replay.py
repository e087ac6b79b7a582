"""`vintix-data replay` and `validate --replay`: recorded episodes re-simulated in their real envs.

Real datasets collected here (Industrial Benchmark, reach-v3, HalfCheetah-v5), real envs, and forgeries made with the
project's own writers (shards, stats, episode table, manifest), so that every check `validate` makes still passes.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import TASK, one_line_error, run_cli

IB_HIDDEN = ("--env-option", "setpoints=10,50,90", "--hide", "setpoint")


def _collect(out: Path, task: str, *args: str) -> Path:
    proc = run_cli("collect", task, "--out", str(out), "--reference-episodes", "2", *args)
    assert (out / "meta" / "manifest.json").exists(), proc.stderr
    return out


def _replay(folder: Path, *args: str):
    return run_cli("replay", str(folder), *args)


def forge(folder: Path, column: str, history: int, episode: int, step: int, change) -> None:
    """Change one value of one row, then rewrite everything `validate` cross-checks with the functions that wrote
    them (shards, stats.json, episodes.parquet, manifest), so only the environment can tell."""
    from vintix_data.collect.finalize import write_episodes_and_stats
    from vintix_data.format import (
        DatasetInfo,
        RunningStats,
        fixed_list_to_numpy,
        row_schema,
        rows_per_shard,
        write_shards,
    )
    from vintix_data.manifest import write_manifest

    info = DatasetInfo.load(folder)
    shards = sorted((folder / "data").glob("*.parquet"))
    table = pa.concat_tables([pq.read_table(p) for p in shards])
    eps = pq.read_table(folder / "meta" / "episodes.parquet").to_pylist()
    first = next(e["first_row"] for e in eps if (e["history"], e["episode"]) == (history, episode))
    row = first + step
    cols = {name: table.column(name) for name in table.column_names}
    if column == "action":
        x = fixed_list_to_numpy(cols["action"]).copy()
        x[row, 0] = change(x[row, 0])
        cols["action"] = pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1), pa.float32()), info.act_dim)
    else:
        x = cols["reward"].to_numpy().copy()
        x[row] = change(x[row])
        cols["reward"] = pa.array(x, pa.float32())
        for e in eps:
            if (e["history"], e["episode"]) == (history, episode):
                e["return"] = float(x[first : first + e["length"]].sum(dtype=np.float64))
    forged = pa.table(cols, schema=row_schema(info.obs_dim, info.act_dim))
    for p in shards:
        p.unlink()
    write_shards(folder, [forged], forged.schema, forged.num_rows, rows_per_shard(info.obs_dim, info.act_dim))
    stats = {
        k: RunningStats(d)
        for k, d in (
            ("observation", info.obs_dim),
            ("action", info.act_dim),
            ("reward", 1),
            ("demonstrator_action", info.act_dim),
        )
    }
    for e in eps:  # episode by episode, as finalize updates them
        part = forged.slice(e["first_row"], e["length"])
        for k, s in stats.items():
            col = part.column(k)
            s.update(fixed_list_to_numpy(col) if pa.types.is_fixed_size_list(col.type) else col.to_numpy())
    write_episodes_and_stats(folder, eps, stats, info.obs_dim)
    write_manifest(folder)


@pytest.fixture(scope="module")
def ib(tmp_path_factory) -> Path:
    """2 histories x 2,500 steps of IB p50 with the zero demonstrator (a dataset `validate` passes)."""
    out = tmp_path_factory.mktemp("replay") / "ib"
    proc = run_cli(
        "collect",
        TASK,
        "--out",
        str(out),
        "--demonstrator",
        "zero",
        "--histories",
        "2",
        "--steps",
        "5000",
        "--reference-episodes",
        "10",
    )
    assert proc.returncode == 0, proc.stderr
    return out


def test_fresh_ib_dataset_replays_bit_for_bit(ib):
    proc = _replay(ib, "--episodes", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] and report["tolerance"] == {"rtol": 0.0, "atol": 0.0}
    assert len(report["episodes"]) == 40 and report["steps"] == 10_000
    assert report["worst_difference"] == {"observation": 0.0, "reward": 0.0}
    print(run_cli("replay", str(ib), "--history", "1", "--episodes", "0-3").stderr)
    # the default: a seeded sample, the same every time
    a, b = _replay(ib, "--json"), _replay(ib, "--json")
    assert (
        json.loads(a.stdout)["episodes"] == json.loads(b.stdout)["episodes"]
        and len(json.loads(a.stdout)["episodes"]) == 5
    )


def test_edited_action_passes_validate_but_not_replay(ib, tmp_path):
    folder = tmp_path / "forged"
    shutil.copytree(ib, folder)
    forge(folder, "action", history=1, episode=2, step=7, change=lambda a: np.float32(0.5) * a)  # inside every bound
    assert run_cli("validate", str(folder)).returncode == 0  # hashes, statistics, mixing bound: all consistent
    proc = _replay(folder, "--history", "1", "--episodes", "2")
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mismatch:")]
    print("\n".join(lines))
    # the env parts from the rows at the forged step: its reward, then every observation after it
    assert lines[0].startswith("mismatch: history 1 episode 2 step 8 observation["), lines
    assert any(line.startswith("mismatch: history 1 episode 2 step 7 reward: recorded") for line in lines), lines
    assert len(lines) == 2, lines
    caught = run_cli("validate", str(folder), "--replay", "1000")
    assert caught.returncode == 1 and "replay: history 1 episode 2 step 7 reward" in caught.stderr, caught.stderr


def test_edited_reward_is_caught_on_its_step(ib, tmp_path):
    folder = tmp_path / "forged"
    shutil.copytree(ib, folder)
    forge(folder, "reward", history=0, episode=3, step=11, change=lambda r: r + np.float32(0.25))
    proc = _replay(folder, "--episodes", "3")
    lines = [line for line in proc.stderr.splitlines() if line.startswith("mismatch:")]
    print("\n".join(lines))
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("mismatch: history 0 episode 3 step 11 reward: recorded ")


def test_hidden_setpoint_family_replays_with_the_same_hiding(tmp_path):
    """IB with one setpoint per history (variations chosen by the reset seed) and the setpoint hidden in the rows."""
    folder = _collect(
        tmp_path / "ib-hidden",
        TASK,
        "--demonstrator",
        "zero",
        "--force",
        "--histories",
        "2",
        "--steps",
        "750",
        *IB_HIDDEN,
    )
    proc = _replay(folder, "--episodes", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["worst_difference"] == {"observation": 0.0, "reward": 0.0}


@pytest.mark.parametrize(
    "task, args",
    [
        ("reach-v3", ("--histories", "2", "--steps", "400", "--fixed-goal")),
        ("HalfCheetah-v5", ("--demonstrator", "random", "--force", "--histories", "1", "--steps", "2000")),
    ],
)
def test_mujoco_and_metaworld_replay_within_tolerance(tmp_path, task, args):
    folder = _collect(tmp_path / task, task, *args)
    proc = _replay(folder, "--episodes", "all", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    rtol, atol = report["tolerance"]["rtol"], report["tolerance"]["atol"]
    assert rtol > 0 and atol > 0, report  # these domains state a tolerance
    print(task, "worst difference", report["worst_difference"], "tolerance", report["tolerance"])
    assert all(v <= atol for v in report["worst_difference"].values())
    # the scene through MuJoCo's offscreen renderer (OSMesa here), labelled, one frame every 50 steps and the last
    video = tmp_path / ("reach.gif" if task == "reach-v3" else "cheetah.mp4")
    proc = _replay(folder, "--history", "0", "--episodes", "0", "--video", str(video), "--every", "50")
    assert proc.returncode == 0, proc.stderr
    print(proc.stderr.strip().splitlines()[-1])
    frames = _frames(video)
    limit = 100 if task == "reach-v3" else 1000
    assert frames.shape == (limit // 50 + 1, 240, 320, 3)
    assert frames[:, :20].mean() < frames[:, 40:].mean()  # the dark label band over a lit scene
    assert np.abs(frames[1:, 40:].astype(int) - frames[:-1, 40:]).mean() > 0.1  # the body moves


def _frames(path: Path) -> np.ndarray:
    import imageio.v2 as imageio

    with imageio.get_reader(path) as r:
        return np.stack([np.asarray(f)[..., :3] for f in r])


def test_ib_video_plots_its_state(ib, tmp_path):
    video = tmp_path / "ib.gif"
    proc = _replay(ib, "--history", "1", "--episodes", "0,19", "--video", str(video), "--every", "10")
    assert proc.returncode == 0, proc.stderr
    frames = _frames(video)
    assert frames.shape == (2 * 26, 240, 320, 3)  # steps 0, 10, ..., 250 of two episodes
    assert not (frames[0] == frames[25]).all() and not (frames[25] == frames[26]).all()
    assert not list(tmp_path.glob(".*"))  # the temporary name is gone


def test_missing_gl_backend_is_one_line(tmp_path):
    folder = _collect(
        tmp_path / "cheetah",
        "HalfCheetah-v5",
        "--demonstrator",
        "random",
        "--force",
        "--histories",
        "1",
        "--steps",
        "50",
        "--episode-limit",
        "50",
    )
    # GLFW needs a display, and there is none: the backend cannot start
    proc = run_cli("replay", str(folder), "--video", str(tmp_path / "x.mp4"), env={"MUJOCO_GL": "glfw", "DISPLAY": ""})
    one_line_error(proc, "offscreen renderer", "libosmesa6", "MUJOCO_GL=osmesa")
    assert not list(tmp_path.glob("*.mp4")) and not list(tmp_path.glob(".*.mp4"))
    one_line_error(run_cli("replay", str(folder), "--video", str(tmp_path / "x.avi")), "must end in .gif or .mp4")


def test_imported_data_is_not_replayable_in_one_line(ib, tmp_path):
    run_cli("export-h5", str(ib), "--out", str(tmp_path / "h5"), check=True)
    run_cli("import-h5", str(tmp_path / "h5"), "--task", TASK, "--out", str(tmp_path / "imported"), check=True)
    one_line_error(_replay(tmp_path / "imported"), "not replayable", "import-h5")
    note = run_cli("validate", str(tmp_path / "imported"), "--replay", "3")
    assert "note: replay: not replayable" in note.stderr, note.stderr


def test_bad_selections_are_one_line_errors(ib):
    one_line_error(_replay(ib, "--episodes", "3-1"), "--episodes")
    one_line_error(_replay(ib, "--history", "7"), "--history 7")
    one_line_error(_replay(ib, "--history", "0", "--episodes", "999"), "no episode 999 in history 0")
    one_line_error(_replay(ib.parent / "nope"), "no such dataset folder")


def test_card_video_is_on_the_card_and_in_the_manifest_not_the_data(tmp_path):
    from vintix_data.manifest import data_files

    folder = _collect(
        tmp_path / "ib", TASK, "--demonstrator", "zero", "--force", "--histories", "2", "--steps", "750", "--card-video"
    )
    gif = folder / "plots" / "replay.gif"
    frames = _frames(gif)
    assert frames.shape == (
        3 * 29,
        240,
        320,
        3,
    )  # episodes 0, 1, 2 of history 0: steps 0, 9, ..., 243 and the last, 250
    card = (folder / "README.md").read_text()
    assert "![history 0: its first, middle and last episodes](plots/replay.gif)" in card
    names = [e["name"] for e in json.loads((folder / "meta" / "manifest.json").read_text())["files"]]
    assert "plots/replay.gif" in names and gif not in data_files(folder)
    assert run_cli("validate", str(folder), "--replay", "2").returncode == 0
    gif.write_bytes(gif.read_bytes()[:-1] + b"\x00")  # the manifest covers the GIF like the plot
    assert "plots/replay.gif: sha256 does not match" in run_cli("validate", str(folder)).stderr
