"""Every check a dataset folder must pass before it may be pushed.

Validation streams the shards batch by batch (carrying the last row across batch and shard borders),
so it runs in bounded memory on datasets of any size. Each failure is one line naming the file,
history or episode and what is wrong; a clean dataset gives an empty list.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy.stats import spearmanr

from vintix_data.audit import AuditError, audit
from vintix_data.format import META_DIR, DatasetInfo, FormatError, fixed_list_to_numpy, row_schema
from vintix_data.integrity import RowTotals, check_episode_details, check_info, check_stats
from vintix_data.manifest import check_manifest
from vintix_data.schedule import NoiseSchedule
from vintix_data.tenths import tenth_masks

MAX_LINES_PER_CHECK = 5


@dataclass
class ValidationConfig:
    """Thresholds of the learning-curve checks (the structural checks have none)."""

    band_sigmas: float = 2.0  # a band is mean +- z * std of the reference's episode returns, z >= band_sigmas ...
    family_alpha: float = 0.05  # ... and z wide enough that a correct dataset of H histories fails at most this often
    band_min_fraction: float = 0.1  # ... and at least this fraction of |demonstrator - random|
    rank_alpha: float = 0.05  # one-sided Spearman test that returns rise over a history's episodes (n = 12: rho > 0.50)
    rank_min_episodes: int = 8  # below this the rank test has little power: reported as inconclusive, not failed
    check_curve: bool = True


@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    figures: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # checks that could not decide at this size (not failures)
    skipped: list[str] = field(default_factory=list)  # checks not run because a file they need failed (one line)
    digests: dict = field(default_factory=dict, repr=False)  # name -> sha256 of the files hashed (not in the JSON)
    _counts: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def fail(self, check: str, message: str) -> None:
        n = self._counts.get(check, 0) + 1
        self._counts[check] = n
        if n <= MAX_LINES_PER_CHECK:
            self.errors.append(message)
        elif n == MAX_LINES_PER_CHECK + 1:
            self.errors.append(f"{check}: further failures not listed")

    def to_json(self) -> str:
        from vintix_data.jsonio import dumps  # strict JSON: a non-finite figure is null

        return dumps(
            {
                "ok": self.ok,
                "errors": self.errors,
                "notes": self.notes,
                "skipped": self.skipped,
                "figures": self.figures,
            },
            indent=2,
        )


def _check_hidden_spec(info: DatasetInfo, report: ValidationReport) -> None:
    hidden = info.hidden_observation
    if not hidden:
        return
    idx = hidden.get("indices") or []
    if not idx or not all(isinstance(i, int) and 0 <= i < info.obs_dim for i in idx) or not hidden.get("components"):
        report.fail(
            "hidden",
            f"{META_DIR}/info.json: hidden_observation {hidden} names no valid observation column "
            f"(obs_dim {info.obs_dim})",
        )
        info.hidden_observation = None  # the row check would index out of range


class _RowChecker:
    """Structural checks over the rows in order, with state carried across batches."""

    def __init__(self, info: DatasetInfo, report: ValidationReport):
        self.info, self.r = info, report
        self.low = np.asarray(info.action_space["low"], np.float32)
        self.high = np.asarray(info.action_space["high"], np.float32)
        self.bound = float(np.max(np.abs(np.concatenate([self.low, self.high]))))
        self.schedule = None
        if info.schedule:
            self.schedule = NoiseSchedule(p=info.schedule["p"], f=info.schedule["f"], steps=info.schedule["steps"])
        self.prev: tuple | None = None  # (history, episode, step, t, terminated|truncated) of the previous row
        self.rows = 0
        self.history_rows: dict[int, int] = {}
        self.ep_keys: list[tuple[int, int]] = []
        self.ep_returns: list[float] = []
        self.ep_lengths: list[int] = []
        self.totals = RowTotals(info.obs_dim, info.act_dim)  # stats.json and episodes.parquet, recomputed

    def batch(self, b: pa.RecordBatch, where: str) -> None:
        r, info = self.r, self.info
        h = b.column("history").to_numpy()
        ep = b.column("episode").to_numpy()
        st = b.column("step").to_numpy()
        t = b.column("t").to_numpy()
        done = b.column("terminated").to_numpy(zero_copy_only=False) | b.column("truncated").to_numpy(
            zero_copy_only=False
        )
        rew = b.column("reward").to_numpy().astype(np.float64)
        obs = fixed_list_to_numpy(b.column("observation"))
        act = fixed_list_to_numpy(b.column("action"))
        if obs.shape[1] != info.obs_dim or act.shape[1] != info.act_dim:
            r.fail(
                "dims",
                f"{where}: observation/action dims {obs.shape[1]}/{act.shape[1]} != info.json {info.obs_dim}/{info.act_dim}",
            )
            return
        # order and contiguity, including the border with the previous batch
        if self.prev is not None:
            ph, pe, ps, pt, pd = self.prev
            h, ep, st, t, done_prev = np.r_[ph, h], np.r_[pe, ep], np.r_[ps, st], np.r_[pt, t], np.r_[pd, done]
        else:
            h, ep, st, t, done_prev = np.r_[-1, h], np.r_[0, ep], np.r_[0, st], np.r_[-1, t], np.r_[True, done]
        same = h[1:] == h[:-1]
        new_hist = ~same
        bad = (
            (h[1:] < h[:-1])
            | (new_hist & (h[1:] != h[:-1] + 1) & (h[:-1] >= 0))
            | (new_hist & (t[1:] != 0))
            | (same & (t[1:] != t[:-1] + 1))
        )
        for i in np.flatnonzero(bad)[:MAX_LINES_PER_CHECK]:
            r.fail(
                "order", f"history {h[i + 1]} t={t[i + 1]}: rows not sorted by (history, t) or t not contiguous from 0"
            )
        if self.prev is None and len(h) > 1 and h[1] != 0:
            r.fail("order", f"the first row belongs to history {h[1]}, not 0")
        new_ep = new_hist | (ep[1:] != ep[:-1])
        bad_ep = (new_ep & same & (ep[1:] != ep[:-1] + 1)) | (new_hist & (ep[1:] != 0))
        for i in np.flatnonzero(bad_ep)[:MAX_LINES_PER_CHECK]:
            r.fail("episodes", f"history {h[i + 1]} episode {ep[i + 1]}: episode index does not follow {ep[i]}")
        bad_step = (new_ep & (st[1:] != 0)) | (~new_ep & (st[1:] != st[:-1] + 1))
        for i in np.flatnonzero(bad_step)[:MAX_LINES_PER_CHECK]:
            r.fail(
                "step",
                f"history {h[i + 1]} episode {ep[i + 1]}: step {st[i + 1]} does not reset at the episode start or skips",
            )
        ends = done_prev[:-1]  # the flags of the row before each row
        bad_end = (new_ep & ~ends) | (~new_ep & ends)
        for i in np.flatnonzero(bad_end)[:MAX_LINES_PER_CHECK]:
            r.fail(
                "flags",
                f"history {h[i + 1]} episode {ep[i + 1]}: terminated/truncated disagrees with the episode boundary at t={t[i + 1]}",
            )
        if info.episode_limit and np.any(st[1:] >= info.episode_limit):
            i = int(np.argmax(st[1:] >= info.episode_limit))
            r.fail(
                "limit", f"history {h[i + 1]} episode {ep[i + 1]}: longer than the episode limit {info.episode_limit}"
            )
        h, ep, st, t = h[1:], ep[1:], st[1:], t[1:]
        self.prev = (h[-1], ep[-1], st[-1], t[-1], done[-1])
        # values
        for name, x in (("observation", obs), ("action", act), ("reward", rew)):
            if not np.all(np.isfinite(x)):
                i = int(np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1))[0])
                r.fail("finite", f"history {h[i]} episode {ep[i]} t={t[i]}: {name} has NaN or inf")
        hidden = info.hidden_observation
        if hidden:  # latent-task data: the hidden columns must hold the fill value in every row
            cols = obs[:, hidden["indices"]]
            leak = cols != np.float32(hidden["fill"])
            if leak.any():
                i = int(np.flatnonzero(leak.any(1))[0])
                r.fail(
                    "hidden",
                    f"history {h[i]} episode {ep[i]} t={t[i]}: hidden observation column(s) "
                    f"{', '.join(hidden['components'])} hold {cols[i].tolist()}, not the fill {hidden['fill']}",
                )
        out = (act < self.low) | (act > self.high)
        if out.any():
            i = int(np.flatnonzero(out.any(1))[0])
            r.fail(
                "bounds", f"history {h[i]} episode {ep[i]} t={t[i]}: action {act[i].tolist()} outside the action space"
            )
        eps_col, demo_col = b.column("epsilon"), b.column("demonstrator_action")
        self.totals.features(
            {
                "observation": obs,
                "action": act,
                "reward": rew,
                "demonstrator_action": fixed_list_to_numpy(demo_col) if demo_col.null_count == 0 else None,
            }
        )
        if eps_col.null_count == 0 and self.schedule is not None:
            eps = eps_col.to_numpy()
            expected = self.schedule.epsilon(t).astype(np.float32)
            if not np.array_equal(eps, expected):
                i = int(np.flatnonzero(eps != expected)[0])
                r.fail("epsilon", f"history {h[i]} t={t[i]}: epsilon {eps[i]} != schedule {expected[i]}")
            if demo_col.null_count == 0 and not info.goal_blind:  # goal-blind: not mixed from it
                demo = fixed_list_to_numpy(demo_col).astype(np.float64)
                e = eps.astype(np.float64)[:, None]
                gap = np.abs(act.astype(np.float64) - (1 - e) * demo) - e * self.bound
                if np.any(gap > 1e-5 * (1 + self.bound)):
                    i = int(np.flatnonzero((gap > 1e-5 * (1 + self.bound)).any(1))[0])
                    r.fail(
                        "mixing",
                        f"history {h[i]} t={t[i]}: |action - (1-eps) demonstrator_action| exceeds eps * max|bound|",
                    )
        # per-episode sums (episodes may continue into the next batch)
        starts = np.flatnonzero(np.r_[True, (h[1:] != h[:-1]) | (ep[1:] != ep[:-1])])
        sums = np.add.reduceat(rew, starts)
        lens = np.diff(np.r_[starts, len(h)])
        continued = bool(self.ep_keys) and self.ep_keys[-1] == (int(h[0]), int(ep[0]))
        self.totals.episodes(
            starts,
            continued,
            eps_col.to_numpy(zero_copy_only=False) if eps_col.null_count == 0 else None,
            b.column("terminated").to_numpy(zero_copy_only=False),
            b.column("truncated").to_numpy(zero_copy_only=False),
        )
        for s, total, n in zip(starts, sums, lens):
            key = (int(h[s]), int(ep[s]))
            if self.ep_keys and self.ep_keys[-1] == key:
                self.ep_returns[-1] += float(total)
                self.ep_lengths[-1] += int(n)
            else:
                self.ep_keys.append(key)
                self.ep_returns.append(float(total))
                self.ep_lengths.append(int(n))
        for hh, n in zip(*np.unique(h, return_counts=True)):
            self.history_rows[int(hh)] = self.history_rows.get(int(hh), 0) + int(n)
        self.rows += len(h)


def _band(center: float, std: float | None, z: float, floor: float) -> float:
    return max(z * (std or 0.0), floor)


def _check_curve(
    info: DatasetInfo, keys, returns, cfg: ValidationConfig, report: ValidationReport, lengths=None
) -> None:
    """Each history must start where its first tenth's noise puts it and end where its last tenth's does, and rise.

    The references are measured at finalize on the same seeded episodes: the first tenth is held to the noise-mixed
    demonstrator at that tenth's mean eps (uniform random where eps is 1), the last tenth to the demonstrator (or the
    mixture at its eps where ``f < 0.1``). A band is ``z`` standard deviations of that reference's episode returns,
    ``z`` chosen so that a correct dataset of ``H`` histories falls outside some history's band with probability
    about ``family_alpha`` (Bonferroni; z = 2.0 for one history, 3.3 for 50), and never narrower than
    ``band_min_fraction`` of the random-to-demonstrator gap. The rise is a one-sided Spearman test of return against
    episode index at level ``rank_alpha``; a history of fewer than ``rank_min_episodes`` episodes is reported as
    inconclusive (a note), not as a failure.

    Data of the reward-driven learner (``collect --behaviour learner``) is held to what the learner itself scores:
    its first tenth to the learner's first tenth run at the schedule's eps (``first_tenth_behaviour`` "learner", std
    that of per-run means), and its rise to last tenth above first tenth. A learner finds the goal within its first
    episodes; with little noise (``--f 0.95``) its returns are flat afterwards, so a rank trend over all episodes
    tests the noise schedule's share of the rise, which such data barely has (measured: rho -0.28 to 0.14).
    """

    from scipy.stats import norm

    refs = info.reference_scores
    if refs.random_mean is None or refs.demonstrator_mean is None:
        report.figures["curve"] = "skipped: no measured reference scores"
        return
    keys, returns = np.asarray(keys), np.asarray(returns)
    histories = np.unique(keys[:, 0])
    z = max(cfg.band_sigmas, float(norm.ppf(1 - cfg.family_alpha / (2 * len(histories)))))
    floor = cfg.band_min_fraction * abs(refs.demonstrator_mean - refs.random_mean)
    learner = refs.first_tenth_behaviour == "learner"
    if refs.first_tenth_mean is not None:
        first_ref, first_std = refs.first_tenth_mean, refs.first_tenth_std
        first_name = f"{'learner' if learner else 'noisy-demonstrator'} band (eps {refs.first_tenth_epsilon:.3f})"
    else:
        first_ref, first_std, first_name = refs.random_mean, refs.random_std, "random band"
    if refs.last_tenth_mean is not None:
        last_ref, last_std = refs.last_tenth_mean, refs.last_tenth_std
        last_name = f"noisy-demonstrator band (eps {refs.last_tenth_epsilon:.3f})"
    else:
        last_ref, last_std, last_name = refs.demonstrator_mean, refs.demonstrator_std, "demonstrator band"
    half_f, half_l = _band(first_ref, first_std, z, floor), _band(last_ref, last_std, z, floor)
    report.figures["band_z"] = z
    report.figures["first_tenth_band"] = [first_ref - half_f, first_ref + half_f]
    report.figures["last_tenth_band"] = [last_ref - half_l, last_ref + half_l]
    per_history, too_short, high_starts = {}, [], []
    for hh in histories:
        rets = returns[keys[:, 0] == hh]
        if lengths is not None:
            m_first, m_last = tenth_masks(
                np.asarray(lengths)[keys[:, 0] == hh], info.steps_per_history, info.episode_limit
            )
            first, last = float(rets[m_first].mean()), float(rets[m_last].mean())
        else:
            n = max(1, len(rets) // 10)
            first, last = float(rets[:n].mean()), float(rets[-n:].mean())
        rho, p = (
            spearmanr(np.arange(len(rets)), rets, alternative="greater")
            if len(rets) > 2 and np.ptp(rets) > 0
            else (float("nan"), 1.0)
        )
        rho, p = float(rho), float(p)
        per_history[int(hh)] = {
            "first_decile": first,
            "last_decile": last,
            "spearman": rho,
            "spearman_p": p,
            "episodes": len(rets),
        }
        if abs(first - first_ref) > half_f:
            midpoint = (first_ref + last_ref) / 2
            if (first > first_ref) and (first - midpoint) * np.sign(last_ref - first_ref) < 0:
                # above the band, yet nearer the start's reference than the end's: one history's own variation
                # (--fixed-goal: a goal close to the start) can make noisy play score that high; not a broken schedule
                high_starts.append(f"{int(hh)} ({first:.1f})")
            else:
                report.fail(
                    "curve",
                    f"history {hh}: first-decile mean return {first:.2f} outside the {first_name} "
                    f"{first_ref:.2f} +- {half_f:.2f}",
                )
        if abs(last - last_ref) > half_l:
            report.fail(
                "curve",
                f"history {hh}: last-decile mean return {last:.2f} outside the {last_name} "
                f"{last_ref:.2f} +- {half_l:.2f}",
            )
        if learner:  # the learner's rise is within its first episodes, not a trend over the history (docstring)
            if not last > first:
                report.fail(
                    "curve",
                    f"history {hh}: return does not rise (last-decile mean {last:.2f} <= first-decile mean {first:.2f})",
                )
        elif len(rets) < cfg.rank_min_episodes:  # too few episodes for the test to tell a rise from noise
            too_short.append(int(hh))
        elif not p < cfg.rank_alpha:
            report.fail(
                "curve",
                f"history {hh}: return does not rise over episodes (Spearman rho {rho:.3f}, one-sided "
                f"p {p:.3g} >= {cfg.rank_alpha})",
            )
    if high_starts:
        report.notes.append(
            f"first tenth above the {first_name} {first_ref:.2f} +- {half_f:.2f} but below the midpoint "
            f"to the last tenth's reference in {len(high_starts)} history(ies): {', '.join(high_starts[:10])}"
        )
    if too_short:
        report.notes.append(
            f"rise over episodes inconclusive for {len(too_short)} history(ies) (fewer than "
            f"{cfg.rank_min_episodes} episodes, too few for the one-sided rank test): {too_short[:10]}"
        )
    report.figures["histories"] = per_history


def validate(
    folder: str | Path, config: ValidationConfig | None = None, hashes: dict[str, str] | None = None, replay: int = 0
) -> ValidationReport:
    """Every check a dataset folder must pass. ``hashes`` (manifest name -> sha256) are digests the caller has
    already computed for these very files (``verify``), so no file is hashed twice. ``replay``: re-simulate that many
    sampled episodes too (vintix_data.replay)."""
    cfg = config or ValidationConfig()
    folder = Path(folder)
    report = ValidationReport()
    if not folder.is_dir():
        report.fail("folder", f"{folder}: not a directory")
        return report
    try:
        info = DatasetInfo.load(folder)
    except FormatError as e:
        report.fail("info", str(e))
        return report
    _check_hidden_spec(info, report)
    shards, bad = check_manifest(folder, report, hashes)
    if not shards and not bad:
        report.fail("shards", f"{folder}: no data shards")
        return report
    expected = row_schema(info.obs_dim, info.act_dim)
    checker = _RowChecker(info, report)
    for p in shards if not bad else []:  # the rows are checked as one stream: a shard that failed its hash breaks it
        where = p.relative_to(folder).as_posix()
        try:
            pf = pq.ParquetFile(p)
            if not pf.schema_arrow.equals(expected, check_metadata=False):
                report.fail("schema", f"{where}: schema differs from the row schema: {pf.schema_arrow}")
                bad.append(where)
                break
            for b in pf.iter_batches(batch_size=262_144):
                checker.batch(b, where)
        except (pa.ArrowException, OSError) as e:
            report.fail("shards", f"{where}: unreadable parquet ({type(e).__name__}: {str(e).splitlines()[0][:120]})")
            bad.append(where)
            break
    if bad:  # each fault was reported once, above; what needs the rows of that file is skipped, in one line
        check_info(info, len({p.relative_to(folder).as_posix() for p in shards} | set(bad)), None, report)
        report.figures["skipped"] = {"checks": row_checks(info, cfg), "files": bad}
        report.skipped.append(skipped_line(len(row_checks(info, cfg)), bad))
        return report
    for hh in range(info.histories):
        n = checker.history_rows.get(hh, 0)
        if n != info.steps_per_history:
            report.fail("histories", f"history {hh}: {n} rows, info.json says {info.steps_per_history}")
    if checker.prev is not None and not checker.prev[4]:
        report.fail("flags", f"history {checker.prev[0]}: the last row is neither terminated nor truncated")
    if checker.rows != info.total_steps:
        report.fail("histories", f"{checker.rows} rows in the shards, info.json says {info.total_steps}")
    _check_episodes_table(folder, checker, report)
    if info.hidden_observation and report.ok:  # latent-task data: columns that still name the task (vintix-data audit)
        with contextlib.suppress(AuditError):
            report.notes += [f"task ID visible: {line} (vintix-data audit)" for line in audit(folder).lines()]
    check_stats(folder, checker.totals, checker.ep_returns, report)
    check_info(info, len(shards), len(checker.ep_keys), report)
    report.figures["rows"] = checker.rows
    report.figures["episodes"] = len(checker.ep_keys)
    if info.goal_blind:  # goal-blind behaviour (collect --behaviour decoy|random): its returns need not rise
        report.notes.append(
            f"learning curve not checked: the actions are a goal-blind {info.extra['behaviour'].get('kind')} "
            "behaviour, not the noise-mixed demonstrator"
        )
    elif cfg.check_curve and checker.ep_keys:
        _check_curve(info, checker.ep_keys, checker.ep_returns, cfg, report, checker.ep_lengths)
    if replay > 0:
        from vintix_data.replay.simulate import check_replay

        check_replay(folder, replay, report)
    return report


def row_checks(info: DatasetInfo, cfg: ValidationConfig) -> list[str]:
    """The checks that read the rows (what a shard that fails its hash, or cannot be read, takes with it)."""
    refs = info.reference_scores
    return (
        ["row order", "episode indices", "steps", "end flags", "episode limit", "finite values", "action bounds"]
        + (["epsilon schedule", "mixing bound"] if info.schedule else [])
        + (["hidden columns"] if info.hidden_observation else [])
        + [
            "rows per history",
            "total rows",
            f"{META_DIR}/episodes.parquet",
            f"{META_DIR}/stats.json",
            f"{META_DIR}/info.json's episode count",
        ]
        + (["learning curve"] if cfg.check_curve and None not in (refs.random_mean, refs.demonstrator_mean) else [])
    )


def skipped_line(n: int, bad: list[str]) -> str:
    """One line for the ``n`` checks that need the rows of the shards in ``bad``."""
    more = f" and {len(bad) - 1} more shard(s)" if len(bad) > 1 else ""
    return f"{n} checks skipped: they need the rows of {bad[0]}{more}"


def _check_episodes_table(folder: Path, checker: _RowChecker, report: ValidationReport) -> None:
    path = folder / META_DIR / "episodes.parquet"
    try:
        t = pq.read_table(path, columns=["history", "episode", "length", "return"])
    except (pa.ArrowException, OSError) as e:
        report.fail("episodes", f"{META_DIR}/episodes.parquet: missing or unreadable ({type(e).__name__})")
        return
    keys = list(zip(t.column("history").to_pylist(), t.column("episode").to_pylist()))
    if keys != [tuple(k) for k in checker.ep_keys]:
        report.fail(
            "episodes",
            f"{META_DIR}/episodes.parquet lists {len(keys)} episodes that differ from the {len(checker.ep_keys)} in the shards",
        )
        return
    lengths = np.asarray(t.column("length").to_pylist())
    if not np.array_equal(lengths, checker.ep_lengths):
        report.fail("episodes", f"{META_DIR}/episodes.parquet: episode lengths differ from the shards")
    else:
        check_episode_details(folder, checker.info, checker.totals, checker.ep_lengths, report)
    if not np.allclose(t.column("return").to_numpy(), checker.ep_returns, rtol=1e-9, atol=1e-6):
        report.fail("episodes", f"{META_DIR}/episodes.parquet: episode returns differ from the shards")
    hidden = checker.info.hidden_observation
    if hidden:
        final = np.asarray(
            pq.read_table(path, columns=["final_observation"]).column("final_observation").to_pylist(), np.float32
        ).reshape(len(keys), -1)
        leak = final[:, hidden["indices"]] != np.float32(hidden["fill"])
        if leak.any():
            i = int(np.flatnonzero(leak.any(1))[0])
            report.fail(
                "hidden",
                f"{META_DIR}/episodes.parquet: history {keys[i][0]} episode {keys[i][1]}: the final "
                f"observation shows the hidden column(s) {', '.join(hidden['components'])}",
            )
