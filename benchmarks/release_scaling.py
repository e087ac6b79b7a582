"""How a release scales with workers, and what the paper's whole dataset would take on a cluster.

One run, on this machine, through the real CLI (`vintix-data release`):

1. Industrial Benchmark, the same HISTORIES x STEPS with the same installed PPO demonstrator, released with 1 and
   with 2 workers, on local processes and on a local Ray. The rate is the transitions of the history units over the
   span from the first history unit's start to the last one's end (``.release/units.jsonl``), so Ray's start-up, the
   gate and finalize are not in it (a Ray worker's first unit still pays its imports, ~5 s: enough work per worker
   makes that small). Prints 2-worker / 1-worker (goal >= 1.8 on 2 cores). Beside it, in the same run, the machine's
   own ceiling: the same histories collected by 1 process, then split over 2 independent processes that share
   nothing (no release, no driver, no Ray). Each round measures all six back to back and the figures are medians of
   each round's 2 / 1 ratio: this VM's speed drifts by tens of percent within minutes. Two busy cores of a shared VM
   do not give twice one core's rate (caches, memory and the host's other guests are shared), so the release's
   efficiency is its ratio over the ceiling's.
2. One history unit of a Meta-World task (scripted expert) and of a MuJoCo task (a PPO policy; its quality does not
   change the cost of a step) with 1 worker: transitions per second of one core, per domain.
3. PPO training speed with the paper's IB recipe (steps/s of one core).

From these it prints an estimate of the wall time of the paper's collectable data (paper_tasks.csv: IB, Meta-World,
MuJoCo) on a Ray cluster of CORES cores, at the 2-worker efficiency measured in 1.

    python benchmarks/release_scaling.py [--histories 8 --steps 100000 --rounds 3] [--cores 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
    return subprocess.run(
        [sys.executable, "-m", "vintix_data.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def history_rate(root: Path) -> tuple[float, int]:
    """(transitions/s over the history units' span, units) from a release's unit log."""
    events = [json.loads(line) for line in (root / ".release" / "units.jsonl").read_text().splitlines()]
    hist = [e for e in events if "/h" in e["unit"]]
    start = min(e["time"] for e in hist if e["event"] == "start")
    end = max(e["time"] for e in hist if e["event"] == "done")
    steps = sum(e.get("steps", 0) for e in hist if e["event"] == "done")
    return steps / (end - start), sum(e["event"] == "done" for e in hist)


def release_rate(
    work: Path,
    task: str,
    cache: Path,
    executor: str,
    workers: int,
    histories: int,
    steps: int,
    demonstrator_cache: bool = True,
) -> float:
    root = work / f"{task}-{executor}-{workers}"
    proc = cli(
        "release",
        task,
        "--out",
        str(root),
        "--histories",
        str(histories),
        "--steps",
        str(steps),
        "--executor",
        executor,
        "--workers",
        str(workers),
        "--force",
        "--reference-episodes",
        "1",
        "--gate-episodes",
        "1",
        env={"VINTIX_CACHE": str(cache)},
    )
    if not (root / ".release" / "units.jsonl").exists():
        raise SystemExit(f"release of {task} failed:\n{proc.stderr}")
    rate, units = history_rate(root)
    assert units == histories, (units, proc.stderr)
    return rate


WORKER = """
import sys, time
from pathlib import Path
from vintix_data.collect import CollectConfig, Collector, prepare
task, out, demo, steps, hs = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), [int(h) for h in sys.argv[5].split(",")]
start_at = float(sys.argv[6])
cfg = CollectConfig(task=task, out=str(out), demonstrator=demo, histories=max(hs) + 1, steps=steps, num_envs=1)
plan = prepare(cfg)
out.mkdir(parents=True)
c = Collector(cfg, plan.task, plan.schedule, plan.demonstrator, plan.histories)
time.sleep(max(0.0, start_at - time.time()))  # the processes start together, after their imports
t0 = time.time()
c.run(None, hs, 1)
print(t0, time.time(), len(hs) * steps)
"""


def ceiling_rate(work: Path, demo: str, processes: int, histories: int, steps: int, tag: str) -> float:
    """Transitions/s of ``histories`` split over ``processes`` independent collector processes (first start to last end)."""
    procs, start_at = [], time.time() + 15
    for i in range(processes):
        hs = ",".join(str(h) for h in range(i, histories, processes))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    WORKER,
                    IB,
                    str(work / f"ceiling-{tag}-{processes}-{i}"),
                    demo,
                    str(steps),
                    hs,
                    str(start_at),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    spans = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a ceiling process failed (exit {p.returncode})")
        spans.append([float(v) for v in out.split()])
    return sum(n for _, _, n in spans) / (max(e for _, e, _ in spans) - min(s for s, _, _ in spans))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--histories", type=int, default=8, help="histories in part 1")
    ap.add_argument(
        "--steps",
        type=int,
        default=100_000,
        help="transitions per history in part 1 (long units: a unit pays ~1 s of start-up)",
    )
    ap.add_argument(
        "--rounds", type=int, default=3, help="rounds of part 1 (this VM's speed drifts: medians of paired ratios)"
    )
    ap.add_argument("--cores", type=int, default=64)
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="release-scaling-"))
    cache = work / "cache"
    (cache / "demonstrators").mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    r = cli(
        "demonstrator",
        "train",
        IB,
        "--out",
        str(cache / "demonstrators" / f"{IB}.zip"),
        "--timesteps",
        "10000",
        "--no-install",
    )
    ppo_rate = 10_000 / (time.perf_counter() - t0)  # includes start-up: a lower bound of PPO's steps/s
    assert r.returncode == 0, r.stderr
    cli(
        "demonstrator",
        "train",
        MJ,
        "--algo",
        "ppo",
        "--out",
        str(cache / "demonstrators" / f"{MJ}.zip"),
        "--timesteps",
        "2048",
        "--no-install",
    )

    print(
        f"1. {IB}: {args.histories} histories x {args.steps:,} steps, same demonstrator; history-phase transitions/s; "
        f"{args.rounds} rounds, each: the machine's 1 and 2 processes, then the releases"
    )
    demo = f"sb3:{cache / 'demonstrators' / f'{IB}.zip'}"
    kinds = [("machine", 1), ("machine", 2), ("local", 1), ("local", 2), ("ray", 1), ("ray", 2)]
    rates: dict[tuple[str, int], list[float]] = {k: [] for k in kinds}
    for r in range(args.rounds):
        for kind, n in kinds:
            if kind == "machine":
                rates[kind, n].append(ceiling_rate(work / f"round{r}", demo, n, args.histories, args.steps, "ceiling"))
            else:
                rates[kind, n].append(release_rate(work / f"round{r}", IB, cache, kind, n, args.histories, args.steps))
        print(
            f"   round {r}: "
            + ", ".join(f"{kind} {n}: {rates[kind, n][-1]:,.0f}" for kind, n in kinds)
            + " steps/s; 2 / 1: "
            + ", ".join(
                f"{kind} {rates[kind, 2][-1] / rates[kind, 1][-1]:.2f}" for kind in ("machine", "local", "ray")
            ),
            flush=True,
        )
    ratio = {
        kind: statistics.median(b / a for a, b in zip(rates[kind, 1], rates[kind, 2]))
        for kind in ("machine", "local", "ray")
    }
    print(f"   the machine (independent processes, no release): 2 / 1 = {ratio['machine']:.2f} (median over rounds)")
    for executor in ("local", "ray"):
        print(
            f"   {executor}: 2 workers / 1 worker = {ratio[executor]:.2f} (goal >= 1.8; median over rounds), "
            f"{ratio[executor] / ratio['machine']:.0%} of the machine's own 2 / 1"
        )

    print("2. one history unit, 1 worker, per domain")
    per_core = {"industrial-benchmark": statistics.median(rates["local", 1])}
    per_core["meta-world"] = release_rate(work, MW, cache, "local", 1, 1, 5_000)
    per_core["mujoco"] = release_rate(work, MJ, cache, "local", 1, 1, 5_000)
    for d, v in per_core.items():
        print(f"   {d:<22} {v:8,.0f} steps/s per core")
    print(f"3. PPO, the paper's IB recipe: >= {ppo_rate:,.0f} steps/s per core (10,000 steps with start-up)")

    eff = max(ratio["ray"], ratio["local"]) / 2
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
    print(
        f"   total {core_s / 3600:.1f} core-hours -> {core_s / (args.cores * eff) / 3600:.1f} h wall "
        f"(MuJoCo demonstrators not counted: they are trained or installed before a release)"
    )


if __name__ == "__main__":
    main()
