"""What ``validate`` recomputes from the rows and compares with the metadata a reader trusts.

The manifest catches an edit made after it was written; these checks catch metadata that disagree with the rows
however they came to be (an edit followed by a rewritten manifest, a writer with a bug): ``stats.json`` against the
statistics of the rows, ``episodes.parquet`` against the episodes of the rows, ``info.json``'s counts against the
shards, its reward scale against the task registry, and its seed against the reset seeds the episodes ran with.

Tolerances, for values recomputed here against values read from the files: counts, lengths, flags, row offsets,
reset seeds and min/max (copies of row values, written exactly by JSON) must be equal; means and standard deviations
(float64 sums in another order) within ``1e-6 * (1 + |scale|)``, ``scale`` the largest magnitude of that feature;
a stored float32 mean epsilon within ``1e-6``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vintix_data.format import META_DIR, DatasetInfo, RunningStats

STATS_FEATURES = ("observation", "action", "reward", "demonstrator_action")
REL_TOL = 1e-6
EPS_TOL = 1e-6


class RowTotals:
    """Per-feature statistics and per-episode extras (epsilon sums, end flags), accumulated batch by batch."""

    def __init__(self, obs_dim: int, act_dim: int):
        dims = {"observation": obs_dim, "action": act_dim, "reward": 1, "demonstrator_action": act_dim}
        self.stats = {k: RunningStats(d) for k, d in dims.items()}
        self.eps_sums: list[float | None] = []
        self.ends: list[tuple[bool, bool]] = []

    def features(self, arrays: dict[str, np.ndarray | None]) -> None:
        for k, x in arrays.items():
            if x is not None:
                self.stats[k].update(x)

    def episodes(
        self, starts: np.ndarray, continued: bool, eps: np.ndarray | None, term: np.ndarray, trunc: np.ndarray
    ) -> None:
        """One batch's episode segments (``continued``: the first continues the previous batch's last episode)."""
        ends = np.r_[starts[1:], len(term)] - 1
        sums = np.add.reduceat(eps.astype(np.float64), starts) if eps is not None else [None] * len(starts)
        for i, (s, e) in enumerate(zip(sums, ends)):
            flags = (bool(term[e]), bool(trunc[e]))
            if i == 0 and continued:
                prev = self.eps_sums[-1]
                self.eps_sums[-1] = None if prev is None or s is None else prev + float(s)
                self.ends[-1] = flags
            else:
                self.eps_sums.append(None if s is None else float(s))
                self.ends.append(flags)


def _close(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    return np.abs(a - b) <= REL_TOL * (1 + scale)


def check_stats(folder: Path, totals: RowTotals, returns: list[float], report) -> None:
    """``meta/stats.json`` against the statistics of the rows (and of the episode returns)."""
    path = folder / META_DIR / "stats.json"
    where = f"{META_DIR}/stats.json"
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        report.fail("stats", f"{where}: missing or unreadable ({type(e).__name__})")
        return
    recomputed = {k: s.to_dict() for k, s in totals.stats.items()}
    r = np.asarray(returns, np.float64)
    if len(r):
        recomputed["episode_return"] = {
            "mean": [float(r.mean())],
            "std": [float(r.std())],
            "min": [float(r.min())],
            "max": [float(r.max())],
            "count": len(r),
        }
    for name, want in recomputed.items():
        got = stored.get(name) if isinstance(stored, dict) else None
        if want["count"] == 0 and (got is None or got.get("count") in (0, None)):
            continue  # a feature the data do not have (imported data: no demonstrator actions)
        if not isinstance(got, dict):
            report.fail("stats", f"{where}: no {name} statistics")
            continue
        if got.get("count") != want["count"]:
            report.fail("stats", f"{where}: {name} count {got.get('count')} != {want['count']} rows in the shards")
            continue
        try:
            lo, hi, mean = (np.asarray(got.get(k), np.float64) for k in ("min", "max", "mean"))
        except (TypeError, ValueError):
            lo = hi = mean = np.zeros(0)
        if lo.shape == hi.shape == mean.shape and np.any((mean < lo) | (mean > hi)):
            i = int(np.argmax((mean < lo) | (mean > hi)))
            report.fail(
                "stats",
                f"{where}: {name} mean[{i}] {mean.flat[i]} lies outside its own [min, max] "
                f"[{lo.flat[i]}, {hi.flat[i]}]",
            )
            continue
        scale = float(max(np.max(np.abs(want["min"])), np.max(np.abs(want["max"]))))
        for field in ("mean", "std", "min", "max"):
            try:
                g = np.atleast_1d(np.asarray(got.get(field), np.float64))
            except (TypeError, ValueError):
                g = np.array([np.nan])
            w = np.atleast_1d(np.asarray(want[field], np.float64))
            exact = field in ("min", "max")
            ok = (g == w) if exact else _close(g, w, scale) if g.shape == w.shape else None
            if g.shape != w.shape or not np.all(ok):
                i = int(np.argmax(~ok)) if g.shape == w.shape else 0  # the first element that fails, not merely differs
                shown = g[i] if g.shape == w.shape else got.get(field)
                report.fail("stats", f"{where}: {name} {field}[{i}] {shown} != {w[i]:.9g} recomputed from the rows")
                break


def check_episode_details(folder: Path, info: DatasetInfo, totals: RowTotals, lengths: list[int], report) -> None:
    """The columns of ``meta/episodes.parquet`` beyond keys, lengths and returns: first rows, mean epsilon, end
    flags and the reset seeds that ``info.json``'s seed gives (call once keys and lengths agree with the rows)."""
    where = f"{META_DIR}/episodes.parquet"
    try:
        t = pq.read_table(folder / META_DIR / "episodes.parquet")
    except (pa.ArrowException, OSError):
        return  # reported by the caller
    cols = {c: t.column(c).to_pylist() for c in t.column_names if c != "final_observation"}
    first = np.r_[0, np.cumsum(lengths)[:-1]] if lengths else np.zeros(0, np.int64)
    if "first_row" not in cols or not np.array_equal(np.asarray(cols["first_row"], np.int64), first):
        report.fail("episodes", f"{where}: first_row does not match the episodes' positions in the shards")
    if cols.get("terminated") != [e[0] for e in totals.ends] or cols.get("truncated") != [e[1] for e in totals.ends]:
        report.fail("episodes", f"{where}: terminated/truncated differ from the episodes' last rows in the shards")
    stored_eps = cols.get("mean_epsilon") or []
    for i, (s, n) in enumerate(zip(totals.eps_sums, lengths)):
        got = stored_eps[i] if i < len(stored_eps) else None
        if (s is None) != (got is None) or (s is not None and abs(got - s / n) > EPS_TOL):
            report.fail(
                "episodes",
                f"{where}: history {cols['history'][i]} episode {cols['episode'][i]}: mean_epsilon "
                f"{got} != {None if s is None else s / n:.7g} from the rows",
            )
            break
    _check_reset_seeds(info, cols, where, report)


def _check_reset_seeds(info: DatasetInfo, cols: dict, where: str, report) -> None:
    from vintix_data.domains import configure_task
    from vintix_data.errors import UserError
    from vintix_data.registry import get_task

    seeds = cols.get("reset_seed") or []
    if info.seed is None or not seeds or all(s is None for s in seeds):
        return  # imported data record neither
    try:
        task = configure_task(
            get_task(info.task), episode_limit=info.episode_limit, env_options=dict(info.extra.get("env_options") or {})
        )
    except UserError as e:
        report.notes.append(f"reset seeds not checked against the seed: {e}")
        return
    variations = cols.get("variation") or [None] * len(seeds)
    for h, k, s, v in zip(cols["history"], cols["episode"], seeds, variations):
        want = task.episode_seed(int(info.seed), int(h), int(k))
        if s != want:
            report.fail(
                "seed",
                f"{where}: history {h} episode {k} reset with seed {s}, but {META_DIR}/info.json's seed "
                f"{info.seed} gives {want}",
            )
            return
        if v != task.variation(want):
            report.fail(
                "seed", f"{where}: history {h} episode {k}: variation {v} != {task.variation(want)} of its reset seed"
            )
            return


def check_info(info: DatasetInfo, shards: int, episodes: int | None, report) -> None:
    """``info.json``'s counts against the shards, and what the task registry fixes (the reward scale);
    ``episodes`` None: the rows could not be read, so the episode count is not checked."""
    from vintix_data.registry import UnknownTaskError, get_task

    where = f"{META_DIR}/info.json"
    if info.total_steps != info.histories * info.steps_per_history:
        report.fail(
            "info",
            f"{where}: total_steps {info.total_steps} != histories {info.histories} x steps_per_history "
            f"{info.steps_per_history}",
        )
    if episodes is not None and info.episodes != episodes:
        report.fail("info", f"{where}: episodes {info.episodes} != {episodes} episodes in the shards")
    if info.num_shards != shards:
        report.fail("info", f"{where}: num_shards {info.num_shards} != {shards} shards listed in the manifest")
    if info.schedule and info.schedule.get("steps") != info.steps_per_history:
        report.fail(
            "info",
            f"{where}: schedule steps {info.schedule.get('steps')} != steps_per_history {info.steps_per_history}",
        )
    user = info.extra.get("task_source")
    try:
        spec = get_task(info.task)
    except UnknownTaskError:
        if user:  # a task file's or plugin's task, not defined in this process ($VINTIX_TASKS, the plugin installed)
            report.notes.append(
                f"{where}: task {info.task!r} ({user}) is not defined here; its reward scale is not checked"
            )
            return
        report.fail("info", f"{where}: unknown task {info.task!r}")
        return
    if info.extra.get("reward_scale_source") == "--reward-scale":
        return  # set for this run on the command line: nothing else fixes it
    if info.reward_scale != spec.reward_scale:
        report.fail(
            "info",
            f"{where}: reward_scale {info.reward_scale} != {spec.reward_scale}, the task registry's for {info.task}",
        )


__all__ = ["RowTotals", "check_episode_details", "check_info", "check_stats"]
