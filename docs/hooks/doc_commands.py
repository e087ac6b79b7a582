"""Every `vintix-data ...` / `vintix-model ...` command written in prose or a fenced bash block, checked against the
Typer apps themselves (click introspection): the one parser that tests/test_readme.py (README, examples, the site's
pages) and the site build (docs/hooks/cli_reference.py, a warning per problem, so `mkdocs build --strict` fails) share,
so a page and the CLI cannot drift apart in either place."""

from __future__ import annotations

import re
import shlex

import typer.main

from vintix_data.cli import app as data_app
from vintix_model.cli import app as model_app

PROGRAMS = {"vintix-data": typer.main.get_command(data_app), "vintix-model": typer.main.get_command(model_app)}


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"^[ \t]*```bash\n(.*?)^[ \t]*```", text, flags=re.DOTALL | re.MULTILINE)


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
        if name in ("--help", "..."):  # `vintix-model --help`, `vintix-data ...` (any command) in prose
            return []
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


def invocations(text: str) -> list[tuple[str, list[str]]]:
    """Every invocation of a Markdown text: its bash blocks' lines, and inline code spans (tables, prose) that
    spell out a command."""
    found = [(line, toks) for block in bash_blocks(text) for line in logical_lines(block) for toks in commands(line)]
    for span in re.findall(r"`([^`\n]+)`", text):
        if span.split(" ", 1)[0] in PROGRAMS:
            found += [(span, toks) for toks in commands(span.replace("\\|", "|"))]
    return found


def shell_invocations(script: str) -> list[tuple[str, list[str]]]:
    return [(line, toks) for line in logical_lines(script) for toks in commands(line)]
