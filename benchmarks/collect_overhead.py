"""What the collector costs on top of the environment and the demonstrator, and what sub-envs buy.

Absolute times on a shared machine are noise, the ratio of two runs made back to back much less so. So each
round runs the bare loop and the collector one after the other (in alternating order), the figure is the
median over rounds of that round's collector / bare, and the best rates are printed beside it. Both in wall
time and in this process's CPU time: with more runnable processes than cores, wall time mostly measures the
scheduler, CPU time still measures the work (on an idle machine the two agree):

* bare loop: ``env.step`` + the same demonstrator (one row per call) on the same env (one env, built by the
  same ``make_env``), resetting at episode ends: the floor for any collector. It draws no noise: a collector
  can draw an episode's noise in one call when the episode starts (ours does), so a per-step draw here would
  only slow the baseline down (until issue 15 it did, by about 40% of an IB step);
* collector, ``--num-envs 1`` (sync vector env): everything a collection does per step and per episode
  (schedule, noise, mixer, the row log, part files), started the way ``collect`` starts it;
* for reference, the bare loop through gymnasium's ``SyncVectorEnv.step`` on the collector's vector env (the
  collector steps its sub-envs directly, so it does not pay this).

Then, in their own rounds, what sub-envs and worker processes buy over the collector with one sub-env:
``--num-envs 2`` (async vector env, a pipe round trip per step) and ``--num-envs 2 --workers 2``.

    python benchmarks/collect_overhead.py                                   # IB, zero demonstrator
    python benchmarks/collect_overhead.py --demonstrator sb3:ppo-ib50.zip   # IB, a trained PPO
    python benchmarks/collect_overhead.py --task reach-v3 --demonstrator scripted --steps 2000 --speedup-rounds 0
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from vintix_data.collect import CollectConfig, Collector, prepare, run_workers
from vintix_data.domains import make_env


def clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def rates(steps: int, start: tuple[float, float]) -> tuple[float, float]:
    """steps per second of wall time and of CPU time since ``start``."""
    return tuple(steps / (now - then) for now, then in zip(clock(), start))


def bare_loop(task, demonstrator, steps: int) -> tuple[float, float]:
    env = make_env(task)
    obs, _ = env.reset(seed=0)
    t0 = clock()
    for _ in range(steps):
        action = demonstrator.act(obs[None])[0]
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    r = rates(steps, t0)
    env.close()
    return r


def bare_vector_loop(task, demonstrator, steps: int) -> tuple[float, float]:
    """The same loop through gymnasium's SyncVectorEnv.step (copy=False, autoreset disabled, no info)."""
    import gymnasium as gym

    from vintix_data.collect import DropInfo

    envs = gym.vector.SyncVectorEnv([lambda: DropInfo(make_env(task))], copy=False,
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    obs, _ = envs.reset(seed=[0])
    t0 = clock()
    for _ in range(steps):
        action = demonstrator.act(obs)
        obs, _, terminated, truncated, _ = envs.step(action)
        if terminated[0] or truncated[0]:
            obs, _ = envs.reset(options={"reset_mask": terminated | truncated})
    r = rates(steps, t0)
    envs.close()
    return r


def collector(args, num_envs: int, vector: str, workers: int = 1) -> tuple[float, float]:
    """Wall and CPU rates (CPU of this process only: meaningless with workers, which run in children)."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CollectConfig(task=args.task, out=str(Path(tmp) / "ds"), demonstrator=args.demonstrator,
                            histories=args.histories, steps=args.steps, num_envs=num_envs, vector=vector, workers=workers)
        plan = prepare(cfg)
        schedule, histories = plan.schedule, plan.histories
        Path(cfg.out).mkdir()
        c = Collector(cfg, plan.task, schedule, plan.demonstrator, histories)
        t0 = clock()
        if workers > 1:
            run_workers(c, workers, num_envs)
        else:
            c.run()
        return rates(histories * schedule.steps, t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="industrial-benchmark-50-v1")
    ap.add_argument("--demonstrator", default="zero", help="sb3:PATH.zip for a neural demonstrator")
    ap.add_argument("--histories", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10_000, help="transitions per history")
    ap.add_argument("--rounds", type=int, default=7, help="rounds of bare loop vs collector")
    ap.add_argument("--speedup-rounds", type=int, default=3, help="rounds of 1 vs 2 sub-envs / workers (0: skip)")
    args = ap.parse_args()

    plan = prepare(CollectConfig(task=args.task, out=tempfile.mkdtemp(), demonstrator=args.demonstrator, steps=args.steps))
    task, demo = plan.task, plan.demonstrator
    total = args.histories * args.steps
    runs = {"bare": lambda: bare_loop(task, demo, total), "collect1": lambda: collector(args, 1, "sync"),
            "bare_vec": lambda: bare_vector_loop(task, demo, total)}
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for name in (("bare", "collect1", "bare_vec") if r % 2 == 0 else ("collect1", "bare", "bare_vec")):
            w, c = runs[name]()
            wall[name].append(w)
            cpu[name].append(c)
        print(f"round {r}: " + ", ".join(f"{k} {wall[k][-1]:,.0f}" for k in runs) + " steps/s wall, "
              + ", ".join(f"{k} {cpu[k][-1]:,.0f}" for k in runs) + " steps/s CPU; collector/bare "
              f"{wall['collect1'][-1] / wall['bare'][-1]:.3f} wall, {cpu['collect1'][-1] / cpu['bare'][-1]:.3f} CPU", flush=True)

    speed = {"collect1": [], "collect2": [], "workers2": []}
    for r in range(args.speedup_rounds):
        speed["collect1"].append(collector(args, 1, "sync")[0])
        speed["collect2"].append(collector(args, 2, "async")[0])
        speed["workers2"].append(collector(args, 2, "sync", workers=2)[0])
        print(f"speed-up round {r}: " + ", ".join(f"{k} {v[-1]:,.0f} steps/s" for k, v in speed.items()), flush=True)

    print(f"task {task.id}, demonstrator {args.demonstrator}, {args.histories} histories x {args.steps:,} steps, "
          f"{args.rounds} rounds (best rate of each; wall / CPU)")
    for name, label in (("bare", "bare env.step + demonstrator     "), ("collect1", "collector --num-envs 1 (sync)    "),
                        ("bare_vec", "bare loop via SyncVectorEnv.step ")):
        print(f"  {label} {max(wall[name]):>10,.0f} / {max(cpu[name]):>10,.0f} steps/s")
    for clock_name, d in (("wall", wall), ("CPU", cpu)):
        ratios = [c / b for c, b in zip(d["collect1"], d["bare"])]
        print(f"ratio collector/bare ({clock_name:>4} time): median {statistics.median(ratios):.3f} over {len(ratios)} rounds "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}; best/best {max(d['collect1']) / max(d['bare']):.3f}) "
              "(goal >= 0.9)")
    if args.speedup_rounds:
        a = statistics.median(c2 / c1 for c2, c1 in zip(speed["collect2"], speed["collect1"]))
        w = statistics.median(w2 / c1 for w2, c1 in zip(speed["workers2"], speed["collect1"]))
        print(f"speed-up num-envs 2 async / 1:     {a:.2f} (wall, median over {args.speedup_rounds} rounds)")
        print(f"speed-up num-envs 2 workers 2 / 1: {w:.2f} (goal >= 1.7 on 2 cores)")


if __name__ == "__main__":
    main()
