"""The leak audit of latent-task data: observation columns that name the task (docs/design.md §8).

Hiding the goal is not enough when something else in the observation is fixed by the same task variation: on
Meta-World reach-v3 the puck's position is drawn from the same random vector as the goal, so with one variation per
history the puck is a per-history constant that differs between histories, a task ID from which a network can
memorise the goal in its weights instead of inferring it from rewards in its context. The audit finds every such
column from the rows alone: a column whose spread *within* each history is negligible against its spread
*between* histories. Physics jitter means "constant" cannot be exact (a resting puck moves by ~1e-4 while the 50
ML1 positions spread over 0.2), so the test is a ratio: pooled within-group std <= ``ratio`` x std of the group
means (default 0.01), with a between-group std above float32 noise. Where the variation changes per episode instead
(no ``--fixed-goal``), the same test runs over episodes.

The audit names each column's observation component (``vintix_data.domains.observation_components``), so the fix
reads as the ``--hide`` options it needs. ``vintix-data audit`` prints it and exits 1 on a finding; ``validate``
reports its findings on latent-task data as notes (a fully observed dataset shows its task by design).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from vintix_data.errors import UserError
from vintix_data.format import DATA_DIR, DatasetInfo, FormatError, fixed_list_to_numpy

RATIO = 0.01  # within-group std / between-group std at or below which a column identifies the group
MIN_BETWEEN = 1e-6  # a between-group std below this is float32 noise on values of order 1, not a task ID


class AuditError(UserError, ValueError):
    """A folder that cannot be audited (one-line message)."""


@dataclass
class Finding:
    """Columns of one observation component that identify the history (or episode) they are in."""

    component: str
    columns: list[int]
    level: str  # "history" or "episode"
    groups: int  # histories (episodes) compared
    distinct: int  # distinct group means (rounded to 1e-5) over those groups, the worst column's
    ratio: float  # the largest within/between std ratio of the columns (0.0: exactly constant in every group)

    def line(self) -> str:
        how = "constant" if self.ratio == 0 else f"constant up to {self.ratio:.1e} of its spread"
        return (
            f"{self.component}: column{'s' if len(self.columns) > 1 else ''} {', '.join(map(str, self.columns))} "
            f"{how} within each {self.level}, {self.distinct} distinct values over {self.groups} "
            f"{'histories' if self.level == 'history' else 'episodes'}"
        )


@dataclass
class AuditReport:
    folder: str
    task: str
    hidden: list[str]
    histories: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def hide(self) -> list[str]:
        """The ``--hide`` components that would remove the findings (columns without a component excluded)."""
        return list(dict.fromkeys(f.component for f in self.findings if not f.component.startswith("column ")))

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "task": self.task,
            "hidden": self.hidden,
            "histories": self.histories,
            "ok": self.ok,
            "findings": [asdict(f) for f in self.findings],
            "hide": self.hide,
            "notes": self.notes,
        }

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]


class _GroupMoments:
    """Per group (rows sorted by it, so groups are contiguous): count, sum, sum of squares, min and max of every column,
    shifted by the first row so that a tiny within-group variance is not lost to cancellation."""

    def __init__(self):
        self.keys: list = []
        self.n: list[int] = []
        self.s: list[np.ndarray] = []
        self.ss: list[np.ndarray] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.shift: np.ndarray | None = None

    def add(self, keys: np.ndarray, x: np.ndarray) -> None:
        if self.shift is None:
            self.shift = x[0].copy()
        x = x - self.shift
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        n = np.diff(np.r_[starts, len(keys)])
        parts = (
            np.add.reduceat(x, starts),
            np.add.reduceat(x * x, starts),
            np.minimum.reduceat(x, starts),
            np.maximum.reduceat(x, starts),
        )
        for j, (a, cnt) in enumerate(zip(starts, n)):
            key = keys[a].item()
            s, ss, lo, hi = (p[j] for p in parts)
            if self.keys and self.keys[-1] == key:  # the group continues from the previous batch
                self.n[-1] += int(cnt)
                self.s[-1] += s
                self.ss[-1] += ss
                self.lo[-1] = np.minimum(self.lo[-1], lo)
                self.hi[-1] = np.maximum(self.hi[-1], hi)
            else:
                self.keys.append(key)
                self.n.append(int(cnt))
                self.s.append(s)
                self.ss.append(ss)
                self.lo.append(lo)
                self.hi.append(hi)

    def identifying(self, ratio: float) -> dict[int, tuple[float, int]]:
        """Column -> (within/between std ratio, distinct group means) for the columns that identify the group."""
        if len(self.keys) < 2:
            return {}
        n = np.array(self.n, np.float64)[:, None]
        mean = np.stack(self.s) / n
        within_var = np.maximum(np.stack(self.ss) - n * mean * mean, 0.0).sum(0) / n.sum()
        between = mean.std(0)
        exact = (np.stack(self.hi) == np.stack(self.lo)).all(0)
        within = np.where(exact, 0.0, np.sqrt(within_var))
        out = {}
        for c in np.flatnonzero((between > MIN_BETWEEN) & (within <= ratio * between)):
            distinct = len(np.unique(np.round(mean[:, c] + self.shift[c], 5)))
            out[int(c)] = (float(within[c] / between[c]), distinct)
        return out


def column_components(task: str, obs_dim: int) -> dict[int, str]:
    """Observation column -> its component's name, from the task's domain adapter ('column i' where none is named)."""
    from vintix_data.domains import observation_components
    from vintix_data.registry import UnknownTaskError, get_task

    try:
        comps = observation_components(get_task(task))
    except (UnknownTaskError, UserError):
        comps = {}
    names = {i: f"column {i}" for i in range(obs_dim)}
    for name, cols in comps.items():
        for i in cols:
            if 0 <= i < obs_dim:
                names[i] = name
    return names


def audit(folder: str | Path, ratio: float = RATIO) -> AuditReport:
    """Stream the shards once; report the observation columns that identify their history (or episode)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AuditError(f"{folder}: not a directory")
    try:
        info = DatasetInfo.load(folder)
    except FormatError as e:
        raise AuditError(str(e)) from None
    shards = sorted((folder / DATA_DIR).glob("*.parquet"))
    if not shards:
        raise AuditError(f"{folder}: no data shards under {DATA_DIR}/")
    hidden = list((info.hidden_observation or {}).get("components") or [])
    report = AuditReport(str(folder), info.task, hidden, info.histories)
    by_history, by_episode = _GroupMoments(), _GroupMoments()
    try:
        for p in shards:
            for b in pq.ParquetFile(p).iter_batches(batch_size=65_536, columns=["history", "episode", "observation"]):
                obs = fixed_list_to_numpy(b.column("observation")).astype(np.float64)
                h = b.column("history").to_numpy().astype(np.int64)
                e = b.column("episode").to_numpy().astype(np.int64)
                by_history.add(h, obs)
                by_episode.add(h * (1 << 32) + e, obs)
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's errors subclass these
        raise AuditError(
            f"{folder}: unreadable shards ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
        ) from None
    if len(by_history.keys) < 2:
        report.notes.append("one history: a per-history task ID cannot be told from a constant")
    names = column_components(info.task, info.obs_dim)
    flagged = by_history.identifying(ratio)
    levels = [("history", by_history, flagged)]
    per_episode = {c: v for c, v in by_episode.identifying(ratio).items() if c not in flagged}
    levels.append(("episode", by_episode, per_episode))
    for level, moments, cols in levels:
        grouped: dict[str, list[int]] = {}
        for c in sorted(cols):
            grouped.setdefault(names[c], []).append(c)
        for comp, cs in grouped.items():
            report.findings.append(
                Finding(comp, cs, level, len(moments.keys), max(cols[c][1] for c in cs), max(cols[c][0] for c in cs))
            )
    return report


__all__ = ["AuditError", "AuditReport", "Finding", "RATIO", "audit", "column_components"]
