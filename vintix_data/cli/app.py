"""The `vintix-data` Typer app: every command group registers itself here.

Every error users can cause (bad task, bad schedule, bad checkpoint, bad folder) is a
:class:`vintix_data.errors.UserError`, printed as one line on stderr with exit code 2 by
:func:`vintix_data.cli.output.fail`; nothing is written before the inputs are checked. Any other exception is a
bug and propagates with its traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from vintix_data.cli import dataset, demonstrator, hub, legacy_h5, release, tasks

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Collect, validate and publish noise-distilled learning histories (Vintix).")


@app.callback()
def user_tasks(tasks_file: Optional[Path] = typer.Option(
        None, "--tasks", help="A task file (TOML or YAML) of your own tasks, before every command; prepended to "
        "$VINTIX_TASKS, so the processes a command starts see it too.")):
    """Collect, validate and publish noise-distilled learning histories (Vintix)."""
    if tasks_file is not None:
        from vintix_data.cli.output import fail
        from vintix_data.domains.plugins import TASKS_ENV

        if not tasks_file.is_file():
            fail(f"--tasks {tasks_file}: no such file (a TOML or YAML task file)")

        rest = os.environ.get(TASKS_ENV, "")
        os.environ[TASKS_ENV] = str(tasks_file.expanduser().resolve()) + (os.pathsep + rest if rest else "")


tasks.register(app)
dataset.register(app)
hub.register(app)
legacy_h5.register(app)
demonstrator.register(app)
release.register(app)


def main() -> None:
    app()
