"""`vintix-data demonstrator train` and `demonstrator eval` (the demonstrator gate, one task or `--all`)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import typer

from vintix_data.cli.output import err, fail, out
from vintix_data.cli.tables import Col, console, fit_table
from vintix_data.demonstrators import DemonstratorError, load_demonstrator
from vintix_data.demonstrators.gate import GateConfig, evaluate
from vintix_data.domains import configure_task, demonstrator_cache, install_default_demonstrator, parse_options
from vintix_data.errors import UsageError, UserError
from vintix_data.jsonio import strict
from vintix_data.preflight import PreflightError, check_output_path
from vintix_data.registry import DOMAIN_HELP, canonical_domain, get_task, list_tasks


@dataclass(frozen=True)
class GateRequest:
    """What `demonstrator eval` asks of the gate: which demonstrator, the gate's options, the per-run task settings."""

    demonstrator: str | None = None
    gate: GateConfig = GateConfig()
    episode_limit: int | None = None
    fixed_goal: bool = False
    env_options: dict = field(default_factory=dict)
    env_kwargs: dict = field(default_factory=dict)


def _eval_one(task_spec, request: GateRequest):
    task = configure_task(
        task_spec,
        episode_limit=request.episode_limit,
        fixed_goal=request.fixed_goal,
        env_options=request.env_options,
        env_kwargs=request.env_kwargs,
    )
    dspec = request.demonstrator or task.default_demonstrator()
    if dspec is None:
        raise DemonstratorError(
            f"{task.id}: no demonstrator given and none trained; pass --demonstrator sb3:PATH.zip "
            f"or train one with `vintix-data demonstrator train {task.id} --out FILE.zip`"
        )
    env = task.make_env()
    demo = load_demonstrator(dspec, env.observation_space, env.action_space, task=task)
    env.close()
    result = evaluate(task, demo, dspec, request.gate)
    if (
        request.demonstrator is None
        and request.episode_limit is None
        and not request.fixed_goal
        and not request.env_options
    ):
        from vintix_data.demonstrators.routes import record_gate

        record_gate(
            task, dspec, demo, result
        )  # the default demonstrator at the registry's settings: `demonstrator list`
    return result


def _fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def _print_table(results, title: str) -> None:
    """The gate's figures, one row per task with whole task ids; why a task fails goes in lines under the table, so
    the verdict cell stays one short word (pass / FAIL / error)."""
    cols = [
        Col("task", is_id=True),
        Col("demonstrator", 1),
        Col("steps", 2, justify="right"),
        Col("random", 5),
        Col("demonstrator return", 5),
        Col("success (demo / random)", 4),
        Col("normalized (paper)", 3),
        Col("gate", 9),
    ]
    rows, notes = [], []
    for r in results:
        if isinstance(r, tuple):  # (task id, error line)
            rows.append([r[0], "-", "-", "-", "-", "-", "-", "error"])
            notes.append(f"{r[0]}: error: {r[1]}")
            continue
        succ = (
            "-"
            if r.demonstrator_success_rate is None
            else f"{r.demonstrator_success_rate:.0%} / {r.random_success_rate:.0%}"
        )
        norm = _fmt(r.normalized_score_paper, ".3f") if r.paper_comparable else "n/a (env version differs)"
        rows.append(
            [
                r.task,
                r.demonstrator,
                str(r.episode_limit),
                f"{r.random_mean:.1f} ± {r.random_std:.1f}",
                f"{r.demonstrator_mean:.1f} ± {r.demonstrator_std:.1f}",
                succ,
                norm,
                "pass" if r.passed else "FAIL",
            ]
        )
        if not r.passed:
            notes.append(f"{r.task}: FAIL: " + "; ".join(r.reasons))
    con = console()
    table, dropped = fit_table(con, title, cols, rows)
    con.print(table)
    if dropped:
        con.print(f"not shown at this width: {', '.join(dropped)} (--json for every field)", highlight=False)
    for line in notes:
        con.print(line, highlight=False, markup=False, soft_wrap=True)


def run_eval(
    task: str | None, request: GateRequest, as_json: bool = False, all_tasks: bool = False, domain: str | None = None
) -> None:
    """`vintix-data demonstrator eval`: the gate's figures for one task, or for every task of a domain."""
    episodes, seed = request.gate.episodes, request.gate.seed
    try:
        if all_tasks:
            if task is not None:
                raise UsageError("give either a TASK or --all --domain D, not both")
            if domain is None:
                raise UsageError(f"--all needs --domain ({DOMAIN_HELP})")
            domain = canonical_domain(domain)
            tasks = list_tasks(domain)
        else:
            if task is None:
                raise UsageError("give a TASK, or --all --domain D")
            tasks = [get_task(task)]
    except UserError as e:
        fail(str(e))
    if not all_tasks:
        try:
            with err.status(f"gate: {tasks[0].id}, {episodes} episodes each of random and the demonstrator"):
                result = _eval_one(tasks[0], request)
        except UserError as e:
            fail(str(e))
        if as_json:
            print(json.dumps(strict(result.to_dict()), indent=2, allow_nan=False))
        else:
            _print_table([result], f"{result.task}: {episodes} seeded episodes, seed {seed}")
            if result.paper_random_mean is not None:
                out.print(
                    f"paper (Appendix H): random {result.paper_random_mean:g}, expert {result.paper_expert_mean:g}"
                    + ("" if result.paper_comparable else " (another env version: shown, not compared)")
                )
            out.print(f"{result.task}: {result.demonstrator} {result.verdict()}", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        if not result.passed:  # the verdict is on stdout; the exit status is what a script checks
            raise typer.Exit(1)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        job = bar.add_task(f"gate: {domain}", total=len(tasks))
        for t in tasks:
            bar.update(job, description=f"gate: {t.id}")
            try:
                results.append(_eval_one(t, request))
            except UserError as e:
                results.append((t.id, str(e)))
            bar.advance(job)
    rows = [r.to_dict() if not isinstance(r, tuple) else {"task": r[0], "error": r[1]} for r in results]
    failed = [r for r in rows if "error" in r or not r["passed"]]
    if as_json:
        print(
            json.dumps(
                strict(
                    {
                        "domain": domain,
                        "episodes": episodes,
                        "seed": seed,
                        "episode_limit": request.episode_limit,
                        "passed": not failed,
                        "tasks": rows,
                        "failed": [r["task"] for r in failed],
                    }
                ),
                indent=2,
                allow_nan=False,
            )
        )
    else:
        _print_table(results, f"{domain}: {len(tasks)} tasks, {episodes} seeded episodes each, seed {seed}")
        out.print(
            f"{len(tasks) - len(failed)} of {len(tasks)} pass the gate"
            + (f"; failing: {', '.join(r['task'] for r in failed)}" if failed else ""),
            highlight=False,
            soft_wrap=True,
        )
    sys.stdout.flush()
    if failed:  # any task failing (or erroring) fails the run
        raise typer.Exit(1)


def demonstrator_train(
    task: str,
    out_path: Path = typer.Option(..., "--out", help="Where to write the SB3 zip."),
    timesteps: int | None = typer.Option(
        None,
        help="Environment steps (default: the recipe's; IB: the paper's 1M; "
        "MuJoCo: rl-zoo3's n_timesteps, 1M, Humanoid 2M).",
    ),
    seed: int = typer.Option(0),
    install: bool = typer.Option(True, help="Also make it the task's default demonstrator (copied to $VINTIX_CACHE)."),
    algo: str | None = typer.Option(
        None,
        "--algo",
        help="tqc, sac, td3 or ppo with rl-zoo3's tuned settings "
        "(vintix_data/demonstrators/recipes.py); default and ppo on Industrial Benchmark: "
        "the paper's PPO recipe; elsewhere the default is ppo.",
    ),
    checkpoint_every: int | None = typer.Option(
        None,
        help="Save the whole training state every N steps "
        "(default 50,000; IB 100,000): killed, the same command continues "
        "to the same policy. --algo runs also write OUT-<steps>.zip and a "
        "row of OUT.curve.csv there.",
    ),
    eval_episodes: int = typer.Option(
        5,
        help="--algo runs: deterministic evaluation episodes per curve row "
        "(the gate's seeded episodes; 0: training returns only); bc: episodes "
        "the clone is scored on.",
    ),
    source: str | None = typer.Option(
        None,
        "--from",
        help="--algo bc: what to clone: a folder (JAT's "
        "episode-per-row parquet, a vintix dataset, or observation/action "
        "parquet) or a Hub dataset ORG/NAME[:CONFIG].",
    ),
    env_option: list[str] | None = typer.Option(
        None,
        help="KEY=VALUE domain option, repeatable (IB: setpoints=10,30,50,70 trains one PPO on episodes of random setpoints of the list; MuJoCo: viscosity, gravity, version). A demonstrator trained with options is not installed as the task's default.",
    ),
    env_kwarg: list[str] | None = typer.Option(
        None,
        "--env-kwarg",
        help="KEY=VALUE constructor kwarg of a Gymnasium task (gym:ENV_ID, task files), repeatable; not installed as the default then.",
    ),
    episode_limit: int | None = typer.Option(
        None, help="Steps per episode (default: the task's; needed for a Gymnasium env without its own)."
    ),
):
    """Train a demonstrator: the paper's PPO for Industrial Benchmark; rl-zoo3's tuned TQC/SAC/TD3/PPO (--algo) for
    MuJoCo and Gymnasium tasks (gym:ENV_ID, task files, plugins); or clone a dataset (--algo bc --from SOURCE, the paper's route for MuJoCo). Resumable: killed or interrupted, the same command continues from its last checkpoint (OUT's folder,
    .OUT.ckpt) to the policy an uninterrupted training would have made, bit for bit."""
    from vintix_data.demonstrators.train_ib import PPOConfig, train_ppo
    from vintix_data.demonstrators.train_mujoco import SB3TrainConfig, check_algo, train_sb3

    try:
        if algo is not None:
            algo = check_algo(algo)
        options = parse_options(env_option)
        kwargs = parse_options(env_kwarg, "--env-kwarg")
        spec = configure_task(get_task(task), env_options=options, env_kwargs=kwargs, episode_limit=episode_limit)
        options = {**options, **kwargs}
        install = install and not options  # the task's default demonstrator acts on the task as the registry has it
        if timesteps is not None and timesteps < 1:
            raise UsageError(f"--timesteps must be >= 1, got {timesteps}")
        if checkpoint_every is not None and checkpoint_every < 1:
            raise UsageError(f"--checkpoint-every must be >= 1, got {checkpoint_every}")
        if eval_episodes < 0:
            raise UsageError(f"--eval-episodes must be >= 0, got {eval_episodes}")
        if out_path.suffix != ".zip":
            raise UsageError(f"--out must name a .zip file, got {out_path}")
        if out_path.is_dir():
            raise UsageError(f"--out {out_path} is a directory")
        check_output_path(out_path, "--out", kind="file")  # before training: the zip is written at the end
        install = install and spec.adapter.installs_trained_demonstrator(spec.spec)
        if install:  # and installed in the cache after it
            try:
                check_output_path(demonstrator_cache(), "the demonstrator cache")
            except PreflightError as e:
                raise UsageError(f"{e}; set VINTIX_CACHE to a writable folder or pass --no-install") from None
        ckpt = out_path.with_name(f".{out_path.name}.ckpt")
        if (algo == "bc") != (source is not None):
            raise UsageError("--algo bc needs --from SOURCE, and --from is only for --algo bc")
        if algo == "bc":
            from vintix_data.demonstrators.bc import BCConfig, train_bc

            result = train_bc(spec, out_path, BCConfig(source=source, seed=seed), eval_episodes=eval_episodes)
        elif spec.adapter.trains_paper_ppo and algo in (None, "ppo"):
            # killed or interrupted, the same command continues from the last checkpoint (to the same policy, bit for bit)
            result = train_ppo(
                spec,
                out_path,
                PPOConfig(timesteps=timesteps or 1_000_000, seed=seed),
                checkpoint=ckpt,
                checkpoint_every=checkpoint_every or 100_000,
            )
        else:
            result = train_sb3(
                spec,
                out_path,
                SB3TrainConfig(
                    algo=algo or "ppo",
                    timesteps=timesteps,
                    seed=seed,
                    checkpoint_every=checkpoint_every or 50_000,
                    eval_episodes=eval_episodes,
                ),
                checkpoint=ckpt,
            )
        default = install_default_demonstrator(spec, out_path) if install else None
    except UserError as e:
        fail(str(e))
    if result.get("algo") == "bc":
        src = "-" if result["source_return"] is None else f"{result['source_return']:.2f}"
        clone = "-" if result["clone_return"] is None else f"{result['clone_return']:.2f}"
        err.print(
            f"saved {result['out']}: cloned {result['pairs']:,} pairs ({result['layout']} layout) in {result['wall_s']:.0f} s; "
            f"source mean return {src}, clone {clone} on {result['eval_episodes']} seeded episodes",
            highlight=False,
        )
        if default is not None:
            err.print(f"installed as the default demonstrator of {spec.id}: {default}")
        return
    resumed = f" (continued from the checkpoint at step {result['resumed_at']:,})" if result.get("resumed_at") else ""
    steps = result.get("timesteps") or result["config"]["timesteps"]
    rate = f", {result['steps_per_s']:.0f} steps/s" if result.get("steps_per_s") else ""
    err.print(
        f"saved {result['out']} after {steps:,} steps in {result['wall_s']:.0f} s{rate}{resumed}", highlight=False
    )
    if result.get("recipe"):
        err.print(f"recipe: {result['recipe']}; learning curve: {result['curve']}", highlight=False, soft_wrap=True)
    if default is not None:
        err.print(f"installed as the default demonstrator of {spec.id}: {default}")


def demonstrator_eval(
    task: str | None = typer.Argument(None, help="A task id (or --all --domain D)."),
    demonstrator: str | None = typer.Option(None, help="scripted, sb3:PATH.zip, random or zero (default: the task's)."),
    episodes: int = typer.Option(20, help="Episodes for each of random and the demonstrator."),
    seed: int = typer.Option(0),
    as_json: bool = typer.Option(False, "--json"),
    all_tasks: bool = typer.Option(False, "--all", help="Every task of --domain, one table at the end."),
    domain: str | None = typer.Option(None, help=f"With --all: {DOMAIN_HELP}."),
    episode_limit: int | None = typer.Option(None, help="Steps per episode (default: the registry's; Meta-World 100)."),
    fixed_goal: bool = typer.Option(False, "--fixed-goal", help="Meta-World: one goal/object variation per history."),
    env_option: list[str] | None = typer.Option(
        None, help="KEY=VALUE domain option, repeatable (MuJoCo: viscosity, gravity, version)."
    ),
    env_kwarg: list[str] | None = typer.Option(
        None,
        "--env-kwarg",
        help="KEY=VALUE constructor kwarg of a Gymnasium task (gym:ENV_ID, task files), repeatable.",
    ),
):
    """The demonstrator gate: random and demonstrator returns on the same seeded episodes, success rate where the env
    reports it, the paper-normalized score where the env version matches, and the verdict `collect` applies."""
    try:
        if episodes < 1:
            raise UsageError(f"--episodes must be >= 1, got {episodes}")
        request = GateRequest(
            demonstrator=demonstrator,
            gate=GateConfig(episodes=episodes, seed=seed),
            episode_limit=episode_limit,
            fixed_goal=fixed_goal,
            env_options=parse_options(env_option),
            env_kwargs=parse_options(env_kwarg, "--env-kwarg"),
        )
    except UserError as e:
        fail(str(e))
    run_eval(task, request, as_json=as_json, all_tasks=all_tasks, domain=domain)


def demonstrator_list(
    domain: str | None = typer.Option(None, help=f"Only this domain: {DOMAIN_HELP}."),
    as_json: bool = typer.Option(False, "--json"),
):
    """Where each task's demonstrator comes from (installed, the catalogue's public expert, scripted, trained by the
    release, none) and the gate result `demonstrator eval` recorded for it (beside the cache's zip, <task>.gate.json)."""
    from vintix_data.demonstrators.routes import demonstrator_routes

    try:
        rows = demonstrator_routes(canonical_domain(domain) if domain is not None else None)
    except UserError as e:
        fail(str(e))
    if as_json:
        print(json.dumps(strict({"cache": str(demonstrator_cache()), "tasks": rows}), indent=2, allow_nan=False))
        return
    cols = [Col("task", is_id=True), Col("route", 9), Col("gate (recorded)", 5), Col("env", 1), Col("demonstrator", 3)]
    table_rows = []
    for r in rows:
        g = r["gate"]
        gate = (
            "-"
            if g is None
            else (
                f"{'pass' if g['passed'] else 'FAIL'} {g['demonstrator_mean']:.1f}"
                + (f" ({g['normalized_score_paper']:.3f})" if g.get("normalized_score_paper") is not None else "")
            )
        )
        cat = r["catalogue"]
        what = r["spec"] or (
            f"trains {cat['train_algo']} (recipes.py)" if cat and cat["train_algo"] else r["error"] or "-"
        )
        table_rows.append([r["task"], r["route"], gate, r["env_id"], what])
    con = console()
    table, dropped = fit_table(con, f"demonstrators (cache: {demonstrator_cache()})", cols, table_rows)
    con.print(table)
    if dropped:
        con.print(f"not shown at this width: {', '.join(dropped)} (--json for every field)", highlight=False)


def register(app: typer.Typer) -> None:
    demonstrator_app = typer.Typer(no_args_is_help=True, help="Train and evaluate demonstrators.")
    demonstrator_app.command("train")(demonstrator_train)
    demonstrator_app.command("eval")(demonstrator_eval)
    demonstrator_app.command("list")(demonstrator_list)
    app.add_typer(demonstrator_app, name="demonstrator")
