"""Does a model trained on these data improve in context? An experiment with an ablation, not a test.

End to end through the CLIs, as a user would, on two CPU cores (about an hour; finished stages are reused on a
re-run, so an interrupted run continues with ``python benchmarks/icrl.py`` again):

1. ``vintix-data collect reach-v3 --hide goal --fixed-goal``: a *latent-task* dataset. Every history is one
   learning run on one goal the rows never show (the goal's 3 observation columns are recorded as 0; the scripted
   expert acts on the full observation); the 50 histories take the 50 distinct goals of Meta-World's ML1 *train*
   set. The same command without ``--hide`` gives the fully observed control (same bytes elsewhere).
2. ``vintix-model train`` the tiny preset six times: the AD target (``action``, the executed noisy action) and
   the DPT-style target (``demonstrator_action``) on the latent data, each with and without the previous action in
   the tokens (``model.action_input``), and the AD target on the control data, with and without it. Why the knob: the demonstrator is
   privileged, so the executed actions in a training context point at the hidden goal (``(1 - eps)`` of every
   action is the expert's); a model can read the goal off them instead of off the rewards, and at evaluation it then
   reads a goal off its *own* actions, which carry none. Rewards are the one channel that tells the truth about the
   goal whatever the policy.
3. ``vintix-model eval --ablation`` of each on the 50 goals of ML1's *test* set (``--variation goal_set=test``;
   disjoint from the training goals), one run per goal from a cold start, ``--episodes`` shots in one context, and
   the same runs with the context cleared at every episode start. The goal stays hidden in the live env (the
   checkpoint's metadata says so) and fixed within a run (as in training).
4. References on the same held-out goals and episode seeds: uniform random, the scripted expert (sees the goal),
   and the best goal-agnostic policy we know: the scripted expert aimed at the *mean training goal*. In-context
   learning has to beat what ignoring the goal achieves.

Why these settings. ``reach-v3``: its goal is the only latent part of the task (nothing else in the observation
depends on it, except that the goal is drawn at least 15 cm from the puck), and its reward is a smooth function of
the hand-goal distance, so reward is what tells a learner where the goal is. 100-step episodes (the paper's cut):
the scripted expert needs ~50 steps to reach a goal, so shorter episodes would cut what there is to learn.
Histories of 15 episodes with ``p = 2, f = 0.2``: noise stays high (eps > 0.8) for the first ~7 episodes, so those
rows carry mostly reward information, and falls to 0 by episode 12: the steep part of the climb (episodes 7-12) fits
in one 600-token window (6 episodes), which is what the model is trained on; no episode sparsity (every episode is
needed to see the climb). 50 histories: every training goal of ML1 once (distinct goals, ``--fixed-goal``).

Two arms of issue 26 (the research note's D3 and D1), both with the puck hidden too (it is a per-history task ID):
``dpt-decoy`` trains the DPT-style target on data whose executed actions never saw the goal (``collect --behaviour
decoy``), ``dpt-relabel`` on goal+puck-hidden data with ``train.relabel=uniform`` (a fresh goal per window, rewards
and labels recomputed for it). Pick models with ``--models``; only their datasets are collected.

``ad-learner`` (the note's D2) trains on data whose demonstrator is a reward-driven learner that never reads the goal
(``collect --behaviour learner``), with its intended action as the target; its ideal-learner reference row (the same
learner on the held-out goals, full and cleared, ``benchmarks/icrl_learner.py``) is printed beside the goal-agnostic one.
``ad-learner-t0`` adds ``train.first_windows=8`` (each history's cold-start window 9 times per epoch).
``ad-learner-decoy`` is ``ad-learner-t0`` on ``collect --behaviour learner-decoy`` data: the learner's labels, but a
third of the episodes, anywhere in a history, executed by the demonstrator aimed at a decoy goal, so a context's past
episodes are not all the learner's own (which, converged, a model can copy: the near noise-free learner data showed
that) and the labels must be read from the rewards.

``--diagnostics`` adds issue 26's cheap diagnostics of the DPT-style models (``benchmarks/icrl_diag.py``): the loss
per window position on held-out histories (the same collection on ML1's test goals, seed + 1) beside the variance of
the label over the goal prior, and the reward-swap probe (the env at goal A, the model fed rewards for goal B).

With ``--train-seeds 0,1,2,3`` every model is trained and evaluated once per training seed; the table and plot show
the first seed, and each model's arm is then pooled over its seeds (``benchmarks/icrl_seeds.py``: the verdict for the
recipe, with an interval over training seeds and goals, and how many seeds meet the goal alone).

It prints one table (per model: shot 1, the last third of the shots with full and with cleared context and their
95% intervals over the 50 runs, the paired difference and its interval, normalized scores) and writes
``summary.json`` and ``icrl.png``. It reports whatever comes out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from icrl_smoke import sh  # the same CLI runner (benchmarks/ is on sys.path when run as a script)

TASK = "reach-v3"
HIDE_ALL = ["--hide", "goal", "--hide", "objects", "--hide", "previous_objects"]  # the puck is a task ID too (audit)
DATASETS = {  # kind -> collect options beyond the shared ones (all --fixed-goal, same seed)
    "latent": ["--hide", "goal"],
    "control": [],
    "clean": HIDE_ALL,  # goal and puck hidden (vintix-data audit finds no task ID)
    "blind": [*HIDE_ALL, "--behaviour", "decoy"],  # and the executed actions never see the goal (the note's D3)
    "learner": [*HIDE_ALL, "--behaviour", "learner"],  # a reward-driven learner demonstrates (the note's D2)
    # the learner's labels, a third of the episodes executed by a decoy-aimed demonstrator (wrong-goal episodes at any
    # point of a history, as a model's own are, followed by labels that recover from them)
    "learner-decoy": [*HIDE_ALL, "--behaviour", "learner-decoy"],
}
MODELS = {  # name -> (slug, dataset, training target, previous actions in the tokens[, extra --set overrides])
    "AD, goal hidden": ("ad-latent", "latent", "action", True),
    "DPT-style, goal hidden": ("dpt-latent", "latent", "demonstrator_action", True),
    "AD, goal hidden, no action input": ("ad-latent-noact", "latent", "action", False),
    "DPT-style, goal hidden, no action input": ("dpt-latent-noact", "latent", "demonstrator_action", False),
    "AD, goal observed (control)": ("ad-control", "control", "action", True),
    "AD, goal observed, no action input (control)": ("ad-control-noact", "control", "action", False),
    "DPT-style, goal-blind decoy behaviour": ("dpt-decoy", "blind", "demonstrator_action", True),
    "DPT-style, goal+puck hidden, relabelled": (
        "dpt-relabel",
        "clean",
        "demonstrator_action",
        True,
        ["train.relabel=uniform"],
    ),
    # AD on the learner's own intended action (its noise level is not worth predicting): the model must learn to learn
    "AD, reward-driven learner demonstrator": ("ad-learner", "learner", "demonstrator_action", True),
    "AD, learner demonstrator, t=0 windows x9": (
        "ad-learner-t0",
        "learner",
        "demonstrator_action",
        True,
        ["train.first_windows=8"],
    ),  # cold starts a quarter of the windows
    "AD, learner labels, decoy episodes, t=0 windows x9": (
        "ad-learner-decoy",
        "learner-decoy",
        "demonstrator_action",
        True,
        ["train.first_windows=8"],
    ),
}


def slug(name: str) -> str:
    return MODELS[name][0]


def cached(path: Path, key: dict, compute) -> tuple[Any, bool]:
    """``path``'s value when it was computed for ``key``, else ``compute()`` written there with its key; and whether
    it was computed (so the caller times only what it computed)."""
    stored = json.loads(path.read_text()) if path.exists() else None
    if isinstance(stored, dict) and stored.get("key") == key:
        return stored["value"], False
    value = compute()
    path.write_text(json.dumps({"key": key, "value": value}, indent=2) + "\n")
    return value, True


def references(args, runs: int) -> dict:
    """Random, scripted expert and goal-agnostic expert on the eval's held-out goals and episode seeds."""
    import warnings

    from vintix_data.domains import configure_task, episode_reset_seed, make_env
    from vintix_data.domains.metaworld import ScriptedDemonstrator
    from vintix_data.registry import get_task
    from vintix_model.evaluate.runner import EVAL_SEED_BASE

    warnings.filterwarnings("ignore")
    base = get_task(args.task)
    train = configure_task(base, fixed_goal=True)
    test = configure_task(base, fixed_goal=True, env_options={"goal_set": "test"})
    goal = slice(36, 39)
    env = make_env(train)
    train_goals = np.array(
        [env.reset(seed=episode_reset_seed(train, args.seed, h, 0))[0][goal] for h in range(args.histories)]
    )
    env.close()
    mean_goal = train_goals.mean(0)
    expert = ScriptedDemonstrator(args.task)
    env = make_env(test)
    out = {"random": [], "demonstrator": [], "goal_agnostic": []}
    test_goals = []
    rng = np.random.default_rng(np.random.SeedSequence((args.seed, 7)))
    for s in range(runs):
        seed = episode_reset_seed(test, EVAL_SEED_BASE + args.seed, s, 0)  # the eval's episode seed for run s
        for name in out:
            shots = args.episodes if name == "random" else 1  # the experts are deterministic: every shot is the same
            total = 0.0
            for _ in range(shots):
                obs, _ = env.reset(seed=seed)
                if name == "demonstrator" and s >= len(test_goals):
                    test_goals.append(obs[goal].copy())
                done, ret = False, 0.0
                while not done:
                    if name == "random":
                        a = rng.uniform(-1, 1, 4)
                    else:
                        o = obs.copy()
                        if name == "goal_agnostic":
                            o[goal] = mean_goal
                        a = expert.act(o[None])[0]
                    obs, r, term, trunc, _ = env.step(a)
                    ret += float(r)
                    done = term or trunc
                total += ret
            out[name].append(total / shots)
    env.close()
    gap = np.min(np.linalg.norm(np.asarray(test_goals)[:, None] - train_goals[None], axis=-1))
    return {k: float(np.mean(v)) for k, v in out.items()} | {
        "per_run": out,
        "mean_training_goal": mean_goal.tolist(),
        "train_goals_distinct": len(np.unique(train_goals, axis=0)),
        "test_goals_distinct": len(np.unique(np.asarray(test_goals), axis=0)),
        "min_test_train_goal_distance": float(gap),
    }


def plot(results: dict, refs: dict, path: Path, task: str = TASK) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(2 if len(results) == 4 else 3, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.0 * rows), dpi=110, sharey=True, squeeze=False)
    for ax in axes.ravel()[len(results) :]:
        ax.set_visible(False)
    axes = axes.ravel()
    for ax, (name, r) in zip(axes, results.items()):
        arr = lambda v: np.asarray([np.nan if a is None else a for a in v], float)  # noqa: E731
        shots = np.asarray(r["per_shot"]["shot"])
        for data, color, label in (
            (r["per_shot"], "tab:blue", "full context"),
            (r["ablation"]["context_reset"]["per_shot"], "tab:purple", "context cleared every episode"),
        ):
            ax.plot(shots, arr(data["mean"]), color=color, lw=1.8, label=label)
            ax.fill_between(shots, arr(data["mean_ci95"][0]), arr(data["mean_ci95"][1]), color=color, alpha=0.2, lw=0)
        for key, color, label in (
            ("demonstrator", "tab:green", "scripted expert (sees the goal)"),
            ("goal_agnostic", "tab:orange", "expert aimed at the mean training goal"),
            ("random", "tab:red", "uniform random"),
        ):
            ax.axhline(refs[key], color=color, ls="--", lw=1.1, label=f"{label} ({refs[key]:.0f})")
        d = r["ablation"]["paired_difference"]["last_third"]
        ax.set_title(
            f"{name}\nfull - cleared, shots {d['shots'][0]}-{d['shots'][1]}: {d['mean']:+.0f} "
            f"[{d['ci95'][0]:+.0f}, {d['ci95'][1]:+.0f}]",
            fontsize=9,
        )
        ax.set_xlabel("shot (episode in one context)")
        ax.grid(alpha=0.3)
    for ax in axes[::cols]:
        ax.set_ylabel(f"return, {len(r['per_seed']['returns'])} held-out goals")
    handles, labels = axes[0].get_legend_handles_labels()
    # one or two panels are too narrow for the title on one line and the 5 legend entries in one row: wrap the
    # title to the figure's width and fold the legend into as many columns as panels (all in a row from 3 panels),
    # below the figure, then let savefig's tight box take in both
    import textwrap

    title = f"{task}, goal hidden unless noted: cold-start in-context evaluation on ML1's held-out goals"
    fig.suptitle("\n".join(textwrap.wrap(title, width=int(20 * 5.2 * cols / 1.1) // 2 + 10)), fontsize=10)
    ncol = len(labels) if cols >= 3 else cols
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=ncol, fontsize=7, frameon=False)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, bbox_inches="tight", pad_inches=0.1)
    plt.close(fig)
    os.replace(tmp, path)


def diagnostics(args, out: Path, runs: dict[str, Path], data_cli: str, times: dict) -> None:
    """Issue 26's cheap diagnostics (benchmarks/icrl_diag.py) of the DPT-style models (``runs``: model name -> its
    run folder, the first training seed's): the loss per window position on held-out histories (the same collection
    on ML1's test goals, another seed) against the goal-prior variance, and the reward-swap probe. The AD target's
    label is the noisy executed action, which the prior does not bound."""
    import icrl_diag

    t0 = time.perf_counter()
    (out / "diag").mkdir(exist_ok=True)
    for name, run in runs.items():
        _, kind, target, _, *extra = MODELS[name]
        if target != "demonstrator_action":
            print(f"{name}: no diagnostics (AD target)")
            continue
        held = out / "data" / f"heldout-{kind}"
        if not (held / "meta" / "manifest.json").exists():
            sh(
                data_cli,
                "collect",
                args.task,
                "--out",
                str(held),
                "--fixed-goal",
                *DATASETS[kind],
                "--env-option",
                "goal_set=test",
                "--histories",
                str(args.diag_histories),
                "--steps",
                str(args.steps),
                "--p",
                str(args.p),
                "--f",
                str(args.f),
                "--seed",
                str(args.seed + 1),
                "--num-envs",
                "2",
                "--workers",
                "2",
                *(["--resume"] if (held / ".vintix" / "state.json").exists() else []),
                log=out / "log.txt",
            )
        relabelled = any(
            o.startswith("train.relabel=") and not o.endswith("=none") for o in (extra[0] if extra else [])
        )
        d = icrl_diag.diagnose(
            run, held, relabelled, args.runs, args.probe_episodes, args.seed, out / "diag" / f"{run.name}.json"
        )
        icrl_diag.print_diagnosis(name, d)
    times["diagnostics"] = time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--task",
        default=TASK,
        help="the task family (a Meta-World task with ML1 goal sets; the learner "
        "arms need one whose reward the learner predicts: reach-v3, reach-wall-v3)",
    )
    ap.add_argument("--out", type=Path, default=Path("icrl-reach"))
    ap.add_argument("--histories", type=int, default=50, help="one per training goal of ML1 (at most 50 distinct)")
    ap.add_argument("--steps", type=int, default=1500, help="transitions per history (15 episodes of 100 steps)")
    ap.add_argument("--p", type=float, default=2.0)
    ap.add_argument("--f", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--context", type=int, default=600, help="model context in tokens (6 episodes)")
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument(
        "--train-seeds",
        default="0",
        help="training seeds per model, comma-separated (e.g. 0,1,2,3): each trained and evaluated on the same goals, "
        "then pooled into the arm's verdict over seeds (benchmarks/icrl_seeds.py); seed 0 keeps the folders runs/MODEL",
    )
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=12, help="shots per run at evaluation")
    ap.add_argument("--runs", type=int, default=50, help="evaluation runs, one held-out goal each (ML1 has 50)")
    ap.add_argument(
        "--diagnostics",
        action="store_true",
        help="also the cheap diagnostics of DPT-style models "
        "(benchmarks/icrl_diag.py): per-position loss on held-out histories, the reward-swap probe",
    )
    ap.add_argument("--diag-histories", type=int, default=10, help="held-out histories (ML1 test goals) for the loss")
    ap.add_argument("--probe-episodes", type=int, default=6, help="shots per run in the reward-swap probe")
    ap.add_argument(
        "--eval-prompt",
        default=None,
        help="eval --prompt random:STEPS for every model (a knob; the "
        "prompt's steps are extra interaction the returns do not count)",
    )
    ap.add_argument(
        "--models", default=",".join(slug(m) for m in MODELS), help="which models to run (slugs, comma-separated)"
    )
    args = ap.parse_args()
    if args.diagnostics and args.task != "reach-v3":  # icrl_diag's label variance and probe are reach-v3's formulas
        sys.exit(f"error: --diagnostics is reach-v3's (its labels are reach-v3's expert), not {args.task}'s")
    by_slug = {slug(m): m for m in MODELS}
    picked = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in picked if m not in by_slug]
    if unknown:
        sys.exit(f"error: unknown model {unknown[0]!r}; choose from: {', '.join(by_slug)}")
    wanted = [by_slug[m] for m in picked]
    try:
        train_seeds = sorted({int(v) for v in args.train_seeds.split(",") if v.strip()})
    except ValueError:
        sys.exit(f"error: --train-seeds takes integers separated by commas, not {args.train_seeds!r}")
    if not train_seeds or min(train_seeds) < 0:
        sys.exit(f"error: --train-seeds needs at least one seed >= 0, not {args.train_seeds!r}")
    jobs = [(name, seed) for name in wanted for seed in train_seeds]

    # seed 0 (train.seed's default) keeps the folder names of a run without --train-seeds, so its runs are reused
    def seeded(name: str, seed: int) -> str:
        return slug(name) + (f"-seed{seed}" if seed else "")

    # eval --prompt random:STEPS (a knob of issue 26: goal-blind exploration in the context first, as the training
    # contexts had; the prompt's steps are not counted in the returns): evaluated into its own folder
    def eval_name(name: str, seed: int = 0) -> str:
        return seeded(name, seed) + (f"-prompt-{args.eval_prompt.replace(':', '')}" if args.eval_prompt else "")

    out = args.out.resolve()
    for sub in ("data", "runs", "eval"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    log, times = out / "log.txt", {}
    bindir = Path(sys.executable).parent
    data_cli, model_cli = str(bindir / "vintix-data"), str(bindir / "vintix-model")

    # 1. data: the datasets the chosen models train on (the latent-task dataset, its fully observed control, ...), same seed
    t0, ran = time.perf_counter(), False
    kinds = sorted({MODELS[name][1] for name in wanted}, key=list(DATASETS).index)
    for kind in kinds:
        folder = out / "data" / kind
        if (folder / "meta" / "manifest.json").exists():
            continue
        ran = True
        sh(
            data_cli,
            "collect",
            args.task,
            "--out",
            str(folder),
            "--fixed-goal",
            *DATASETS[kind],
            "--histories",
            str(args.histories),
            "--steps",
            str(args.steps),
            "--p",
            str(args.p),
            "--f",
            str(args.f),
            "--seed",
            str(args.seed),
            "--num-envs",
            "2",
            "--workers",
            "2",
            *(["--resume"] if (folder / ".vintix" / "state.json").exists() else []),
            log=log,
        )
    times["collect"] = time.perf_counter() - t0 if ran else None

    # 2. the models, two at a time (the tiny preset trains on one core)
    def train(job: tuple[str, int]) -> float | None:
        name, seed = job
        _, kind, target, action_input, *extra = MODELS[name]
        run = out / "runs" / seeded(name, seed)
        if (run / "latest").exists() and f"step-{args.train_steps:07d}" in (run / "latest").read_text():
            return None
        return sh(
            model_cli,
            "train",
            "--datasets",
            str(out / "data" / kind),
            "--out",
            str(run),
            "--preset",
            "tiny",
            "--steps",
            str(args.train_steps),
            "--set",
            f"model.context={args.context}",
            "--set",
            f"train.stride={args.stride}",
            "--set",
            f"train.target={target}",
            "--set",
            f"model.action_input={str(action_input).lower()}",
            "--set",
            "train.save_every=250",
            "--set",
            f"train.seed={seed}",
            "--quiet",
            *(a for o in (extra[0] if extra else []) for a in ("--set", o)),
            *(["--resume"] if (run / "latest").exists() else []),
            log=out / f"log-train-{seeded(name, seed)}.txt",
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        spent = list(pool.map(train, jobs))
    times["train"] = time.perf_counter() - t0 if any(s is not None for s in spent) else None

    # 3. cold-start evaluation on the held-out goals, full context and cleared context
    def evaluate(job: tuple[str, int]) -> float | None:
        name, seed = job
        folder = out / "eval" / eval_name(name, seed)
        if (folder / "results.json").exists():
            return None
        return sh(
            model_cli,
            "eval",
            str(out / "runs" / seeded(name, seed)),
            "--task",
            args.task,
            "--variation",
            "goal_set=test",
            "--episodes",
            str(args.episodes),
            "--seeds",
            str(args.runs),
            "--seed",
            str(args.seed),
            "--ablation",
            *(["--prompt", args.eval_prompt] if args.eval_prompt else []),
            "--out",
            str(folder),
            "--quiet",
            "--force",
            log=out / f"log-eval-{eval_name(name, seed)}.txt",
        )

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as pool:
        spent = list(pool.map(evaluate, jobs))
    times["eval"] = time.perf_counter() - t0 if any(s is not None for s in spent) else None

    # 4. references on the same goals and seeds
    t0 = time.perf_counter()
    # cached in the output folder, keyed by what they are computed from (a rerun with other --task/--seed/--runs/...
    # in the same folder recomputes them instead of reading another setting's numbers)
    key = {
        "task": args.task,
        "seed": args.seed,
        "histories": args.histories,
        "runs": args.runs,
        "episodes": args.episodes,
    }
    refs, computed = cached(out / "references.json", key, lambda: references(args, args.runs))
    times["references"] = time.perf_counter() - t0 if computed else None

    def ideal_learner():
        import icrl_learner  # the data's learner on the same goals and seeds (deterministic)

        return icrl_learner.ideal_learner(args.seed, args.runs, args.episodes, args.task)

    t0 = time.perf_counter()
    learner_key = {k: key[k] for k in ("task", "seed", "runs", "episodes")}
    ideal, computed = cached(out / "learner-reference.json", learner_key, ideal_learner)
    if computed:
        times["learner_reference"] = time.perf_counter() - t0
    results = {
        name: json.loads((out / "eval" / eval_name(name, train_seeds[0]) / "results.json").read_text())
        for name in wanted
    }
    manifests = {
        kind: __import__("hashlib")
        .sha256((out / "data" / kind / "meta" / "manifest.json").read_bytes())
        .hexdigest()[:16]
        for kind in kinds
    }
    print(
        f"ICRL on {args.task}: {args.histories} histories x {args.steps:,} steps (p {args.p}, f {args.f}, one distinct ML1 train "
        f"goal each), tiny preset, context {args.context}, {args.train_steps} training steps; evaluated cold start on "
        f"{args.runs} held-out ML1 test goals, {args.episodes} shots each"
    )
    print(
        "dataset manifests (sha256): " + ", ".join(f"{k} {v}" for k, v in manifests.items()) + "; held-out goals "
        f"{refs['test_goals_distinct']} distinct, nearest training goal {refs['min_test_train_goal_distance'] * 100:.1f} cm away"
    )
    rnd, dem, agn = refs["random"], refs["demonstrator"], refs["goal_agnostic"]
    print(
        f"references on the held-out goals: random {rnd:.1f}, scripted expert {dem:.1f}, goal-agnostic expert (mean "
        f"training goal) {agn:.1f}; halfway random -> expert {(rnd + dem) / 2:.1f}"
    )
    lo, hi = ideal["shots"]
    print(
        f"ideal learner (collect --behaviour learner's, noise-free), shots {lo}-{hi}: full {ideal['full_last_third']:.1f} "
        f"[{ideal['full_last_third_ci95'][0]:.0f}, {ideal['full_last_third_ci95'][1]:.0f}], cleared "
        f"{ideal['cleared_last_third']:.1f}, paired {ideal['paired_last_third']:+.1f} [{ideal['paired_last_third_ci95'][0]:+.1f}, "
        f"{ideal['paired_last_third_ci95'][1]:+.1f}]; per shot, full: "
        + " ".join(f"{v:.0f}" for v in ideal["per_shot_full"])
    )
    last = None
    hdr = f"{'model':46} {'shot 1':>7} {'full, last third':>22} {'cleared, last third':>22} {'full - cleared':>24} {'norm.':>6}"
    print(hdr)
    summary = {}
    for name, r in results.items():
        s, c = r["summary"], r["ablation"]["context_reset"]["summary"]
        d = r["ablation"]["paired_difference"]["last_third"]
        last = d["shots"]
        norm = (s["last_third_mean"] - rnd) / (dem - rnd)
        ci = lambda v: f"[{v[0]:.0f}, {v[1]:.0f}]"  # noqa: E731
        print(
            f"{name:46} {r['per_shot']['mean'][0]:7.1f} {s['last_third_mean']:7.1f} {ci(s['last_third_ci95']):>14} "
            f"{c['last_third_mean']:7.1f} {ci(c['last_third_ci95']):>14} {d['mean']:+7.1f} [{d['ci95'][0]:+.1f}, {d['ci95'][1]:+.1f}] "
            f"{norm:6.3f}"
        )
        summary[name] = {
            "shot1": r["per_shot"]["mean"][0],
            "full_last_third": s["last_third_mean"],
            "full_last_third_ci95": s["last_third_ci95"],
            "cleared_last_third": c["last_third_mean"],
            "cleared_last_third_ci95": c["last_third_ci95"],
            "paired_difference": d,
            "normalized_last_third": norm,
            "per_shot_full": r["per_shot"]["mean"],
            "per_shot_cleared": r["ablation"]["context_reset"]["per_shot"]["mean"],
            "verdict": {
                "paired_interval_excludes_0": d["ci95"][0] > 0 or d["ci95"][1] < 0,
                "above_goal_agnostic": s["last_third_mean"] > agn,
                "at_least_halfway": s["last_third_mean"] >= (rnd + dem) / 2,
            },
        }
        print(f"{'':46} per shot, full:    " + " ".join(f"{m:.0f}" for m in r["per_shot"]["mean"]))
        print(
            f"{'':46} per shot, cleared: "
            + " ".join(f"{m:.0f}" for m in r["ablation"]["context_reset"]["per_shot"]["mean"])
        )
    print(
        f"(last third = shots {last[0]}-{last[1]}; intervals: 95% bootstrap over the {args.runs} runs; "
        "norm. = (full last third - random) / (expert - random))"
    )
    for name, v in summary.items():
        verdict = v["verdict"]
        print(
            f"{name}: paired interval excludes 0: {'yes' if verdict['paired_interval_excludes_0'] else 'no'}; above the "
            f"goal-agnostic expert: {'yes' if verdict['above_goal_agnostic'] else 'no'}; at least halfway random -> expert: "
            f"{'yes' if verdict['at_least_halfway'] else 'no'}"
        )
    if len(train_seeds) > 1:  # the arm, not one trained model: its seeds pooled goal by goal
        import icrl_seeds

        for name in wanted:
            pool = icrl_seeds.arm_over_seeds(
                [icrl_seeds.load(out / "eval" / eval_name(name, seed)) for seed in train_seeds], agn
            )
            print(icrl_seeds.report(name, pool))
            summary[name]["over_seeds"] = pool
    if args.diagnostics:
        diagnostics(args, out, {n: out / "runs" / seeded(n, train_seeds[0]) for n in wanted}, data_cli, times)
    plot(results, refs, out / "icrl.png", args.task)
    print(f"plot: {out / 'icrl.png'}")
    print(
        "wall time: " + ", ".join(f"{k} {v / 60:.1f} min" if v is not None else f"{k} reused" for k, v in times.items())
    )
    (out / "summary.json").write_text(
        json.dumps(
            {
                "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "manifests": manifests,
                "references": {k: refs[k] for k in ("random", "demonstrator", "goal_agnostic")},
                "ideal_learner": {k: v for k, v in ideal.items() if not k.startswith("per_run")},
                "models": summary,
                "times_s": times,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
