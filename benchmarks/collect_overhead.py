"""What the collector costs on top of the environment and the demonstrator, and what sub-envs buy.

Measured in one run, alternating rounds, best of each (absolute times on shared machines are noise):

* bare loop: ``env.step`` + the same demonstrator (one row per call) on the same env, resetting at
  episode ends: the floor for any collector;
* collector, ``--num-envs 1`` (sync vector env): noise, schedule, bookkeeping and per-episode saves;
* the same bare loop over the collector's one-env vector env (what gymnasium's vector env costs);
* collector, ``--num-envs 2`` (async vector env, one process per sub-env, a pipe round trip per step);
* collector, ``--num-envs 2 --workers 2`` (two processes, each a sync vector env on its own histories).

Prints collector / bare (goal >= 0.9) and the speed-ups of 2 sub-envs over 1 (goal >= 1.7 on 2 cores).

    python benchmarks/collect_overhead.py --demonstrator sb3:ppo.zip
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from vintix_data.collect import CollectConfig, Collector, prepare, run_workers
from vintix_data.domains import make_env


def bare_loop(task, demonstrator, steps: int) -> float:
    env = make_env(task)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    t0 = time.perf_counter()
    for _ in range(steps):
        action = demonstrator.act(obs[None])[0]
        rng.uniform(low, high)  # the noise draw any collector needs
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            obs, _ = env.reset()
    dt = time.perf_counter() - t0
    env.close()
    return steps / dt


def bare_vector_loop(task, demonstrator, steps: int) -> float:
    """The same loop over the collector's own one-env vector env (sync, copy=False, no info)."""
    import gymnasium as gym

    from vintix_data.collect import DropInfo

    envs = gym.vector.SyncVectorEnv([lambda: DropInfo(make_env(task))], copy=False,
                                    autoreset_mode=gym.vector.AutoresetMode.DISABLED)
    obs, _ = envs.reset(seed=[0])
    rng = np.random.default_rng(0)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    t0 = time.perf_counter()
    for _ in range(steps):
        action = demonstrator.act(obs)
        rng.uniform(low, high)
        obs, _, terminated, truncated, _ = envs.step(action)
        if terminated[0] or truncated[0]:
            obs, _ = envs.reset(options={"reset_mask": terminated | truncated})
    dt = time.perf_counter() - t0
    envs.close()
    return steps / dt


def collector(args, num_envs: int, vector: str, workers: int = 1) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CollectConfig(task=args.task, out=str(Path(tmp) / "ds"), demonstrator=args.demonstrator,
                            histories=args.histories, steps=args.steps, num_envs=num_envs, vector=vector, workers=workers)
        plan = prepare(cfg)
        schedule, histories = plan.schedule, plan.histories
        Path(cfg.out).mkdir()
        c = Collector(cfg, plan.task, schedule, plan.demonstrator, histories)
        t0 = time.perf_counter()
        if workers > 1:
            run_workers(c, workers, num_envs)
        else:
            c.run()
        return histories * schedule.steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="industrial-benchmark-50-v1")
    ap.add_argument("--demonstrator", default="zero", help="sb3:PATH.zip for a neural demonstrator")
    ap.add_argument("--histories", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20_000, help="transitions per history")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    plan = prepare(CollectConfig(task=args.task, out=tempfile.mkdtemp(), demonstrator=args.demonstrator, steps=args.steps))
    task, demo = plan.task, plan.demonstrator
    total = args.histories * args.steps
    best = {"bare": 0.0, "bare_vec": 0.0, "collect1": 0.0, "collect2": 0.0, "workers2": 0.0}
    for r in range(args.rounds):
        best["bare"] = max(best["bare"], bare_loop(task, demo, total))
        best["bare_vec"] = max(best["bare_vec"], bare_vector_loop(task, demo, total))
        best["collect1"] = max(best["collect1"], collector(args, 1, "sync"))
        best["collect2"] = max(best["collect2"], collector(args, 2, "async"))
        best["workers2"] = max(best["workers2"], collector(args, 2, "sync", workers=2))
        print(f"round {r}: " + ", ".join(f"{k} {v:,.0f} steps/s" for k, v in best.items()), flush=True)
    print(f"task {task.id}, demonstrator {args.demonstrator}, {args.histories} histories x {args.steps:,} steps")
    print(f"  bare env.step + demonstrator       {best['bare']:>10,.0f} steps/s")
    print(f"  bare loop on the same vector env   {best['bare_vec']:>10,.0f} steps/s")
    print(f"  collector --num-envs 1 (sync)      {best['collect1']:>10,.0f} steps/s")
    print(f"  collector --num-envs 2 (async)     {best['collect2']:>10,.0f} steps/s")
    print(f"  collector --num-envs 2 --workers 2 {best['workers2']:>10,.0f} steps/s")
    print(f"ratio collector/bare (plain env):  {best['collect1'] / best['bare']:.2f}")
    print(f"ratio collector/bare (vector env): {best['collect1'] / best['bare_vec']:.2f} (goal >= 0.9)")
    print(f"speed-up num-envs 2 async / 1:     {best['collect2'] / best['collect1']:.2f}")
    print(f"speed-up num-envs 2 workers 2 / 1: {best['workers2'] / best['collect1']:.2f} (goal >= 1.7 on 2 cores)")


if __name__ == "__main__":
    main()
