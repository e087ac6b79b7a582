"""`vintix-data release`: every selected task from demonstrator to validated dataset, resumable, local or on Ray."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.markup import escape

from vintix_data.cli.output import err, fail
from vintix_data.errors import UserError


def release_cmd(
    selection: list[str] = typer.Argument(
        ..., help="Task ids and selections: ib, meta-world, domain:D, split:train, ml45-train, ml45-test, paper."
    ),
    out_dir: Path = typer.Option(..., "--out", help="The release root (datasets/, report.md, ...)."),
    histories: int | None = typer.Option(None, help="Histories per task (default: each task's paper count)."),
    steps: int | None = typer.Option(None, help="Transitions per history (default: each task's paper figure)."),
    p: float = typer.Option(1.0, "--p", help="Schedule curvature p > 0."),
    f: float = typer.Option(0.1, "--f", help="Noise-free tail fraction, 0 <= f < 1."),
    seed: int = typer.Option(0),
    executor: str = typer.Option("local", help="local (processes on this machine) or ray."),
    ray_address: str | None = typer.Option(
        None, help="A Ray cluster (HOST:PORT, ray://HOST:PORT or auto); default: a local Ray."
    ),
    ray_timeout: float = typer.Option(
        60.0, help="Seconds the --ray-address cluster has to answer before the release gives up (nothing written)."
    ),
    workers: int | None = typer.Option(
        None, help="Units at once (default: this machine's cores; with Ray: the cluster's CPUs)."
    ),
    max_retries: int = typer.Option(2, help="Times a unit whose process died is run again."),
    resume: bool = typer.Option(False, help="Continue the release in --out, skipping finished units."),
    ppo_timesteps: int = typer.Option(
        1_000_000, help="PPO steps of the demonstrators the release trains (IB; the paper: 1M)."
    ),
    reference_episodes: int = typer.Option(20, help="Episodes for each dataset's measured random/demonstrator scores."),
    gate_episodes: int = typer.Option(10, help="Seeded episodes of random and demonstrator for each gate."),
    force: bool = typer.Option(False, "--force", help="Collect tasks whose demonstrator fails the gate anyway."),
    train_missing: bool = typer.Option(
        False,
        "--train-missing",
        help="Train the demonstrator of a task that has none (none installed, and no public expert in the catalogue or its download fails) with the catalogue's algorithm and rl-zoo3's recipe; resumable in .release/checkpoints.",
    ),
    train_timesteps: int | None = typer.Option(
        None, help="Steps of the --train-missing trainings (default: the recipe's, 1M; Humanoid 2M)."
    ),
    card_video: bool = typer.Option(
        False,
        "--card-video",
        help="Add a GIF of history 0's first, middle and last episodes to each card (collect --card-video).",
    ),
):
    """Release many datasets at once: demonstrator, gate, collect (one unit per history), validate, report."""
    from vintix_data.release import ReleaseConfig, release
    from vintix_data.release.progress import ReleaseProgress

    try:
        config = ReleaseConfig(
            selection=tuple(selection),
            out=str(out_dir),
            histories=histories,
            steps=steps,
            p=p,
            f=f,
            seed=seed,
            reference_episodes=reference_episodes,
            gate_episodes=gate_episodes,
            ppo_timesteps=ppo_timesteps,
            force=force,
            train_missing=train_missing,
            train_timesteps=train_timesteps,
            executor=executor,
            ray_address=ray_address,
            ray_timeout=ray_timeout,
            workers=workers,
            max_retries=max_retries,
            resume=resume,
            card_video=card_video,
            command=["vintix-data"] + sys.argv[1:],
        )
        summary = release(config, progress_factory=lambda tasks, steps: ReleaseProgress(tasks, steps))
    except UserError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; finished units are saved, re-run with --resume to continue", code=130)
    for task, why in summary.failed.items():
        err.print(f"[red]failed:[/red] {escape(task)}: {escape(why)}", highlight=False, soft_wrap=True)
    err.print(
        f"{len(summary.done)} of {len(summary.done) + len(summary.failed)} tasks done; "
        f"{summary.units_run} units run; report: {summary.root / 'report.md'}",
        highlight=False,
    )
    if not summary.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("release")(release_cmd)
