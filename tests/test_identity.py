"""What a user loads is what is on disk (issue 24, items 1 and 3): dataset folders of the same name, or one folder
re-collected in place, each give their own rows through ``vintix_data.load``, ``vintix-data info`` and
``load_suite``; equal data give equal data fingerprints whatever else differs, and the index shows them.

``datasets`` caches a local folder under its name; each check below runs in a fresh subprocess with its own
``HF_HOME`` (so its own ``datasets`` cache), loading the folders in the order given, as a user's session would.
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

from tests.conftest import TASK, hub_client_env, run_cli

NAME = "vintix-ib"  # the folder name every dataset below shares
SMALL = ["--demonstrator", "zero", "--reference-episodes", "10", "--gate-episodes", "2", "--force"]  # valid, in seconds
SETTINGS = {  # parent folder -> (collect options, rows)
    "a": (["--histories", "1", "--steps", "6000"], 6000),
    "b": (["--histories", "3", "--steps", "4000"], 12000),
    "a-again": (["--histories", "1", "--steps", "6000"], 6000),  # a's settings, run again
}


def collect(out: Path, options: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vintix_data.cli", "collect", TASK, "--out", str(out), *options, *SMALL],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, stderr = p.communicate(timeout=600)
        assert p.returncode == 0, stderr


@pytest.fixture(scope="module")
def twins(tmp_path_factory) -> dict[str, Path]:
    """Three real collections, all in folders named ``vintix-ib`` (under a/, b/, a-again/)."""
    root = tmp_path_factory.mktemp("twins")
    folders = {k: root / k / NAME for k in SETTINGS}
    wait([collect(folders[k], opts) for k, (opts, _) in SETTINGS.items()])
    return folders


LOAD = r"""
import json, sys
import vintix_data
out = []
for ref in sys.argv[1:]:
    if ref.startswith("suite:"):
        org, task = ref[len("suite:"):].split("/")
        ds = vintix_data.load_suite(org, task)[task]
    else:
        ds = vintix_data.load(ref)
    out.append(ds.dataset.num_rows)
print("RESULT " + json.dumps(out))
"""


def rows_loaded(home: Path, *refs: str, env: dict | None = None) -> list[int]:
    """Rows that `vintix_data.load` (or `load_suite` for ``suite:ORG/TASK``) returns for each ref, in that order, in
    one process whose datasets cache is under ``home``."""
    proc = subprocess.run(
        [sys.executable, "-c", LOAD, *refs],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {}), "HF_HOME": str(home)},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])


def info_json(folder: Path, home: Path) -> dict:
    proc = run_cli("info", str(folder), "--json", env={"HF_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_folders_of_the_same_name_and_a_folder_recollected_in_place_give_their_own_rows(twins, tmp_path):
    """Fails on the code before issue 24: the second folder loaded got the first one's rows."""
    a, b = twins["a"], twins["b"]
    want = {a: SETTINGS["a"][1], b: SETTINGS["b"][1]}
    for i, order in enumerate(((a, b), (b, a))):
        assert rows_loaded(tmp_path / f"load-{i}", *map(str, order)) == [want[f] for f in order]
        home = tmp_path / f"info-{i}"
        assert [info_json(f, home)["rows"] for f in order] == [want[f] for f in order]

    # one folder, read, then deleted and collected again in place with other settings: read afresh
    folder = tmp_path / "again" / NAME
    shutil.copytree(a, folder)
    home = tmp_path / "recollected"
    assert rows_loaded(home, str(folder)) == [6000] and info_json(folder, home)["rows"] == 6000
    shutil.rmtree(folder)
    wait([collect(folder, ["--histories", "2", "--steps", "5000"])])
    assert rows_loaded(home, str(folder)) == [10000]
    assert info_json(folder, home)["rows"] == 10000


def test_a_shard_set_that_disagrees_with_its_manifest_is_refused_in_one_line(twins, tmp_path):
    """The row count is checked against the manifest and info.json before `datasets` is trusted with the folder."""
    folder = tmp_path / NAME
    shutil.copytree(twins["a"], folder)
    extra = folder / "data" / "train-00001-of-00001.parquet"
    shutil.copy(twins["b"] / "data" / "train-00000-of-00001.parquet", extra)  # another dataset's shard slipped in
    proc = run_cli("info", str(folder), env={"HF_HOME": str(tmp_path / "home")})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, (
        proc.stderr
    )
    assert (
        "data/train-00001-of-00001.parquet is not listed in meta/manifest.json; the folder fails validation"
        in proc.stderr
    ), proc.stderr


def fingerprint_by_hand(folder: Path) -> str:
    """The definition, independently of vintix_data: `sha256sum data/*.parquet meta/episodes.parquet meta/stats.json |
    sha256sum`."""
    files = sorted(p.relative_to(folder).as_posix() for p in (folder / "data").glob("*.parquet"))
    files += ["meta/episodes.parquet", "meta/stats.json"]
    text = "".join(f"{hashlib.sha256((folder / f).read_bytes()).hexdigest()}  {f}\n" for f in files)
    return hashlib.sha256(text.encode()).hexdigest()


def test_equal_data_give_equal_fingerprints_and_unequal_manifest_digests(twins, tmp_path):
    a, again, b = twins["a"], twins["a-again"], twins["b"]
    manifests = {k: json.loads((f / "meta" / "manifest.json").read_text()) for k, f in twins.items()}
    infos = {k: info_json(f, tmp_path / "home") for k, f in twins.items()}
    for k, f in twins.items():
        fp = fingerprint_by_hand(f)
        assert manifests[k]["data_fingerprint"] == infos[k]["data_fingerprint"] == fp
        assert f"Data fingerprint: `{fp}`" in (f / "README.md").read_text()
        assert infos[k]["manifest_sha256"] == hashlib.sha256((f / "meta" / "manifest.json").read_bytes()).hexdigest()
    assert infos["a"]["data_fingerprint"] == infos["a-again"]["data_fingerprint"] != infos["b"]["data_fingerprint"]
    assert infos["a"]["manifest_sha256"] != infos["a-again"]["manifest_sha256"]  # info.json: date, command line
    assert (a / "meta" / "info.json").read_bytes() != (again / "meta" / "info.json").read_bytes()
    text = run_cli("info", str(b), env={"HF_HOME": str(tmp_path / "home")}, check=True).stdout
    assert f"data fingerprint: {infos['b']['data_fingerprint']}" in text
    report = json.loads(run_cli("validate", str(a), "--json").stdout)
    assert report["figures"]["data_fingerprint"] == infos["a"]["data_fingerprint"]


def test_an_edited_fingerprint_in_the_manifest_is_caught(twins, tmp_path):
    folder = tmp_path / NAME
    shutil.copytree(twins["a"], folder)
    path = folder / "meta" / "manifest.json"
    m = json.loads(path.read_text())
    m["data_fingerprint"] = fingerprint_by_hand(twins["b"])  # claims another dataset's data
    path.write_text(json.dumps(m, indent=2, sort_keys=True) + "\n")
    errors = json.loads(run_cli("validate", str(folder), "--json").stdout)["errors"]
    assert any(e.startswith("meta/manifest.json: data_fingerprint") and "its own entries give" in e for e in errors), (
        errors
    )


# -- the test Hub: load_suite of two organizations whose datasets share a name, and the index's fingerprints ------


def release_root(root: Path, dataset: Path) -> Path:
    """A release root as `vintix-data release` lays it out, holding one dataset (copied)."""
    shutil.copytree(dataset, root / "datasets" / TASK)
    (root / "release.json").write_text(
        json.dumps({"format": "vintix-release/1", "selection": [TASK], "tasks": [TASK], "settings": {}})
    )
    return root


INDEX = r"""
import json, sys
import datasets
print("RESULT " + json.dumps(datasets.load_dataset(sys.argv[1] + "/vintix-index", split="train").to_list()))
"""


def test_load_suite_gives_each_organizations_own_rows_and_the_index_shows_the_fingerprint(hub, twins, tmp_path):
    env = hub_client_env(hub.url, tmp_path / "hf_home")
    orgs = {"org-a": twins["a"], "org-b": twins["b"]}
    for org, folder in orgs.items():
        run_cli("push", str(release_root(tmp_path / org, folder)), "--org", org, env=env, check=True)
    a, b = str(twins["a"]), str(twins["b"])
    for i, refs in enumerate(
        ((a, f"suite:org-b/{TASK}", f"suite:org-a/{TASK}", b), (b, f"suite:org-a/{TASK}", f"suite:org-b/{TASK}", a))
    ):
        want = [SETTINGS["a" if r in (a, f"suite:org-a/{TASK}") else "b"][1] for r in refs]
        assert rows_loaded(tmp_path / f"home-{i}", *refs, env=env) == want

    for org, folder in orgs.items():
        proc = subprocess.run(
            [sys.executable, "-c", INDEX, org], capture_output=True, text=True, timeout=300, env={**os.environ, **env}
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :])
        assert [r["data_fingerprint"] for r in rows] == [fingerprint_by_hand(folder)]
        card = hub.state.files("dataset", f"{org}/vintix-index")["README.md"].decode()
        assert f"`{fingerprint_by_hand(folder)[:16]}`" in card


# -- item 4: validate --upgrade-manifest ----------------------------------------------------------------------------


def old_layout(folder: Path) -> None:
    """Rewrite the manifest as the code before the wider manifest wrote it (``format.build_manifest`` before commit
    1659d25): the shards and the episode table only, each with name, size, rows and sha256, and no fingerprint."""
    import pyarrow.parquet as pq

    files = sorted((folder / "data").glob("*.parquet")) + [folder / "meta" / "episodes.parquet"]
    entries = [
        {
            "name": p.relative_to(folder).as_posix(),
            "size": p.stat().st_size,
            "rows": pq.ParquetFile(p).metadata.num_rows,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in files
    ]
    (folder / "meta" / "manifest.json").write_text(
        json.dumps({"format_version": "1.0", "files": entries}, indent=2, sort_keys=True, allow_nan=False) + "\n"
    )


def test_an_old_layout_manifest_is_brought_forward_only_after_every_check_passes(hub, twins, tmp_path):
    old = tmp_path / "old" / NAME
    shutil.copytree(twins["a"], old)
    old_layout(old)
    before = run_cli("validate", str(old))
    assert before.returncode == 1 and "invalid: meta/info.json: not listed in the manifest" in before.stderr

    # stats.json edited in an old-layout folder: nothing in the old manifest covers it, the rows do
    edited = tmp_path / "edited" / NAME
    shutil.copytree(old, edited)
    stats = json.loads((edited / "meta" / "stats.json").read_text())
    stats["observation"]["mean"][1] += 0.5
    (edited / "meta" / "stats.json").write_text(json.dumps(stats, indent=2))
    manifest_before = (edited / "meta" / "manifest.json").read_bytes()
    refused = run_cli("validate", str(edited), "--upgrade-manifest")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert (
        "not upgraded, the folder fails validation (1 problem(s), first: meta/stats.json: observation mean[1]"
        in refused.stderr
        and "manifest.json is unchanged" in refused.stderr
    ), refused.stderr
    assert (edited / "meta" / "manifest.json").read_bytes() == manifest_before

    up = run_cli("validate", str(old), "--upgrade-manifest")
    fp = fingerprint_by_hand(old)
    assert up.returncode == 0 and up.stderr.strip().splitlines() == [
        f"upgraded {old / 'meta' / 'manifest.json'}: added README.md, meta/info.json, meta/stats.json, "
        f"plots/learning_curve.png and the data fingerprint {fp} (validated first: 6,000 rows, 24 episodes)"
    ], up.stderr
    # the same files give the same manifest the current code wrote when it collected them
    assert (old / "meta" / "manifest.json").read_bytes() == (twins["a"] / "meta" / "manifest.json").read_bytes()
    assert run_cli("validate", str(old)).returncode == 0
    again = run_cli("validate", str(old), "--upgrade-manifest")
    assert again.returncode == 0 and "already in the current layout; nothing to add" in again.stderr

    env = hub_client_env(hub.url, tmp_path / "hf_home")
    run_cli("push", str(old), "--repo", "org-up/vintix-ib", env=env, check=True)
    verified = run_cli("verify", "org-up/vintix-ib", env=env)
    assert verified.returncode == 0 and "verified: 6 files match the manifest sha256" in verified.stderr, (
        verified.stderr
    )
    assert f"data fingerprint {fp}" in verified.stderr


FORGE = r"""
import dataclasses, sys, tempfile
from pathlib import Path
from huggingface_hub import HfApi, hf_hub_download
import vintix_data
from vintix_data.hub.index import INDEX_FILE, read_index, write_index
from vintix_data.suite import SuiteError
org, task, other = sys.argv[1:]
repo = org + "/vintix-index"
entries = read_index(Path(hf_hub_download(repo, INDEX_FILE, repo_type="dataset")))
out = Path(tempfile.mkdtemp()) / "index.parquet"
write_index([dataclasses.replace(e, data_fingerprint=other) for e in entries], out)
HfApi().upload_file(path_or_fileobj=str(out), path_in_repo=INDEX_FILE, repo_id=repo, repo_type="dataset")
try:
    vintix_data.load_suite(org, task)
    print("RESULT loaded")
except SuiteError as e:
    print("RESULT " + str(e))
"""


def test_load_suite_refuses_a_dataset_whose_fingerprint_is_not_the_indexs(hub, twins, tmp_path):
    env = hub_client_env(hub.url, tmp_path / "hf_home")
    run_cli("push", str(release_root(tmp_path / "org-f", twins["a"])), "--org", "org-f", env=env, check=True)
    proc = subprocess.run(
        [sys.executable, "-c", FORGE, "org-f", TASK, fingerprint_by_hand(twins["b"])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))[len("RESULT ") :]
    assert (
        result.startswith(f"org-f/vintix-{TASK}@")
        and "data fingerprint" in result
        and "differs from the index's" in result
    ), result
