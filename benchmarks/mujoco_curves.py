"""Learning curves of the tuned-recipe MuJoCo trainings (issue 25), the figure and table the results page shows.

`demonstrator train TASK --algo A --checkpoint-every N --out A-TASK.zip` writes `A-TASK.curve.csv` beside its output:
a row per checkpoint with the steps, the training's cumulative wall time (across resumes), and a deterministic
evaluation on the gate's seeded episodes. Those runs take hours of a core, so they run in the background across
sittings; this script gathers their curves (``--runs``: folders holding ``*.curve.csv``, searched recursively) into
``--data`` (the copies the documentation keeps, so the figure can be redrawn without the runs), then draws one panel
per task with the registry's (the paper's) random and expert returns, and prints a table: the last evaluation, its
paper-normalized score, the measured steps per second of wall time and the estimate to the recipe's full length
(rl-zoo3's ``n_timesteps``) at that rate.

    python benchmarks/mujoco_curves.py --runs /work/runs/mujoco --data docs/data/mujoco-curves --out docs/mujoco-curves.png
    python benchmarks/mujoco_curves.py --data docs/data/mujoco-curves --out docs/mujoco-curves.png   # redraw only
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from vintix_data.demonstrators.recipes import recipe
from vintix_data.registry import get_task


def _read(path: Path) -> list[dict[str, float]]:
    with path.open(newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def _split_name(path: Path) -> tuple[str, str]:
    """``sac-Hopper-v5.curve.csv`` -> (``sac``, ``Hopper-v5``): the trainer names its output ``ALGO-TASK.zip``."""
    stem = path.name[: -len(".curve.csv")]
    algo, _, task = stem.partition("-")
    return algo, task


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="folders with the trainings' *.curve.csv")
    ap.add_argument("--data", type=Path, required=True, help="where the curves are kept (copied from --runs)")
    ap.add_argument("--out", type=Path, required=True, help="the figure (PNG)")
    args = ap.parse_args()

    args.data.mkdir(parents=True, exist_ok=True)
    for folder in args.runs:
        for src in sorted(folder.rglob("*.curve.csv")):
            shutil.copyfile(src, args.data / src.name)
    curves = sorted(args.data.glob("*.curve.csv"), key=lambda p: _split_name(p)[::-1])
    if not curves:
        raise SystemExit(f"error: no *.curve.csv in {args.data}")

    fig, axes = plt.subplots(1, len(curves), figsize=(3.6 * len(curves), 3.2), squeeze=False)
    print(
        "| task | algo | steps | eval return (10 ep.) | normalized | wall | steps/s | the recipe's length at this rate |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for ax, path in zip(axes[0], curves, strict=True):
        algo, task_id = _split_name(path)
        task, rows = get_task(task_id), _read(path)
        steps = [r["steps"] for r in rows]
        mean = [r["eval_return_mean"] for r in rows]
        std = [r.get("eval_return_std", 0.0) for r in rows]
        ax.plot(steps, mean, marker="o", label=f"{algo.upper()} eval")
        ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
        ax.axhline(task.expert_mean, color="g", ls="--", lw=1, label=f"paper expert {task.expert_mean:g}")
        ax.axhline(task.random_mean, color="r", ls=":", lw=1, label=f"paper random {task.random_mean:g}")
        ax.set_title(task_id, fontsize=10)
        ax.set_xlabel("environment steps")
        ax.set_xlim(0, max(steps) * 1.08)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(3, 3))
        ax.legend(fontsize=7, loc="best")
        last = rows[-1]
        norm = (last["eval_return_mean"] - task.random_mean) / (task.expert_mean - task.random_mean)
        rate = last["steps"] / last["wall_s"]
        full = recipe(algo, task.env_id).timesteps if algo != "bc" else last["steps"]
        left_h = max(full - last["steps"], 0) / rate / 3600
        print(
            f"| {task_id} | {algo} | {last['steps']:,.0f} | {last['eval_return_mean']:.1f} +- "
            f"{last.get('eval_return_std', 0.0):.1f} | {norm:.3f} | {last['wall_s'] / 3600:.2f} h | {rate:.1f} | "
            f"{full:,.0f} steps: {left_h:.1f} h more |"
        )
    axes[0][0].set_ylabel("return (deterministic, 10 episodes)")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(args.out)
    print(f"wrote {args.out} ({len(curves)} curves kept in {args.data})")


if __name__ == "__main__":
    main()
