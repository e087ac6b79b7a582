"""What the collector costs on top of the environment and the demonstrator, and what sub-envs buy.

Absolute times on a shared machine are noise, the ratio of two runs made back to back much less so. So each
round runs the baselines and the collector one after the other (in alternating order), the figure is the
median over rounds of that round's collector / baseline, and the best rates are printed beside it. Both in wall
time and in this process's CPU time: with more runnable processes than cores, wall time mostly measures the
scheduler, CPU time still measures the work (on an idle machine the two agree):

* replay (the goal's baseline): ``env.step`` + the same demonstrator (one row per call) on the same env (one
  env, built by the same ``make_env``), stepping the actions the collector executed, episode by episode from the
  same reset seeds. The env then does exactly the collector's work (the same states and actions), so the
  ratio is what the collector's own per-step Python costs: schedule, mixer, row log, part files, whatever the
  env's cost does with the actions (on Industrial Benchmark with the zero demonstrator, replay and the bare
  loop measured the same rate here; an env with contacts need not);
* bare loop: the same, acting on the demonstrator's own actions (no noise), resetting at episode ends. It is
  printed for comparison with earlier figures (issue 15's 0.71 was measured against it);
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

import numpy as np

from vintix_data.collect import CollectConfig, Collector, prepare, run_workers
from vintix_data.domains import make_env
from vintix_data.format import STATE_DIR, EpisodeData


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


def replay_loop(task, demonstrator, episodes: list[EpisodeData]) -> tuple[float, float]:
    """env.step + demonstrator on the collector's executed actions and reset seeds (the same env work)."""
    env = make_env(task)
    finals = []
    t0 = clock()
    for ep in episodes:
        obs, _ = env.reset(seed=ep.reset_seed)
        for action in ep.action:
            demonstrator.act(obs[None])
            obs, _, _, _, _ = env.step(action)
        finals.append(obs)
    r = rates(sum(len(ep.action) for ep in episodes), t0)
    env.close()
    for ep, obs in zip(episodes, finals):  # the replay took the collector's path, state for state
        if obs.astype(np.float32).tobytes() != ep.final_observation.tobytes():
            raise SystemExit(f"replay diverged from the collection in history {ep.history}, episode {ep.episode}")
    return r


def bare_vector_loop(task, demonstrator, steps: int) -> tuple[float, float]:
    """The same loop through gymnasium's SyncVectorEnv.step (copy=False, autoreset disabled, no info)."""
    import gymnasium as gym

    from vintix_data.collect import DropInfo

    envs = gym.vector.SyncVectorEnv(
        [lambda: DropInfo(make_env(task))], copy=False, autoreset_mode=gym.vector.AutoresetMode.DISABLED
    )
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


def collector(args, num_envs: int, vector: str, workers: int = 1, episodes: list | None = None) -> tuple[float, float]:
    """Wall and CPU rates (CPU of this process only: meaningless with workers, which run in children). With
    ``episodes``, the collected episodes (executed actions, reset seeds) are appended to it, in each history's order."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = CollectConfig(
            task=args.task,
            out=str(Path(tmp) / "ds"),
            demonstrator=args.demonstrator,
            histories=args.histories,
            steps=args.steps,
            num_envs=num_envs,
            vector=vector,
            workers=workers,
        )
        plan = prepare(cfg)
        schedule, histories = plan.schedule, plan.histories
        Path(cfg.out).mkdir()
        c = Collector(cfg, plan.task, schedule, plan.demonstrator, histories)
        t0 = clock()
        if workers > 1:
            run_workers(c, workers, num_envs)
        else:
            c.run()
        r = rates(histories * schedule.steps, t0)
        if episodes is not None:
            episodes += [
                EpisodeData.load_part(p) for p in sorted((Path(cfg.out) / STATE_DIR / "parts").glob("h*/e*.npz"))
            ]
        return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="industrial-benchmark-50-v1")
    ap.add_argument("--demonstrator", default="zero", help="sb3:PATH.zip for a neural demonstrator")
    ap.add_argument("--histories", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10_000, help="transitions per history")
    ap.add_argument("--rounds", type=int, default=7, help="rounds of bare loop vs collector")
    ap.add_argument("--speedup-rounds", type=int, default=3, help="rounds of 1 vs 2 sub-envs / workers (0: skip)")
    args = ap.parse_args()

    plan = prepare(
        CollectConfig(task=args.task, out=tempfile.mkdtemp(), demonstrator=args.demonstrator, steps=args.steps)
    )
    task, demo = plan.task, plan.demonstrator
    total = args.histories * args.steps
    episodes: list[EpisodeData] = []
    collector(args, 1, "sync", episodes=episodes)  # what replay steps (and a warm-up)
    runs = {
        "replay": lambda: replay_loop(task, demo, episodes),
        "collect1": lambda: collector(args, 1, "sync"),
        "bare": lambda: bare_loop(task, demo, total),
        "bare_vec": lambda: bare_vector_loop(task, demo, total),
    }
    wall: dict[str, list[float]] = {k: [] for k in runs}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    for r in range(args.rounds):
        for name in (
            ("replay", "collect1", "bare", "bare_vec") if r % 2 == 0 else ("collect1", "replay", "bare_vec", "bare")
        ):
            w, c = runs[name]()
            wall[name].append(w)
            cpu[name].append(c)
        print(
            f"round {r}: "
            + ", ".join(f"{k} {wall[k][-1]:,.0f}" for k in runs)
            + " steps/s wall, "
            + ", ".join(f"{k} {cpu[k][-1]:,.0f}" for k in runs)
            + " steps/s CPU; collector/replay "
            f"{wall['collect1'][-1] / wall['replay'][-1]:.3f} wall, {cpu['collect1'][-1] / cpu['replay'][-1]:.3f} CPU",
            flush=True,
        )

    speed = {"collect1": [], "collect2": [], "workers2": []}
    for r in range(args.speedup_rounds):
        speed["collect1"].append(collector(args, 1, "sync")[0])
        speed["collect2"].append(collector(args, 2, "async")[0])
        speed["workers2"].append(collector(args, 2, "sync", workers=2)[0])
        print(f"speed-up round {r}: " + ", ".join(f"{k} {v[-1]:,.0f} steps/s" for k, v in speed.items()), flush=True)

    print(
        f"task {task.id}, demonstrator {args.demonstrator}, {args.histories} histories x {args.steps:,} steps, "
        f"{args.rounds} rounds (best rate of each; wall / CPU)"
    )
    for name, label in (
        ("replay", "replay: env.step + demonstrator on the collector's actions"),
        ("collect1", "collector --num-envs 1 (sync)                           "),
        ("bare", "bare: env.step + demonstrator on its own actions         "),
        ("bare_vec", "bare loop via SyncVectorEnv.step                        "),
    ):
        print(f"  {label} {max(wall[name]):>10,.0f} / {max(cpu[name]):>10,.0f} steps/s")
    for base, goal in (("bare", ""), ("replay", " (goal >= 0.9)")):
        for clock_name, d in (("wall", wall), ("CPU", cpu)):
            ratios = [c / b for c, b in zip(d["collect1"], d[base])]
            print(
                f"ratio collector/{base:<6} ({clock_name:>4} time): median {statistics.median(ratios):.3f} over {len(ratios)} "
                f"rounds (min {min(ratios):.3f}, max {max(ratios):.3f}; best/best {max(d['collect1']) / max(d[base]):.3f}){goal}"
            )
    if args.speedup_rounds:
        a = statistics.median(c2 / c1 for c2, c1 in zip(speed["collect2"], speed["collect1"]))
        w = statistics.median(w2 / c1 for w2, c1 in zip(speed["workers2"], speed["collect1"]))
        print(f"speed-up num-envs 2 async / 1:     {a:.2f} (wall, median over {args.speedup_rounds} rounds)")
        print(f"speed-up num-envs 2 workers 2 / 1: {w:.2f} (goal >= 1.7 on 2 cores)")


if __name__ == "__main__":
    main()
