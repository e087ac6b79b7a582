"""`vintix-data collect`, `validate` and `info`: make a dataset folder, check it, summarize it."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from vintix_data.cli.output import err, fail, out, report_lines
from vintix_data.domains import parse_options
from vintix_data.errors import UsageError, UserError
from vintix_data.validate import validate


def collect(
    task: str,
    out_dir: Path = typer.Option(..., "--out", help="Dataset folder to create."),
    demonstrator: str | None = typer.Option(None, help="sb3:PATH.zip, random or zero (default: the task's)."),
    histories: int | None = typer.Option(None, help="Learning histories (default: the paper's count)."),
    steps: int | None = typer.Option(None, help="Transitions per history, N (default: the paper's)."),
    p: float = typer.Option(1.0, "--p", help="Schedule curvature p > 0."),
    f: float = typer.Option(0.1, "--f", help="Noise-free tail fraction, 0 <= f < 1."),
    seed: int = typer.Option(0),
    num_envs: int | None = typer.Option(None, help="Sub-envs of the vector env (default: --workers, so 1)."),
    vector: str = typer.Option("auto", help="sync, async or auto (async when --num-envs > 1)."),
    workers: int = typer.Option(1, help="Processes sharing the sub-envs, each on its own histories."),
    resume: bool = typer.Option(False, help="Continue an interrupted collection in --out."),
    reference_episodes: int = typer.Option(20, help="Episodes for the measured random/demonstrator scores."),
    episode_limit: int | None = typer.Option(
        None, help="Steps per episode (default: the registry's; Meta-World 100, at most 500)."
    ),
    fixed_goal: bool = typer.Option(
        False, "--fixed-goal", help="Meta-World: one goal/object variation per history (default: per episode)."
    ),
    env_option: list[str] | None = typer.Option(
        None, help="KEY=VALUE domain option, repeatable (MuJoCo: viscosity, gravity, version)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Collect even when the demonstrator fails the gate (not clearly better than random)."
    ),
    gate_episodes: int = typer.Option(10, help="Seeded episodes of random and demonstrator for the gate."),
    hide: list[str] | None = typer.Option(
        None,
        "--hide",
        help="Latent task: record this observation component as a constant (repeatable; Meta-World: goal, hand, objects, ...; IB: setpoint, ...). The demonstrator still sees it.",
    ),
    hide_fill: float = typer.Option(0.0, "--hide-fill", help="The constant recorded in place of hidden components."),
    card_video: bool = typer.Option(
        False,
        "--card-video",
        help="Add a GIF of history 0's first, middle and last episodes, replayed, to the card (plots/replay.gif).",
    ),
    behaviour: str = typer.Option(
        "demonstrator",
        "--behaviour",
        help="What executes the actions: demonstrator; decoy (per episode uniform random (1/3) or the demonstrator aimed at a decoy goal, noise-mixed); random (demonstrator_action and rewards stay the true task's); learner (reach-v3, --fixed-goal: the demonstrator aimed at a reward-driven posterior over the goal, which it never reads; its action is demonstrator_action, noise-mixed); learner-decoy (the learner's labels, but a third of the episodes executed by the demonstrator aimed at a decoy goal).",
    ),
    env_kwarg: list[str] | None = typer.Option(
        None,
        "--env-kwarg",
        help="KEY=VALUE constructor kwarg of a Gymnasium task (gym:ENV_ID, task files), repeatable; recorded in info.json.",
    ),
    reward_scale: float | None = typer.Option(
        None,
        "--reward-scale",
        help="Gymnasium tasks: the model's reward multiplier (default: the task file's, else 1).",
    ),
):
    """Collect noise-distilled learning histories into a Hub-ready dataset folder, then validate it."""
    from vintix_data.collect import CollectConfig
    from vintix_data.collect import collect as run_collect
    from vintix_data.collect.progress import CollectProgress

    if num_envs is None:  # --workers W alone: W processes need at least W sub-envs, one each
        num_envs = max(1, workers)
    try:
        config = CollectConfig(
            task=task,
            out=str(out_dir),
            demonstrator=demonstrator,
            histories=histories,
            steps=steps,
            p=p,
            f=f,
            seed=seed,
            num_envs=num_envs,
            vector=vector,
            workers=workers,
            resume=resume,
            reference_episodes=reference_episodes,
            command=["vintix-data"] + sys.argv[1:],
            episode_limit=episode_limit,
            fixed_goal=fixed_goal,
            env_options=parse_options(env_option),
            force=force,
            gate_episodes=max(1, gate_episodes),
            hide=tuple(hide or ()),
            hide_fill=hide_fill,
            card_video=card_video,
            behaviour=behaviour,
            env_kwargs=parse_options(env_kwarg, "--env-kwarg"),
            reward_scale=reward_scale,
        )
        folder = run_collect(config, progress_factory=CollectProgress)
    except UserError as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; completed episodes are saved, re-run with --resume to continue", code=130)
    report = validate(folder)
    report_lines(report.errors, report.skipped + report.notes)
    if not report.ok:
        raise typer.Exit(1)
    err.print(
        f"collected and validated {folder}: {report.figures['rows']:,} rows, {report.figures['episodes']:,} episodes"
    )


def validate_cmd(
    folder: Path,
    as_json: bool = typer.Option(False, "--json"),
    upgrade_manifest: bool = typer.Option(
        False,
        "--upgrade-manifest",
        help="Bring an older manifest forward: validate everything from the rows, then list info, stats, card and plots and the data fingerprint (refused, nothing changed, when anything fails).",
    ),
    replay: int = typer.Option(0, "--replay", help="Also re-simulate N sampled episodes (vintix-data replay)."),
):
    """Check a dataset folder: schema, order, flags, values, schedule, manifest and the learning curve."""
    if upgrade_manifest:
        from vintix_data.upgrade import UpgradeRefused
        from vintix_data.upgrade import upgrade_manifest as upgrade

        try:
            err.print(upgrade(folder).line(), highlight=False, soft_wrap=True)
        except UpgradeRefused as e:
            fail(str(e), code=1)
        except UserError as e:
            fail(str(e))
        return
    report = validate(folder, replay=replay)
    if as_json:
        print(report.to_json())
    else:
        report_lines(report.errors, report.skipped + report.notes)
        if report.ok:
            err.print(
                f"{folder}: valid ({report.figures.get('rows', 0):,} rows, {report.figures.get('episodes', 0):,} episodes)"
            )
    if not report.ok:
        raise typer.Exit(1)


def info(folder: Path, as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")):
    """Load a dataset folder with `vintix_data.load` (`datasets.load_dataset`) and summarize it: rows, schema,
    scores, data fingerprint, card, plot."""
    from vintix_data.loading import load
    from vintix_data.manifest import folder_fingerprint, manifest_sha256, recorded_fingerprint

    try:
        if not folder.exists():
            raise UsageError(f"no such folder: {folder}")
        if not folder.is_dir():
            raise UsageError(f"{folder} is a file, not a dataset folder")
        loaded = load(folder)
    except UserError as e:
        fail(str(e))
    meta, ds = loaded.info, loaded.dataset
    refs = meta.reference_scores
    summary = {
        "folder": str(folder),
        "task": meta.task,
        "domain": meta.domain,
        "split": meta.split,
        "rows": ds.num_rows,
        "histories": meta.histories,
        "steps_per_history": meta.steps_per_history,
        "episodes": meta.episodes,
        "features": {name: str(feature) for name, feature in ds.features.items()},
        "random_mean": refs.random_mean,
        "demonstrator_mean": refs.demonstrator_mean,
        "reference_episodes": refs.episodes,
        "normalized_score_paper": meta.demonstrator.get("normalized_score_paper"),
        "data_fingerprint": recorded_fingerprint(folder) or folder_fingerprint(folder),
        "manifest_sha256": manifest_sha256(folder),
        "card": str(folder / "README.md"),
        "plot": str(folder / "plots" / "learning_curve.png"),
    }
    if as_json:
        from vintix_data.jsonio import dumps

        print(dumps(summary, indent=2))
        return
    out.print(
        f"[bold]{meta.task}[/bold] ({meta.domain}, {meta.split} split): vintix_data.load({str(folder)!r})",
        soft_wrap=True,
    )
    out.print(
        f"  {ds.num_rows:,} rows = {meta.histories} histories x {meta.steps_per_history:,} steps, {meta.episodes:,} episodes",
        soft_wrap=True,
    )
    for name, feature in summary["features"].items():
        out.print(f"  {name:<20} {feature}", highlight=False, soft_wrap=True)
    if refs.random_mean is not None and refs.demonstrator_mean is not None:
        out.print(
            f"  random {refs.random_mean:.2f} | demonstrator {refs.demonstrator_mean:.2f} (measured over {refs.episodes} episodes)",
            soft_wrap=True,
        )
    norm = summary["normalized_score_paper"]
    if norm is not None:
        out.print(f"  demonstrator normalized score vs the paper's table: {norm:.3f}", soft_wrap=True)
    out.print(f"  data fingerprint: {summary['data_fingerprint']}", highlight=False, soft_wrap=True)
    out.print(f"  manifest sha256:  {summary['manifest_sha256']}", highlight=False, soft_wrap=True)
    out.print(f"  card: {summary['card']}", soft_wrap=True)
    out.print(f"  plot: {summary['plot']}", soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(collect)
    app.command("validate")(validate_cmd)
    app.command()(info)
