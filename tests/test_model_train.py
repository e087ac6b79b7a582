"""`vintix-model train` on real collections: checkpoints that reload exactly, resume (after a checkpoint and
after SIGKILL) that continues bit for bit with the same sampler order, DataLoader workers and DDP ranks (gloo,
torchrun, 2 processes), the learning signal, bad input, the Hub round trip against tests/hub_server.py, and
two domains in one run (Industrial Benchmark + Meta-World, skipped where metaworld is not installed).

Training here uses the tiny preset shrunk to a 64-step context so that every run takes seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

from tests.conftest import run_cli
from vintix_model.cli import app
from vintix_model.data.arrays import prepare
from vintix_model.data.sampler import Collate, WindowDataset, WindowOrder, index_tasks, make_loader
from vintix_model.model.config import resolve
from vintix_model.model.vintix import Vintix
from vintix_model.train.run import train

FAST = [
    "model.context=64",
    "train.stride=16",
    "train.num_workers=0",
    "train.warmup_steps=5",
    "train.save_every=10",
    "train.keep_checkpoints=10",
]
TOKEN = "hf_vintix_test_token"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A private $VINTIX_CACHE for the array caches (in this process and in the CLI subprocesses); one torch
    thread in process (as OMP_NUM_THREADS=1 in the subprocesses): on 2 shared cores intra-op threads only contend."""
    path = tmp_path_factory.mktemp("vintix-cache")
    old, threads = os.environ.get("VINTIX_CACHE"), torch.get_num_threads()
    os.environ["VINTIX_CACHE"] = str(path)
    torch.set_num_threads(1)
    yield path
    torch.set_num_threads(threads)
    if old is None:
        os.environ.pop("VINTIX_CACHE", None)
    else:
        os.environ["VINTIX_CACHE"] = old


@pytest.fixture(scope="module")
def env(cache) -> dict:
    return {"VINTIX_CACHE": str(cache), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def ib70(tmp_path_factory) -> Path:
    """A second valid collection: Industrial Benchmark at setpoint 70, 2 histories x 3,000 steps."""
    out = tmp_path_factory.mktemp("ds70") / "ib70"
    run_cli(
        "collect",
        "industrial-benchmark-70-v1",
        "--out",
        str(out),
        "--demonstrator",
        "zero",
        "--histories",
        "2",
        "--steps",
        "3000",
        "--reference-episodes",
        "5",
        check=True,
    )
    return out


@pytest.fixture(scope="module")
def datasets(tiny_dataset, ib70, cache) -> list[str]:
    return [str(tiny_dataset), str(ib70)]


def run_model(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vintix_model.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def popen_model(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vintix_model.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def fixed_batch(refs: list[str], context: int = 64, n: int = 12) -> dict:
    tasks = prepare(refs, validate=False)
    windows = index_tasks(tasks, context, 16)
    order = WindowOrder([len(w.starts) for w in windows], 0, "proportional")
    ds = WindowDataset(tasks, windows, order, context)
    return Collate(tasks)([ds[i] for i in np.linspace(0, order.total - 1, n).astype(int)])["groups"]


def predict(model: Vintix, batch: dict) -> dict:
    with torch.no_grad():
        return model.eval()(batch)


def test_checkpoint_reloads_exactly_and_resume_continues_bit_for_bit(datasets, tmp_path):
    model_cfg, train_cfg = resolve("tiny", sets=FAST, steps=20)
    a = tmp_path / "a"
    summary = train(datasets, a, model_cfg, train_cfg, progress=False)
    assert summary["step"] == 20 and (a / "latest").read_text().strip() == "checkpoints/step-0000020"
    assert sorted(p.name for p in (a / "checkpoints").iterdir()) == ["step-0000010", "step-0000020"]
    ck = a / "checkpoints" / "step-0000020"
    assert {"model.safetensors", "config.json", "metadata.json", "training_state.pt", "loss.png", "metrics.jsonl"} <= {
        p.name for p in ck.iterdir()
    }
    meta = json.loads((ck / "metadata.json").read_text())
    assert set(meta["tasks"]) == {"industrial-benchmark-50-v1", "industrial-benchmark-70-v1"} and meta["step"] == 20
    t50 = meta["tasks"]["industrial-benchmark-50-v1"]
    stats = json.loads((Path(datasets[0]) / "meta" / "stats.json").read_text())
    assert t50["obs_mean"] == stats["observation"]["mean"] and t50["obs_std"] == stats["observation"]["std"]
    assert (
        t50["group"] == "industrial-benchmark-6x3" and t50["reward_scale"] == 1.0 and t50["dataset"]["manifest_sha256"]
    )
    assert [m["step"] for m in metrics(a)] == list(range(1, 21)) and (a / "loss.png").stat().st_size > 0

    batch = fixed_batch(datasets)
    trained, loaded = predict(summary["model"], batch), predict(Vintix.from_pretrained(a), batch)
    assert all(torch.equal(trained[g], loaded[g]) for g in trained)  # the checkpoint is the trained model, bit for bit

    # "kill" after step 10: a run folder holding only the step-10 checkpoint (and metrics written past it)
    b = tmp_path / "b"
    (b / "checkpoints").mkdir(parents=True)
    shutil.copytree(a / "checkpoints" / "step-0000010", b / "checkpoints" / "step-0000010")
    (b / "latest").write_text("checkpoints/step-0000010\n")
    shutil.copy(a / "metrics.jsonl", b / "metrics.jsonl")
    resumed = train(datasets, b, model_cfg, train_cfg, resume=True, progress=False)
    assert resumed["step"] == 20
    sa, sb = summary["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    ma, mb = metrics(a), metrics(b)
    assert [m["step"] for m in mb] == list(range(1, 21))
    assert [(m["batch_crc"], m["loss"]) for m in ma] == [(m["batch_crc"], m["loss"]) for m in mb]


def test_the_loss_falls(datasets, tmp_path):
    """The DPT-style target (the demonstrator's action; zero here) is a function of the context: the loss must
    collapse. With Algorithm Distillation's target on these zero-demonstrator histories the executed action is
    pure decaying noise, so its loss can only fall to the noise variance (see the report's 300-step run)."""
    model_cfg, train_cfg = resolve("tiny", sets=FAST + ["train.target=demonstrator_action", "train.lr=3e-3"], steps=30)
    summary = train(datasets, tmp_path / "dpt", model_cfg, train_cfg, progress=False)
    losses = [m["loss"] for m in metrics(tmp_path / "dpt")]
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < first / 10, (first, last)
    assert summary["last_loss"] < summary["first_loss"]


def test_cli_run_killed_with_sigkill_resumes_from_its_checkpoint_with_the_same_sampler_order(datasets, env, tmp_path):
    run = tmp_path / "run"
    args = [
        "train",
        "--datasets",
        *datasets,
        "--out",
        str(run),
        "--steps",
        "30",
        "--quiet",
        *sum((["--set", s] for s in FAST), []),
    ]
    proc = popen_model(*args, env=env)
    deadline = time.time() + 300
    while not (run / "latest").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    saved = int((run / "latest").read_text().strip().rsplit("-", 1)[1])
    assert saved >= 10 and saved % 10 == 0
    killed_at = metrics(run)[-1]["step"]
    done = run_model(*args, "--resume", env=env)
    assert done.returncode == 0, done.stderr
    assert f"resuming at step {saved}" in done.stderr and "trained to step 30" in done.stderr
    m = metrics(run)
    assert [r["step"] for r in m] == list(range(1, 31)), (saved, killed_at)
    straight = tmp_path / "straight"
    train(datasets, straight, *resolve("tiny", sets=FAST, steps=30), progress=False)
    assert [r["batch_crc"] for r in m] == [r["batch_crc"] for r in metrics(straight)]
    assert [r["loss"] for r in m] == pytest.approx([r["loss"] for r in metrics(straight)], rel=1e-4)


def test_loader_workers_and_ranks_see_the_same_windows(datasets):
    tasks = prepare(datasets, validate=False)
    windows = index_tasks(tasks, 64, 16)
    counts = [len(w.starts) for w in windows]
    order = WindowOrder(counts, 3, "uniform")
    ds = WindowDataset(tasks, windows, order, 64)
    take = lambda loader: [b for _, b in zip(range(6), loader)]  # noqa: E731
    serial, parallel = take(make_loader(ds, 4, 0, 0)), take(make_loader(ds, 4, 0, 2))
    for x, y in zip(serial, parallel):
        assert torch.equal(x["windows"], y["windows"])
        for g in x["groups"]:
            assert all(
                torch.equal(getattr(x["groups"][g], f), getattr(y["groups"][g], f))
                for f in ("obs", "prev_action", "prev_reward", "first", "target")
            )
    resumed = take(make_loader(ds, 4, 8, 0))  # after 2 consumed batches
    assert all(torch.equal(a["windows"], b["windows"]) for a, b in zip(resumed, serial[2:]))
    ranks = [WindowOrder(counts, 3, "uniform", r, 2) for r in range(2)]
    glob = order.epoch(0)
    assert np.array_equal(ranks[0].epoch(0), glob[0::2][: len(glob) // 2]) and np.array_equal(
        ranks[1].epoch(0), glob[1::2][: len(glob) // 2]
    )
    b = serial[0]["groups"]["industrial-benchmark-6x3"]
    assert b.obs.shape == (4, 64, 6) and b.prev_reward.shape == (4, 64)
    assert any(x["groups"]["industrial-benchmark-6x3"].first.any() for x in serial)  # windows cross episode starts
    assert abs(float(b.obs[..., 1:].mean())) < 3  # normalized with the datasets' stats


def test_ddp_on_two_gloo_processes_matches_one_process_with_the_same_global_batch(datasets, env, tmp_path):
    sets = sum((["--set", s] for s in FAST + ["train.save_every=100"]), [])
    ddp = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "vintix_model.cli",
            "train",
            "--datasets",
            *datasets,
            "--out",
            str(tmp_path / "ddp"),
            "--steps",
            "6",
            "--quiet",
            "--device",
            "cpu",
            *sets,
            "--set",
            "train.batch_size=2",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    train(
        datasets,
        tmp_path / "one",
        *resolve("tiny", sets=FAST + ["train.save_every=100", "train.batch_size=4"], steps=6),
        progress=False,
    )
    a, b = Vintix.from_pretrained(tmp_path / "ddp").state_dict(), Vintix.from_pretrained(tmp_path / "one").state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    assert (
        json.loads((tmp_path / "ddp" / "checkpoints" / "step-0000006" / "metadata.json").read_text())["world_size"] == 2
    )
    la, lb = [m["loss"] for m in metrics(tmp_path / "ddp")], [m["loss"] for m in metrics(tmp_path / "one")]
    assert la == pytest.approx(lb, rel=1e-4)


def _one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), proc.stderr
    assert sum(ln.startswith("error: ") for ln in lines) == 1
    text = " ".join(proc.stderr.split())
    for n in needles:
        assert n in text, (n, proc.stderr)


def test_bad_input_gives_one_line_errors(datasets, env, tmp_path):
    good, other = datasets
    invalid = tmp_path / "invalid"  # a readable copy whose rewards were edited after the manifest was written
    shutil.copytree(good, invalid)
    shard = next((invalid / "data").glob("*.parquet"))
    table = pq.read_table(shard)
    reward = table.column("reward").to_numpy().copy()
    reward[100] += 1.0
    pq.write_table(table.set_column(table.schema.get_field_index("reward"), "reward", pa.array(reward)), shard)
    wrong_dims = tmp_path / "wrong-dims"
    shutil.copytree(other, wrong_dims)
    info = json.loads((wrong_dims / "meta" / "info.json").read_text())
    info.update(task="industrial-benchmark-50-v1", obs_dim=7)
    (wrong_dims / "meta" / "info.json").write_text(json.dumps(info))
    stats = json.loads((wrong_dims / "meta" / "stats.json").read_text())
    stats["observation"] = {k: (v + [0.0] if isinstance(v, list) else v) for k, v in stats["observation"].items()}
    (wrong_dims / "meta" / "stats.json").write_text(json.dumps(stats))
    prev = tmp_path / "prev"
    assert (
        run_model(
            "train",
            "--datasets",
            good,
            "--out",
            str(prev),
            "--steps",
            "2",
            "--quiet",
            *sum((["--set", s] for s in FAST), []),
            env=env,
        ).returncode
        == 0
    )
    base = ["--quiet", "--steps", "2", "--set", "model.context=64", "--set", "train.num_workers=0"]
    cases = {  # the list, each a real `vintix-model` process
        "no such Hub dataset": (
            ["--datasets", "vintix-test/no-such-dataset", "--out", str(tmp_path / "o2")],
            ["vintix-test/no-such-dataset", "cannot load"],
        ),
        "fails validate": (
            ["--datasets", str(invalid), "--out", str(tmp_path / "o3")],
            ["fails validation", "vintix-data validate"],
        ),
        "one task, two dims": (
            ["--datasets", good, str(wrong_dims), "--out", str(tmp_path / "o4")],
            ["both task industrial-benchmark-50-v1", "different dims", "6/3 vs 7/3"],
        ),
        "context too long": (
            ["--datasets", good, "--out", str(tmp_path / "o5"), "--set", "model.context=6000"],
            ["context 6000", "longest history has 5000"],
        ),
        "another config": (
            ["--datasets", good, "--out", str(prev), "--resume", "--set", "model.n_layer=3"],
            ["checkpoint from another config", "model.n_layer"],
        ),
    }
    offline = {**env, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": "http://127.0.0.1:9"}
    procs = {
        name: popen_model("train", *base, *args, env=offline if "Hub" in name else env)
        for name, (args, _) in cases.items()
    }
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=600)
        _one_line_error(subprocess.CompletedProcess(p.args, p.returncode, stdout, stderr), *cases[name][1])
    assert (
        not (tmp_path / "o3").exists() and not (tmp_path / "o5").exists()
    )  # nothing written before the inputs are checked

    more = {  # the same CLI code in this process (typer's runner), to spare a process start each
        "no such folder": (
            ["train", "--datasets", str(tmp_path / "nope"), "--out", str(tmp_path / "o1")],
            ["no such folder"],
        ),
        "other data": (
            [
                "train",
                "--datasets",
                other,
                "--out",
                str(prev),
                "--resume",
                "--steps",
                "2",
                *sum((["--set", s] for s in FAST), []),
            ],
            ["checkpoint from another config", "other datasets"],
        ),
        "nothing to resume": (
            ["train", "--datasets", good, "--out", str(tmp_path / "o6"), "--resume"],
            ["holds no checkpoint"],
        ),
        "run exists": (["train", "--datasets", good, "--out", str(prev)], ["already holds a training run", "--resume"]),
        "bad override": (
            ["train", "--datasets", good, "--out", str(tmp_path / "o7"), "--set", "train.lr=fast"],
            ["train.lr must be a number"],
        ),
        "bad device": (
            ["train", "--datasets", good, "--out", str(tmp_path / "o9"), "--device", "cuda:7"],
            ["--device cuda:7"],
        ),
        "push nothing": (["push", str(tmp_path / "nope"), "--repo", "org/x"], ["not a checkpoint"]),
        "unknown task": (["describe", "--tasks", "no-such-task"], ["unknown task"]),
    }
    runner = CliRunner()
    for name, (args, needles) in more.items():
        res = runner.invoke(app, args + (base[:1] if args[0] == "train" else []))
        assert res.exception is None or isinstance(res.exception, SystemExit), (name, res.exception)
        _one_line_error(subprocess.CompletedProcess(args, res.exit_code, res.stdout, res.stderr), *needles)


def test_hub_dataset_id_trains_like_its_folder_and_push_then_from_pretrained_round_trips(datasets, env, tmp_path):
    hub_server = pytest.importorskip("tests.hub_server")
    good = datasets[0]
    with hub_server.HubServer(tokens={TOKEN}) as hub:
        hub_env = {
            **env,
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": TOKEN,
            "HF_HOME": str(tmp_path / "hf"),
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        pushed = run_cli("push", good, "--repo", "vintix-test/vintix-ib50", env=hub_env)
        assert pushed.returncode == 0, pushed.stderr
        missing = run_model(
            "train", "--datasets", "vintix-test/no-such-dataset", "--out", str(tmp_path / "missing"), env=hub_env
        )
        _one_line_error(missing, "vintix-test/no-such-dataset", "cannot load", "no such repo")
        sets = sum((["--set", s] for s in FAST), [])
        by_id = run_model(
            "train",
            "--datasets",
            "vintix-test/vintix-ib50",
            "--out",
            str(tmp_path / "by-id"),
            "--steps",
            "3",
            "--quiet",
            *sets,
            env=hub_env,
        )
        assert by_id.returncode == 0, by_id.stderr
        train([good], tmp_path / "by-dir", *resolve("tiny", sets=FAST, steps=3), progress=False)
        meta = json.loads((tmp_path / "by-id" / "checkpoints" / "step-0000003" / "metadata.json").read_text())
        src = meta["tasks"]["industrial-benchmark-50-v1"]["dataset"]
        assert src["source"] == "vintix-test/vintix-ib50" and len(src["resolved_revision"]) == 40
        meta_dir = json.loads((tmp_path / "by-dir" / "checkpoints" / "step-0000003" / "metadata.json").read_text())
        assert meta["data"] == meta_dir["data"]  # same task, group and manifest: one code path
        assert [m["batch_crc"] for m in metrics(tmp_path / "by-id")] == [
            m["batch_crc"] for m in metrics(tmp_path / "by-dir")
        ]

        up = run_model("push", str(tmp_path / "by-dir"), "--repo", "vintix-test/vintix-tiny", env=hub_env)
        assert up.returncode == 0, up.stderr
        files = hub.state.files("model", "vintix-test/vintix-tiny")
        assert {"model.safetensors", "config.json", "metadata.json", "README.md", "loss.png", "metrics.jsonl"} <= set(
            files
        )
        assert "training_state.pt" not in files  # the optimizer state stays home
        card = files["README.md"].decode()
        assert card.startswith("---\n") and "industrial-benchmark-50-v1" in card and "industrial-benchmark-6x3" in card
        assert "![training loss](loss.png)" in card and "from_pretrained(\"vintix-test/vintix-tiny\")" in card
        script = (
            "import sys, torch; from vintix_model import Vintix; from tests.test_model_train import fixed_batch; "
            "m = Vintix.from_pretrained('vintix-test/vintix-tiny'); b = fixed_batch([sys.argv[1]]); "
            "torch.save({g: p for g, p in m.eval()(b).items()}, sys.argv[2])"
        )
        out = tmp_path / "preds.pt"
        loaded = subprocess.run(
            [sys.executable, "-c", script, good, str(out)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **hub_env},
        )
        assert loaded.returncode == 0, loaded.stderr
        local = predict(Vintix.from_pretrained(tmp_path / "by-dir"), fixed_batch([good]))
        remote = torch.load(out)
        assert all(torch.equal(local[g], remote[g].detach()) for g in local)


def test_two_domains_train_together_with_one_group_each(tiny_dataset, cache, tmp_path):
    """Industrial Benchmark (6/3) and Meta-World reach-v3 (39/4, scripted expert) in one batch stream."""
    pytest.importorskip("metaworld")
    reach = tmp_path / "reach"
    run_cli(
        "collect",
        "reach-v3",
        "--out",
        str(reach),
        "--histories",
        "1",
        "--steps",
        "2000",
        "--reference-episodes",
        "3",
        check=True,
    )
    refs = [str(tiny_dataset), str(reach)]
    summary = train(refs, tmp_path / "run", *resolve("tiny", sets=FAST, steps=10), progress=False)
    model = summary["model"]
    assert set(model.groups) == {"industrial-benchmark-6x3", "meta-world-39x4"}
    assert model.tasks["reach-v3"]["group"] == "meta-world-39x4" and model.tasks["reach-v3"]["obs_dim"] == 39
    batch = fixed_batch(refs, n=8)
    assert set(batch) == {"industrial-benchmark-6x3", "meta-world-39x4"}  # both domains in one forward
    trained, loaded = predict(model, batch), predict(Vintix.from_pretrained(tmp_path / "run"), batch)
    assert trained["meta-world-39x4"].shape[-1] == 4 and trained["industrial-benchmark-6x3"].shape[-1] == 3
    assert all(torch.equal(trained[g], loaded[g]) for g in trained)
    assert all(np.isfinite(m["loss"]) for m in metrics(tmp_path / "run"))
