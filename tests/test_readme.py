"""The README and the documentation site cannot drift from the CLI: every `vintix-data ...` / `vintix-model ...`
command in their fenced bash blocks and inline code (README.md, with its *Commands* table, every page under docs/,
and examples/quickstart.sh) names an existing command and only options that command accepts, read from the Typer
apps themselves (click introspection); scripts they run exist. The parser is docs/hooks/doc_commands.py, which the
site build (`mkdocs build --strict`) runs on the same pages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "hooks"))

from doc_commands import bash_blocks, commands, invocations, logical_lines, problems, shell_invocations  # noqa: E402


def doc_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)


def all_invocations() -> list[tuple[str, str, list[str]]]:
    """(file, line, tokens) for every invocation in the README, the site's pages and the quickstart."""
    found = [("README.md", line, toks) for line, toks in invocations(README.read_text())]
    for page in doc_pages():
        found += [(str(page.relative_to(ROOT)), line, toks) for line, toks in invocations(page.read_text())]
    quickstart = ROOT / "examples" / "quickstart.sh"
    found += [("examples/quickstart.sh", line, toks) for line, toks in shell_invocations(quickstart.read_text())]
    return found


def commands_table() -> str:
    text = README.read_text()
    m = re.search(r"--8<-- \[start:commands\][^\n]*\n(.*?)\n[^\n]*--8<-- \[end:commands\]", text, flags=re.DOTALL)
    assert m, "README.md lost the *Commands* table's snippet markers (docs/reference/index.md includes it)"
    return m.group(1)


def test_readme_and_site_have_the_commands_this_test_checks():
    found = all_invocations()
    assert len(found) >= 100
    named = {" ".join(t[:2]) for _, _, t in found}
    assert {
        "vintix-data collect",
        "vintix-data demonstrator",
        "vintix-data release",
        "vintix-data push",
        "vintix-model train",
        "vintix-model eval",
        "vintix-model convert",
    } <= named
    pages = {f for f, _, _ in found}
    assert {"README.md", "docs/how-to/release.md", "docs/how-to/train.md", "docs/results.md"} <= pages
    table = invocations(commands_table())
    assert len(table) >= 13


def test_every_command_exists_with_its_options():
    bad = [f"{f}: {line!r}: {p}" for f, line, toks in all_invocations() for p in problems(toks)]
    assert not bad, "\n".join(bad)


def test_commands_table_options_exist():
    """The *Commands* table (in README, included into the site's reference) names only options the CLIs accept."""
    bad = [f"{line!r}: {p}" for line, toks in invocations(commands_table()) for p in problems(toks)]
    assert not bad, "\n".join(bad)


def test_scripts_the_docs_run_exist():
    for path in [README, *doc_pages()]:
        for block in bash_blocks(path.read_text()):
            for line in logical_lines(block):
                for m in re.finditer(r"(?:python|bash)\s+((?:benchmarks|examples|tests)/\S+\.(?:py|sh))", line):
                    assert (ROOT / m.group(1)).is_file(), (path.name, m.group(1))


@pytest.mark.parametrize(
    "line, fragment",
    [
        ("vintix-data tasks --domian metaworld", "no option --domian"),
        ("vintix-data tsks --domain metaworld", "no command 'tsks'"),
        ("vintix-data demonstrator evaluate reach-v3", "no command 'evaluate'"),
        ("vintix-data demonstrator eval --all --domain ib --episode 2 | cat", "no option --episode"),
        ("vintix-model train --datasets d --out run [--stpes N]", "no option --stpes"),
        (
            "torchrun --nproc-per-node 8 $(which vintix-model) train --datasets d --out r --presets paper",
            "no option --presets",
        ),
        ("vintix-model eval run --task t --variation viscosity=0.05 --varation gravity=1.1", "no option --varation"),
        ("vintix-data export-h5 DIR --out SRC [--flavour vintix-i\\|vintix-ii]", "no option --flavour"),
    ],
)
def test_a_misspelled_command_or_option_is_caught(line, fragment):
    found = [p for toks in commands(line.replace("\\|", "|")) for p in problems(toks)]
    assert any(fragment in p for p in found), (line, found)


def test_a_misspelled_option_on_a_site_page_is_caught():
    page = "# x\n\n```bash\nvintix-data collect reach-v3 --out d --histroies 3\n```\n\n| `vintix-model eval run --tsk t` | x |\n"
    found = [p for _, toks in invocations(page) for p in problems(toks)]
    assert any("--histroies" in p for p in found) and any("--tsk" in p for p in found), found


def test_good_lines_pass():
    for line in (
        "vintix-data tasks --domain metaworld --tsv | cat",
        "vintix-data demonstrator train t --out f.zip --no-install",
        "vintix-model eval run --task t --no-cache --variation fixed_goal=false",
        "vintix-model --help",
        "vintix-data --tasks my.toml collect my-task --out d --env-kwarg g=12",
        "COLUMNS=80 vintix-data demonstrator eval --all --domain meta-world --episodes 2 | cat",
    ):
        assert [p for toks in commands(line) for p in problems(toks)] == [], line
