"""What an evaluation reports: per-shot statistics across seeds, ``results.json`` and the return-vs-shot plot.

A *shot* is an episode index within a run (shot 1 is played with an empty context). Per shot, across seeds:
the mean, the interquartile mean (IQM, ``scipy.stats.trim_mean(x, 0.25)``; the mean for fewer than 4 seeds
trims nothing) and a 95% percentile bootstrap interval of each (``scipy.stats.bootstrap``, 2,000 resamples, a
fixed generator so a re-run prints the same interval; none with a single seed). "Rise" is Spearman's rho between
shot index and the per-shot mean, plus the first and last tenth of shots: whether the agent improves in context.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vintix_data.errors import UserError
from vintix_data.jsonio import dumps
from vintix_data.preflight import check_output_folder


class ResultsExistError(UserError, FileExistsError):
    """results.json is already in --out (and no --force): one line for the user."""


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
    res = bootstrap(
        (x,),
        statistic,
        axis=0,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        confidence_level=0.95,
        random_state=np.random.default_rng(BOOTSTRAP_SEED),
        vectorized=True,
    )
    low, high = np.asarray(res.confidence_interval.low, float), np.asarray(res.confidence_interval.high, float)
    return np.where(same, x[0], low), np.where(same, x[0], high)


def _normalized(x, reference: dict[str, Any]):
    r, e = reference.get("random"), reference.get("demonstrator")
    if r is None or e is None or e == r:
        return None
    return (np.asarray(x, float) - r) / (e - r)


def _tolist(x) -> list | None:
    return None if x is None else [None if not np.isfinite(v) else round(float(v), 6) for v in np.ravel(x)]


def _mean_ci(x: np.ndarray) -> list[float | None]:
    """95% percentile bootstrap interval of the mean of ``x`` (runs), as [low, high]; [None, None] below 2 runs."""
    x = np.asarray(x, float)
    if len(x) < 2:
        return [None, None]
    lo, hi = _interval(x[:, None], lambda v, axis: np.mean(v, axis=axis))
    return [round(float(lo[0]), 6), round(float(hi[0]), 6)]


def last_third(K: int) -> slice:
    """The shots the in-context verdict is read on: the last third (at least one)."""
    return slice(K - max(1, K // 3), K)


def paired_difference(full: list[list[float]], cleared: list[list[float]]) -> dict[str, Any]:
    """Full context minus cleared context, run by run (same seeds, same variations, same episode seeds).

    Per shot: the mean difference and its 95% bootstrap interval over runs. The verdict figure: each run's mean
    difference over the last third of the shots, averaged over runs, with its interval. An interval above 0 says
    the context carried something across episodes that the checkpoint used.
    """
    F, C = np.asarray(full, float), np.asarray(cleared, float)
    if F.shape != C.shape:
        raise ValueError(f"paired runs differ in shape: {F.shape} vs {C.shape}")
    D = F - C
    S, K = D.shape
    lo, hi = _interval(D, lambda x, axis: np.mean(x, axis=axis))
    tail = last_third(K)
    per_run = D[:, tail].mean(1)
    return {
        "per_shot": {"shot": list(range(1, K + 1)), "mean": _tolist(D.mean(0)), "ci95": [_tolist(lo), _tolist(hi)]},
        "last_third": {
            "shots": [tail.start + 1, K],
            "mean": float(per_run.mean()),
            "ci95": _mean_ci(per_run),
            "runs": S,
            "runs_positive": int((per_run > 0).sum()),
            "per_run": _tolist(per_run),
        },
    }


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
    per_shot = {
        "shot": list(range(1, K + 1)),
        "mean": _tolist(mean),
        "mean_ci95": [_tolist(mean_lo), _tolist(mean_hi)],
        "iqm": _tolist(q),
        "iqm_ci95": [_tolist(iqm_lo), _tolist(iqm_hi)],
        "normalized_mean": _tolist(norm.mean(0)) if norm is not None else None,
    }
    summary = {
        "mean_return": float(R.mean()),
        "iqm_return": float(iqm(R.ravel(), 0)),
        "first_tenth_mean": float(R[:, :tenth].mean()),
        "last_tenth_mean": float(R[:, -tenth:].mean()),
        "tenth_shots": tenth,
        "spearman_rho_shot_vs_mean": rho,
        "normalized_mean": float(norm.mean()) if norm is not None else None,
        "normalized_last_tenth": float(norm[:, -tenth:].mean()) if norm is not None else None,
        "normalized_first_tenth": float(norm[:, :tenth].mean()) if norm is not None else None,
    }
    tail = last_third(K)
    summary["last_third_shots"] = [tail.start + 1, K]
    summary["last_third_mean"] = float(R[:, tail].mean())
    summary["last_third_ci95"] = _mean_ci(R[:, tail].mean(1))
    if norm is not None:
        summary["normalized_last_third"] = float(norm[:, tail].mean())
    if run.get("successes") is not None:
        summary["success_rate"] = float(np.mean(run["successes"]))
        summary["success_rate_last_third"] = float(np.mean(np.asarray(run["successes"])[:, tail]))
        summary["success_rate_last_tenth"] = float(np.mean(np.asarray(run["successes"])[:, -tenth:]))
    timing = {k: run[k] for k in ("env_steps", "prompt_steps", "wall_s", "prompt_s", "steps_per_s")}
    per_seed = {"returns": run["returns"], "lengths": run["lengths"], "successes": run.get("successes")}
    if run.get("variations") is not None and any(v and v[0] is not None for v in run["variations"]):
        per_seed["variations"] = run["variations"]  # the task variation of every episode (Meta-World goal index)
    return {"summary": summary, "per_shot": per_shot, "per_seed": per_seed, "timing": timing}


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
    n_runs = len(results["per_seed"]["returns"])
    ablation = results.get("ablation")
    if n_runs <= 10:
        for i, returns in enumerate(results["per_seed"]["returns"]):
            ax.plot(x[: len(returns)], returns, color="0.6", lw=0.7, alpha=0.7, label="each run" if i == 0 else None)
    # the IQM trims a quarter at each end: with fewer than 4 runs it trims nothing and would repeat the mean
    curves = [("mean", "tab:blue", "-", ps, "full context" if ablation else "mean")]
    if n_runs >= 4 and not ablation:
        curves.append(("iqm", "tab:orange", "--", ps, "IQM"))
    if ablation:
        curves.append(
            ("mean", "tab:purple", "-", ablation["context_reset"]["per_shot"], "context cleared every episode")
        )
    for key, color, ls, data, name in curves:
        ax.plot(
            x,
            arr(data[key]),
            color=color,
            lw=1.8,
            ls=ls,
            label=f"{name} (mean over {n_runs} runs)" if key == "mean" else f"{name} over runs",
        )
        lo, hi = arr(data[f"{key}_ci95"][0]), arr(data[f"{key}_ci95"][1])
        if np.isfinite(lo).any():
            ax.fill_between(
                x,
                lo,
                hi,
                color=color,
                alpha=0.18,
                lw=0,
                label="95% bootstrap CI over runs" if color == "tab:blue" else None,
            )
    if ref.get("random") is not None:
        ax.axhline(ref["random"], color="tab:red", ls="--", lw=1.2, label=f"random ({ref['random']:,.1f})")
    if ref.get("demonstrator") is not None:
        ax.axhline(
            ref["demonstrator"], color="tab:green", ls="--", lw=1.2, label=f"demonstrator ({ref['demonstrator']:,.1f})"
        )
    cfg = results["config"]
    prompt = f", prompt random:{cfg['prompt_steps']}" if cfg["prompt_steps"] else ", cold start"
    held = " (held-out)" if results["held_out"] else ""
    hidden = results.get("hidden_observation")
    latent = f", {'+'.join(hidden['components'])} hidden" if hidden else ""
    title = f"{results['task']}{held}{latent}: {cfg['seeds']} run(s){prompt}, window {cfg['window']}"
    if ablation:
        pdiff = ablation["paired_difference"]["last_third"]
        ci = pdiff["ci95"]
        title += f"\nfull - cleared over shots {pdiff['shots'][0]}-{pdiff['shots'][1]}: {pdiff['mean']:+,.1f}" + (
            f" [{ci[0]:+,.1f}, {ci[1]:+,.1f}]" if ci[0] is not None else ""
        )
    ax.set_title(title, fontsize=10)
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


def check_out(out: Path, force: bool = False) -> None:
    """Before an evaluation runs (it can take hours): ``out`` can hold the results (``vintix_data.preflight``: not a
    file, writable, a UTF-8 name) and has none to keep (unless ``force``). One line each; nothing is written."""
    check_output_folder(out)
    if (Path(out) / RESULTS).exists() and not force:
        raise ResultsExistError(f"{Path(out) / RESULTS} exists; choose another --out or pass --force to replace it")


def write(results: dict[str, Any], out: Path, force: bool = False) -> tuple[Path, Path]:
    """``results.json`` and the plot in ``out``, each written atomically; an existing result is kept unless ``force``."""
    out = Path(out)
    target = out / RESULTS
    if target.exists() and not force:
        raise ResultsExistError(f"{target} exists; choose another --out or pass --force to replace it")
    out.mkdir(parents=True, exist_ok=True)
    plot_path = plot(results, out / PLOT)
    tmp = out / f".{RESULTS}.tmp"
    tmp.write_text(dumps({**results, "plot": PLOT}, indent=2) + "\n")  # strict JSON: non-finite values as null
    os.replace(tmp, target)
    return target, plot_path
