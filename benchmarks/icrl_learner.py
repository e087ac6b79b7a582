"""The ideal-learner reference row of benchmarks/icrl.py: what the data's own reward-driven learner
(``collect --behaviour learner``, ``vintix_data/domains/metaworld_learner.py``) scores on the eval's held-out goals
and episode seeds, with its posterior kept over the shots (full context) and made fresh every episode (cleared).

Why it belongs beside the goal-agnostic 631: it is the behaviour the ``ad-learner`` model is trained to imitate, so
it bounds what that model can reach, and its own full - cleared difference is the paired figure a perfect imitation
would show. Noise-free (the learner's intended action executed), deterministic.
"""

from __future__ import annotations

import numpy as np


def ideal_learner(seed: int, runs: int, episodes: int, task_id: str = "reach-v3") -> dict:
    """Per run (held-out goal) and shot, the learner's return with its posterior kept and cleared every episode."""
    import warnings

    from vintix_data.domains import configure_task, episode_reset_seed, make_env
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.registry import get_task
    from vintix_model.evaluate.runner import EVAL_SEED_BASE

    warnings.filterwarnings("ignore")
    test = configure_task(get_task(task_id), fixed_goal=True, env_options={"goal_set": "test"})
    expert = ScriptedDemonstrator(task_id)
    env = make_env(test)
    out = {}
    for mode in ("full", "cleared"):
        learner = test.learner(1)
        per_run = []
        for s in range(runs):
            seed_s = episode_reset_seed(test, EVAL_SEED_BASE + seed, s, 0)  # the eval's episode seed for run s
            learner.start(0)
            rets = []
            for _ in range(episodes):
                if mode == "cleared":
                    learner.start(0)
                obs, _ = env.reset(seed=seed_s)
                done, ret = False, 0.0
                while not done:
                    a = expert.act(test.aim(obs[None], learner.goals()[:1]))[0]
                    obs, r, term, trunc, _ = env.step(a)
                    learner.observe(0, obs, np.float32(r))
                    ret += float(r)
                    done = term or trunc
                rets.append(ret)
            per_run.append(rets)
        out[mode] = per_run
    env.close()
    full, cleared = np.asarray(out["full"]), np.asarray(out["cleared"])
    last = slice(episodes - max(1, episodes // 3), episodes)
    diff = full[:, last].mean(1) - cleared[:, last].mean(1)
    rng = np.random.default_rng(0)

    def boot(v):
        return [float(np.percentile(v[rng.integers(len(v), size=(2000, len(v)))].mean(1), q)) for q in (2.5, 97.5)]

    return {
        "per_shot_full": full.mean(0).tolist(),
        "per_shot_cleared": cleared.mean(0).tolist(),
        "full_last_third": float(full[:, last].mean()),
        "full_last_third_ci95": boot(full[:, last].mean(1)),
        "cleared_last_third": float(cleared[:, last].mean()),
        "paired_last_third": float(diff.mean()),
        "paired_last_third_ci95": boot(diff),
        "paired_above_0": int((diff > 0).sum()),
        "shots": [last.start + 1, last.stop],
        "per_run_full": out["full"],
        "per_run_cleared": out["cleared"],
    }


if __name__ == "__main__":
    import argparse
    import time

    ap = argparse.ArgumentParser(description="the ideal-learner reference on ML1's held-out reach-v3 goals")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--episodes", type=int, default=12)
    a = ap.parse_args()
    t0 = time.perf_counter()
    r = ideal_learner(a.seed, a.runs, a.episodes)
    print("per shot, full:    " + " ".join(f"{v:.0f}" for v in r["per_shot_full"]))
    print("per shot, cleared: " + " ".join(f"{v:.0f}" for v in r["per_shot_cleared"]))
    print(
        f"shots {r['shots'][0]}-{r['shots'][1]}: full {r['full_last_third']:.1f} {r['full_last_third_ci95']}, cleared "
        f"{r['cleared_last_third']:.1f}, paired {r['paired_last_third']:+.1f} {r['paired_last_third_ci95']} "
        f"({r['paired_above_0']}/{a.runs} > 0); {time.perf_counter() - t0:.0f} s"
    )
