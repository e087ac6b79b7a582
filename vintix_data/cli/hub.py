"""`vintix-data push` and `vintix-data verify`: the Hub commands, a thin layer over :mod:`vintix_data.hub`.

User errors are one line on stderr with exit code 2 (as everywhere in the CLI); a folder that fails
validation lists its problems (one line each) and exits 1, as does a published revision that fails
verification.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from vintix_data.cli.output import err, fail
from vintix_data.errors import UserError
from vintix_data.hub.client import HubError


def _log(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def push(
        folder: Path = typer.Argument(..., help="A dataset folder, or a release root (a folder with release.json)."),
        repo: str | None = typer.Option(
            None,
            "--repo",
            help="The dataset repo of a dataset folder, ORG/NAME (e.g. dunnolab/vintix-industrial-benchmark-50-v1).",
        ),
        org: str | None = typer.Option(
            None,
            "--org",
            help="For a release root: the organization its repos (ORG/vintix-TASK), index (ORG/vintix-index) and Collection go to.",
        ),
        private: bool = typer.Option(
            False, "--private", help="Create the repo private (an existing repo keeps its visibility)."
        ),
        tag: str | None = typer.Option(
            None,
            "--tag",
            help="Tag the pushed commit with this version, e.g. v1.0 (a release root: every dataset and the index).",
        ),
        revision: str | None = typer.Option(
            None,
            "--revision",
            help="Branch to push to (created from main if missing; default main; dataset folders only).",
        ),
    ):
        """Validate a dataset folder and publish it to the Hub as one commit (then tag it); or publish every dataset
        of a release root, then its index and Collection."""
        from vintix_data.hub.push import push as hub_push
        from vintix_data.hub.release_push import is_release_root

        if is_release_root(folder):
            if repo is not None or revision is not None:
                fail(
                    f"{folder} is a release root: push it with --org ORG (each dataset goes to ORG/vintix-TASK on main); "
                    "--repo and --revision are for a single dataset folder"
                )
            if org is None:
                fail(f"{folder} is a release root: give the organization to publish it to with --org ORG")
            return _push_release(folder, org, tag, private)
        if org is not None:
            fail(
                f"--org is for a release root (a folder with release.json), and {folder} is not one; "
                "push a dataset folder with --repo ORG/NAME"
            )
        if repo is None:
            fail(f"missing --repo ORG/NAME: the dataset repo to push {folder} to")
        try:
            result = hub_push(folder, repo, private=private, tag=tag, revision=revision, log=_log)
        except HubError as e:
            fail(str(e), code=1 if e.lines else 2, lines=e.lines)
        except UserError as e:
            fail(str(e))
        except KeyboardInterrupt:
            fail("interrupted; nothing is committed until the upload completes: run the same push again", code=130)
        what = (
            f"new commit {result.commit[:8]} (parent {result.previous[:8]})"
            if result.new_commit
            else f"no changes: already at commit {result.commit[:8]}, no new commit"
        )
        tag_note = (
            ""
            if result.tag is None
            else f", tag {result.tag}" + (" created" if result.tag_created else " already there")
        )
        err.print(
            f"pushed {folder} to {result.url} @ {result.branch}: {what}{tag_note}", highlight=False, soft_wrap=True
        )
        err.print(f"load it with: load_dataset({repo!r}, split='train')", highlight=False, soft_wrap=True)

    @app.command()
    def verify(
        repo: str = typer.Argument(..., help="The dataset repo, ORG/NAME."),
        revision: str | None = typer.Option(None, "--revision", help="Branch, tag or commit (default main)."),
    ):
        """Download a published dataset, check its manifest sha256s, re-validate it and load it by repo id."""
        from huggingface_hub.utils import disable_progress_bars

        from vintix_data.hub.verify import verify as hub_verify

        if not err.is_terminal:  # in a log, the first line is the finding: no progress line, no download bars
            disable_progress_bars()
        try:
            report = hub_verify(repo, revision=revision, log=_log if err.is_terminal else lambda s: None)
        except UserError as e:
            fail(str(e))
        for line in report.errors:
            err.print(f"[red]problem:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        for line in report.skipped:
            err.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)
        f = report.figures
        if not report.ok:
            fail(
                f"{repo}@{report.revision} (commit {report.commit[:8]}) fails verification: {len(report.errors)} problem(s)",
                code=1,
            )
        err.print(
            f"{repo}@{report.revision} (commit {report.commit[:8]}): verified: {f['manifest_files']} files match the "
            f"manifest sha256, validate passes ({f['rows']:,} rows, {f['episodes']:,} episodes), "
            f"load_dataset({repo!r}) gives {f['load_dataset_rows']:,} rows; data fingerprint {f['data_fingerprint']}",
            highlight=False,
            soft_wrap=True,
        )


def _push_release(root: Path, org: str, tag: str | None, private: bool) -> None:
    """A rich progress bar over the datasets; one line per dataset (pushed, unchanged or skipped), then the index
    and the Collection."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from vintix_data.hub.release_push import push_release, read_release

    try:
        total = len(read_release(root).tasks)
    except UserError as e:
        fail(str(e))
    bar = Progress(
        TextColumn("[bold]push"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    job = bar.add_task("datasets", total=total, last="")
    colors = {"pushed": "green", "unchanged": "cyan", "skipped": "red"}

    def on_task(t) -> None:
        bar.console.print(
            f"[{colors[t.status]}]{t.status}:[/{colors[t.status]}] {escape(t.task)} -> {escape(t.repo_id)}"
            f" ({escape(t.detail)})",
            highlight=False,
            soft_wrap=True,
        )
        bar.update(job, advance=1, last=t.task)

    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    bars_were_off = are_progress_bars_disabled()
    disable_progress_bars()  # one view: the bar over the datasets, not a tqdm bar per uploaded file
    try:
        with bar:
            result = push_release(root, org, tag=tag, private=private, log=_log, on_task=on_task)
    except UserError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; datasets already pushed stay pushed: run the same push again to resume", code=130)
    finally:
        if not bars_were_off:
            enable_progress_bars()
    err.print(
        f"pushed release {root} to {org}: {result.count('pushed')} new commit(s), {result.count('unchanged')} "
        f"unchanged, {result.count('skipped')} skipped; index {result.index_repo}@{result.index_commit[:8]} "
        f"({result.index_tasks} tasks{', tag ' + tag if tag else ''}); collection {result.collection_url}",
        highlight=False,
        soft_wrap=True,
    )
    err.print(
        f"load it with: vintix_data.load_suite({org!r}, SELECTION)  or  vintix-model train --datasets suite:{org}/SELECTION",
        highlight=False,
        soft_wrap=True,
    )
