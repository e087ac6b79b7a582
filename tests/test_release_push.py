"""Publishing a release root and reading it back as suites, over real HTTP against tests/hub_server.py: the real
``vintix-data push ROOT --org``, ``huggingface_hub`` (collections included) and ``datasets`` in subprocesses, nothing
mocked.

The release root is made by hand as ``vintix-data release`` lays it out: two real IB collections (setpoints 50 and
70, 2 histories x 2,000 steps), a task whose folder is missing (90) and one whose folder fails validation (100).
The module's fixture replays a publication that was interrupted: dataset 50 was already pushed, a first release
push loses its LFS uploads at dataset 70, and the second one completes it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import HUB_TOKEN, one_line_error, run_cli, run_model_cli

TOKEN = HUB_TOKEN
ORG = "vintix-rel"
T50, T70, T90, T100 = (f"industrial-benchmark-{p}-v1" for p in (50, 70, 90, 100))
TASKS = [T50, T70, T90, T100]
FAST = ["model.context=64", "train.stride=16", "train.num_workers=0", "train.warmup_steps=2", "train.save_every=4"]


def repo_of(task: str) -> str:
    return f"{ORG}/vintix-{task}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def folder_files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    }


@pytest.fixture(scope="module")
def hub_env(hub_env) -> dict[str, str]:
    return {**hub_env, "HF_HUB_DISABLE_PROGRESS_BARS": "1"}  # conftest's, without tqdm bars in the CLIs' output


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A release root as `vintix-data release` writes it, with one task missing and one invalid."""
    root = tmp_path_factory.mktemp("release") / "R"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vintix_data.cli",
                "collect",
                task,
                "--demonstrator",
                "zero",
                "--histories",
                "2",
                "--steps",
                "2000",
                "--reference-episodes",
                "5",
                "--out",
                str(root / "datasets" / task),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for task in (T50, T70)
    ]
    for p in procs:
        _, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr
    bad = root / "datasets" / T100
    shutil.copytree(root / "datasets" / T50, bad)  # setpoint 50's data under 100's name: info.json says 100 ...
    info = json.loads((bad / "meta" / "info.json").read_text())
    info["task"], info["env_kwargs"] = T100, {"setpoint": 100}
    (bad / "meta" / "info.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    shard = bad / "data" / "train-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # ... and a truncated shard: fails validation
    (root / "release.json").write_text(
        json.dumps(
            {
                "format": "vintix-release/1",
                "selection": list(TASKS),
                "tasks": TASKS,
                "settings": {"histories": 2, "steps": 2000, "demonstrator": "zero"},
            }
        )
    )
    return root


@pytest.fixture(scope="module")
def pushed(hub, hub_env, root) -> dict:
    """Dataset 50 pushed alone (an earlier run that stopped), a release push whose LFS uploads are all dropped
    (stops at 70), then the release push that completes the publication."""
    single = run_cli("push", str(root / "datasets" / T50), "--repo", repo_of(T50), "--tag", "v1.0", env=hub_env)
    assert single.returncode == 0, single.stderr
    hub.state.drop_lfs_puts = -1
    try:
        failed = run_cli("push", str(root), "--org", ORG, "--tag", "v1.0", env=hub_env)
    finally:
        hub.state.drop_lfs_puts = 0
    n0 = len(hub.state.requests)
    done = run_cli("push", str(root), "--org", ORG, "--tag", "v1.0", env=hub_env)
    assert done.returncode == 0, done.stderr
    return {"failed": failed, "done": done, "requests": hub.state.requests[n0:]}


VIEW = r"""
import json, sys
import datasets, huggingface_hub as hh
org = sys.argv[1]
rows = datasets.load_dataset(f"{org}/vintix-index", split="train").to_list()
listed = list(hh.list_collections(owner=org))
full = [hh.get_collection(c.slug) for c in listed]
print("RESULT " + json.dumps({"rows": rows, "collections": [
    {"slug": c.slug, "title": c.title, "items": [[i.item_type, i.item_id, i.note] for i in c.items]} for c in full]}))
"""


def view(hub_env: dict) -> dict:
    """The index table and the Collection as plain `datasets` / `huggingface_hub` calls see them."""
    proc = subprocess.run(
        [sys.executable, "-c", VIEW, ORG], capture_output=True, text=True, timeout=300, env={**os.environ, **hub_env}
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])


def test_an_interrupted_release_push_fails_in_one_line_and_the_next_run_resumes(hub, pushed):
    failed = pushed["failed"]
    lines = failed.stderr.strip().splitlines()
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[0].startswith(f"unchanged: {T50}") and [ln for ln in lines if ln.startswith("error:")] == lines[-1:], (
        failed.stderr
    )
    for needle in (
        f"{T70}: push to {repo_of(T70)} failed",
        "nothing was committed",
        "1 of 4 datasets pushed so far",
        "index is not updated",
        "run the same push again",
    ):
        assert needle in lines[-1], (needle, lines[-1])
    assert ("dataset", f"{ORG}/vintix-index") in hub.state.repos  # (created by the completing run, not before)
    done = pushed["done"].stderr
    assert f"unchanged: {T50} -> {repo_of(T50)}" in done and f"pushed: {T70} -> {repo_of(T70)}" in done
    # dataset 50 was neither validated nor uploaded again: no LFS PUT, no commit, to its repo in the second run
    assert not any(
        r[1].startswith(f"/_lfs/dataset/{repo_of(T50)}/") or r[1].endswith(f"{repo_of(T50)}/commit/main")
        for r in pushed["requests"]
    )
    assert "pushed release" in done and "1 new commit(s), 1 unchanged, 2 skipped" in done


def test_release_push_publishes_each_dataset_tagged_and_reports_bad_tasks_in_one_line(hub, root, pushed):
    stderr = pushed["done"].stderr
    skipped = [ln for ln in stderr.splitlines() if ln.startswith("skipped:")]
    assert len(skipped) == 2, stderr
    assert skipped[0].startswith(f"skipped: {T90} -> {repo_of(T90)} (no dataset folder") and "not pushed" in skipped[0]
    assert skipped[1].startswith(f"skipped: {T100} -> {repo_of(T100)} (fails validation") and "not pushed" in skipped[1]
    for task in (T50, T70):
        repo = hub.state.repo("dataset", repo_of(task))
        local = folder_files(root / "datasets" / task)
        on_hub = hub.state.files("dataset", repo_of(task))
        assert {p: b for p, b in on_hub.items() if p != ".gitattributes"} == local
        assert repo.tags == {"v1.0": repo.branches["main"]} and len(repo.history("main")) == 2  # one commit each
    assert ("dataset", repo_of(T90)) not in hub.state.repos and ("dataset", repo_of(T100)) not in hub.state.repos


def test_index_and_collection_are_readable_with_plain_hub_calls(hub, hub_env, root, pushed):
    v = view(hub_env)
    index = hub.state.repo("dataset", f"{ORG}/vintix-index")
    assert index.tags == {"v1.0": index.branches["main"]}
    expected = []
    for task in (T50, T70):  # what the index must say, from the local folders and the server's refs
        folder = root / "datasets" / task
        info = json.loads((folder / "meta" / "info.json").read_text())
        repo = hub.state.repo("dataset", repo_of(task))
        expected.append(
            {
                "task": task,
                "domain": "industrial-benchmark",
                "split": "train",
                "obs_dim": 6,
                "act_dim": 3,
                "histories": 2,
                "steps_per_history": 2000,
                "total_steps": 4000,
                "episodes": info["episodes"],
                "demonstrator_kind": "zero",
                "demonstrator_id": "zero",
                "demonstrator_score": info["demonstrator"]["measured_mean_return"],
                "normalized_score": info["demonstrator"]["normalized_score_paper"],
                "repo_id": repo_of(task),
                "commit": repo.branches["main"],
                "tag": "v1.0",
                "manifest_sha256": sha256((folder / "meta" / "manifest.json").read_bytes()),
                "data_fingerprint": json.loads((folder / "meta" / "manifest.json").read_text())["data_fingerprint"],
            }
        )
    assert v["rows"] == expected
    assert len(v["collections"]) == 1
    c = v["collections"][0]
    assert c["title"] == "Vintix datasets" and c["slug"].startswith(f"{ORG}/vintix-datasets-")
    assert [i[:2] for i in c["items"]] == [
        ["dataset", f"{ORG}/vintix-index"],
        ["dataset", repo_of(T50)],
        ["dataset", repo_of(T70)],
    ]
    card = hub.state.files("dataset", f"{ORG}/vintix-index")["README.md"].decode()
    assert "path: data/index.parquet" in card and f"| {T70} | industrial-benchmark | train | 6/3 | 2 x 2,000 |" in card


def test_a_repush_of_an_unchanged_release_makes_no_commit_and_no_duplicate(hub, hub_env, root, pushed):
    heads = {k: r.branches["main"] for k, r in hub.state.repos.items()}
    collection = dict(next(iter(hub.state.collections.values())))
    n_items = len(collection["items"])
    n0 = len(hub.state.requests)
    again = run_cli("push", str(root), "--org", ORG, "--tag", "v1.0", env=hub_env)
    assert again.returncode == 0, again.stderr
    assert (
        "0 new commit(s), 2 unchanged, 2 skipped" in again.stderr and "0 repo(s) added, 3 already there" in again.stderr
    )
    assert {k: r.branches["main"] for k, r in hub.state.repos.items()} == heads
    assert not any(r[0] == "PUT" or "/commit/" in r[1] or r[1].endswith("/items") for r in hub.state.requests[n0:])
    assert len(hub.state.collections) == 1 and len(next(iter(hub.state.collections.values()))["items"]) == n_items


SUITE = r"""
import json, sys
import vintix_data
org, rev = sys.argv[1], sys.argv[2]
suite = vintix_data.load_suite(org, ["industrial-benchmark-70-v1", "industrial-benchmark-50-v1"], revision=rev)
print("RESULT " + json.dumps({"index_commit": suite.index_commit, "refs": suite.refs, "loaded": [
    {"task": d.info.task, "rows": d.dataset.num_rows, "snapshot": d.folder.name, "t": d.dataset[:3]["t"]} for d in suite]}))
"""


def load_suite_view(hub_env: dict, revision: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SUITE, ORG, revision],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **hub_env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])


def test_load_suite_resolves_through_the_index_to_the_pinned_commits(hub, hub_env, pushed):
    v = load_suite_view(hub_env, "v1.0")
    index = hub.state.repo("dataset", f"{ORG}/vintix-index")
    heads = {t: hub.state.repo("dataset", repo_of(t)).branches["main"] for t in (T50, T70)}
    assert v["index_commit"] == index.tags["v1.0"]
    assert v["refs"] == [f"{repo_of(T50)}@{heads[T50]}", f"{repo_of(T70)}@{heads[T70]}"]  # registry order
    assert v["loaded"] == [{"task": t, "rows": 4000, "snapshot": heads[t], "t": [0, 1, 2]} for t in (T50, T70)]


def test_vintix_model_trains_on_a_suite_and_records_its_revisions(hub, hub_env, pushed, tmp_path):
    out = tmp_path / "run"
    suite = f"suite:{ORG}/{T50},{T70}"
    proc = run_model_cli(
        "train",
        "--datasets",
        suite,
        "--out",
        str(out),
        "--steps",
        "4",
        "--quiet",
        *sum((["--set", s] for s in FAST), []),
        env=hub_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 task(s) in 1 group(s)" in proc.stderr and "trained to step 4" in proc.stderr
    meta = json.loads((out / "checkpoints" / "step-0000004" / "metadata.json").read_text())
    heads = {t: hub.state.repo("dataset", repo_of(t)).branches["main"] for t in (T50, T70)}
    assert meta["datasets"] == [f"{repo_of(t)}@{heads[t]}" for t in (T50, T70)]
    [s] = meta["suites"]
    assert s["suite"] == f"{ORG}/{T50},{T70}" and s["index"] == f"{ORG}/vintix-index" and s["index_revision"] is None
    assert s["index_commit"] == hub.state.repo("dataset", f"{ORG}/vintix-index").branches["main"]
    assert {t: d["commit"] for t, d in s["datasets"].items()} == heads
    assert all(meta["tasks"][t]["dataset"]["resolved_revision"] == heads[t] for t in (T50, T70))


def test_bad_input_is_one_line(hub, hub_env, root, pushed, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "release.json").write_text('{"format": "vintix-release/0", "tasks": []}')
    repos_before = set(hub.state.repos)
    model = {
        "unknown selection": (
            [f"suite:{ORG}/ml45-trian"],
            ["unknown selection 'ml45-trian'", "did you mean 'ml45-train'"],
        ),
        "task not in the index": (
            [f"suite:{ORG}/ib"],
            [f"{ORG}/vintix-index@", "no dataset for 19 of the 21 task(s) of 'ib'", "industrial-benchmark-0-v1", T70],
        ),
        "no index": (
            ["suite:nobody-here/ib"],
            ["cannot read the index of nobody-here", "no such repo", "vintix-data push ROOT --org nobody-here"],
        ),
        "bad suite": ([f"suite:{ORG}/"], ["bad suite", "suite:ORG/SELECTION"]),
    }
    for name, (refs, needles) in model.items():
        proc = run_model_cli("train", "--datasets", *refs, "--out", str(tmp_path / name), env=hub_env)
        one_line_error(proc, *needles)
        assert not (tmp_path / name).exists(), name
    data = {
        "--repo on a release root": (["push", str(root), "--repo", f"{ORG}/x"], ["is a release root", "--org ORG"]),
        "no --org": (["push", str(root)], ["is a release root", "--org ORG"]),
        "--org on a dataset folder": (
            ["push", str(root / "datasets" / T50), "--org", ORG],
            ["--org is for a release root"],
        ),
        "bad org": (["push", str(root), "--org", "not an org"], ["bad --org 'not an org'"]),
        "bad manifest": (["push", str(broken), "--org", ORG], ["release.json: format 'vintix-release/0'"]),
        "wrong token": (
            ["push", str(root), "--org", ORG],
            [f"{T50}: push to {repo_of(T50)} failed", "refused the token", "0 of 4 datasets pushed so far"],
        ),
    }
    for name, (args, needles) in data.items():
        env = {**hub_env, "HF_TOKEN": "hf_wrong"} if name == "wrong token" else hub_env
        one_line_error(run_cli(*args, env=env), *needles)
    assert set(hub.state.repos) == repos_before


def test_a_suite_at_an_index_revision_ignores_later_commits_to_the_dataset_repos(hub, hub_env, pushed):
    """Run last: it moves dataset 50's main branch."""
    from huggingface_hub import HfApi

    pinned = hub.state.repo("dataset", repo_of(T50)).branches["main"]
    HfApi(endpoint=hub.url, token=TOKEN).upload_file(
        path_or_fileobj=b"a later note\n", path_in_repo="NOTES.md", repo_id=repo_of(T50), repo_type="dataset"
    )
    assert hub.state.repo("dataset", repo_of(T50)).branches["main"] != pinned
    v = load_suite_view(hub_env, "v1.0")
    assert v["loaded"][0]["snapshot"] == pinned and v["refs"][0] == f"{repo_of(T50)}@{pinned}"
