"""What an evaluation reports: per-shot statistics across seeds, ``results.json`` and the return-vs-shot plot.

A *shot* is an episode index within a run (shot 1 is played with an empty context). Per shot, across seeds:
the mean, the interquartile mean (IQM, ``scipy.stats.trim_mean(x, 0.25)``; the mean for fewer than 4 seeds
trims nothing) and a 95% percentile bootstrap interval of each (``scipy.stats.bootstrap``, 2,000 resamples, a
fixed generator so a re-run prints the same interval; none with a single seed). "Rise" is Spearman's rho between
shot index and the per-shot mean, plus the first and last tenth of shots: whether the agent improves in context.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
RESULTS, PLOT = "results.json", "returns.png"


def iqm(x: np.ndarray, axis: int = 0) -> np.ndarray:
    from scipy.stats import trim_mean

    return trim_mean(x, 0.25, axis=axis)


def _interval(x: np.ndarray, statistic) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile bootstrap over seeds (axis 0) for every shot; NaN with fewer than 2 seeds."""
    from scipy.stats import bootstrap

    if x.shape[0] < 2:
        nan = np.full(x.shape[1], np.nan)
        return nan, nan
    same = np.all(x == x[:1], axis=0)  # scipy refuses degenerate samples; their interval is the point itself
    res = bootstrap((x,), statistic, axis=0, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                    confidence_level=0.95, random_state=np.random.default_rng(BOOTSTRAP_SEED), vectorized=True)
    low, high = np.asarray(res.confidence_interval.low, float), np.asarray(res.confidence_interval.high, float)
    return np.where(same, x[0], low), np.where(same, x[0], high)


def _normalized(x, reference: dict[str, Any]):
    r, e = reference.get("random"), reference.get("demonstrator")
    if r is None or e is None or e == r:
        return None
    return (np.asarray(x, float) - r) / (e - r)


def _tolist(x) -> list | None:
    return None if x is None else [None if not np.isfinite(v) else round(float(v), 6) for v in np.ravel(x)]


def summarize(run: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    from scipy.stats import spearmanr

    R = np.asarray(run["returns"], float)  # (seeds, episodes)
    S, K = R.shape
    mean, q = R.mean(0), iqm(R, 0)
    mean_lo, mean_hi = _interval(R, lambda x, axis: np.mean(x, axis=axis))
    iqm_lo, iqm_hi = _interval(R, lambda x, axis: iqm(x, axis=axis))
    tenth = max(1, K // 10)
    rho = float(spearmanr(np.arange(K), mean).statistic) if K > 2 and np.ptp(mean) > 0 else None
    norm = _normalized(R, reference)
    per_shot = {"shot": list(range(1, K + 1)), "mean": _tolist(mean), "mean_ci95": [_tolist(mean_lo), _tolist(mean_hi)],
                "iqm": _tolist(q), "iqm_ci95": [_tolist(iqm_lo), _tolist(iqm_hi)],
                "normalized_mean": _tolist(norm.mean(0)) if norm is not None else None}
    summary = {"mean_return": float(R.mean()), "iqm_return": float(iqm(R.ravel(), 0)),
               "first_tenth_mean": float(R[:, :tenth].mean()), "last_tenth_mean": float(R[:, -tenth:].mean()),
               "tenth_shots": tenth, "spearman_rho_shot_vs_mean": rho,
               "normalized_mean": float(norm.mean()) if norm is not None else None,
               "normalized_last_tenth": float(norm[:, -tenth:].mean()) if norm is not None else None,
               "normalized_first_tenth": float(norm[:, :tenth].mean()) if norm is not None else None}
    if run.get("successes") is not None:
        summary["success_rate"] = float(np.mean(run["successes"]))
        summary["success_rate_last_tenth"] = float(np.mean(np.asarray(run["successes"])[:, -tenth:]))
    timing = {k: run[k] for k in ("env_steps", "prompt_steps", "wall_s", "prompt_s", "steps_per_s")}
    return {"summary": summary, "per_shot": per_shot, "per_seed": {"returns": run["returns"], "lengths": run["lengths"],
            "successes": run.get("successes")}, "timing": timing}


def plot(results: dict[str, Any], path: Path) -> Path:
    """Return vs shot: mean and IQM with their 95% bootstrap bands, the random and demonstrator lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ps, ref = results["per_shot"], results["reference"]
    x = np.asarray(ps["shot"])
    arr = lambda v: np.asarray([np.nan if a is None else a for a in v], float)  # noqa: E731
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for i, returns in enumerate(results["per_seed"]["returns"]):
        ax.plot(x[:len(returns)], returns, color="0.6", lw=0.7, alpha=0.7, label="each seed" if i == 0 else None)
    few = len(results["per_seed"]["returns"]) < 4
    for key, color, ls in (("mean", "tab:blue", "-"), ("iqm", "tab:orange", "--")):
        name = "IQM" + (" (= mean below 4 seeds)" if few else "") if key == "iqm" else "mean"
        ax.plot(x, arr(ps[key]), color=color, lw=1.8, ls=ls, label=f"{name} over seeds")
        lo, hi = arr(ps[f"{key}_ci95"][0]), arr(ps[f"{key}_ci95"][1])
        if np.isfinite(lo).any():
            ax.fill_between(x, lo, hi, color=color, alpha=0.18, lw=0, label=f"{key.upper() if key == 'iqm' else key} 95% bootstrap CI")
    if ref.get("random") is not None:
        ax.axhline(ref["random"], color="tab:red", ls="--", lw=1.2, label=f"random ({ref['random']:,.1f})")
    if ref.get("demonstrator") is not None:
        ax.axhline(ref["demonstrator"], color="tab:green", ls="--", lw=1.2, label=f"demonstrator ({ref['demonstrator']:,.1f})")
    cfg = results["config"]
    prompt = f", prompt random:{cfg['prompt_steps']}" if cfg["prompt_steps"] else ", cold start"
    held = " (held-out)" if results["held_out"] else ""
    ax.set_title(f"{results['task']}{held}: {cfg['seeds']} seed(s){prompt}, window {cfg['window']}", fontsize=10)
    ax.set_xlabel("shot (episode in context)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("episode return")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write(results: dict[str, Any], out: Path, force: bool = False) -> tuple[Path, Path]:
    """``results.json`` and the plot in ``out``, each written atomically; an existing result is kept unless ``force``."""
    out = Path(out)
    target = out / RESULTS
    if target.exists() and not force:
        raise FileExistsError(f"{target} exists; choose another --out or pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    plot_path = plot(results, out / PLOT)
    tmp = out / f".{RESULTS}.tmp"
    tmp.write_text(json.dumps({**results, "plot": PLOT}, indent=2) + "\n")
    os.replace(tmp, target)
    return target, plot_path
