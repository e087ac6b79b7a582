"""How a release scales with workers, and what the paper's whole dataset would take on a cluster.

One run, on this machine, through the real CLI (`vintix-data release`):

1. Industrial Benchmark, the same HISTORIES x STEPS with the same installed PPO demonstrator, released with 1 and
   with 2 workers, on local processes and on a local Ray. The rate is the transitions of the history units over the
   span from the first history unit's start to the last one's end (``.release/units.jsonl``), so Ray's start-up, the
   gate and finalize are not in it (a Ray worker's first unit still pays its imports, ~5 s: enough work per worker
   makes that small). Prints 2-worker / 1-worker (goal >= 1.8 on 2 cores).
2. One history unit of a Meta-World task (scripted expert) and of a MuJoCo task (a PPO policy; its quality does not
   change the cost of a step) with 1 worker: transitions per second of one core, per domain.
3. PPO training speed with the paper's IB recipe (steps/s of one core).

From these it prints an estimate of the wall time of the paper's collectable data (paper_tasks.csv: IB, Meta-World,
MuJoCo) on a Ray cluster of CORES cores, at the 2-worker efficiency measured in 1.

    python benchmarks/release_scaling.py [--histories 8 --steps 100000] [--cores 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vintix_data.registry import all_tasks

IB = "industrial-benchmark-50-v1"
MW = "reach-v3"
MJ = "HalfCheetah-v5"


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vintix_data.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def history_rate(root: Path) -> tuple[float, int]:
    """(transitions/s over the history units' span, units) from a release's unit log."""
    events = [json.loads(line) for line in (root / ".release" / "units.jsonl").read_text().splitlines()]
    hist = [e for e in events if "/h" in e["unit"]]
    start = min(e["time"] for e in hist if e["event"] == "start")
    end = max(e["time"] for e in hist if e["event"] == "done")
    steps = sum(e.get("steps", 0) for e in hist if e["event"] == "done")
    return steps / (end - start), sum(e["event"] == "done" for e in hist)


def release_rate(work: Path, task: str, cache: Path, executor: str, workers: int, histories: int, steps: int,
                 demonstrator_cache: bool = True) -> float:
    root = work / f"{task}-{executor}-{workers}"
    proc = cli("release", task, "--out", str(root), "--histories", str(histories), "--steps", str(steps),
               "--executor", executor, "--workers", str(workers), "--force", "--reference-episodes", "1",
               "--gate-episodes", "1", env={"VINTIX_CACHE": str(cache)})
    if not (root / ".release" / "units.jsonl").exists():
        raise SystemExit(f"release of {task} failed:\n{proc.stderr}")
    rate, units = history_rate(root)
    assert units == histories, (units, proc.stderr)
    return rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=8, help="histories in part 1")
    ap.add_argument("--steps", type=int, default=100_000, help="transitions per history in part 1")
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="release-scaling-"))
    cache = work / "cache"
    (cache / "demonstrators").mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    r = cli("demonstrator", "train", IB, "--out", str(cache / "demonstrators" / f"{IB}.zip"), "--timesteps", "10000",
            "--no-install")
    ppo_rate = 10_000 / (time.perf_counter() - t0)  # includes start-up: a lower bound of PPO's steps/s
    assert r.returncode == 0, r.stderr
    cli("demonstrator", "train", MJ, "--algo", "ppo", "--out", str(cache / "demonstrators" / f"{MJ}.zip"),
        "--timesteps", "2048", "--no-install")

    print(f"1. {IB}: {args.histories} histories x {args.steps:,} steps, same demonstrator; history-phase transitions/s")
    rates = {}
    for executor in ("local", "ray"):
        for workers in (1, 2):
            rates[executor, workers] = release_rate(work, IB, cache, executor, workers, args.histories, args.steps)
            print(f"   {executor:<5} {workers} worker{'s' if workers > 1 else ' '}: {rates[executor, workers]:8,.0f} steps/s")
        print(f"   {executor}: 2 workers / 1 worker = {rates[executor, 2] / rates[executor, 1]:.2f} (goal >= 1.8)")

    print("2. one history unit, 1 worker, per domain")
    per_core = {"industrial-benchmark": rates["local", 1]}
    per_core["meta-world"] = release_rate(work, MW, cache, "local", 1, 1, 5_000)
    per_core["mujoco"] = release_rate(work, MJ, cache, "local", 1, 1, 5_000)
    for d, v in per_core.items():
        print(f"   {d:<22} {v:8,.0f} steps/s per core")
    print(f"3. PPO, the paper's IB recipe: >= {ppo_rate:,.0f} steps/s per core (10,000 steps with start-up)")

    eff = max(rates["ray", 2] / rates["ray", 1], rates["local", 2] / rates["local", 1]) / 2
    core_s, lines = 0.0, []
    for domain in per_core:
        tasks = [t for t in all_tasks() if t.domain == domain]
        n = sum(t.num_histories * t.history_steps for t in tasks)
        s = n / per_core[domain]
        core_s += s
        lines.append(f"   {domain:<22} {len(tasks):3d} tasks {n / 1e6:7.1f}M transitions {s / 3600:8.1f} core-hours")
    ib_train = 21 * 1_000_000 / ppo_rate
    core_s += ib_train
    lines.append(f"   {'IB PPO demonstrators':<22}  21 x 1M steps {'':>19}{ib_train / 3600:8.1f} core-hours")
    print(f"Estimate, the paper's collectable data on {args.cores} cores at the measured efficiency {eff:.2f}:")
    print("\n".join(lines))
    print(f"   total {core_s / 3600:.1f} core-hours -> {core_s / (args.cores * eff) / 3600:.1f} h wall "
          f"(MuJoCo demonstrators not counted: they are trained or installed before a release)")


if __name__ == "__main__":
    main()
