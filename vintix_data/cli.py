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
from rich.table import Table

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
    err.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@app.command()
def tasks(domain: Optional[str] = typer.Option(None, help="industrial-benchmark, mujoco, meta-world or bi-dexhands"),
          split: Optional[str] = typer.Option(None, help="train or test"),
          as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List the paper's tasks with their runnable ids, Hub names and reference scores."""
    from vintix_data.registry import list_tasks

    try:
        rows = list_tasks(domain, split)
    except ValueError as e:
        fail(str(e))
    if as_json:
        print(json.dumps([t.to_dict() for t in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} tasks")
    for col in ("id", "domain", "split", "paper name", "obs", "act", "reward scale", "random", "expert", "histories x steps", "hub repo"):
        table.add_column(col)
    for t in rows:
        table.add_row(t.id, t.domain, t.split, t.paper_name, str(t.obs_dim), str(t.act_dim), f"{t.reward_scale:g}",
                      f"{t.random_mean:g}" if t.random_mean is not None else "-",
                      f"{t.expert_mean:g}" if t.expert_mean is not None else "-",
                      f"{t.num_histories} x {t.history_steps:,}", t.hub_name)
    out.print(table)


@demonstrator_app.command("train")
def demonstrator_train(task: str, out_path: Path = typer.Option(..., "--out", help="Where to write the SB3 zip."),
                       timesteps: int = typer.Option(1_000_000, help="PPO environment steps (the paper: 1M)."),
                       seed: int = typer.Option(0),
                       install: bool = typer.Option(True, help="Also make it the task's default demonstrator (copied to $VINTIX_CACHE).")):
    """Train a PPO demonstrator with the paper's Industrial Benchmark settings."""
    from vintix_data.domains.industrial_benchmark import install_default_demonstrator
    from vintix_data.registry import get_task
    from vintix_data.train_demonstrator import PPOConfig, train_ppo

    try:
        spec = get_task(task)
        if timesteps < 1:
            raise ValueError(f"--timesteps must be >= 1, got {timesteps}")
        if out_path.suffix != ".zip":
            raise ValueError(f"--out must name a .zip file, got {out_path}")
        if out_path.is_dir():
            raise ValueError(f"--out {out_path} is a directory")
        result = train_ppo(spec, out_path, PPOConfig(timesteps=timesteps, seed=seed))
        default = install_default_demonstrator(spec, out_path) if install else None
    except _user_errors() as e:
        fail(str(e))
    err.print(f"saved {result['out']} after {timesteps:,} steps in {result['wall_s']:.0f} s")
    if default is not None:
        err.print(f"installed as the default demonstrator of {spec.id}: {default}")


@demonstrator_app.command("eval")
def demonstrator_eval(task: str, demonstrator: Optional[str] = typer.Option(None, help="sb3:PATH.zip, random or zero."),
                      episodes: int = typer.Option(20, help="Episodes for each of random and the demonstrator."),
                      seed: int = typer.Option(0), as_json: bool = typer.Option(False, "--json")):
    """Demonstrator and random returns on the same seeded episodes, and the paper-normalized score."""
    from vintix_data.baselines import demonstrator_policy, run_episodes, uniform_policy
    from vintix_data.demonstrators import load_demonstrator
    from vintix_data.domains import adapter_for, make_env
    from vintix_data.registry import get_task

    try:
        spec = get_task(task)
        if episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {episodes}")
        dspec = demonstrator or adapter_for(spec).default_demonstrator(spec)
        if dspec is None:
            raise ValueError(f"{spec.id}: no demonstrator given and none trained; pass --demonstrator sb3:PATH.zip")
        env = make_env(spec)
        demo = load_demonstrator(dspec, env.observation_space, env.action_space)
        rnd = run_episodes(spec, uniform_policy(env.action_space), episodes, seed)
        dem = run_episodes(spec, demonstrator_policy(demo), episodes, seed)
    except _user_errors() as e:
        fail(str(e))
    result = {"task": spec.id, "demonstrator": dspec, "episodes": episodes, "seed": seed,
              "demonstrator_mean": dem.mean, "demonstrator_std": dem.std, "random_mean": rnd.mean, "random_std": rnd.std,
              "demonstrator_success_rate": dem.success_rate, "random_success_rate": rnd.success_rate,
              "paper_random_mean": spec.random_mean, "paper_expert_mean": spec.expert_mean,
              "normalized_score_paper": spec.normalized_score(dem.mean),
              "random_normalized_score_paper": spec.normalized_score(rnd.mean)}
    if as_json:
        print(json.dumps(result, indent=2))
        return
    table = Table(title=f"{spec.id}: {episodes} episodes, seed {seed}")
    for col in ("policy", "mean return", "std", "normalized (paper)"):
        table.add_column(col)
    for name, r in (("random", rnd), (dspec, dem)):
        norm = spec.normalized_score(r.mean)
        table.add_row(name, f"{r.mean:.2f}", f"{r.std:.2f}", f"{norm:.3f}" if norm is not None else "-")
    if spec.random_mean is not None:
        table.add_row("paper random / expert", f"{spec.random_mean:g} / {spec.expert_mean:g}", "", "0 / 1")
    out.print(table)


@app.command()
def collect(task: str, out_dir: Path = typer.Option(..., "--out", help="Dataset folder to create."),
            demonstrator: Optional[str] = typer.Option(None, help="sb3:PATH.zip, random or zero (default: the task's)."),
            histories: Optional[int] = typer.Option(None, help="Learning histories (default: the paper's count)."),
            steps: Optional[int] = typer.Option(None, help="Transitions per history, N (default: the paper's)."),
            p: float = typer.Option(1.0, "--p", help="Schedule curvature p > 0."),
            f: float = typer.Option(0.1, "--f", help="Noise-free tail fraction, 0 <= f < 1."),
            seed: int = typer.Option(0), num_envs: int = typer.Option(1, help="Sub-envs of the vector env."),
            vector: str = typer.Option("auto", help="sync, async or auto (async when --num-envs > 1)."),
            workers: int = typer.Option(1, help="Processes sharing the sub-envs, each on its own histories."),
            resume: bool = typer.Option(False, help="Continue an interrupted collection in --out."),
            reference_episodes: int = typer.Option(20, help="Episodes for the measured random/demonstrator scores.")):
    """Collect noise-distilled learning histories into a Hub-ready dataset folder, then validate it."""
    from vintix_data.collect import CollectConfig, collect as run_collect
    from vintix_data.progress import CollectProgress
    from vintix_data.validate import validate

    config = CollectConfig(task=task, out=str(out_dir), demonstrator=demonstrator, histories=histories, steps=steps, p=p, f=f,
                           seed=seed, num_envs=num_envs, vector=vector, workers=workers, resume=resume, reference_episodes=reference_episodes,
                           command=["vintix-data"] + sys.argv[1:])
    try:
        folder = run_collect(config, progress_factory=lambda total, h: CollectProgress(total, h))
    except _user_errors() as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail(f"interrupted; completed episodes are saved, re-run with --resume to continue", code=130)
    report = validate(folder)
    for line in report.errors:
        err.print(f"[red]invalid:[/red] {line}", highlight=False, soft_wrap=True)
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
            err.print(f"[red]invalid:[/red] {line}", highlight=False, soft_wrap=True)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
