"""Issue 26's verdict for an *arm* (a training recipe) over several training seeds, not for one trained model.

One seed of four meeting the goal says the recipe *can*, not that it *does*: training seeds of the tiny preset differ
by up to 150 in the last-third return on the same data. So each seed of an arm is evaluated on the same held-out
goals and episode seeds (``vintix-model eval --ablation``, one ``results.json`` each), and this pools them, goal by
goal, into the average trained model of the arm:

- its last-third return (full context) and paired full - cleared difference, each the mean over seeds and goals;
- a 95% interval from a two-level bootstrap: training seeds drawn with replacement, then goals drawn with
  replacement (the same goals for every drawn seed: the runs are paired by goal), so the interval carries the
  seed-to-seed spread as well as the goal-to-goal one; beside it the interval over goals alone with these seeds
  fixed (what these trained models do, not what the recipe does);
- how many seeds meet the goal on their own (their eval's intervals over goals, as ``icrl.py`` prints them).

With four seeds the two-level interval is wide (four draws say little about a spread); it is the honest one.

    python benchmarks/icrl_seeds.py --agnostic 631.4 --name ad-learner-decoy EVAL_FOLDER [EVAL_FOLDER ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vintix_model.evaluate.report import last_third  # the shots the eval's verdict reads

RESAMPLES, BOOTSTRAP_SEED = 2000, 0


class SeedsError(ValueError):
    """The evaluations cannot be pooled (different goals, shots or episode seeds, or no ablation): one line."""


def load(folder: Path) -> dict:
    """One evaluation's per-run last-third returns (full, cleared), its training seed and what must match to pool."""
    path = Path(folder) / "results.json"
    try:
        r = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise SeedsError(f"{path}: cannot read an evaluation's results ({e})") from None
    if "ablation" not in r:
        raise SeedsError(f"{path}: no cleared-context ablation; evaluate with --ablation")
    full = np.asarray(r["per_seed"]["returns"], float)
    cleared = np.asarray(r["ablation"]["context_reset"]["per_seed"]["returns"], float)
    tail = last_third(full.shape[1])
    seed = None
    meta = Path(r.get("checkpoint_folder", "")) / "metadata.json"
    if meta.is_file():
        seed = json.loads(meta.read_text()).get("train_config", {}).get("seed")
    return {
        "folder": str(folder),
        "checkpoint": str(Path(r.get("checkpoint_folder", r.get("checkpoint", ""))).resolve()),
        "train_seed": seed,
        "full": full[:, tail].mean(1),
        "paired": full[:, tail].mean(1) - cleared[:, tail].mean(1),
        "shots": [tail.start + 1, full.shape[1]],
        # the eval's own intervals over goals (scipy's bootstrap), so a seed's verdict here is the one icrl.py prints
        "full_ci95": r["summary"]["last_third_ci95"],
        "paired_ci95": r["ablation"]["paired_difference"]["last_third"]["ci95"],
        "match": {
            "task": r["task"],
            "config": {k: r["config"][k] for k in ("episodes", "seeds", "seed", "variation", "prompt_steps")},
            "variations": r["per_seed"]["variations"],
        },
    }


def _ci(values: np.ndarray) -> list[float]:
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def arm_over_seeds(evals: list[dict], agnostic: float) -> dict:
    """Pool the evaluations of one arm's training seeds (``load``'s dicts) and give the issue's verdict on the pool."""
    if not evals:
        raise SeedsError("no evaluations to pool")
    first = evals[0]["match"]
    for e in evals[1:]:
        if e["match"] != first:
            diff = next(k for k in first if e["match"][k] != first[k])
            raise SeedsError(
                f"{e['folder']}: its {diff} differs from {evals[0]['folder']}'s; pool only the same protocol"
            )
    seen: dict[str, str] = {}
    for e in evals:  # the same model twice would count as two seeds and narrow the interval for nothing
        if e["checkpoint"] in seen:
            raise SeedsError(
                f"{e['folder']} and {seen[e['checkpoint']]} evaluate the same checkpoint; pool one per training seed"
            )
        seen[e["checkpoint"]] = e["folder"]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    n_seeds, n_goals = len(evals), len(evals[0]["full"])
    seeds = rng.integers(n_seeds, size=(RESAMPLES, n_seeds))[:, :, None]
    goals = rng.integers(n_goals, size=(RESAMPLES, n_goals))[:, None, :]
    out: dict = {"seeds": n_seeds, "goals": n_goals, "shots": evals[0]["shots"], "goal_agnostic": agnostic}
    for key in ("full", "paired"):
        M = np.stack([e[key] for e in evals])  # (training seed, goal)
        out[key] = {
            "mean": float(M.mean()),
            "ci95_seeds_and_goals": _ci(M[seeds, goals].mean((1, 2))),
            "ci95_goals": _ci(M.mean(0)[goals[:, 0, :]].mean(1)),
        }
    per_seed = []
    for e in evals:
        full_ci, paired_ci = e["full_ci95"], e["paired_ci95"]
        per_seed.append(
            {
                "folder": e["folder"],
                "train_seed": e["train_seed"],
                "full": float(e["full"].mean()),
                "full_ci95": full_ci,
                "paired": float(e["paired"].mean()),
                "paired_ci95": paired_ci,
                "meets_goal": full_ci[0] > agnostic and paired_ci[0] > 0,
            }
        )
    out["per_seed"] = per_seed
    out["seeds_meeting_goal"] = sum(s["meets_goal"] for s in per_seed)
    out["arm_meets_goal"] = (
        out["full"]["ci95_seeds_and_goals"][0] > agnostic and out["paired"]["ci95_seeds_and_goals"][0] > 0
    )
    return out


def report(name: str, pool: dict) -> str:
    """The table ``icrl.py --train-seeds`` and this script print."""
    f, p = pool["full"], pool["paired"]
    iv = lambda v, sign="": f"[{v[0]:{sign}.1f}, {v[1]:{sign}.1f}]"  # noqa: E731
    lo, hi = pool["shots"]
    lines = [
        (
            f"{name}: {pool['seeds']} training seeds x {pool['goals']} held-out goals, shots {lo}-{hi}, goal: full above "
            f"the goal-agnostic {pool['goal_agnostic']:.1f} and paired above 0, both with their 95% intervals"
        ),
        f"  {'train seed':>10} {'full, last third':>26} {'full - cleared':>26}  meets the goal alone",
    ]
    for s in pool["per_seed"]:
        lines.append(
            f"  {s['train_seed'] if s['train_seed'] is not None else '?':>10} {s['full']:8.1f} {iv(s['full_ci95']):>17} "
            f"{s['paired']:+8.1f} {iv(s['paired_ci95'], '+'):>17}  {'yes' if s['meets_goal'] else 'no'}"
        )
    lines += [
        (
            f"  {'mean':>10} {f['mean']:8.1f} {iv(f['ci95_seeds_and_goals']):>17} {p['mean']:+8.1f} "
            f"{iv(p['ci95_seeds_and_goals'], '+'):>17}  (interval over training seeds and goals)"
        ),
        f"  {'':>10} {'':8} {iv(f['ci95_goals']):>17} {'':8} {iv(p['ci95_goals'], '+'):>17}  (over goals, these seeds fixed)",
        (
            f"  seeds meeting the goal alone: {pool['seeds_meeting_goal']} of {pool['seeds']}; the arm over seeds meets it: "
            f"{'yes' if pool['arm_meets_goal'] else 'no'}"
        ),
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("evals", nargs="+", type=Path, help="eval --ablation folders of one arm, one per training seed")
    ap.add_argument("--agnostic", type=float, required=True, help="the goal-agnostic reference on the same goals")
    ap.add_argument("--name", default="arm")
    ap.add_argument("--json", type=Path, default=None, help="also write the pool here")
    args = ap.parse_args()
    try:
        pool = arm_over_seeds([load(f) for f in args.evals], args.agnostic)
    except SeedsError as e:
        sys.exit(f"error: {e}")
    print(report(args.name, pool))
    if args.json:
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(pool, indent=2) + "\n")
        tmp.replace(args.json)


if __name__ == "__main__":
    main()
