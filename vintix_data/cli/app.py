"""The `vintix-data` Typer app: every command group registers itself here.

Every error users can cause (bad task, bad schedule, bad checkpoint, bad folder) is a
:class:`vintix_data.errors.UserError`, printed as one line on stderr with exit code 2 by
:func:`vintix_data.cli.output.fail`; nothing is written before the inputs are checked. Any other exception is a
bug and propagates with its traceback.
"""

from __future__ import annotations

from pathlib import Path

import typer

from vintix_data.cli import audit, dataset, demonstrator, hub, legacy_h5, release, replay, tasks

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Collect, validate and publish noise-distilled learning histories (Vintix).",
)


@app.callback()
def user_tasks(
    tasks_file: Path | None = typer.Option(
        None,
        "--tasks",
        help="A task file (TOML or YAML) of your own tasks, before every command; prepended to "
        "$VINTIX_TASKS, so the processes a command starts see it too.",
    ),
):
    """Collect, validate and publish noise-distilled learning histories (Vintix)."""
    if tasks_file is not None:
        from vintix_data.cli.output import fail
        from vintix_data.domains.plugins import UserTaskError, use_task_file

        try:
            use_task_file(tasks_file)
        except UserTaskError as e:
            fail(str(e))


tasks.register(app)
dataset.register(app)
audit.register(app)
hub.register(app)
legacy_h5.register(app)
demonstrator.register(app)
release.register(app)
replay.register(app)


def main() -> None:
    app()
