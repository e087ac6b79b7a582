"""The learning-curve figure that goes into every dataset folder (``plots/learning_curve.png``).

A reader of the card should see at a glance that the histories *improve*: from near the random
policy's return up to the demonstrator's. So the plot shows every history's episode returns, their
mean, and the reference returns (measured here, and the paper's where it has them).

It draws on a bare ``matplotlib.figure.Figure`` (Agg, never pyplot) so that calling it from a library
or a headless worker changes no global matplotlib state.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from vintix_data.format import META_DIR, DatasetInfo

PLOT_PATH = "plots/learning_curve.png"
# `collect --card-video`: history 0's first, middle and last episodes, replayed (vintix_data.replay.video); a plot, so
# covered by the manifest like the learning curve and never one of its data files
VIDEO_PATH = "plots/replay.gif"
MAX_LINES = 50  # per-history lines drawn; more only turn the figure into a blot


def episode_table(folder: Path, info: DatasetInfo) -> dict[int, dict[str, np.ndarray]]:
    """Per history, episodes in order: ``return`` and ``mean_epsilon`` (NaN where unknown).

    The last episode of a history that the history's end cut short (not terminated, shorter than the
    episode limit) is left out: its return covers only part of an episode and would read as a collapse.
    """
    t = pq.read_table(
        Path(folder) / META_DIR / "episodes.parquet",
        columns=["history", "episode", "length", "return", "mean_epsilon", "terminated"],
    )
    cols = {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}
    eps = np.asarray(cols["mean_epsilon"], dtype=np.float64)  # nulls arrive as NaN (or None -> nan)
    out = {}
    for h in np.unique(cols["history"]):
        idx = np.flatnonzero(cols["history"] == h)
        idx = idx[np.argsort(cols["episode"][idx], kind="stable")]
        last = idx[-1]
        if (
            len(idx) > 1
            and info.episode_limit > 0
            and not cols["terminated"][last]
            and cols["length"][last] < info.episode_limit
        ):
            idx = idx[:-1]
        out[int(h)] = {"return": np.asarray(cols["return"][idx], np.float64), "mean_epsilon": eps[idx]}
    return out


def _mean_over_histories(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean per episode index over the histories that reach it, and how many do."""
    n = max(len(s) for s in series)
    stack = np.full((len(series), n), np.nan)
    for i, s in enumerate(series):
        stack[i, : len(s)] = s
    count = np.sum(~np.isnan(stack), axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(stack, axis=0) / np.maximum(count, 1)
    mean[count == 0] = np.nan
    return mean, count


def _rolling(x: np.ndarray, w: int) -> np.ndarray:
    if w <= 1:
        return x
    kernel = np.ones(w)
    ok = ~np.isnan(x)
    num = np.convolve(np.where(ok, x, 0.0), kernel, mode="same")
    den = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.maximum(den, 1), np.nan)


def learning_curve(folder: Path, info: DatasetInfo) -> Path:
    folder = Path(folder)
    table = episode_table(folder, info)
    returns = [e["return"] for e in table.values()]
    epsilons = [e["mean_epsilon"] for e in table.values()]
    has_eps = any(np.isfinite(e).any() for e in epsilons)

    fig = Figure(figsize=(10, 5), dpi=110, layout="constrained")
    if has_eps:
        ax, ax_eps = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    else:
        ax, ax_eps = fig.subplots(1, 1), None

    # Long histories: smooth each line over ~1/50 of its length, or the per-episode noise hides the trend.
    w = max(1, max((len(r) for r in returns), default=0) // 50)
    shown = (
        np.unique(np.linspace(0, len(returns) - 1, min(len(returns), MAX_LINES)).round().astype(int)) if returns else []
    )
    alpha = float(np.clip(4 / max(len(shown), 1), 0.12, 0.35))
    label = (
        "each history"
        + (f" ({len(shown)} of {len(returns)})" if len(shown) < len(returns) else "")
        + (f", rolling mean of {w}" if w > 1 else "")
    )
    for j, i in enumerate(shown):
        ax.plot(_rolling(returns[i], w), color="tab:blue", lw=0.6, alpha=alpha, label=label if j == 0 else None)
    if returns:
        mean, count = _mean_over_histories(returns)
        # Past the point where most histories have ended, the mean rests on a few and only adds noise.
        mean[count < max(1, (len(returns) + 1) // 2)] = np.nan
        ax.plot(
            _rolling(mean, w),
            color="navy",
            lw=2.2,
            label="mean over histories" + (f", rolling mean of {w}" if w > 1 else ""),
        )

    refs = info.reference_scores
    for value, label, color, style, alpha in (
        (refs.demonstrator_mean, "demonstrator (measured here)", "tab:green", "-", 0.9),
        (refs.random_mean, "random (measured here)", "tab:red", "-", 0.9),
        (refs.paper_expert_mean, "expert (paper)", "tab:green", "--", 0.5),
        (refs.paper_random_mean, "random (paper)", "tab:red", "--", 0.5),
    ):
        if value is not None and np.isfinite(value):
            ax.axhline(value, color=color, ls=style, lw=1.3, alpha=alpha, label=f"{label}: {value:.4g}")

    ax.set_title(f"{info.task}: episode return over the learning histories")
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=7, framealpha=0.8)
    if ax_eps is not None:
        eps_mean, _ = _mean_over_histories(epsilons)
        ax_eps.plot(eps_mean, color="tab:orange", lw=1.2)
        ax_eps.set_ylabel("mean ε")
        ax_eps.set_ylim(-0.05, 1.05)
        ax_eps.grid(alpha=0.3)
        ax_eps.set_xlabel("episode within history")
    else:
        ax.set_xlabel("episode within history")

    path = folder / PLOT_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)
    return path
