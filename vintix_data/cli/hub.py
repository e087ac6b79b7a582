"""`vintix-data push` and `vintix-data verify`: the Hub commands, a thin layer over :mod:`vintix_data.hub`.

User errors are one line on stderr with exit code 2 (as everywhere in the CLI); a folder that fails
validation lists its problems (one line each) and exits 1, as does a published revision that fails
verification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from vintix_data.cli.output import err, fail
from vintix_data.errors import UserError
from vintix_data.hub.client import HubError


def _log(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def push(folder: Path,
             repo: str = typer.Option(..., "--repo", help="The dataset repo, ORG/NAME (e.g. dunnolab/vintix-industrial-benchmark-50-v1)."),
             private: bool = typer.Option(False, "--private", help="Create the repo private (an existing repo keeps its visibility)."),
             tag: Optional[str] = typer.Option(None, "--tag", help="Tag the pushed commit with this version, e.g. v1.0."),
             revision: Optional[str] = typer.Option(None, "--revision", help="Branch to push to (created from main if missing; default main).")):
        """Validate a dataset folder and publish it to the Hub as one commit (then tag it)."""
        from vintix_data.hub.push import push as hub_push

        try:
            result = hub_push(folder, repo, private=private, tag=tag, revision=revision, log=_log)
        except HubError as e:
            fail(str(e), code=1 if e.lines else 2, lines=e.lines)
        except UserError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; nothing is committed until the upload completes: run the same push again", code=130)
        what = (f"new commit {result.commit[:8]} (parent {result.previous[:8]})" if result.new_commit
                else f"no changes: already at commit {result.commit[:8]}, no new commit")
        tag_note = "" if result.tag is None else f", tag {result.tag}" + (" created" if result.tag_created else " already there")
        err.print(f"pushed {folder} to {result.url} @ {result.branch}: {what}{tag_note}", highlight=False, soft_wrap=True)
        err.print(f"load it with: load_dataset({repo!r}, split='train')", highlight=False, soft_wrap=True)

    @app.command()
    def verify(repo: str = typer.Argument(..., help="The dataset repo, ORG/NAME."),
               revision: Optional[str] = typer.Option(None, "--revision", help="Branch, tag or commit (default main).")):
        """Download a published dataset, check its manifest sha256s, re-validate it and load it by repo id."""
        from vintix_data.hub.verify import verify as hub_verify

        try:
            report = hub_verify(repo, revision=revision, log=_log)
        except UserError as e:
            fail(str(e))
        for line in report.errors:
            err.print(f"[red]problem:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        f = report.figures
        if not report.ok:
            fail(f"{repo}@{report.revision} (commit {report.commit[:8]}) fails verification: {len(report.errors)} problem(s)", code=1)
        err.print(f"{repo}@{report.revision} (commit {report.commit[:8]}): verified: {f['manifest_files']} files match the "
                  f"manifest sha256, validate passes ({f['rows']:,} rows, {f['episodes']:,} episodes), "
                  f"load_dataset({repo!r}) gives {f['load_dataset_rows']:,} rows", highlight=False, soft_wrap=True)
