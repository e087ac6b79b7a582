"""`vintix-data`: a thin Typer layer over the package's functions.

Every error users can cause (bad task, bad schedule, bad checkpoint, bad folder) is caught here and
printed as one line on stderr with exit code 2; nothing is written before the inputs are checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape

from vintix_data.registry import DOMAIN_HELP

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Collect, validate and publish noise-distilled learning histories (Vintix).")
demonstrator_app = typer.Typer(no_args_is_help=True, help="Train and evaluate demonstrators.")
app.add_typer(demonstrator_app, name="demonstrator")
out = Console()
err = Console(stderr=True)


def _user_errors() -> tuple[type[BaseException], ...]:
    from vintix_data.collect import CollectError
    from vintix_data.demonstrators import DemonstratorError
    from vintix_data.domains import DomainUnavailableError
    from vintix_data.format import FormatError
    from vintix_data.registry import UnknownTaskError
    from vintix_data.schedule import ScheduleError

    return (CollectError, DemonstratorError, DomainUnavailableError, FormatError, UnknownTaskError, ScheduleError, ValueError)


def fail(message: str, code: int = 2):
    # escape: messages quote user input and spaces such as "Box(..., [0, 1])", which rich would read as markup
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def tasks(domain: Optional[str] = typer.Option(None, help=f"{DOMAIN_HELP}."),
          split: Optional[str] = typer.Option(None, help="train or test"),
          as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
          as_tsv: bool = typer.Option(False, "--tsv", help="Print tab-separated values with a header line (for scripts).")):
    """List the paper's tasks with their runnable ids, Hub names and reference scores."""
    from vintix_data.registry import list_tasks

    try:
        if as_json and as_tsv:
            raise ValueError("give --json or --tsv, not both")
        rows = list_tasks(domain, split)
    except ValueError as e:
        fail(str(e))
    from vintix_data.cli_domains import collectable
    from vintix_data.cli_tables import Col, console, fit_table

    here = {t.id: collectable(t) for t in rows}
    if as_json:
        print(json.dumps([{**t.to_dict(), "collectable": here[t.id][0], "not_collectable_because": here[t.id][1] or None}
                          for t in rows], indent=2, allow_nan=False))
        return
    cols = [Col("id", is_id=True), Col("domain", 1), Col("split", 6), Col("paper name", 0), Col("obs", 5, justify="right"),
            Col("act", 5, justify="right"), Col("reward scale", 2), Col("random", 4, justify="right"), Col("expert", 4, justify="right"),
            Col("histories x steps", 3), Col("hub repo", 0), Col("collectable", 7)]
    cells = [[t.id, t.domain, t.split, t.paper_name, str(t.obs_dim), str(t.act_dim), f"{t.reward_scale:g}",
              f"{t.random_mean:g}" if t.random_mean is not None else "-",
              f"{t.expert_mean:g}" if t.expert_mean is not None else "-",
              f"{t.num_histories} x {t.history_steps:,}", t.hub_name, "yes" if here[t.id][0] else "no"] for t in rows]
    if as_tsv:
        for line in [[c.name for c in cols]] + cells:
            print("\t".join(line))
        return
    con = console()
    table, dropped = fit_table(con, f"{len(rows)} tasks ({sum(ok for ok, _ in here.values())} collectable here)", cols, cells)
    con.print(table)
    if dropped:
        con.print(f"not shown at this width: {', '.join(dropped)} (--json or --tsv for every field)", highlight=False)
    for domain in sorted({t.domain for t in rows if not here[t.id][0]}):
        first = next(t for t in rows if t.domain == domain and not here[t.id][0])
        err.print(f"not collectable here ({domain}): {here[first.id][1]}", highlight=False, soft_wrap=True)


@demonstrator_app.command("train")
def demonstrator_train(task: str, out_path: Path = typer.Option(..., "--out", help="Where to write the SB3 zip."),
                       timesteps: int = typer.Option(1_000_000, help="PPO environment steps (the paper: 1M)."),
                       seed: int = typer.Option(0),
                       install: bool = typer.Option(True, help="Also make it the task's default demonstrator (copied to $VINTIX_CACHE)."),
                       algo: Optional[str] = typer.Option(None, "--algo", help="ppo, sac or td3 (see vintix_data/train_mujoco.py); "
                                                          "default: the paper's PPO recipe on Industrial Benchmark, ppo elsewhere."),
                       checkpoint_every: int = typer.Option(0, help="Also save OUT-<steps>.zip every N steps (sac/td3/ppo via --algo).")):
    """Train a demonstrator: the paper's PPO for Industrial Benchmark, SB3 PPO/SAC/TD3 (--algo) for MuJoCo."""
    from vintix_data.domains import configure_task
    from vintix_data.domains.industrial_benchmark import install_default_demonstrator
    from vintix_data.registry import get_task
    from vintix_data.train_demonstrator import PPOConfig, train_ppo
    from vintix_data.train_mujoco import SB3TrainConfig, check_algo, train_sb3

    try:
        if algo is not None:
            algo = check_algo(algo)
        spec = configure_task(get_task(task))
        if timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {timesteps}")
        if out_path.suffix != ".zip":
            raise ValueError(f"--out must name a .zip file, got {out_path}")
        if out_path.is_dir():
            raise ValueError(f"--out {out_path} is a directory")
        if spec.domain == "industrial-benchmark" and algo in (None, "ppo"):
            result = train_ppo(spec, out_path, PPOConfig(timesteps=timesteps, seed=seed))
        else:
            result = train_sb3(spec, out_path, SB3TrainConfig(algo=algo or "ppo", timesteps=timesteps, seed=seed,
                                                              checkpoint_every=checkpoint_every))
        default = install_default_demonstrator(spec, out_path) if install and spec.domain != "meta-world" else None
    except _user_errors() as e:
        fail(str(e))
    err.print(f"saved {result['out']} after {timesteps:,} steps in {result['wall_s']:.0f} s")
    if default is not None:
        err.print(f"installed as the default demonstrator of {spec.id}: {default}")


@demonstrator_app.command("eval")
def demonstrator_eval(task: Optional[str] = typer.Argument(None, help="A task id (or --all --domain D)."),
                      demonstrator: Optional[str] = typer.Option(None, help="scripted, sb3:PATH.zip, random or zero (default: the task's)."),
                      episodes: int = typer.Option(20, help="Episodes for each of random and the demonstrator."),
                      seed: int = typer.Option(0), as_json: bool = typer.Option(False, "--json"),
                      all_tasks: bool = typer.Option(False, "--all", help="Every task of --domain, one table at the end."),
                      domain: Optional[str] = typer.Option(None, help=f"With --all: {DOMAIN_HELP}."),
                      episode_limit: Optional[int] = typer.Option(None, help="Steps per episode (default: the registry's; Meta-World 100)."),
                      fixed_goal: bool = typer.Option(False, "--fixed-goal", help="Meta-World: one goal/object variation per history."),
                      env_option: Optional[list[str]] = typer.Option(None, help="KEY=VALUE domain option, repeatable (MuJoCo: viscosity, gravity, version).")):
    """The demonstrator gate: random and demonstrator returns on the same seeded episodes, success rate where the env
    reports it, the paper-normalized score where the env version matches, and the verdict `collect` applies."""
    from vintix_data.cli_domains import run_eval

    run_eval(task, demonstrator, episodes, seed, as_json, all_tasks, domain, episode_limit, fixed_goal, env_option,
             _user_errors(), fail)


@app.command()
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
            hide_fill: float = typer.Option(0.0, "--hide-fill", help="The constant recorded in place of hidden components.")):
    """Collect noise-distilled learning histories into a Hub-ready dataset folder, then validate it."""
    from vintix_data.collect import CollectConfig, collect as run_collect
    from vintix_data.progress import CollectProgress
    from vintix_data.validate import validate

    if num_envs is None:  # --workers W alone: W processes need at least W sub-envs, one each
        num_envs = max(1, workers)
    config = CollectConfig(task=task, out=str(out_dir), demonstrator=demonstrator, histories=histories, steps=steps, p=p, f=f,
                           seed=seed, num_envs=num_envs, vector=vector, workers=workers, resume=resume, reference_episodes=reference_episodes,
                           command=["vintix-data"] + sys.argv[1:])
    try:
        from vintix_data.cli_domains import parse_options

        config.episode_limit, config.fixed_goal, config.force = episode_limit, fixed_goal, force
        config.hide, config.hide_fill = tuple(hide or ()), hide_fill
        config.env_options, config.gate_episodes = parse_options(env_option), max(1, gate_episodes)
        folder = run_collect(config, progress_factory=lambda total, h: CollectProgress(total, h))
    except _user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; completed episodes are saved, re-run with --resume to continue", code=130)
    report = validate(folder)
    for line in report.errors:
        err.print(f"[red]invalid:[/red] {escape(line)}", highlight=False, soft_wrap=True)
    for line in report.notes:
        err.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(1)
    err.print(f"collected and validated {folder}: {report.figures['rows']:,} rows, {report.figures['episodes']:,} episodes")


@app.command("validate")
def validate_cmd(folder: Path, as_json: bool = typer.Option(False, "--json")):
    """Check a dataset folder: schema, order, flags, values, schedule, manifest and the learning curve."""
    from vintix_data.validate import validate

    report = validate(folder)
    if as_json:
        print(report.to_json())
    else:
        for line in report.errors:
            err.print(f"[red]invalid:[/red] {escape(line)}", highlight=False, soft_wrap=True)
        for line in report.notes:
            err.print(f"note: {escape(line)}", highlight=False, soft_wrap=True)
        if report.ok:
            err.print(f"{folder}: valid ({report.figures.get('rows', 0):,} rows, {report.figures.get('episodes', 0):,} episodes)")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def info(folder: Path):
    """Load a dataset folder with `datasets.load_dataset` and summarize it: rows, schema, scores, card, plot."""
    from datasets import load_dataset

    from vintix_data.format import DatasetInfo

    try:
        if not folder.exists():
            raise ValueError(f"no such folder: {folder}")
        if not folder.is_dir():
            raise ValueError(f"{folder} is a file, not a dataset folder")
        meta = DatasetInfo.load(folder)
    except _user_errors() as e:
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


# -- command groups defined in other modules register themselves here -----------------------------
from vintix_data.cli_hub import register as _register_hub  # noqa: E402
_register_hub(app)
from vintix_data.cli_legacy import register as _register_legacy_h5  # noqa: E402
_register_legacy_h5(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
