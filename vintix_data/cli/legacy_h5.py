"""`vintix-data import-h5` and `export-h5`: the original Vintix HDF5 release layout (see ``legacy_h5``).

Registered on the main app by ``vintix_data.cli``. Bad input is one line on stderr naming the file and
group, exit code 2, no traceback; nothing is left at ``--out`` unless the import completed and validated.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vintix_data.cli.output import err, fail
from vintix_data.errors import UserError


def register(app: typer.Typer) -> None:
    @app.command("import-h5")
    def import_h5_cmd(
        src: Path = typer.Argument(..., help="Task folder of the original release: *.h5 files and <folder name>.json."),
        out_dir: Path = typer.Option(..., "--out", help="Dataset folder to create (must not exist, or be empty)."),
        task: str | None = typer.Option(
            None,
            help="Registry task (default: the metadata's task_name; CamelCase "
            "Bi-DexHands names such as ShadowHandBlockStack work).",
        ),
        chunk_check: bool = typer.Option(
            False,
            "--chunk-check",
            help="Also read every chunk before writing and refuse "
            "NaN/inf or values that do not fit float32, naming the file and group.",
        ),
        episode_limit: int | None = typer.Option(
            None, help="Override the task's episode limit used to tell truncated from terminated episodes."
        ),
        truncate_histories: bool = typer.Option(
            False, help="Cut every history to the shortest file's length (the format needs equal-length histories)."
        ),
        sha256: Path | None = typer.Option(
            None,
            "--sha256",
            help="A list of the source files' sha256 (sha256sum "
            "format, as export-h5 writes beside its folder); "
            "every file must match it before anything is read.",
        ),
    ):
        """Import a task in the original Vintix HDF5 layout into a validated dataset folder."""
        from vintix_data.legacy_h5 import ImportNotValid, import_h5

        try:
            info, report = import_h5(
                src,
                out_dir,
                task,
                episode_limit=episode_limit,
                truncate_histories=truncate_histories,
                chunk_check=chunk_check,
                command=["vintix-data"] + sys.argv[1:],
                sha256_list=sha256,
            )
        except ImportNotValid as e:
            fail(str(e), code=1, lines=e.errors)
        except UserError as e:
            fail(str(e))
        layout = info.extra["h5_source"]["layout"]
        err.print(
            f"imported {len(info.extra['h5_source']['files'])} files ({layout}) into {out_dir}: task {info.task}, "
            f"{report.figures['rows']:,} rows, {report.figures['episodes']:,} episodes, episode limit "
            f"{info.episode_limit} ({info.extra['episode_limit_source']}); valid "
            f"(learning-curve check {report.figures.get('curve', 'run')})",
            highlight=False,
            soft_wrap=True,
        )

    @app.command("export-h5")
    def export_h5_cmd(
        folder: Path = typer.Argument(..., help="A dataset folder (collected or imported)."),
        out_dir: Path = typer.Option(..., "--out", help="Task folder to create in the original layout."),
        chunk_rows: int | None = typer.Option(
            None, help="Transitions per HDF5 group (default 10,000, or the imported source's chunk size)."
        ),
        flavor: str | None = typer.Option(
            None,
            help="vintix-i (demonstrator actions as 'demonstrator_action') or "
            "vintix-ii (as 'demonstrator_actions', what Vintix II's loader "
            "reads; needs them). Default: an imported source's name, else vintix-i.",
        ),
    ):
        """Write a dataset folder in the original Vintix HDF5 layout (one .h5 per history + <folder>.json)."""
        from vintix_data.legacy_h5 import export_h5

        try:
            summary = export_h5(folder, out_dir, chunk_rows, flavor)
        except UserError as e:
            fail(str(e))
        err.print(
            f"exported {summary['rows']:,} rows into {len(summary['files'])} files of {summary['chunk_rows']:,}-row "
            f"groups ({('with ' + summary['demonstrator_key']) if summary['demonstrator_action'] else 'without demonstrator actions'}) and "
            f"{summary['metadata']} in {out_dir}; file hashes in {summary['sha256_list']}",
            highlight=False,
            soft_wrap=True,
        )
