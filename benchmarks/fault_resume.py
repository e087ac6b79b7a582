"""SIGKILL `vintix-data collect` at a random moment, `--resume` it, and compare with an uninterrupted run; N times.

    python benchmarks/fault_resume.py --trials 20 --work fault [--histories 3 --steps 20000] [--seed 0]

One uninterrupted collection is the reference (its wall time T sets the window). Each trial starts the same
collection in a fresh folder, kills it with SIGKILL after a uniform random delay in [0.3 s, T] (so kills land in
start-up, in the state's creation, mid-collection, in finalize, or after the run ended), then runs
`collect ... --resume` to the end and checks:

- the resume exits 0 (collected and validated);
- the files that depend only on the data (shards, meta/episodes.parquet, meta/stats.json, and their manifest
  entries) are byte-identical to the reference's;
- the state says complete and no episode part or temporary file is left under .vintix/;
- `validate` passes (the resume runs it).

Prints one line per trial (kill time, what the killed run had left, verdict) and then `k/N identical`. The
children run at `nice 10` with one BLAS thread, one trial at a time, so the campaign stays in the background.

    python benchmarks/fault_resume.py --concurrent --trials 20 --work fault-concurrent

instead kills one collection mid-way, then per trial copies that interrupted folder and starts two
`collect --resume` on it at the same moment: one must finish (exit 0) with the reference's data, the other must
exit 2 with one line naming the first one's pid; prints `k/N as expected`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

TASK = "industrial-benchmark-50-v1"
DATA_ONLY = ("data/", "meta/episodes.parquet", "meta/stats.json")


def cli(args: list[str]) -> list[str]:
    return ["nice", "-n", "10", sys.executable, "-m", "vintix_data.cli", *args]


def env() -> dict:
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
        "HF_HUB_OFFLINE": "1",
    }


def data_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file that depends only on the data, plus those files' manifest entries."""
    out = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder).as_posix()
        if p.is_file() and any(rel == d or (d.endswith("/") and rel.startswith(d)) for d in DATA_ONLY):
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    manifest = json.loads((folder / "meta" / "manifest.json").read_text())
    out["manifest entries"] = json.dumps([e for e in manifest["files"] if e["name"] in out], sort_keys=True)
    return out


def leftovers(folder: Path) -> list[str]:
    state = folder / ".vintix"
    found = [p.relative_to(folder).as_posix() for p in state.rglob("*") if p.is_file() and p.name != "state.json"]
    found += [p.name for p in folder.iterdir() if p.name.startswith(".vintix.")]
    found += [p.relative_to(folder).as_posix() for p in folder.rglob("*.tmp")]
    return found


def describe_killed(folder: Path) -> str:
    if not folder.exists():
        return "no folder"
    if not (folder / ".vintix" / "state.json").exists():
        return "folder, no state"
    state = json.loads((folder / ".vintix" / "state.json").read_text())
    if state.get("complete"):
        return "complete"
    parts = len(list((folder / ".vintix" / "parts").rglob("*.npz")))
    finalizing = (folder / "data").exists()
    return f"{parts} parts" + (", in finalize" if finalizing else "")


def concurrent(a, args: list[str], want: dict[str, str], window: float) -> None:
    interrupted = a.work / "interrupted"
    proc = subprocess.Popen(
        cli([*args, "--out", str(interrupted)]),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    parts = interrupted / ".vintix" / "parts"
    while proc.poll() is None and len(list(parts.rglob("*.npz"))) < 10:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    print(f"interrupted folder: {describe_killed(interrupted)}", flush=True)
    good = 0
    for i in range(a.trials):
        out = a.work / f"pair-{i:02d}"
        shutil.copytree(interrupted, out)
        pair = [
            subprocess.Popen(
                cli([*args, "--out", str(out), "--resume"]),
                env=env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        done = [(p.pid, p.wait(), p.stderr.read()) for p in pair]
        winners = [d for d in done if d[1] == 0]
        losers = [d for d in done if d[1] != 0]
        problems = []
        if len(winners) != 1 or len(losers) != 1:
            problems.append(f"exit codes {[d[1] for d in done]}")
        else:
            lines = losers[0][2].strip().splitlines()
            if losers[0][1] != 2 or len(lines) != 1 or f"in use by pid {winners[0][0]}" not in lines[0]:
                problems.append(f"loser: exit {losers[0][1]}, {lines[-3:]}")
            if data_digest(out) != want:
                problems.append("data differ from the reference")
            if leftovers(out):
                problems.append(f"left over: {leftovers(out)[:3]}")
        ok = not problems
        good += ok
        shown = losers[0][2].strip() if ok else "; ".join(problems)
        print(f"pair {i + 1:2d}: {'one ran, the other: ' + shown if ok else shown}", flush=True)
        if ok:
            shutil.rmtree(out)
    print(f"{good}/{a.trials} as expected")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--work", type=Path, default=Path("fault-resume"))
    ap.add_argument("--histories", type=int, default=3)
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    ap.add_argument("--min-kill", type=float, default=0.3)
    ap.add_argument("--concurrent", action="store_true", help="two --resume at once per trial (see above)")
    a = ap.parse_args()
    args = [
        "collect",
        TASK,
        "--demonstrator",
        "zero",
        "--histories",
        str(a.histories),
        "--steps",
        str(a.steps),
        "--reference-episodes",
        "5",
        "--num-envs",
        "1",
    ]
    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    ref = a.work / "reference"
    t0 = time.perf_counter()
    subprocess.run(cli([*args, "--out", str(ref)]), check=True, env=env(), capture_output=True)
    window = time.perf_counter() - t0
    want = data_digest(ref)
    print(
        f"reference: {a.histories} x {a.steps:,} steps in {window:.1f} s; kills uniform in [{a.min_kill}, {window:.1f}] s",
        flush=True,
    )
    if a.concurrent:
        return concurrent(a, args, want, window)
    rng = random.Random(a.seed)
    identical = 0
    for i in range(a.trials):
        out = a.work / f"trial-{i:02d}"
        delay = rng.uniform(a.min_kill, window)
        proc = subprocess.Popen(
            cli([*args, "--out", str(out)]),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        finished = proc.poll() is not None
        if not finished:
            os.killpg(proc.pid, signal.SIGKILL)  # nice and python: the whole group, as a crash would take it
        proc.wait()
        killed = describe_killed(out)
        resume = subprocess.run(
            cli([*args, "--out", str(out), "--resume" if (out / ".vintix" / "state.json").exists() else "--force"]),
            env=env(),
            capture_output=True,
            text=True,
        )
        problems = []
        if resume.returncode != 0:
            problems.append(f"resume exit {resume.returncode}: {resume.stderr.strip().splitlines()[-1:]}")
        else:
            got = data_digest(out)
            if got != want:
                problems.append(
                    "differs: " + ", ".join(k for k in sorted(set(got) | set(want)) if got.get(k) != want.get(k))
                )
            state = json.loads((out / ".vintix" / "state.json").read_text())
            if not state.get("complete"):
                problems.append("state not complete")
            if leftovers(out):
                problems.append(f"left over: {leftovers(out)[:3]}")
        ok = not problems
        identical += ok
        how = "finished before the kill" if finished else f"killed at {delay:5.2f} s"
        print(f"trial {i + 1:2d}: {how} ({killed}); resumed: {'identical' if ok else '; '.join(problems)}", flush=True)
        if ok:
            shutil.rmtree(out)
    print(f"{identical}/{a.trials} identical")


if __name__ == "__main__":
    main()
