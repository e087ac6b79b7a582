"""`vintix-data`: a thin Typer layer over the package (``vintix_data.cli:main``, ``python -m vintix_data.cli``).

app.py           the Typer app; each module below registers its commands on it
output.py        consoles and the one ``fail()`` (escaped, one line)
tables.py        tables that keep ids whole at 80 columns and piped
tasks.py         tasks
dataset.py       collect, validate, info
demonstrator.py  demonstrator train, demonstrator eval (the gate)
hub.py           push, verify
legacy_h5.py     import-h5, export-h5
release.py       release (many tasks, local processes or Ray)
"""

from vintix_data.cli.app import app, main

__all__ = ["app", "main"]
