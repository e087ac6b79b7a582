"""The contributor checks have one source of truth (docs/design.md §11): ruff and mypy read their settings and
targets from pyproject.toml; the pre-commit hooks and .ci/run call them without targets or options of their own."""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
HOOKS = {
    h["id"]: h for r in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"] for h in r["hooks"]
}
CI = [
    shlex.split(line)
    for line in (ROOT / ".ci" / "run").read_text().splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]


def test_pre_commit_runs_the_installed_tools_with_pyprojects_settings():
    repos = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"]
    assert [r["repo"] for r in repos] == ["local"]  # nothing fetched from GitHub
    assert {i: h["entry"] for i, h in HOOKS.items()} == {
        "ruff-check": "ruff check --force-exclude",
        "ruff-format": "ruff format --force-exclude",
        "mypy": "mypy",
    }
    assert all(h["language"] == "system" for h in HOOKS.values())
    assert HOOKS["mypy"]["pass_filenames"] is False  # mypy checks [tool.mypy] packages, not the staged files


def test_ci_runs_the_checks_on_the_whole_tree_before_the_site_and_the_tests():
    checks = [["ruff", "check", "."], ["ruff", "format", "--check", "."], ["mypy"]]
    at = {tuple(c): CI.index(c) for c in checks}  # ValueError: a check missing, or given options of its own
    first_other = min(
        i for i, cmd in enumerate(CI) if cmd[:1] in (["mkdocs"], ["python"]) or cmd[-2:] == ["build", "--strict"]
    )
    assert max(at.values()) < first_other, "the checks must fail CI before the site build and the tests"


def test_the_tools_are_in_the_dev_extra_bounded_and_configured():
    dev = PYPROJECT["project"]["optional-dependencies"]["dev"]
    for tool in ("ruff", "mypy", "pre-commit"):
        pins = [d for d in dev if d.split(">")[0].split("=")[0].split("<")[0] == tool]
        assert len(pins) == 1 and "<" in pins[0], f"{tool}: one bounded requirement in [dev], got {pins}"
    assert PYPROJECT["tool"]["mypy"]["packages"] == ["vintix_data", "vintix_model"]
    assert PYPROJECT["tool"]["mypy"]["check_untyped_defs"] is True and "ignore_errors" not in PYPROJECT["tool"]["mypy"]
    # every module that may skip import checking is named; no blanket ignore_missing_imports
    assert "ignore_missing_imports" not in PYPROJECT["tool"]["mypy"]
    assert PYPROJECT["tool"]["ruff"]["line-length"] == 120
