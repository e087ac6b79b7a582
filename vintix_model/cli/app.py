"""`vintix-model`: train, evaluate, describe and publish the Vintix model (a thin Typer layer over the package).

Every error a user can cause is a :class:`vintix_data.errors.UserError`, printed as one line on stderr with exit
code 2 by the data CLI's ``fail()``; anything else is a bug and propagates with its traceback. Under ``torchrun`` the same
command runs one process per device: ``torchrun --nproc-per-node 8 $(which vintix-model) train ...``.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperCommand

from vintix_data.cli.output import fail
from vintix_data.errors import UsageError, UserError
from vintix_data.version import __version__

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate and publish the Vintix in-context RL model on vintix datasets.",
)
out = Console()
err = Console(stderr=True)


@app.callback()
def user_tasks(
    tasks_file: Path | None = typer.Option(
        None,
        "--tasks",
        help="A task file (TOML or YAML) of your own tasks (vintix-data's --tasks; also $VINTIX_TASKS).",
    ),
):
    """Train, evaluate and publish the Vintix in-context RL model on vintix datasets."""
    if tasks_file is not None:
        from vintix_data.domains.plugins import UserTaskError, use_task_file

        try:
            use_task_file(tasks_file)
        except UserTaskError as e:
            fail(str(e))


def _num(x) -> str:
    return "n/a" if x is None else f"{x:,.1f}"


def _message(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


@app.command()
def version():
    """Print the vintix version."""
    print(__version__)


class _UsageWithoutHiddenArguments(TyperCommand):
    """Typer lists a hidden positional argument in the usage line anyway (``[more]...``); leave it out there too."""

    def collect_usage_pieces(self, ctx):
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


@app.command(cls=_UsageWithoutHiddenArguments)
def train(
    datasets: list[str] = typer.Option(
        ...,
        "--datasets",
        help="Hub ids (ORG/NAME or ORG/NAME@REVISION), dataset folders, or "
        "suite:ORG/SELECTION[@INDEX_REVISION] (every task of a selection, pinned by "
        "ORG/vintix-index) (--datasets A B C, or --datasets A --datasets B).",
    ),
    # the datasets after the first of `--datasets A B C` (click options take one value each); hidden
    more: list[str] | None = typer.Argument(None, hidden=True, help="More datasets after --datasets."),
    out_dir: Path = typer.Option(..., "--out", help="Run folder: checkpoints/, latest, metrics.jsonl, loss.png."),
    preset: str = typer.Option("tiny", help="tiny (CPU, minutes) or paper (the paper's model and optimizer)."),
    steps: int | None = typer.Option(None, help="Optimizer steps (overrides the preset)."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1 ... (default: cuda when available)."),
    resume: bool = typer.Option(False, help="Continue the run in --out from its latest checkpoint."),
    config: Path | None = typer.Option(None, help="YAML with 'model:' and/or 'train:' sections of overrides."),
    set_: list[str] | None = typer.Option(None, "--set", help="SECTION.FIELD=VALUE, e.g. train.lr=1e-3 (repeatable)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
):
    """Train Vintix on vintix datasets (each a Hub id or a folder, one code path)."""
    from vintix_model.model import config as cfg
    from vintix_model.train.run import train as run_train

    refs = list(datasets) + list(more or [])
    try:
        model_cfg, train_cfg = cfg.resolve(preset, config, set_ or [], steps)
        summary = run_train(refs, out_dir, model_cfg, train_cfg, device=device, resume=resume, progress=not quiet)
    except UserError as e:
        fail(_message(e))
    except KeyboardInterrupt:
        fail(f"interrupted; re-run with --resume to continue from the last checkpoint in {out_dir}", code=130)
    if "first_loss" in summary:
        err.print(
            f"trained to step {summary['step']:,}: loss {summary['first_loss']:.4f} (mean of the first "
            f"{summary['window']} steps) -> {summary['last_loss']:.4f} (last {summary['window']}); "
            f"checkpoint {summary['checkpoint']}",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def describe(
    preset: str = typer.Option("paper", help="tiny or paper."),
    tasks: str = typer.Option("paper", help="paper (its 87 training tasks), all (102) or TASK,TASK,..."),
    mujoco_obs: str = typer.Option(
        "v4",
        help="MuJoCo observation dims: v4 (gymnasium v4, as the released model) or registry (the paper table's = v5).",
    ),
    config: Path | None = typer.Option(None),
    set_: list[str] | None = typer.Option(None, "--set"),
    as_json: bool = typer.Option(False, "--json"),
):
    """Build the model for a task set (on the meta device) and print its parameter count and breakdown."""
    import torch

    from vintix_model.model import config as cfg
    from vintix_model.model.groups import groups_of, task_set
    from vintix_model.model.vintix import Vintix

    try:
        if mujoco_obs not in ("v4", "registry"):
            raise UsageError(f"--mujoco-obs must be v4 or registry, got {mujoco_obs!r}")
        model_cfg, _ = cfg.resolve(preset, config, set_ or [])
        dims = task_set(tasks, mujoco_obs)
        groups = groups_of(dims)
    except UserError as e:
        fail(_message(e))
    with torch.device("meta"):
        model = Vintix(model_cfg, groups)
    parts = model.parameter_breakdown()
    block = sum(p.numel() for p in model.backbone.blocks[0].parameters()) if model_cfg.n_layer else 0
    rows = []
    for name, g in groups.items():
        rows.append(
            {
                "group": name,
                "tasks": sum(t.group == name for t in dims),
                "obs_dim": g.obs_dim,
                "act_dim": g.act_dim,
                "encoder": parts[f"encoder:{name}"],
                "head": parts[f"head:{name}"],
            }
        )
    total = model.num_parameters()
    result = {
        "preset": preset,
        "tasks": len(dims),
        "groups": len(groups),
        "total": total,
        "backbone": parts["backbone"],
        "per_block": block,
        "final_norm": parts["backbone"] - block * model_cfg.n_layer,
        "padding": parts["padding"],
        "encoders": sum(r["encoder"] for r in rows),
        "heads": sum(r["head"] for r in rows),
        "by_group": rows,
    }
    if as_json:
        print(json.dumps(result, indent=2, allow_nan=False))
        return
    width = max(len(r["group"]) for r in rows)
    out.print(
        f"Vintix {preset}: {len(dims)} tasks, {len(groups)} groups (MuJoCo obs dims: {mujoco_obs})", highlight=False
    )
    out.print(f"{'group':<{width}}  tasks  obs  act  encoders (o+a+r)       head", highlight=False)
    for r in rows:
        out.print(
            f"{r['group']:<{width}}  {r['tasks']:>5}  {r['obs_dim']:>3}  {r['act_dim']:>3}  {r['encoder']:>16,}  "
            f"{r['head']:>9,}",
            highlight=False,
        )
    out.print(
        f"backbone   {result['backbone']:>13,} = {model_cfg.n_layer} blocks x {block:,} + final LayerNorm "
        f"{result['final_norm']:,}",
        highlight=False,
    )
    out.print(
        f"encoders   {result['encoders']:>13,}\nheads      {result['heads']:>13,}\n"
        f"padding    {result['padding']:>13,} (previous-action {model_cfg.act_emb} + previous-reward {model_cfg.rew_emb})",
        highlight=False,
    )
    out.print(f"[bold]total      {total:>13,} parameters[/bold]", highlight=False)


@app.command()
def push(
    checkpoint: Path = typer.Argument(..., help="A checkpoint folder or a run folder (its latest checkpoint)."),
    repo: str = typer.Option(..., "--repo", help="ORG/NAME of the Hub model repo (created if missing)."),
    private: bool = typer.Option(False, help="Create the repo private."),
    revision: str | None = typer.Option(None, help="Branch to push to (default: main)."),
):
    """Publish a checkpoint as a Hub model repo with a model card (weights, config, metadata, loss curve)."""
    from vintix_model.hub import push as do_push

    try:
        url = do_push(checkpoint, repo, private=private, revision=revision)
    except UserError as e:  # a bad checkpoint, or the Hub client's one-line HubError (repo id, token, answers)
        fail(_message(e))
    err.print(f"pushed {checkpoint} to {repo}: {url}", highlight=False, soft_wrap=True)


@app.command()
def convert(
    src: str = typer.Argument(
        ...,
        help="A released Vintix checkpoint in the original layout (model.pth, "
        "config.json, metadata.json): a folder or a Hub model id such as dunnolab/Vintix.",
    ),
    out_dir: Path = typer.Option(..., "--out", help="Checkpoint folder to create (must not exist, or be empty)."),
    revision: str | None = typer.Option(None, help="Hub revision of SRC (default: main)."),
):
    """Convert an original-layout Vintix checkpoint into a vintix_model checkpoint (safetensors, config, metadata, card)."""
    from vintix_model.original.convert import convert as do_convert

    try:
        summary = do_convert(src, out_dir, revision)
    except UserError as e:
        fail(_message(e))
    at = f" at {summary['revision']}" if summary["revision"] else ""
    groups = ", ".join(f"{o} -> {g}" for o, g in summary["groups"].items())
    err.print(
        f"converted {summary['source']}{at} into {summary['out']}: {summary['parameters']:,} parameters, all "
        f"{summary['keys']:,} tensors mapped (strict load), {summary['tasks']} task(s) in {len(summary['groups'])} "
        f"group(s) ({groups}); observation normalization {summary['obs_norm']}",
        highlight=False,
        soft_wrap=True,
    )


@app.command("eval")
def eval_(
    checkpoint: str = typer.Argument(..., help="A checkpoint folder, a training run folder or a Hub model id."),
    task: str = typer.Option(..., "--task", help="Task id (a training task of the checkpoint or one sharing a group)."),
    episodes: int = typer.Option(50, help="Episodes (shots) per seed, all kept in context."),
    seeds: int = typer.Option(3, help="Independent runs, each starting from an empty context."),
    seed: int = typer.Option(0, help="Base seed of the evaluation episodes."),
    prompt: str | None = typer.Option(
        None, help="random:STEPS puts STEPS uniform-random transitions in the context first (default: cold start)."
    ),
    variation: list[str] | None = typer.Option(
        None,
        "--variation",
        help="KEY=VALUE env option, repeatable: "
        "MuJoCo viscosity=0.05, gravity=1.1 (a scale), version=v4; "
        "Meta-World fixed_goal=true|false.",
    ),
    stats_from: str | None = typer.Option(
        None,
        help="Dataset (folder or Hub id) whose stats and reference "
        "scores a held-out task uses (default: estimated from random steps).",
    ),
    stats_steps: int = typer.Option(10_000, help="Random-policy steps to estimate a held-out task's stats."),
    window: int | None = typer.Option(None, help="Context window in tokens (default: the training context)."),
    cache: bool = typer.Option(
        True,
        "--cache/--no-cache",
        help="KV cache (default) or re-encode the window every step (the released code's way).",
    ),
    device: str = typer.Option("cpu", help="cpu, cuda, cuda:1 ..."),
    precision: str = typer.Option("auto", help="auto (bf16 autocast on CUDA, fp32 on CPU), bf16 or fp32."),
    revision: str | None = typer.Option(None, help="Hub revision of the checkpoint."),
    out_dir: Path | None = typer.Option(
        None, "--out", help="Folder for results.json and returns.png (default: eval-<task>)."
    ),
    force: bool = typer.Option(False, help="Replace an existing results.json in --out."),
    quiet: bool = typer.Option(False, help="No progress bar."),
    ablation: bool = typer.Option(
        False,
        "--ablation",
        help="Also play the same runs with the context cleared at "
        "every episode start, and report the paired difference (full minus cleared): "
        "in-context learning vs behaviour cloning.",
    ),
    video: bool = typer.Option(
        False,
        "--video",
        help="Also record shot 1 and the last shot of run 0 as "
        "shots.gif beside returns.png (re-simulated, MuJoCo's offscreen renderer or a plot).",
    ),
):
    """Cold-start many-shot in-context evaluation in the task's real environment."""
    from vintix_data.domains import parse_options
    from vintix_model.evaluate.config import EvalConfig, parse_prompt
    from vintix_model.evaluate.report import check_out, write
    from vintix_model.evaluate.runner import evaluate
    from vintix_model.model.vintix import Vintix

    try:
        cfg = EvalConfig(
            task=task,
            episodes=episodes,
            seeds=seeds,
            seed=seed,
            prompt_steps=parse_prompt(prompt),
            variation=parse_options(variation, "--variation"),
            stats_from=stats_from,
            stats_steps=stats_steps,
            window=window,
            use_cache=cache,
            device=device,
            precision=precision,
            ablation=ablation,
        )
        cfg.check()
        out_dir = out_dir or Path(f"eval-{task}")
        check_out(out_dir, force)  # before the checkpoint is loaded or a step played
        if video:
            from vintix_model.evaluate.video import VIDEO

            out_dir.mkdir(parents=True, exist_ok=True)
            cfg.video = str(out_dir / VIDEO)
        model = Vintix.from_pretrained(checkpoint, revision=revision, device=device)
        results = evaluate(checkpoint, cfg, progress=not quiet, model=model)
        path, png = write(results, out_dir, force=force)
    except UserError as e:
        fail(_message(e))
    s, ref = results["summary"], results["reference"]
    norm = (
        f"; normalized {s['normalized_first_tenth']:.3f} -> {s['normalized_last_tenth']:.3f}"
        if s["normalized_mean"] is not None
        else ""
    )
    rho = f"{s['spearman_rho_shot_vs_mean']:.3f}" if s["spearman_rho_shot_vs_mean"] is not None else "n/a"
    for note in results["notes"]:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    err.print(
        f"{results['task']}: {cfg.seeds} seed(s) x {cfg.episodes} episodes; mean return first {s['tenth_shots']} "
        f"shot(s) {s['first_tenth_mean']:,.2f} -> last {s['tenth_shots']} {s['last_tenth_mean']:,.2f} "
        f"(random {_num(ref['random'])}, demonstrator {_num(ref['demonstrator'])}: {ref['source']}){norm}; "
        f"Spearman rho shot vs mean {rho}; {results['timing']['steps_per_s']:,.0f} env steps/s",
        highlight=False,
        soft_wrap=True,
    )
    if results.get("ablation"):
        c, d = results["ablation"]["context_reset"]["summary"], results["ablation"]["paired_difference"]["last_third"]
        ci = d["ci95"]
        interval = f" [{ci[0]:+,.2f}, {ci[1]:+,.2f}] (95% bootstrap over runs)" if ci[0] is not None else ""
        err.print(
            f"shots {d['shots'][0]}-{d['shots'][1]}: full context {s['last_third_mean']:,.2f}, context cleared every "
            f"episode {c['last_third_mean']:,.2f}; paired difference {d['mean']:+,.2f}{interval}, "
            f"positive in {d['runs_positive']} of {d['runs']} runs",
            highlight=False,
            soft_wrap=True,
        )
    shots = f" and {out_dir / results['video']['file']}" if results.get("video") else ""
    err.print(f"wrote {path} and {png}{shots}", highlight=False, soft_wrap=True)


def main() -> None:
    app()
