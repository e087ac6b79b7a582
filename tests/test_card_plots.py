"""The learning-curve plot and the dataset card, on a small synthetic dataset folder (no collector)."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest
from huggingface_hub import DatasetCard
from PIL import Image

from vintix_data.card import template_path, write_card
from vintix_data.card.plots import learning_curve
from vintix_data.format import DatasetInfo, ReferenceScores, episodes_schema, write_parquet_atomic
from vintix_data.schedule import NoiseSchedule

OBS_DIM, ACT_DIM, LIMIT = 6, 3, 250
TASK = "industrial-benchmark-50-v1"


def _episodes(histories: dict[int, int], with_epsilon: bool) -> pa.Table:
    """Histories of different lengths whose return climbs from random-like to demonstrator-like; the
    last episode of each is cut short by the history's end."""
    rng = np.random.default_rng(0)
    rows, first_row = [], 0
    for h, n in histories.items():
        sched = NoiseSchedule(p=0.5, f=0.05, steps=n * LIMIT)
        for k in range(n):
            length = LIMIT if k < n - 1 else LIMIT // 3
            eps = float(sched.epsilon(np.arange(k * LIMIT, k * LIMIT + length)).mean())
            ret = -250.0 + 200.0 * (1 - eps) + rng.normal(0, 8)
            rows.append(
                {
                    "history": h,
                    "episode": k,
                    "first_row": first_row,
                    "length": length,
                    "return": ret * length / LIMIT,
                    "mean_epsilon": eps if with_epsilon else None,
                    "terminated": False,
                    "truncated": True,
                    "final_observation": rng.normal(size=OBS_DIM).tolist(),
                    "reset_seed": 1000 * h + k,
                }
            )
            first_row += length
    return pa.Table.from_pylist(rows, schema=episodes_schema(OBS_DIM))


def _info(source: str = "collect", **extra) -> DatasetInfo:
    box = {"type": "Box", "dtype": "float32"}
    imported = source == "import-h5"
    return DatasetInfo(
        task=TASK,
        domain="industrial-benchmark",
        split="train",
        env_id="vintix/IndustrialBenchmark-v1",
        env_kwargs={"setpoint": 50},
        observation_space={**box, "shape": [OBS_DIM]},
        action_space={**box, "shape": [ACT_DIM]},
        obs_dim=OBS_DIM,
        act_dim=ACT_DIM,
        reward_scale=1.0,
        episode_limit=LIMIT,
        histories=3,
        steps_per_history=10_000,
        total_steps=30_000,
        episodes=120,
        num_shards=1,
        schedule=None
        if imported
        else {
            "p": 0.5,
            "f": 0.05,
            "steps": 10_000,
            "formula": "eps(t) = (1 - (t/((1-f)N))^p)^(1/p) for t <= (1-f)N else 0",
        },
        demonstrator={
            "kind": "h5" if imported else "sb3-ppo",
            "id": "ib-50-ppo",
            "spec": "hub:org/ib-50-ppo",
            "sha256": None if imported else "ab" * 32,
            "measured_mean_return": -55.0,
            "normalized_score_paper": None if imported else 0.97,
        },
        reference_scores=ReferenceScores(
            random_mean=-240.0,
            random_std=10.0,
            demonstrator_mean=-55.0,
            demonstrator_std=4.0,
            episodes=20,
            paper_random_mean=-245.0,
            paper_random_std=12.0,
            paper_expert_mean=-50.0,
            paper_expert_std=3.0,
        ),
        seed=None if imported else 7,
        provenance={
            "vintix_version": "0.1.0",
            "git_sha": "deadbeef",
            "packages": {"numpy": "2.0"},
            "python": "3.11",
            "command": f"vintix-data collect {TASK} --histories 3 --p 0.5 --f 0.05",
            "date": "2025-01-01T00:00:00+00:00",
        },
        source=source,
        extra=dict(extra),
    )


def _folder(tmp_path, with_epsilon: bool):
    write_parquet_atomic(_episodes({0: 40, 1: 35, 2: 45}, with_epsilon), tmp_path / "meta" / "episodes.parquet")
    return tmp_path


def _check_png(path):
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.load()
        assert im.width > 500 and im.height > 300
    assert not list(path.parent.glob(".*.tmp"))


def test_template_resolves():
    assert template_path().is_file()


def test_collected_dataset(tmp_path):
    folder = _folder(tmp_path, with_epsilon=True)
    info = _info()
    png = learning_curve(folder, info)
    assert png == folder / "plots" / "learning_curve.png"
    _check_png(png)

    readme = write_card(folder, info)
    assert readme == folder / "README.md"
    card = DatasetCard.load(readme)
    data = card.data.to_dict()
    assert data["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "data/train-*.parquet"}]}
    ]
    assert data["task_categories"] == ["reinforcement-learning"]
    assert data["license"] == "apache-2.0"
    assert {"vintix", "in-context-reinforcement-learning", "algorithm-distillation", TASK} <= set(data["tags"])
    assert data["size_categories"] == ["10K<n<100K"]
    body = card.text
    assert TASK in body
    assert "p = 0.5, f = 0.05, N = 10,000" in body
    assert "(1 - (t / ((1 - f) N))^p)^(1/p)" in body
    assert "![learning curve](plots/learning_curve.png)" in body
    assert "arXiv:2501.19400" in body and "Polubarov" in body
    assert f'load_dataset("<org>/vintix-{TASK}", split="train")' in body
    assert "ab" * 32 in body and "vintix-data collect" in body and "0.97" in body
    assert "first tenth" in body and "{{" not in body and "{%" not in body
    assert "Imported data" not in body


def test_imported_dataset_without_epsilon(tmp_path):
    folder = _folder(tmp_path, with_epsilon=False)
    info = _info("import-h5", source_files=["ib_50_a.h5", "ib_50_b.h5"])
    _check_png(learning_curve(folder, info))
    card = DatasetCard.load(write_card(folder, info, repo_id="me/vintix-ib"))
    assert card.data.to_dict()["task_categories"] == ["reinforcement-learning"]
    body = card.text
    assert "Imported data" in body and "`ib_50_a.h5`" in body and "`ib_50_b.h5`" in body
    assert 'load_dataset("me/vintix-ib", split="train")' in body
    assert "noise schedule | unknown" in body
    # normalized score computed from the reference scores when info does not carry it
    assert "0.974" in body


@pytest.mark.parametrize("with_epsilon", [True, False])
def test_rewrite_is_atomic_and_idempotent(tmp_path, with_epsilon):
    folder = _folder(tmp_path, with_epsilon)
    info = _info()
    for _ in range(2):
        learning_curve(folder, info)
        write_card(folder, info)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "meta", "plots"]


def test_a_source_tree_on_the_path_renders_with_its_own_card_templates(tmp_path):
    """`vintix_data.cards` exists only through the install's package mapping; code run from a checkout on
    PYTHONPATH (a pinned worktree, a Ray job's working_dir) must still find the templates, and its own ones."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    tree = tmp_path / "checkout"
    shutil.copytree(repo / "vintix_data", tree / "vintix_data", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(repo / "cards", tree / "cards", ignore=shutil.ignore_patterns("__pycache__"))
    code = (
        "import vintix_data.card as c, vintix_model.hub as h; from vintix_data.card import card_template; "
        "print(c.template_path()); print(card_template(h.CARD_TEMPLATE))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [str(tree / "cards" / "dataset_card.md"), str(tree / "cards" / "model_card.md")]
