"""Cheap diagnostics of in-context task inference (issue 26 item 5; the research note's probes), for benchmarks/icrl.py.

Two questions a return curve cannot answer apart:

* **Does the model use its context at all?** ``position_loss``: the training loss (MSE of the predicted demonstrator
  action) per window position bucket, on windows of data the model never trained on, beside the variance of the label
  over the goal prior at the same rows (``prior_variance``: the best any predictor that knows nothing of the goal can
  score, since the label is a function of the goal and the hand). Position 0 has one token (one reward) to go on;
  if later positions are not below it, the context is not used; if they stay near the prior variance, the goal is
  not inferred from it.
* **Does it read the goal from the rewards?** ``reward_swap``: the env at goal A, the model fed rewards computed for
  goal B from the hand it observes (reach-v3's formula, ``vintix_data/domains/metaworld_goals.py``), on the held-out
  goals; a reward-driven learner ends nearer B. The control feeds the env's own rewards (should end nearer A).
  Pairs are a derangement of the held-out goals, so a model that ignores rewards ends nearer B about half the time.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def bucket_edges(context: int) -> list[int]:
    """Position 0, then 1-99, 100-299, 300-599, 600-1199, ... up to the window's ``context`` tokens."""
    edges = [0, 1]
    for e in (100, 300, 600, 1200, 2400, 4800, 9600):
        if e < context:
            edges.append(e)
    return edges + [context]


def bucket_means(per_position: np.ndarray, edges: list[int]) -> np.ndarray:
    """(n, T) values -> (n, buckets): each window's mean over each bucket's positions."""
    return np.stack([per_position[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])], axis=1)


def prior_variance(obs: np.ndarray, labels, goals: np.ndarray) -> np.ndarray:
    """Per row of ``obs`` (..., obs_dim): the variance of ``labels(obs, g)`` over ``goals`` (G, 3), averaged over
    action dims, the MSE the best goal-blind prediction (the label's mean over the prior) scores there."""
    flat = np.asarray(obs, np.float64).reshape(-1, obs.shape[-1])
    s = s2 = 0.0
    for g in goals:
        lab = np.asarray(labels(flat, g), np.float64)
        s, s2 = s + lab, s2 + lab * lab
    mean = s / len(goals)
    return np.maximum(s2 / len(goals) - mean * mean, 0.0).mean(axis=-1).reshape(obs.shape[:-1])


def cluster_ci(values: np.ndarray, clusters: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean of ``values`` resampling whole clusters (histories): windows of
    one history overlap, so they are not independent draws."""
    ids = np.unique(clusters)
    sums = np.array([values[clusters == c].sum() for c in ids])
    counts = np.array([(clusters == c).sum() for c in ids])
    rng = np.random.default_rng(seed)
    pick = rng.integers(len(ids), size=(n, len(ids)))
    boot = sums[pick].sum(1) / counts[pick].sum(1)
    return float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def position_loss(
    model,
    data_dir: str | Path,
    relabel: str = "none",
    stride: int = 64,
    batch: int = 16,
    prior_goals: int = 256,
    seed: int = 0,
) -> dict:
    """Per-bucket loss of ``model`` (a Vintix, DPT-style target) on every ``stride``-th window of ``data_dir``,
    normalized with the checkpoint's own stats, beside the goal-prior variance at the same rows.

    ``relabel``: ``none`` scores the stored labels (the data's own goals); ``uniform`` gives each window a fresh goal
    uniform over the goal box, its rewards and labels recomputed as ``train.relabel=uniform`` trains.
    """
    from vintix_model.data.arrays import prepare
    from vintix_model.data.relabel import WindowRelabel
    from vintix_model.data.sampler import Collate, WindowDataset, WindowOrder, index_tasks

    context = model.config.context
    tasks = prepare([str(data_dir)], target="demonstrator_action")
    t = tasks[0]
    meta = model.tasks[t.task]
    t.obs_mean, t.obs_std, t.reward_scale = meta["obs_mean"], meta["obs_std"], meta["reward_scale"]  # the model's
    windows = index_tasks(tasks, context, stride)
    order = WindowOrder([len(windows[0].starts)], seed)
    ds = WindowDataset(tasks, windows, order, context, "demonstrator_action", model.config.obs_norm)
    rel = WindowRelabel(tasks, "uniform", seed + 12345, "demonstrator_action")  # its relabeler even for "none"
    if relabel == "uniform":
        ds.relabel = rel
    history = np.load(t.arrays / "history.npy", mmap_mode="r")
    obs_all = np.load(t.arrays / "observation.npy", mmap_mode="r")
    w = windows[0]
    rows0 = w.kept[w.starts]
    relabeler = rel.tasks[0].relabeler
    box = np.random.default_rng(seed).uniform(relabeler.low, relabeler.high, size=(prior_goals, 3))
    edges = bucket_edges(context)
    collate = Collate(tasks)
    losses, prior_box, prior_var = [], [], []
    model.eval()
    with torch.no_grad():
        for i in range(0, order.total, batch):
            samples = [ds[j] for j in range(i, min(i + batch, order.total))]
            b = collate(samples)["groups"]
            preds = model(b)
            for g, gb in b.items():
                sq = (preds[g].float() - gb.target.float()).pow(2).mean(-1).numpy()
                losses.append(bucket_means(sq, edges))
            for j, s in zip(range(i, i + len(samples)), samples):
                r0 = int(rows0[j])
                raw = np.asarray(
                    obs_all[r0 + 1 : r0 + context + 1]
                )  # the tokens' observations (contiguous: no sparsity)
                mean, scale = ds.norm[0]
                if not np.allclose((raw - mean) / scale, s["obs"], atol=1e-5):
                    raise RuntimeError("position_loss: the prior's rows are not the window's tokens")
                pv = prior_variance(raw, relabeler.labels, box)
                prior_box.append(bucket_means(pv[None], edges)[0])
                prior_var.append(
                    bucket_means(pv[None], edges)[0]
                    if relabel == "uniform"
                    else bucket_means(prior_variance(raw, relabeler.labels, relabeler.variation_goals)[None], edges)[0]
                )
    loss, pbox, pvar = np.concatenate(losses), np.stack(prior_box), np.stack(prior_var)
    hist = np.asarray(history[rows0])
    buckets = [f"{a}" if b - a == 1 else f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:])]
    out = {
        "windows": int(order.total),
        "histories": len(np.unique(hist)),
        "relabel": relabel,
        "buckets": buckets,
        "loss": loss.mean(0).tolist(),
        "loss_ci95": [cluster_ci(loss[:, k], hist) for k in range(len(buckets))],
        "minus_position0": [float((loss[:, k] - loss[:, 0]).mean()) for k in range(len(buckets))],
        "minus_position0_ci95": [cluster_ci(loss[:, k] - loss[:, 0], hist) for k in range(len(buckets))],
        "prior_variance_box": pbox.mean(0).tolist(),
        "prior_variance_train_goals": pvar.mean(0).tolist(),
    }
    return out


def derangement(n: int, seed: int) -> np.ndarray:
    """A permutation with no fixed point (goal B is never goal A)."""
    rng = np.random.default_rng(seed)
    while True:
        p = rng.permutation(n)
        if n < 2 or not np.any(p == np.arange(n)):
            return p


def wilson(k: int, n: int) -> tuple[float, float]:
    """95% Wilson interval of a share k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    z, p = 1.959964, k / n
    den = 1 + z * z / n
    mid, half = (p + z * z / (2 * n)) / den, z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return float(mid - half), float(mid + half)


def swap_shares(final_tcp: np.ndarray, goal_a: np.ndarray, goal_b: np.ndarray) -> dict:
    """Per shot: the share of runs whose final tcp (runs, shots, 3) ends nearer B than A, with its interval, and the
    mean distances to A and to B."""
    da = np.linalg.norm(final_tcp - goal_a[:, None], axis=-1)
    db = np.linalg.norm(final_tcp - goal_b[:, None], axis=-1)
    nearer_b = db < da
    n = len(final_tcp)
    return {
        "share_nearer_b": nearer_b.mean(0).tolist(),
        "share_nearer_b_ci95": [wilson(int(k), n) for k in nearer_b.sum(0)],
        "mean_distance_a": da.mean(0).tolist(),
        "mean_distance_b": db.mean(0).tolist(),
        "mean_distance_ab": float(np.linalg.norm(goal_a - goal_b, axis=-1).mean()),
    }


def paired_shift(
    tcp_swap: np.ndarray, tcp_control: np.ndarray, goal_a: np.ndarray, goal_b: np.ndarray, seed: int = 0
) -> dict:
    """Per shot, run by run: how much nearer B (relative to A) the swap left the hand than the control did,
    ``(|tcp - A| - |tcp - B|)_swap - (same)_control``, its mean with a 95% bootstrap interval over runs and the share
    of runs above 0. The pairing removes each run's own geometry (where the hand ends without any reward cue)."""
    rel = lambda t: np.linalg.norm(t - goal_a[:, None], axis=-1) - np.linalg.norm(t - goal_b[:, None], axis=-1)  # noqa: E731
    shift = rel(tcp_swap) - rel(tcp_control)  # (runs, shots)
    rng = np.random.default_rng(seed)
    boot = shift[rng.integers(len(shift), size=(2000, len(shift)))].mean(1)
    return {
        "mean": shift.mean(0).tolist(),
        "ci95": [[float(np.percentile(boot[:, k], q)) for q in (2.5, 97.5)] for k in range(shift.shape[1])],
        "share_above_0": (shift > 0).mean(0).tolist(),
    }


def reward_swap(
    model, task, runs: int, episodes: int, seed: int = 0, goal_b: np.ndarray | None = None, sample: float = 0.0
) -> dict:
    """Play ``runs`` runs (run s at the eval's variation for run s, goal A) for ``episodes`` episodes in one context;
    the model is fed the reward for ``goal_b[s]`` computed from the observed hand, or the env's own with None.

    ``task``: ``vintix_model.evaluate.runner.resolve_task``'s ResolvedTask (hidden columns, stats). ``sample``:
    Gaussian noise std added to the model's action before it is executed (and fed back), 0 for the mean.
    Returns the goals, each episode's final tcp (runs, episodes, 3), and per episode the return of the rewards fed
    and of the env's own."""
    from vintix_data.domains import episode_reset_seed, make_env, resolve
    from vintix_data.domains.metaworld_goals import GOAL_COLUMNS, HAND_COLUMNS, TCP_OFFSET
    from vintix_model.evaluate.runner import EVAL_SEED_BASE
    from vintix_model.inference.agent import ICRLAgent

    spec = resolve(task.spec)
    relabeler = spec.relabeler()
    agent = ICRLAgent(model, batch=runs)
    agent.reset(task.ctx)
    envs = [make_env(spec) for _ in range(runs)]
    base = EVAL_SEED_BASE + seed
    rng = np.random.default_rng([seed, 0x5A9])
    goal_a = np.zeros((runs, 3))
    final = np.zeros((runs, episodes, 3))
    fed = np.zeros((runs, episodes))
    env_ret = np.zeros((runs, episodes))
    for k in range(episodes):
        raw = []
        for s, env in enumerate(envs):
            o, _ = env.reset(seed=episode_reset_seed(spec, base, s, k))
            raw.append(o)
            if k == 0:
                goal_a[s] = o[GOAL_COLUMNS]
        obs = np.stack([task.observe(o) for o in raw])
        prev_r, first, done = np.zeros(runs, np.float32), np.ones(runs, bool), np.zeros(runs, bool)
        while not done.all():
            act = agent.act(obs, prev_r, first)
            if sample > 0:
                act = np.clip(act + rng.normal(0, sample, act.shape), -1, 1).astype(act.dtype)
            for s, env in enumerate(envs):
                o, r, term, trunc, _ = env.step(act[s])
                env_ret[s, k] += float(r)
                if goal_b is not None:
                    r = float(relabeler.rewards(np.asarray(o)[None], goal_b[s])[0])
                prev_r[s], obs[s] = r, task.observe(o)
                fed[s, k] += r
                final[s, k] = np.asarray(o)[HAND_COLUMNS] + TCP_OFFSET
                done[s] = term or trunc
            first[:] = False
            if done.any() and not done.all():
                raise RuntimeError("episodes of the probe's runs stopped ending together")
    for env in envs:
        env.close()
    return {"goal_a": goal_a, "goal_b": goal_b, "final_tcp": final, "fed_return": fed, "env_return": env_ret}


def probe(checkpoint: str | Path, runs: int, episodes: int, seed: int = 0, sample: float = 0.0) -> dict:
    """The reward-swap probe and its control on ML1's held-out goals: run s at held-out goal A_s, fed rewards for
    B_s = A_{perm(s)} (a derangement), and the same runs fed the env's rewards."""
    from vintix_model.evaluate.config import EvalConfig
    from vintix_model.evaluate.runner import resolve_task
    from vintix_model.model.vintix import Vintix

    model = Vintix.from_pretrained(checkpoint)
    model.eval()
    task = resolve_task(
        model, EvalConfig(task="reach-v3", episodes=episodes, seeds=runs, seed=seed, variation={"goal_set": "test"})
    )
    with torch.no_grad():
        control = reward_swap(model, task, runs, episodes, seed, None, sample)
        goal_b = control["goal_a"][derangement(runs, seed)]
        swapped = reward_swap(model, task, runs, episodes, seed, goal_b, sample)
    if not np.array_equal(control["goal_a"], swapped["goal_a"]):
        raise RuntimeError("the probe's two passes met different goals A")
    return {
        "runs": runs,
        "episodes": episodes,
        "sample": sample,
        "swap": swap_shares(swapped["final_tcp"], swapped["goal_a"], goal_b),
        "control": swap_shares(control["final_tcp"], control["goal_a"], goal_b),
        "paired": paired_shift(swapped["final_tcp"], control["final_tcp"], control["goal_a"], goal_b, seed),
        "goal_a": control["goal_a"].tolist(),
        "goal_b": goal_b.tolist(),
        "final_tcp_swap": swapped["final_tcp"].tolist(),
        "final_tcp_control": control["final_tcp"].tolist(),
        "fed_return_swap": swapped["fed_return"].mean(0).tolist(),
        "fed_return_control": control["fed_return"].mean(0).tolist(),
    }


def _fmt_ci(v) -> str:
    return f"[{v[0]:.2f}, {v[1]:.2f}]"


def print_position_loss(name: str, r: dict) -> None:
    print(
        f"{name}: per-position loss on {r['windows']} windows of {r['histories']} held-out histories "
        f"(labels: {'relabelled to a fresh uniform goal per window' if r['relabel'] == 'uniform' else 'the data’s own goals'})"
    )
    print(
        f"  {'positions':>10} {'loss':>8} {'95% CI':>16} {'- pos 0':>8} {'95% CI':>18} {'prior var (box)':>16} "
        f"{'prior var (' + ('box' if r['relabel'] == 'uniform' else '50 train goals') + ')':>26}"
    )
    for k, b in enumerate(r["buckets"]):
        lo, hi = r["loss_ci95"][k]
        dlo, dhi = r["minus_position0_ci95"][k]
        print(
            f"  {b:>10} {r['loss'][k]:8.4f} {f'[{lo:.4f}, {hi:.4f}]':>16} {r['minus_position0'][k]:+8.4f} "
            f"{f'[{dlo:+.4f}, {dhi:+.4f}]':>18} {r['prior_variance_box'][k]:16.4f} {r['prior_variance_train_goals'][k]:26.4f}"
        )


def print_probe(name: str, r: dict) -> None:
    shots = [0, r["episodes"] - 1]
    print(
        f"{name}: reward-swap probe, {r['runs']} held-out goals A, B a derangement of them (mean |A - B| "
        f"{r['swap']['mean_distance_ab'] * 100:.1f} cm), {r['episodes']} shots in one context"
        + (f", actions sampled with std {r['sample']}" if r["sample"] else "")
    )
    for label, key in (("fed rewards for B (swap)", "swap"), ("fed the env's rewards (control)", "control")):
        s = r[key]
        parts = [
            f"shot {k + 1}: nearer B {s['share_nearer_b'][k]:.2f} {_fmt_ci(s['share_nearer_b_ci95'][k])}, "
            f"|tcp - A| {s['mean_distance_a'][k] * 100:.1f} cm, |tcp - B| {s['mean_distance_b'][k] * 100:.1f} cm"
            for k in shots
        ]
        print(f"  {label:32} " + "; ".join(parts))
    if "paired" in r:
        p = r["paired"]
        print(
            "  paired, swap - control, (|tcp - A| - |tcp - B|): "
            + "; ".join(
                f"shot {k + 1}: {p['mean'][k] * 100:+.1f} cm [{p['ci95'][k][0] * 100:+.1f}, {p['ci95'][k][1] * 100:+.1f}], "
                f"{p['share_above_0'][k]:.2f} of runs > 0"
                for k in shots
            )
        )


def diagnose(run: Path, heldout: Path, relabelled: bool, runs: int, episodes: int, seed: int, cache: Path) -> dict:
    """Both diagnostics for one trained model (``relabelled``: also the loss on windows relabelled as it trained),
    cached in ``cache`` (a re-run of the benchmark reuses it)."""
    import json
    import os

    from vintix_model.model.vintix import Vintix

    if cache.exists():
        return json.loads(cache.read_text())
    model = Vintix.from_pretrained(run)
    out = {"position_loss": {"none": position_loss(model, heldout, "none", seed=seed)}}
    if relabelled:
        out["position_loss"]["uniform"] = position_loss(model, heldout, "uniform", seed=seed)
    out["probe"] = probe(run, runs, episodes, seed)
    tmp = cache.with_name(f".{cache.name}.tmp")
    tmp.write_text(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, cache)
    return out


def print_diagnosis(name: str, d: dict) -> None:
    for r in d["position_loss"].values():
        print_position_loss(name, r)
    print_probe(name, d["probe"])
