"""`vintix-data collect`, `validate` and `info`: make a dataset folder, check it, summarize it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from vintix_data.cli.output import err, fail, out, report_lines
from vintix_data.domains import parse_options
from vintix_data.errors import UsageError, UserError
from vintix_data.format import DatasetInfo
from vintix_data.validate import validate


def collect(task: str, out_dir: Path = typer.Option(..., "--out", help="Dataset folder to create."),
            demonstrator: Optional[str] = typer.Option(None, help="sb3:PATH.zip, random or zero (default: the task's)."),
            histories: Optional[int] = typer.Option(None, help="Learning histories (default: the paper's count)."),
            steps: Optional[int] = typer.Option(None, help="Transitions per history, N (default: the paper's)."),
            p: float = typer.Option(1.0, "--p", help="Schedule curvature p > 0."),
            f: float = typer.Option(0.1, "--f", help="Noise-free tail fraction, 0 <= f < 1."),
            seed: int = typer.Option(0),
            num_envs: Optional[int] = typer.Option(None, help="Sub-envs of the vector env (default: --workers, so 1)."),
            vector: str = typer.Option("auto", help="sync, async or auto (async when --num-envs > 1)."),
            workers: int = typer.Option(1, help="Processes sharing the sub-envs, each on its own histories."),
            resume: bool = typer.Option(False, help="Continue an interrupted collection in --out."),
            reference_episodes: int = typer.Option(20, help="Episodes for the measured random/demonstrator scores."),
            episode_limit: Optional[int] = typer.Option(None, help="Steps per episode (default: the registry's; Meta-World 100, at most 500)."),
            fixed_goal: bool = typer.Option(False, "--fixed-goal", help="Meta-World: one goal/object variation per history (default: per episode)."),
            env_option: Optional[list[str]] = typer.Option(None, help="KEY=VALUE domain option, repeatable (MuJoCo: viscosity, gravity, version)."),
            force: bool = typer.Option(False, "--force", help="Collect even when the demonstrator fails the gate (not clearly better than random)."),
            gate_episodes: int = typer.Option(10, help="Seeded episodes of random and demonstrator for the gate."),
            hide: Optional[list[str]] = typer.Option(None, "--hide", help="Latent task: record this observation component as a constant (repeatable; Meta-World: goal, hand, objects, ...; IB: setpoint, ...). The demonstrator still sees it."),
            hide_fill: float = typer.Option(0.0, "--hide-fill", help="The constant recorded in place of hidden components."),
            env_kwarg: Optional[list[str]] = typer.Option(None, "--env-kwarg", help="KEY=VALUE constructor kwarg of a Gymnasium task (gym:ENV_ID, task files), repeatable; recorded in info.json."),
            reward_scale: Optional[float] = typer.Option(None, "--reward-scale", help="Gymnasium tasks: the model's reward multiplier (default: the task file's, else 1).")):
    """Collect noise-distilled learning histories into a Hub-ready dataset folder, then validate it."""
    from vintix_data.collect import CollectConfig, collect as run_collect
    from vintix_data.collect.progress import CollectProgress

    if num_envs is None:  # --workers W alone: W processes need at least W sub-envs, one each
        num_envs = max(1, workers)
    try:
        config = CollectConfig(task=task, out=str(out_dir), demonstrator=demonstrator, histories=histories, steps=steps,
                               p=p, f=f, seed=seed, num_envs=num_envs, vector=vector, workers=workers, resume=resume,
                               reference_episodes=reference_episodes, command=["vintix-data"] + sys.argv[1:],
                               episode_limit=episode_limit, fixed_goal=fixed_goal, env_options=parse_options(env_option),
                               force=force, gate_episodes=max(1, gate_episodes), hide=tuple(hide or ()), hide_fill=hide_fill,
                               env_kwargs=parse_options(env_kwarg, "--env-kwarg"), reward_scale=reward_scale)
        folder = run_collect(config, progress_factory=lambda total, h: CollectProgress(total, h))
    except UserError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; completed episodes are saved, re-run with --resume to continue", code=130)
    report = validate(folder)
    report_lines(report.errors, report.notes)
    if not report.ok:
        raise typer.Exit(1)
    err.print(f"collected and validated {folder}: {report.figures['rows']:,} rows, {report.figures['episodes']:,} episodes")


def validate_cmd(folder: Path, as_json: bool = typer.Option(False, "--json")):
    """Check a dataset folder: schema, order, flags, values, schedule, manifest and the learning curve."""
    report = validate(folder)
    if as_json:
        print(report.to_json())
    else:
        report_lines(report.errors, report.notes)
        if report.ok:
            err.print(f"{folder}: valid ({report.figures.get('rows', 0):,} rows, {report.figures.get('episodes', 0):,} episodes)")
    if not report.ok:
        raise typer.Exit(1)


def info(folder: Path):
    """Load a dataset folder with `datasets.load_dataset` and summarize it: rows, schema, scores, card, plot."""
    from datasets import load_dataset

    try:
        if not folder.exists():
            raise UsageError(f"no such folder: {folder}")
        if not folder.is_dir():
            raise UsageError(f"{folder} is a file, not a dataset folder")
        meta = DatasetInfo.load(folder)
    except UserError as e:
        fail(str(e))
    ds = load_dataset(str(folder), split="train")
    refs = meta.reference_scores
    out.print(f"[bold]{meta.task}[/bold] ({meta.domain}, {meta.split} split): load_dataset({str(folder)!r}, split='train')")
    out.print(f"  {ds.num_rows:,} rows = {meta.histories} histories x {meta.steps_per_history:,} steps, {meta.episodes:,} episodes")
    for name, feature in ds.features.items():
        out.print(f"  {name:<20} {feature}", highlight=False)
    out.print(f"  random {refs.random_mean:.2f} | demonstrator {refs.demonstrator_mean:.2f} (measured over {refs.episodes} episodes)")
    norm = meta.demonstrator.get("normalized_score_paper")
    if norm is not None:
        out.print(f"  demonstrator normalized score vs the paper's table: {norm:.3f}")
    out.print(f"  card: {folder / 'README.md'}")
    out.print(f"  plot: {folder / 'plots' / 'learning_curve.png'}")


def register(app: typer.Typer) -> None:
    app.command()(collect)
    app.command("validate")(validate_cmd)
    app.command()(info)
