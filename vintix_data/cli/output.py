"""What every command prints: the consoles and the one ``fail()`` (a one-line error, markup escaped, then exit)."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

out = Console()
err = Console(stderr=True, soft_wrap=True)  # a line with a path must stay whole in a log: never folded at the width


def close_progress_bars() -> None:
    """tqdm bars left open by an upload that failed in a worker thread would otherwise print after the error line."""
    try:
        from tqdm import tqdm
    except ImportError:
        return
    for bar in list(getattr(tqdm, "_instances", [])):
        bar.close()


def fail(message: str, code: int = 2, lines: list[str] | None = None, label: str = "invalid") -> NoReturn:
    """Print ``lines`` (details, one ``label:`` line each) and then ``error: message`` on stderr; exit with ``code``.

    Escaped: messages quote user input and spaces such as "Box(..., [0, 1])", which rich would read as markup.
    """
    close_progress_bars()
    for line in lines or []:
        err.print(f"[red]{label}:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def report_lines(errors: list[str], notes: list[str], label: str = "invalid") -> None:
    """A validation report's problems (red ``label:``) and notes, one line each, escaped."""
    for line in errors:
        err.print(f"[red]{label}:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    for line in notes:
        err.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)
