"""`vintix-model eval --video`: shot 1 and the last shot of run 0, re-simulated, as shots.gif beside returns.png."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TASK, run_model_cli
from vintix_model.model.config import resolve
from vintix_model.train.run import train

FAST = ["model.context=64", "train.stride=16", "train.num_workers=0", "train.warmup_steps=5", "train.save_every=20"]


@pytest.fixture(scope="module")
def checkpoint(tiny_dataset, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("video-run") / "run"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model_cfg, train_cfg = resolve("tiny", sets=FAST, steps=20)
        train([str(tiny_dataset)], run, model_cfg, train_cfg, progress=False)
    finally:
        torch.set_num_threads(threads)
    return run


def test_eval_video_records_the_first_and_last_shot_of_run_0(checkpoint, tmp_path):
    import imageio.v2 as imageio

    out = tmp_path / "eval"
    proc = run_model_cli(
        "eval",
        str(checkpoint),
        "--task",
        TASK,
        "--episodes",
        "3",
        "--seeds",
        "2",
        "--quiet",
        "--video",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads((out / "results.json").read_text())
    video = res["video"]
    assert video["file"] == "shots.gif" and video["run"] == 0 and video["shots"] == [1, 3]
    assert video["returns"] == [res["per_seed"]["returns"][0][0], res["per_seed"]["returns"][0][2]]  # replayed exactly
    with imageio.get_reader(out / "shots.gif") as r:
        frames = np.stack([np.asarray(f)[..., :3] for f in r])
    assert frames.shape == (2 * 51, 240, 320, 3) == (video["frames"], 240, 320, 3)  # steps 0, 5, ..., 250 per shot
    assert (out / "returns.png").exists() and "shots.gif" in proc.stderr
    assert not (frames[50] == frames[51]).all()  # two different shots
