"""Metadata integrity (issue 17, item 1): the manifest covers every file a reader trusts, `validate` recomputes from the
rows what can be recomputed, and `verify` catches the same edits made on the Hub after a push (real CLI, real
huggingface_hub client over HTTP against tests/hub_server.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import HUB_TOKEN, hub_client_env, run_cli
from vintix_data.manifest import write_manifest
from vintix_data.validate import validate

TOKEN = HUB_TOKEN


def edit_json(folder: Path, name: str, fn) -> None:
    path = folder / "meta" / name
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d, indent=2))


def seed_plus_one(folder: Path) -> None:
    edit_json(folder, "info.json", lambda d: d.update(seed=d["seed"] + 1))


def half_reward_scale(folder: Path) -> None:
    edit_json(folder, "info.json", lambda d: d.update(reward_scale=0.5))


def action_mean_above_max(folder: Path) -> None:
    def fn(d):
        d["action"]["mean"][0] = d["action"]["max"][0] + 0.25

    edit_json(folder, "stats.json", fn)


def rewritten_episodes(folder: Path) -> None:
    """The episode table written again (a valid parquet file) with one episode's flags swapped."""
    path = folder / "meta" / "episodes.parquet"
    t = pq.read_table(path)
    i = t.schema.get_field_index("terminated")
    col = t.column(i).to_pylist()
    col[2] = not col[2]
    pq.write_table(t.set_column(i, t.schema.field(i), pa.array(col, pa.bool_())), path)


EDITS = {
    "seed": (seed_plus_one, "meta/episodes.parquet: history 0 episode 0 reset with seed"),
    "reward_scale": (half_reward_scale, "meta/info.json: reward_scale 0.5 != 1.0, the task registry's"),
    "action_mean": (action_mean_above_max, "meta/stats.json: action mean[0]"),
    "episodes": (rewritten_episodes, "meta/episodes.parquet: terminated/truncated differ from the episodes' last rows"),
}


def test_manifest_covers_every_trusted_file_and_is_written_last(tiny_dataset):
    manifest = json.loads((tiny_dataset / "meta" / "manifest.json").read_text())
    names = {e["name"] for e in manifest["files"]}
    assert names == {
        "README.md",
        "data/train-00000-of-00001.parquet",
        "meta/episodes.parquet",
        "meta/info.json",
        "meta/stats.json",
        "plots/learning_curve.png",
    }
    assert all("rows" in e for e in manifest["files"] if e["name"].endswith(".parquet"))
    assert validate(tiny_dataset).ok


@pytest.mark.parametrize("name", list(EDITS))
def test_validate_rejects_each_metadata_edit_with_or_without_a_rewritten_manifest(tiny_dataset, tmp_path, name):
    edit, message = EDITS[name]
    kept = tmp_path / "kept"
    shutil.copytree(tiny_dataset, kept, ignore=shutil.ignore_patterns(".vintix"))
    edit(kept)
    proc = run_cli("validate", str(kept))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(ln.startswith("invalid: meta/") and "!= manifest" in ln for ln in lines), proc.stderr  # the sha256/size
    assert any(message in ln for ln in lines), proc.stderr  # ... and the recomputation
    remanifested = tmp_path / "remanifested"
    shutil.copytree(kept, remanifested)
    write_manifest(remanifested)  # the manifest vouches for the edit now: only the recomputation can object
    report = validate(remanifested)
    assert [e for e in report.errors if message in e] and len(report.errors) == 1, report.errors


def test_an_edited_card_or_plot_is_caught_by_the_manifest(tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy, ignore=shutil.ignore_patterns(".vintix"))
    (copy / "README.md").write_text((copy / "README.md").read_text().replace("vintix", "vintlx", 1))
    (copy / "plots" / "extra.png").write_bytes(b"not a plot")
    errors = validate(copy).errors
    assert "README.md: sha256 does not match the manifest (corrupted or modified)" in errors, errors
    assert "plots/extra.png: not listed in the manifest" in errors, errors


def test_verify_after_a_push_rejects_each_metadata_edit_made_on_the_hub(hub, tiny_dataset, tmp_path):
    """Push, then edit on the Hub as a user with write access would (a new commit through huggingface_hub), once with
    the manifest left alone and once with a manifest rewritten to match: verify refuses both, one line per problem."""
    from huggingface_hub import HfApi

    env = hub_client_env(hub.url, tmp_path / "hf_home")
    api = HfApi(endpoint=hub.url, token=TOKEN)
    for i, (name, (edit, message)) in enumerate(EDITS.items()):
        repo = f"vintix-test/integrity-{i}"
        proc = run_cli("push", str(tiny_dataset), "--repo", repo, env=env)
        assert proc.returncode == 0, proc.stderr
        assert "manifest sha256: " in hub.state.repo("dataset", repo).resolve("main").description
        ok = run_cli("verify", repo, env=env)
        assert ok.returncode == 0 and "verified: 6 files match the manifest sha256" in ok.stderr, ok.stderr
        work = tmp_path / name
        shutil.copytree(tiny_dataset, work, ignore=shutil.ignore_patterns(".vintix"))
        edit(work)
        edited = [
            p
            for p in ("meta/info.json", "meta/stats.json", "meta/episodes.parquet")
            if (work / p).read_bytes() != (tiny_dataset / p).read_bytes()
        ]
        for rel in edited:
            api.upload_file(
                path_or_fileobj=str(work / rel),
                path_in_repo=rel,
                repo_id=repo,
                repo_type="dataset",
                commit_message=f"edit {rel}",
            )
        proc = run_cli("verify", repo, env=env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert any(f"problem: {edited[0]}: sha256 on the Hub" in ln for ln in proc.stderr.splitlines()), proc.stderr
        assert message in proc.stderr, proc.stderr

        write_manifest(work)  # now the manifest on the Hub matches the edited files
        api.upload_file(
            path_or_fileobj=str(work / "meta/manifest.json"),
            path_in_repo="meta/manifest.json",
            repo_id=repo,
            repo_type="dataset",
            commit_message="re-manifest",
        )
        proc = run_cli("verify", repo, env=env)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("problem:")]
        assert any(
            "meta/manifest.json: sha256" in ln and "that vintix-data push recorded in commit" in ln for ln in lines
        ), proc.stderr
        assert any(message in ln for ln in lines), proc.stderr


def test_push_refuses_an_edited_folder(hub, tiny_dataset, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_dataset, copy, ignore=shutil.ignore_patterns(".vintix"))
    half_reward_scale(copy)
    proc = run_cli(
        "push", str(copy), "--repo", "vintix-test/refused", env=hub_client_env(hub.url, tmp_path / "hf_home")
    )
    assert proc.returncode == 1 and "fails validation" in proc.stderr and "reward_scale 0.5" in proc.stderr
    assert ("dataset", "vintix-test/refused") not in hub.state.repos
