"""The README cannot drift from the CLI: every `vintix-data ...` / `vintix-model ...` command in its fenced bash blocks
(and in its inline code, and in examples/quickstart.sh) names an existing command and only options that command
accepts, read from the Typer apps themselves (click introspection); scripts it runs exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer.main

from vintix_data.cli import app as data_app
from vintix_model.cli import app as model_app

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PROGRAMS = {"vintix-data": typer.main.get_command(data_app), "vintix-model": typer.main.get_command(model_app)}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)


def logical_lines(block: str) -> list[str]:
    """Lines with `\\` continuations and indented continuation lines joined, comments dropped."""
    out: list[str] = []
    for raw in block.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not line.strip():
            continue
        if out and (out[-1].endswith("\\") or raw[:1].isspace()):
            out[-1] = out[-1].rstrip("\\") + " " + line.strip()
        else:
            out.append(line)
    return out


def commands(line: str) -> list[list[str]]:
    """The `vintix-data` / `vintix-model` invocations of a shell line, as token lists starting with the program."""
    line = line.replace("$(which vintix-model)", "vintix-model").replace("$(which vintix-data)", "vintix-data")
    found = []
    for part in re.split(r"&&|\|\||;|\|(?!\w)|>", line):
        try:
            tokens = shlex.split(part)
        except ValueError:
            tokens = part.split()
        for i, tok in enumerate(tokens):
            if tok in PROGRAMS:
                found.append(tokens[i:])
                break
    return found


def problems(tokens: list[str]) -> list[str]:
    """Why ``tokens`` (program, subcommands..., args) is not a valid invocation: unknown command or option."""
    # duck-typed: typer may build its commands on a vendored click, not the installed `click` package
    cmd = PROGRAMS[tokens[0]]
    path, rest = [tokens[0]], tokens[1:]
    while hasattr(cmd, "commands"):  # a group
        if not rest:
            return []  # the program or group alone (shows help)
        group_opts = {o for p in cmd.params if p.param_type_name == "option" for o in p.opts}
        if rest[0] in group_opts:  # a global option before the command (`vintix-data --tasks FILE collect ...`)
            rest = rest[2:]
            continue
        name = rest[0].strip("[]")
        sub = cmd.commands.get(name)
        if sub is None:
            return [f"{' '.join(path)}: no command {name!r} (has {', '.join(sorted(cmd.commands))})"]
        cmd, path, rest = sub, path + [name], rest[1:]
    accepted = {opt for p in cmd.params if p.param_type_name == "option" for opt in (*p.opts, *p.secondary_opts)}
    accepted |= {"--help"}
    out = []
    for tok in rest:
        for piece in re.split(r"[\[\]|]", tok):  # `[--steps`, `--all]`, `[--algo ppo|sac]`
            opt = piece.split("=", 1)[0].rstrip(".")
            if opt.startswith("-") and len(opt) > 1 and not re.fullmatch(r"-[\d.]+", opt) and opt not in accepted:
                out.append(f"{' '.join(path)}: no option {opt} (has {', '.join(sorted(accepted))})")
    return out


def readme_invocations() -> list[tuple[str, list[str]]]:
    text = README.read_text()
    found = [(line, toks) for block in bash_blocks(text) for line in logical_lines(block) for toks in commands(line)]
    # inline code spans (the Commands table, prose) that spell out a command
    for span in re.findall(r"`([^`\n]+)`", text):
        if span.split(" ", 1)[0] in PROGRAMS:
            found += [(span, toks) for toks in commands(span.replace("\\|", "|"))]
    quickstart = (ROOT / "examples" / "quickstart.sh").read_text()
    found += [(line, toks) for line in logical_lines(quickstart) for toks in commands(line)]
    return found


def test_readme_has_the_commands_this_test_checks():
    invocations = readme_invocations()
    assert len(bash_blocks(README.read_text())) >= 8 and len(invocations) >= 30
    named = {" ".join(t[:2]) for _, t in invocations}
    assert {"vintix-data collect", "vintix-data demonstrator", "vintix-model train", "vintix-model eval"} <= named


def test_every_readme_command_exists_with_its_options():
    bad = [f"{line!r}: {p}" for line, toks in readme_invocations() for p in problems(toks)]
    assert not bad, "\n".join(bad)


def test_scripts_the_readme_runs_exist():
    text = README.read_text()
    for block in bash_blocks(text):
        for line in logical_lines(block):
            for m in re.finditer(r"(?:python|bash)\s+((?:benchmarks|examples|tests)/\S+\.(?:py|sh))", line):
                assert (ROOT / m.group(1)).is_file(), m.group(1)


@pytest.mark.parametrize("line, fragment", [
    ("vintix-data tasks --domian metaworld", "no option --domian"),
    ("vintix-data tsks --domain metaworld", "no command 'tsks'"),
    ("vintix-data demonstrator evaluate reach-v3", "no command 'evaluate'"),
    ("vintix-data demonstrator eval --all --domain ib --episode 2 | cat", "no option --episode"),
    ("vintix-model train --datasets d --out run [--stpes N]", "no option --stpes"),
    ("torchrun --nproc-per-node 8 $(which vintix-model) train --datasets d --out r --presets paper", "no option --presets"),
    ("vintix-model eval run --task t --variation viscosity=0.05 --varation gravity=1.1", "no option --varation"),
])
def test_a_misspelled_command_or_option_is_caught(line, fragment):
    found = [p for toks in commands(line) for p in problems(toks)]
    assert any(fragment in p for p in found), (line, found)


def test_good_lines_pass():
    for line in ("vintix-data tasks --domain metaworld --tsv | cat",
                 "vintix-data demonstrator train t --out f.zip --no-install",
                 "vintix-model eval run --task t --no-cache --variation fixed_goal=false",
                 "vintix-data --tasks my.toml collect my-task --out d --env-kwarg g=12",
                 "COLUMNS=80 vintix-data demonstrator eval --all --domain meta-world --episodes 2 | cat"):
        assert [p for toks in commands(line) for p in problems(toks)] == [], line
