"""The `vintix-data` Typer app: every command group registers itself here.

Every error users can cause (bad task, bad schedule, bad checkpoint, bad folder) is a
:class:`vintix_data.errors.UserError`, printed as one line on stderr with exit code 2 by
:func:`vintix_data.cli.output.fail`; nothing is written before the inputs are checked. Any other exception is a
bug and propagates with its traceback.
"""

from __future__ import annotations

import typer

from vintix_data.cli import audit, dataset, demonstrator, hub, legacy_h5, release, replay, tasks

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Collect, validate and publish noise-distilled learning histories (Vintix).")
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
