"""`vintix-data audit`: the leak audit of latent-task data (vintix_data.audit, docs/design.md §8)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from vintix_data.cli.output import err, fail, out
from vintix_data.errors import UserError


def audit_cmd(folder: Path, as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")):
    """Find observation columns that identify the task: constant within each history, different between histories.

    Exit 1 when there is one (hide its component with --hide), 0 when the observations carry no such task ID.
    """
    from vintix_data.audit import audit
    from vintix_data.jsonio import dumps

    try:
        report = audit(folder)
    except UserError as e:
        fail(str(e))
    if as_json:
        print(dumps(report.to_dict(), indent=2))
    else:
        hidden = ", ".join(report.hidden) or "nothing"
        out.print(
            escape(f"{folder}: {report.task}, {report.histories} histories, hidden: {hidden}"),
            highlight=False,
            soft_wrap=True,
        )
        for line in report.lines():
            out.print(f"[red]task ID:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        for line in report.notes:
            err.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)
        if report.ok:
            out.print("no observation column identifies the history or episode", highlight=False, soft_wrap=True)
        elif report.hide:
            out.print(
                escape("to hide them: " + " ".join(f"--hide {c}" for c in report.hide)), highlight=False, soft_wrap=True
            )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_cmd)
