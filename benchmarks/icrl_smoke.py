"""An honest small in-context RL experiment on CPU (about 30 minutes on 2 cores), not a test.

It runs the real pipeline end to end through the CLIs, as a user would:

1. ``vintix-data demonstrator train`` a PPO demonstrator for each training setpoint of Industrial Benchmark
   (100k steps each, two at a time);
2. ``vintix-data collect`` noise-distilled learning histories with each (default eps schedule);
3. ``vintix-model train`` the tiny preset on all of them together (one IB group, context ``--context``);
4. ``vintix-model eval`` cold start (empty context) for ``--episodes`` shots x ``--seeds`` seeds on a held-in
   setpoint (one it trained on) and a held-out one (never seen; observation stats estimated from random steps).

It prints, per evaluated task, the mean return of the first and last tenth of the shots, the normalized scores
against the random and demonstrator references, and Spearman's rho between shot index and mean return:
whether returns rise over shots in context. It reports whatever comes out. Every artifact stays in ``--out``;
re-running reuses finished stages (demonstrators, datasets, the trained run, evaluations).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def task(p: int) -> str:
    return f"industrial-benchmark-{p}-v1"


def sh(*args: str, log: Path) -> float:
    """Run a CLI, its output appended to ``log``; exit on failure; the wall time."""
    t0 = time.perf_counter()
    with open(log, "a") as f:
        f.write(f"\n$ {' '.join(args)}\n")
        f.flush()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # each CLI on one core
        rc = subprocess.run(list(args), stdout=f, stderr=subprocess.STDOUT, env=env).returncode
    if rc != 0:
        sys.exit(f"error: `{' '.join(args[:4])} ...` failed (exit {rc}); see {log}")
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("icrl-smoke"))
    ap.add_argument("--train-setpoints", default="20,40,60,75")
    ap.add_argument("--held-in", type=int, default=40)
    ap.add_argument("--held-out", type=int, default=85)
    ap.add_argument("--ppo-steps", type=int, default=100_000)
    ap.add_argument("--histories", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20_000, help="transitions per learning history (80 IB episodes)")
    ap.add_argument(
        "--p",
        type=float,
        default=2.0,
        help="noise schedule power: with p=1 IB returns plateau within the "
        "first fifth of a short history (eps < 0.8 barely hurts) and fail validate's rank test; p=2 keeps eps "
        "high for longer, so the climb spans most of it",
    )
    ap.add_argument("--context", type=int, default=1024, help="model context in tokens (4 IB episodes per 1,000)")
    ap.add_argument("--train-steps", type=int, default=2000)
    ap.add_argument("--episodes", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    train_ps = [int(p) for p in args.train_setpoints.split(",")]
    if args.held_in not in train_ps:
        sys.exit(f"error: --held-in {args.held_in} must be one of --train-setpoints {args.train_setpoints}")
    out = args.out.resolve()
    for sub in ("demos", "data", "eval"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    log, times = out / "log.txt", {}
    bindir = Path(sys.executable).parent
    data_cli, model_cli = str(bindir / "vintix-data"), str(bindir / "vintix-model")

    t0 = time.perf_counter()
    todo = [p for p in train_ps if not (out / "demos" / f"{task(p)}.zip").exists()]
    with ThreadPoolExecutor(max_workers=2) as pool:  # PPO on IB is one core each
        list(
            pool.map(
                lambda p: sh(
                    data_cli,
                    "demonstrator",
                    "train",
                    task(p),
                    "--out",
                    str(out / "demos" / f"{task(p)}.zip"),
                    "--timesteps",
                    str(args.ppo_steps),
                    "--no-install",
                    log=out / f"log-ppo-{p}.txt",
                ),
                todo,
            )
        )
    times["demonstrators"] = time.perf_counter() - t0 if todo else None

    t0, ran = time.perf_counter(), False
    for p in train_ps:
        if not (out / "data" / task(p) / "meta" / "manifest.json").exists():
            ran = True
            sh(
                data_cli,
                "collect",
                task(p),
                "--out",
                str(out / "data" / task(p)),
                "--demonstrator",
                f"sb3:{out / 'demos' / f'{task(p)}.zip'}",
                "--histories",
                str(args.histories),
                "--steps",
                str(args.steps),
                "--p",
                str(args.p),
                "--num-envs",
                "2",
                "--workers",
                "2",
                *(["--resume"] if (out / "data" / task(p) / ".vintix" / "state.json").exists() else []),
                log=log,
            )
    times["collect"] = time.perf_counter() - t0 if ran else None

    run = out / "run"
    t0 = time.perf_counter()
    done = (run / "latest").exists() and f"step-{args.train_steps:07d}" in (run / "latest").read_text()
    if not done:
        sh(
            model_cli,
            "train",
            "--datasets",
            *[str(out / "data" / task(p)) for p in train_ps],
            "--out",
            str(run),
            "--preset",
            "tiny",
            "--steps",
            str(args.train_steps),
            "--set",
            f"model.context={args.context}",
            "--set",
            "train.save_every=500",
            "--quiet",
            *(["--resume"] if (run / "latest").exists() else []),
            log=log,
        )
    times["train"] = time.perf_counter() - t0 if not done else None

    results = {}
    for label, p in (("held-in", args.held_in), ("held-out", args.held_out)):
        folder = out / "eval" / f"{label}-{p}"
        t0 = time.perf_counter()
        fresh = not (folder / "results.json").exists()
        if fresh:
            sh(
                model_cli,
                "eval",
                str(run),
                "--task",
                task(p),
                "--episodes",
                str(args.episodes),
                "--seeds",
                str(args.seeds),
                "--out",
                str(folder),
                "--quiet",
                log=log,
            )
        times[f"eval {label}"] = time.perf_counter() - t0 if fresh else None
        results[label] = json.loads((folder / "results.json").read_text())

    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    k = max(1, len(metrics) // 20)
    first_loss = sum(m["loss"] for m in metrics[:k]) / k
    last_loss = sum(m["loss"] for m in metrics[-k:]) / k
    print(
        f"ICRL smoke: tiny preset, context {args.context}, trained {args.train_steps} steps on IB setpoints "
        f"{args.train_setpoints} ({args.histories} x {args.steps:,} transitions each); loss {first_loss:.4f} -> {last_loss:.4f}"
    )
    print(
        "wall time: " + ", ".join(f"{k} {v / 60:.1f} min" if v is not None else f"{k} reused" for k, v in times.items())
    )
    print(f"{'':9} {'task':28} {'first tenth':>12} {'last tenth':>11} {'normalized':>17} {'rho':>7}  reference")
    for label, r in results.items():
        s, ref = r["summary"], r["reference"]
        norm = (
            f"{s['normalized_first_tenth']:.3f} -> {s['normalized_last_tenth']:.3f}"
            if s["normalized_mean"] is not None
            else "n/a"
        )
        rho = s["spearman_rho_shot_vs_mean"]
        print(
            f"{label:9} {r['task']:28} {s['first_tenth_mean']:12.1f} {s['last_tenth_mean']:11.1f} {norm:>17} "
            f"{rho if rho is None else round(rho, 3):>7}  random {ref['random']:.1f}, demonstrator {ref['demonstrator']:.1f} "
            f"({ref['source']})"
        )
        means = r["per_shot"]["mean"]
        print(f"{'':9} mean return per shot: " + " ".join(f"{m:.0f}" for m in means))
    print(f"plots: {out / 'eval'}/*/returns.png")
    (out / "summary.json").write_text(
        json.dumps(
            {
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "loss": [first_loss, last_loss],
                "times_s": times,
                "results": {k: {"task": v["task"], **v["summary"]} for k, v in results.items()},
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
