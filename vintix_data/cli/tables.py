"""Tables of the CLIs that stay readable at 80 columns and piped: the id column is never cut.

An id (task id, dataset id) is the value a user copies into the next command, so its column is ``no_wrap`` with a
``min_width`` of the longest id. The other columns fold; when the table's natural width does not fit the console,
columns are dropped lowest priority first (the caller names them in a line under the table and points to
``--json``/``--tsv``, which always carry every field). Piped output (not a terminal) is at least 80 columns wide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

MIN_WIDTH = 80


def console(stderr: bool = False) -> Console:
    """A rich console; when not a terminal, at least MIN_WIDTH columns (rich reads COLUMNS, else 80)."""
    c = Console(stderr=stderr)
    if not c.is_terminal and c.width < MIN_WIDTH:
        c = Console(stderr=stderr, width=MIN_WIDTH)
    return c


@dataclass(frozen=True)
class Col:
    name: str
    priority: int = 0  # higher is dropped later; id columns are never dropped
    is_id: bool = False
    justify: str = "left"


def fit_table(con: Console, title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]]) -> tuple[Table, list[str]]:
    """(a table that fits ``con``'s width with whole ids, names of the columns dropped to make it fit)."""
    keep = list(range(len(cols)))
    dropped: list[str] = []
    while True:
        table = _build(title, [cols[i] for i in keep], [[r[i] for i in keep] for r in rows])
        if Measurement.get(con, con.options.update_width(100_000), table).maximum <= con.width:  # natural width
            return table, dropped
        droppable = [i for i in keep if not cols[i].is_id]
        if not droppable:
            return table, dropped  # only ids left: they stay whole even if the line overflows
        worst = min(droppable, key=lambda i: (cols[i].priority, -i))
        keep.remove(worst)
        dropped.append(cols[worst].name)


def _build(title: str, cols: Sequence[Col], rows: Sequence[Sequence[str]]) -> Table:
    table = Table(title=title)
    for j, c in enumerate(cols):
        if c.is_id:
            longest = max([len(c.name)] + [len(str(r[j])) for r in rows])
            table.add_column(c.name, no_wrap=True, overflow="fold", min_width=longest, justify=c.justify)
        else:
            table.add_column(c.name, overflow="fold", justify=c.justify)
    for r in rows:
        table.add_row(*[str(x) for x in r])
    return table
