"""The domain side of `vintix-data`: the demonstrator gate (`demonstrator eval`, one task or `--all`) and the
collectable column of `tasks`. cli.py keeps the options; the work is here."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from vintix_data.jsonio import strict

out = Console()
err = Console(stderr=True)


# Domain options that are switches (Meta-World's fixed_goal): their values are parsed strictly, so "false" is False
# (a plain bool("false") is True).
BOOL_OPTIONS = ("fixed_goal",)
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def parse_bool(text: str, what: str) -> bool:
    """true/1/yes/on -> True, false/0/no/off -> False (any case); one-line ValueError naming ``what`` otherwise."""
    v = str(text).strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"{what} takes true or false (also 1/0, yes/no, on/off), got {text!r}")


def parse_options(items: list[str] | None, flag: str = "--env-option") -> dict:
    """``KEY=VALUE`` items of ``--env-option`` (vintix-data) / ``--variation`` (vintix-model) -> dict: values are
    strings checked by the task's domain adapter, except switches (BOOL_OPTIONS), parsed here into bools. One-line
    ValueError naming ``flag`` on a malformed item."""
    out: dict = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ValueError(f"{flag} takes KEY=VALUE, got {item!r}")
        out[key] = parse_bool(value, f"{flag} {key}") if key in BOOL_OPTIONS else value
    return out


def collectable(task) -> tuple[bool, str]:
    """(can collect here, why not) for `vintix-data tasks`."""
    from vintix_data.domains import unavailable

    why = unavailable(task)
    return (why is None, why or "")


def _eval_one(task_spec, demonstrator_spec, episodes, seed, episode_limit, fixed_goal, env_options):
    from vintix_data.demonstrators import load_demonstrator
    from vintix_data.domains import adapter_for, configure_task, make_env
    from vintix_data.gate import evaluate

    task = configure_task(task_spec, episode_limit=episode_limit, fixed_goal=fixed_goal, env_options=env_options)
    dspec = demonstrator_spec or adapter_for(task).default_demonstrator(task)
    if dspec is None:
        raise ValueError(f"{task.id}: no demonstrator given and none trained; pass --demonstrator sb3:PATH.zip "
                         f"or train one with `vintix-data demonstrator train {task.id} --out FILE.zip`")
    env = make_env(task)
    demo = load_demonstrator(dspec, env.observation_space, env.action_space, task=task)
    env.close()
    return evaluate(task, demo, dspec, episodes, seed)


def _fmt(x, spec=".2f"):
    return "-" if x is None else format(x, spec)


def _print_table(results, title: str) -> None:
    """The gate's figures, one row per task with whole task ids; why a task fails goes in lines under the table, so
    the verdict cell stays one short word (pass / FAIL / error)."""
    from vintix_data.cli_tables import Col, console, fit_table

    cols = [Col("task", is_id=True), Col("demonstrator", 1), Col("steps", 2, justify="right"), Col("random", 5),
            Col("demonstrator return", 5), Col("success (demo / random)", 4), Col("normalized (paper)", 3), Col("gate", 9)]
    rows, notes = [], []
    for r in results:
        if isinstance(r, tuple):  # (task id, error line)
            rows.append([r[0], "-", "-", "-", "-", "-", "-", "error"])
            notes.append(f"{r[0]}: error: {r[1]}")
            continue
        succ = "-" if r.demonstrator_success_rate is None else \
            f"{r.demonstrator_success_rate:.0%} / {r.random_success_rate:.0%}"
        norm = _fmt(r.normalized_score_paper, ".3f") if r.paper_comparable else "n/a (env version differs)"
        rows.append([r.task, r.demonstrator, str(r.episode_limit), f"{r.random_mean:.1f} ± {r.random_std:.1f}",
                     f"{r.demonstrator_mean:.1f} ± {r.demonstrator_std:.1f}", succ, norm, "pass" if r.passed else "FAIL"])
        if not r.passed:
            notes.append(f"{r.task}: FAIL: " + "; ".join(r.reasons))
    con = console()
    table, dropped = fit_table(con, title, cols, rows)
    con.print(table)
    if dropped:
        con.print(f"not shown at this width: {', '.join(dropped)} (--json for every field)", highlight=False)
    for line in notes:
        con.print(line, highlight=False, markup=False, soft_wrap=True)


def run_eval(task: str | None, demonstrator: str | None, episodes: int, seed: int, as_json: bool, all_tasks: bool,
             domain: str | None, episode_limit: int | None, fixed_goal: bool, env_option: list[str] | None,
             user_errors: tuple, fail) -> None:
    """`vintix-data demonstrator eval`: the gate's figures for one task, or for every task of a domain."""
    from vintix_data.registry import DOMAIN_HELP, canonical_domain, get_task, list_tasks

    try:
        if episodes < 1:
            raise ValueError(f"--episodes must be >= 1, got {episodes}")
        options = parse_options(env_option)
        if all_tasks:
            if task is not None:
                raise ValueError("give either a TASK or --all --domain D, not both")
            if domain is None:
                raise ValueError(f"--all needs --domain ({DOMAIN_HELP})")
            domain = canonical_domain(domain)
            tasks = list_tasks(domain)
        else:
            if task is None:
                raise ValueError("give a TASK, or --all --domain D")
            tasks = [get_task(task)]
    except user_errors as e:
        fail(str(e))
    if not all_tasks:
        try:
            with err.status(f"gate: {tasks[0].id}, {episodes} episodes each of random and the demonstrator"):
                result = _eval_one(tasks[0], demonstrator, episodes, seed, episode_limit, fixed_goal, options)
        except user_errors as e:
            fail(str(e))
        if as_json:
            print(json.dumps(strict(result.to_dict()), indent=2, allow_nan=False))
        else:
            _print_table([result], f"{result.task}: {episodes} seeded episodes, seed {seed}")
            if result.paper_random_mean is not None:
                out.print(f"paper (Appendix H): random {result.paper_random_mean:g}, expert {result.paper_expert_mean:g}"
                          + ("" if result.paper_comparable else " (another env version: shown, not compared)"))
            out.print(f"{result.task}: {result.demonstrator} {result.verdict()}", highlight=False, soft_wrap=True)
        sys.stdout.flush()
        if not result.passed:  # the verdict is on stdout; the exit status is what a script checks
            raise typer.Exit(1)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=False) as bar:
        job = bar.add_task(f"gate: {domain}", total=len(tasks))
        for t in tasks:
            bar.update(job, description=f"gate: {t.id}")
            try:
                results.append(_eval_one(t, demonstrator, episodes, seed, episode_limit, fixed_goal, options))
            except user_errors as e:
                results.append((t.id, str(e)))
            bar.advance(job)
    rows = [r.to_dict() if not isinstance(r, tuple) else {"task": r[0], "error": r[1]} for r in results]
    failed = [r for r in rows if "error" in r or not r["passed"]]
    if as_json:
        print(json.dumps(strict({"domain": domain, "episodes": episodes, "seed": seed, "episode_limit": episode_limit,
                                 "passed": not failed, "tasks": rows, "failed": [r["task"] for r in failed]}),
                         indent=2, allow_nan=False))
    else:
        _print_table(results, f"{domain}: {len(tasks)} tasks, {episodes} seeded episodes each, seed {seed}")
        out.print(f"{len(tasks) - len(failed)} of {len(tasks)} pass the gate"
                  + (f"; failing: {', '.join(r['task'] for r in failed)}" if failed else ""), highlight=False, soft_wrap=True)
    sys.stdout.flush()
    if failed:  # any task failing (or erroring) fails the run
        raise typer.Exit(1)
