"""`vintix-data tasks`: the paper's tasks and the user's (task files, plugins), their runnable ids, Hub names, source
and whether they can run here."""

from __future__ import annotations

import json

import typer

from vintix_data.cli.output import err, fail
from vintix_data.cli.tables import Col, console, fit_table
from vintix_data.domains import unavailable
from vintix_data.errors import UsageError, UserError
from vintix_data.registry import DOMAIN_HELP, every_task, list_tasks


def collectable(task) -> tuple[bool, str]:
    """(can collect here, why not) for `vintix-data tasks`."""
    why = unavailable(task)
    return (why is None, why or "")


def tasks(
    domain: str | None = typer.Option(None, help=f"{DOMAIN_HELP}."),
    split: str | None = typer.Option(None, help="train or test"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    as_tsv: bool = typer.Option(False, "--tsv", help="Print tab-separated values with a header line (for scripts)."),
):
    """List the paper's tasks and yours (--tasks FILE, $VINTIX_TASKS, plugins) with ids, Hub names, scores and source."""
    try:
        if as_json and as_tsv:
            raise UsageError("give --json or --tsv, not both")
        rows = (
            list_tasks(domain, split)
            if domain is not None
            else list_tasks(split=split) + [t for t in every_task()[len(list_tasks()) :] if split in (None, t.split)]
        )
    except UserError as e:
        fail(str(e))
    here = {t.id: collectable(t) for t in rows}
    if as_json:
        print(
            json.dumps(
                [
                    {**t.to_dict(), "collectable": here[t.id][0], "not_collectable_because": here[t.id][1] or None}
                    for t in rows
                ],
                indent=2,
                allow_nan=False,
            )
        )
        return
    cols = [
        Col("id", is_id=True),
        Col("domain", 1),
        Col("split", 6),
        Col("paper name", 0),
        Col("obs", 5, justify="right"),
        Col("act", 5, justify="right"),
        Col("reward scale", 2),
        Col("random", 4, justify="right"),
        Col("expert", 4, justify="right"),
        Col("histories x steps", 3),
        Col("hub repo", 0),
        Col("collectable", 7),
        Col("source", 8),
    ]
    cells = [
        [
            t.id,
            t.domain,
            t.split,
            t.paper_name,
            str(t.obs_dim),
            str(t.act_dim),
            f"{t.reward_scale:g}",
            f"{t.random_mean:g}" if t.random_mean is not None else "-",
            f"{t.expert_mean:g}" if t.expert_mean is not None else "-",
            f"{t.num_histories} x {t.history_steps:,}",
            t.hub_name,
            "yes" if here[t.id][0] else "no",
            t.source,
        ]
        for t in rows
    ]
    if as_tsv:
        for line in [[c.name for c in cols]] + cells:
            print("\t".join(line))
        return
    con = console()
    table, dropped = fit_table(
        con, f"{len(rows)} tasks ({sum(ok for ok, _ in here.values())} collectable here)", cols, cells
    )
    con.print(table)
    if dropped:
        con.print(f"not shown at this width: {', '.join(dropped)} (--json or --tsv for every field)", highlight=False)
    first_per_domain: dict[str, str] = {}  # one reason per domain that cannot run here: its first task's
    for t in rows:
        if not here[t.id][0]:
            first_per_domain.setdefault(t.domain, here[t.id][1])
    for name, why in sorted(first_per_domain.items()):
        err.print(f"not collectable here ({name}): {why}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(tasks)
