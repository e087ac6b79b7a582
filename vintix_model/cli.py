"""`vintix-model`: training and evaluation of the Vintix model (train/eval land with their issues)."""

from __future__ import annotations

import typer

from vintix_data import __version__

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train and evaluate the Vintix in-context RL model on vintix datasets.")


@app.command()
def version():
    """Print the vintix version."""
    print(__version__)


def main() -> None:
    app()
