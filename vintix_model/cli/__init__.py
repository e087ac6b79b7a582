"""`vintix-model`: a thin Typer layer over the package (``vintix_model.cli:main``, ``python -m vintix_model.cli``).

app.py  the Typer app and its commands: version, train, describe, push, convert, eval
"""

from vintix_model.cli.app import app, main

__all__ = ["app", "main"]
