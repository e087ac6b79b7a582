"""Re-simulate recorded episodes and compare them with the rows (docs/design.md §5, *replay*).

A learning history is a pure function of ``(task, seed, history)`` (§3), and each episode records its reset seed,
its variation and its executed actions. So an episode can be played again in its real environment, built from
``info.json`` through :mod:`vintix_data.domains` exactly as ``collect`` built it, and the env must give back the
recorded observations (with the same columns hidden), rewards and end flags. ``validate`` checks hashes and
recomputes statistics, which a forger can rewrite; a row the environment did not produce cannot survive this.

Tolerance: bit for bit where the domain's adapter says its env is deterministic across machines (``(0, 0)``:
Industrial Benchmark is our NumPy code); otherwise within the adapter's ``replay_tolerance`` ``(rtol, atol)``,
``|recorded - replayed| <= atol + rtol * |recorded|`` per float32 value (MuJoCo's floats differ across CPUs).
End flags are compared exactly. One line per (episode, column): the first step where the rows and the env part,
and how many later steps differ too (after a forged action everything downstream differs; that is one event).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from vintix_data.domains import configure_task, episode_variation
from vintix_data.errors import UserError
from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, fixed_list_to_numpy
from vintix_data.hiding import HiddenObservation
from vintix_data.registry import get_task

DEFAULT_SAMPLE = 5
SAMPLE_SEED = 0x5EED_2027  # the default sample is the same every time (a stream apart from collection's)
COMPARED = ("observation", "reward", "terminated", "truncated")


class ReplayError(UserError, ValueError):
    """A folder or a selection replay cannot work on (one-line message)."""


@dataclass
class Mismatch:
    history: int
    episode: int
    step: int
    column: str  # "observation[3]", "reward", "terminated", "truncated", "final_observation[0]", "variation"
    recorded: object
    replayed: object
    later: int = 0  # further steps of the same column that differ in this episode

    def line(self) -> str:
        more = f" (and {self.later} later step(s) differ)" if self.later else ""
        return (
            f"history {self.history} episode {self.episode} step {self.step} {self.column}: recorded "
            f"{self.recorded!r} replayed {self.replayed!r}{more}"
        )

    def to_dict(self) -> dict:
        return {
            "history": self.history,
            "episode": self.episode,
            "step": self.step,
            "column": self.column,
            "recorded": self.recorded,
            "replayed": self.replayed,
            "later": self.later,
        }


@dataclass
class ReplayReport:
    folder: str
    replayable: bool = True
    reason: str | None = None  # why not, when not replayable (one line)
    tolerance: tuple[float, float] = (0.0, 0.0)  # (rtol, atol); (0, 0): bit for bit
    episodes: list[tuple[int, int]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    worst: dict[str, float] = field(default_factory=dict)  # column -> largest |recorded - replayed|
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.replayable and not self.mismatches

    def lines(self) -> list[str]:
        return [m.line() for m in self.mismatches]

    def summary(self) -> str:
        if not self.replayable:
            return f"{self.folder}: not replayable: {self.reason}"
        rtol, atol = self.tolerance
        tol = "bit for bit" if (rtol, atol) == (0.0, 0.0) else f"tolerance rtol {rtol:g}, atol {atol:g}"
        worst = ", ".join(f"{k} {v:.3g}" for k, v in self.worst.items())
        verdict = "all match" if self.ok else f"{len(self.mismatches)} mismatch(es)"
        per_step = f", {1e6 * self.seconds / self.steps:.0f} us/step" if self.steps else ""
        return (
            f"{self.folder}: replayed {len(self.episodes)} episode(s), {self.steps:,} steps ({tol}): {verdict}; "
            f"worst difference {worst or 'none'}{per_step}"
        )

    def to_dict(self) -> dict:
        return {
            "folder": self.folder,
            "ok": self.ok,
            "replayable": self.replayable,
            "reason": self.reason,
            "tolerance": {"rtol": self.tolerance[0], "atol": self.tolerance[1]},
            "episodes": [list(e) for e in self.episodes],
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "worst_difference": self.worst,
            "mismatches": [m.to_dict() for m in self.mismatches],
        }


def task_of(info: DatasetInfo):
    """The configured task that collected the dataset: its registry task with the recorded episode limit and env
    options, plus whatever options the adapter derives from the recorded ``env_id`` (MuJoCo ``-v4``)."""
    spec = get_task(info.task)
    options = dict(info.extra.get("env_options") or {})
    task = configure_task(spec, episode_limit=info.episode_limit, env_options=options)
    for key, value in task.adapter.checkpoint_options(spec, info.env_id).items():
        options.setdefault(key, value)
    task = configure_task(spec, episode_limit=info.episode_limit, env_options=options)
    if task.env_id != info.env_id or dict(task.env_kwargs) != dict(info.env_kwargs):
        raise ReplayError(
            f"{info.task}: info.json records env {info.env_id} {info.env_kwargs}, but this vintix builds "
            f"{task.env_id} {dict(task.env_kwargs)} for it"
        )
    return task


def episode_table(folder: Path) -> dict[str, np.ndarray]:
    try:
        t = pq.read_table(Path(folder) / META_DIR / "episodes.parquet")
    except (OSError, ValueError) as e:
        raise ReplayError(f"{folder}: {META_DIR}/episodes.parquet missing or unreadable ({type(e).__name__})") from None
    lists = ("reset_seed", "variation")  # nullable: None, not NaN
    cols = {
        c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names if c not in lists + ("final_observation",)
    }
    cols.update({c: t.column(c).to_pylist() for c in lists if c in t.column_names})
    cols["final_observation"] = t.column("final_observation")
    return cols


def parse_episodes(spec: str | None) -> list[int] | None:
    """``"0,5,10-12"`` -> [0, 5, 10, 11, 12]; ``"all"`` or None -> None (every episode)."""
    if spec is None or spec.strip().lower() == "all":
        return None
    out: list[int] = []
    try:
        for part in (p.strip() for p in spec.split(",") if p.strip()):
            a, _, b = part.partition("-")
            lo, hi = int(a), int(b) if b else int(a)
            if lo < 0 or hi < lo:
                raise ValueError(part)
            out.extend(range(lo, hi + 1))
    except ValueError:
        raise ReplayError(
            f"--episodes takes episode indices and ranges such as 0,5,10-12 (or all), got {spec!r}"
        ) from None
    if not out:
        raise ReplayError(f"--episodes names no episode: {spec!r}")
    return sorted(set(out))


def select(
    cols: dict[str, np.ndarray],
    history: int | None = None,
    episodes: list[int] | None = None,
    sample: int | None = DEFAULT_SAMPLE,
) -> list[int]:
    """Rows of the episode table to replay: ``history``'s (or every history's) ``episodes``; without ``episodes``,
    ``sample`` of them drawn with a fixed seed (None: all)."""
    h, k = cols["history"], cols["episode"]
    rows = np.arange(len(h)) if history is None else np.flatnonzero(h == history)
    if history is not None and not len(rows):
        raise ReplayError(f"--history {history}: the dataset has histories 0..{int(h.max())}")
    if episodes is not None:
        wanted = set(episodes)
        picked = [int(i) for i in rows if int(k[i]) in wanted]
        missing = wanted - {int(k[i]) for i in picked}
        if missing:
            raise ReplayError(
                f"--episodes: no episode {min(missing)}" + (f" in history {history}" if history is not None else "")
            )
        return picked
    if sample is None or sample >= len(rows):
        return [int(i) for i in rows]
    if sample < 1:
        raise ReplayError(f"the sample must be at least 1 episode, got {sample}")
    rng = np.random.Generator(np.random.PCG64(SAMPLE_SEED))
    return sorted(int(i) for i in rng.choice(rows, size=sample, replace=False))


class RowReader:
    """Random access to rows ``[first, first + n)`` across the shards, one row group at a time."""

    def __init__(self, folder: Path):
        self.files = [pq.ParquetFile(p) for p in sorted((Path(folder) / DATA_DIR).glob("*.parquet"))]
        self.groups = []  # (first row, file index, row group index, rows)
        row = 0
        for i, f in enumerate(self.files):
            for g in range(f.metadata.num_row_groups):
                n = f.metadata.row_group(g).num_rows
                self.groups.append((row, i, g, n))
                row += n
        self.total = row

    def read(self, first: int, n: int, columns: list[str]) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
        for start, i, g, rows in self.groups:
            if start + rows <= first or start >= first + n:
                continue
            t = self.files[i].read_row_group(g, columns=columns)
            lo, hi = max(first - start, 0), min(first + n - start, rows)
            for c in columns:
                col = t.column(c).slice(lo, hi - lo)
                parts[c].append(fixed_list_to_numpy(col) if col.type.num_fields else col.to_numpy(zero_copy_only=False))
        out = {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}
        if any(len(v) != n for v in out.values()):
            raise ReplayError(f"rows {first}..{first + n - 1} are not all in the shards ({self.total} rows)")
        return out


def replay_steps(env, reset_seed: int, actions: np.ndarray, on_step=None):
    """Play ``actions`` from ``reset(seed=reset_seed)``, as the collector stepped: the float32 action rows as they
    are. Returns the observations before each step (n, ...) and after the last, rewards (float32), end flags;
    stops early where the env ends the episode. ``on_step(i, obs)`` sees every observation (rendering)."""
    obs, _ = env.reset(seed=int(reset_seed), options={})
    observations, rewards, term, trunc = [obs], [], [], []
    if on_step is not None:
        on_step(0, obs)
    for i, action in enumerate(actions):
        obs, r, te, tr, _ = env.step(action)
        observations.append(obs)
        rewards.append(r)
        term.append(bool(te))
        trunc.append(bool(tr))
        if on_step is not None:
            on_step(i + 1, obs)
        if te or tr:
            break
    flat = np.asarray(observations).reshape(len(observations), -1).astype(np.float32)
    return flat, np.asarray(rewards, np.float32), np.asarray(term, bool), np.asarray(trunc, bool)


def _differs(rec: np.ndarray, rep: np.ndarray, tol: tuple[float, float]) -> np.ndarray:
    rtol, atol = tol
    if (rtol, atol) == (0.0, 0.0):  # bit for bit (a sign of zero, a NaN payload count too)
        return rec.view(np.uint32) != rep.view(np.uint32)
    return ~(np.abs(rec.astype(np.float64) - rep) <= atol + rtol * np.abs(rec.astype(np.float64)))


def compare_episode(
    report: ReplayReport,
    h: int,
    k: int,
    rows: dict[str, np.ndarray],
    final_obs: np.ndarray,
    replayed,
    cut: bool,
    hidden: HiddenObservation | None,
) -> None:
    """Add one line per column in which the replayed episode parts from the recorded one."""
    obs, rew, term, trunc = replayed
    n = len(rows["reward"])
    m = len(rew)  # the env may have ended the episode early
    if cut and m == n:  # the collector marks a history's last, cut episode truncated (docs/design.md §5)
        trunc[-1] = trunc[-1] or not term[-1]
    obs = hidden.apply(obs) if hidden is not None else obs
    rec_obs = np.vstack([rows["observation"], final_obs[None]])[: m + 1]  # row n: the final observation
    checks = [
        ("observation", rec_obs.astype(np.float32), obs, True),
        ("reward", rows["reward"][:m].astype(np.float32), rew, True),
        ("terminated", rows["terminated"][:m], term, False),
        ("truncated", rows["truncated"][:m], trunc, False),
    ]
    tol = report.tolerance
    for name, rec, rep, is_float in checks:
        if is_float:
            rec2, rep2 = rec.reshape(len(rec), -1), rep.reshape(len(rep), -1)
            diff = np.abs(rec2.astype(np.float64) - rep2)
            finite = diff[np.isfinite(diff)]
            report.worst[name] = max(report.worst.get(name, 0.0), float(finite.max()) if finite.size else 0.0)
            bad = _differs(rec2, rep2, tol)
        else:
            rec2, rep2 = rec.reshape(-1, 1), rep.reshape(-1, 1)
            bad = rec2 != rep2
        steps = np.flatnonzero(bad.any(1))
        if not len(steps):
            continue
        i = int(steps[0])
        j = int(np.flatnonzero(bad[i])[0])
        col = name
        if name == "observation":  # row n is episodes.parquet's final observation (after the last step)
            col = f"final_observation[{j}]" if i == n else f"observation[{j}]"
        value = float if is_float else bool
        report.mismatches.append(Mismatch(h, k, i, col, value(rec2[i, j]), value(rep2[i, j]), len(steps) - 1))
    if m < n:
        report.mismatches.append(Mismatch(h, k, m - 1, "length", n, m))


def replay(
    folder: str | Path,
    history: int | None = None,
    episodes: list[int] | None = None,
    sample: int | None = DEFAULT_SAMPLE,
    video=None,
) -> ReplayReport:
    """Replay the chosen episodes of a dataset folder (see the module docstring). ``video`` (a
    :class:`vintix_data.replay.video.VideoRecorder`) is shown every replayed observation."""
    import time

    folder = Path(folder)
    info = DatasetInfo.load(folder)
    report = ReplayReport(str(folder))
    cols = episode_table(folder)
    seeds = cols.get("reset_seed")
    if info.source != "collect" or seeds is None or any(s is None for s in seeds) or info.seed is None:
        report.replayable, report.reason = (
            False,
            (
                f"source {info.source!r} records no reset seeds (imported data); "
                "only collected datasets can be re-simulated"
            ),
        )
        return report
    task = task_of(info)
    report.tolerance = tuple(float(x) for x in task.adapter.replay_tolerance)
    hidden = HiddenObservation.from_dict(info.hidden_observation)
    picked = select(cols, history, episodes, sample)
    reader = RowReader(folder)
    last_of_history = {int(h): int(k) for h, k in zip(cols["history"], cols["episode"])}  # rows are in order
    env = task.make_env()
    t0 = time.perf_counter()
    try:
        for r in picked:
            h, k = int(cols["history"][r]), int(cols["episode"][r])
            report.episodes.append((h, k))
            seed, n = int(cols["reset_seed"][r]), int(cols["length"][r])
            recorded_var = cols["variation"][r] if "variation" in cols else None
            want_var = episode_variation(task, seed)
            if recorded_var != want_var:
                report.mismatches.append(Mismatch(h, k, 0, "variation", recorded_var, want_var))
            rows = reader.read(
                int(cols["first_row"][r]), n, ["observation", "action", "reward", "terminated", "truncated", "epsilon"]
            )
            final_obs = np.asarray(cols["final_observation"][r].as_py(), np.float32)
            on_step = video.episode(task, env, h, k, rows) if video is not None else None
            replayed = replay_steps(env, seed, rows["action"], on_step)
            report.steps += len(replayed[1])
            cut = k == last_of_history[h]
            compare_episode(report, h, k, rows, final_obs, replayed, cut, hidden)
    finally:
        report.seconds = (
            time.perf_counter() - t0 - (video.render_seconds if video is not None else 0.0)
        )  # the env's part
        env.close()
    return report


def check_replay(folder: str | Path, episodes: int, report) -> None:
    """``validate --replay N``: replay a seeded sample of ``episodes`` episodes into a validation report (a mismatch
    is a failure; data that cannot be replayed, such as imported data, a note)."""
    try:
        result = replay(folder, sample=episodes)
    except UserError as e:
        report.fail("replay", f"replay: {e}")
        return
    if not result.replayable:
        report.notes.append(f"replay: not replayable: {result.reason}")
        return
    for line in result.lines():
        report.fail("replay", f"replay: {line}")
    report.figures["replay"] = {
        "episodes": len(result.episodes),
        "steps": result.steps,
        "worst_difference": result.worst,
        "tolerance": {"rtol": result.tolerance[0], "atol": result.tolerance[1]},
    }
