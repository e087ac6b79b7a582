"""Cold-start many-shot evaluation of a checkpoint in the task's real environment (docs/design.md §10, the paper's protocol).

For each of ``seeds`` independent runs the agent starts with an empty context (or a random-policy prompt), acts
for ``episodes`` consecutive episodes of the env that ``vintix_data``'s domain adapter builds, and keeps every
step in its context. The runs share one batched agent (one row per seed).

Where the numbers come from:

* Observation statistics and reward scale: the checkpoint's ``metadata.json`` for a task it was trained on. A
  task it was not trained on but whose dims fit one of its groups (the paper's held-out tasks: Meta-World ML45
  test, Industrial Benchmark setpoints 80..100) takes them from ``stats_from`` (a dataset of that task) or
  estimates them from a uniform-random rollout of ``stats_steps`` steps; the results say which.
* Reference scores for the normalized score ``(R - random) / (expert - random)``: the dataset's measured
  random/demonstrator returns (checkpoint metadata or ``stats_from``), else the paper's table in the registry.
* Seeds: episode ``k`` of run ``s`` resets with ``episode_reset_seed(task, EVAL_SEED_BASE + seed, s, k)``: a
  stream apart from the collector's (which keys on small seeds), so evaluation never replays training episodes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vintix_model.evaluate.config import EvalConfig, EvalError
from vintix_model.evaluate.video import ShotRecorder, check_video, render_shots
from vintix_model.inference.agent import ICRLAgent, TaskContext

EVAL_SEED_BASE = 1 << 30
PROMPT_EPISODE_BASE = 1 << 20  # prompt episodes are keyed after every counted episode
STATS_EPISODE_BASE = 1 << 21


@dataclass
class ResolvedTask:
    spec: Any  # vintix_data.registry.TaskSpec with the variation applied
    ctx: TaskContext
    held_out: bool
    stats_source: str
    reference: dict[str, Any]
    notes: list[str]
    hidden: Any = None  # vintix_data.hiding.HiddenObservation: what the checkpoint never saw (latent-task data)

    def observe(self, obs: np.ndarray) -> np.ndarray:
        """The observation as the checkpoint's training rows showed it (hidden components filled)."""
        return obs if self.hidden is None else self.hidden.apply(obs)


def _training_hidden(model, key: str | None, group: str):
    """The hidden components of a training task (or of the training tasks of ``group`` for a held-out task)."""
    from vintix_data.hiding import HiddenObservation

    metas = [model.tasks[key]] if key is not None else [m for m in model.tasks.values() if m.get("group") == group]
    specs = {json_key(m.get("hidden_observation")) for m in metas}
    if len(specs) > 1:
        raise EvalError(
            f"the checkpoint's {group} tasks were trained with different hidden observation components; "
            "evaluate one of its training tasks"
        )
    return HiddenObservation.from_dict(metas[0].get("hidden_observation")) if metas else None


def json_key(x) -> str:
    """A hashable, order-independent key of a JSON value (compares metadata entries)."""
    return json.dumps(x, sort_keys=True)


def _training_options(model, key: str | None, group: str | None, names: tuple[str, ...]) -> dict[str, Any]:
    """Env options a run inherits from the training data: those of ``names`` (the domain's one-variation-per-history
    options) that every training dataset of the task (or group) used with the same value -> one variation per run."""
    metas = [model.tasks[key]] if key is not None else [m for m in model.tasks.values() if m.get("group") == group]
    out = {}
    for name in names:
        values = [json_key((m.get("env_options") or {}).get(name)) for m in metas]
        if metas and len(set(values)) == 1 and (metas[0].get("env_options") or {}).get(name) not in (None, False):
            out[name] = metas[0]["env_options"][name]
    return out


def _reference(scores: dict | None, spec, comparable: bool) -> dict[str, Any]:
    scores = scores or {}
    random, expert = scores.get("random_mean"), scores.get("demonstrator_mean")
    source = "dataset (measured at collection)"
    if random is None or expert is None:
        random = random if random is not None else scores.get("paper_random_mean")
        expert = expert if expert is not None else scores.get("paper_expert_mean")
        source = "dataset (the paper's figures)"
    if random is None or expert is None:
        random, expert, source = spec.random_mean, spec.expert_mean, "registry (the paper's table)"
        if not comparable:
            source += "; not this env version/variation"
    return {"random": random, "demonstrator": expert, "source": source}


def random_transitions(env, spec, base: int, run: int, episode_base: int, steps: int) -> dict[str, np.ndarray]:
    """``steps`` uniform-random transitions of ``env`` (obs, act, rew, first), episodes reset on their own seed
    stream ``episode_reset_seed(spec, base, run, episode_base + k)``: random-policy prompts and stats estimates."""
    from vintix_data.domains import episode_reset_seed

    rng = np.random.default_rng(np.random.SeedSequence((base, run, episode_base)))
    low, high = env.action_space.low, env.action_space.high
    rows: dict[str, list] = {"obs": [], "act": [], "rew": [], "first": []}
    k, first = 0, True
    obs, _ = env.reset(seed=episode_reset_seed(spec, base, run, episode_base))
    for _ in range(steps):
        a = rng.uniform(low, high).astype(np.float32)
        nxt, r, terminated, truncated, _ = env.step(a)
        for key, v in (("obs", obs), ("act", a), ("rew", r), ("first", first)):
            rows[key].append(v)
        obs, first = nxt, False
        if terminated or truncated:
            k += 1
            obs, _ = env.reset(seed=episode_reset_seed(spec, base, run, episode_base + k))
            first = True
    return {
        "obs": np.asarray(rows["obs"], np.float32).reshape(steps, -1),
        "act": np.asarray(rows["act"]).reshape(steps, -1),
        "rew": np.asarray(rows["rew"], np.float32),
        "first": np.asarray(rows["first"], bool),
    }


def _estimate_stats(spec, steps: int, seed: int, hidden=None, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Observation mean/std over ``steps`` uniform-random steps of the task's env (held-out tasks); ddof=1 for a
    checkpoint with ``obs_norm='original'`` (the released code's sample std)."""
    from vintix_data.domains import make_env

    env = make_env(spec)
    x = random_transitions(env, spec, EVAL_SEED_BASE + seed, 0, STATS_EPISODE_BASE, steps)["obs"].astype(np.float64)
    if hidden is not None:
        x = hidden.apply(x)
    env.close()
    return x.mean(0).astype(np.float32), x.std(0, ddof=ddof).astype(np.float32)


def resolve_task(model, cfg: EvalConfig) -> ResolvedTask:
    """The env, the tokenization and the reference scores of ``cfg.task`` for this checkpoint."""
    from vintix_data.domains import adapter_for, configure_task, make_env, paper_comparable
    from vintix_data.registry import get_task
    from vintix_model.model.groups import group_name

    notes: list[str] = []
    key = cfg.task if cfg.task in model.tasks else None
    spec = get_task(cfg.task)  # UnknownTaskError (with suggestions) for a task the registry lacks
    if key is None and spec.id in model.tasks:
        key = spec.id
    meta = model.tasks.get(key, {}) if key else {}
    pre = configure_task(spec) if key is None else spec  # dims and group of a held-out task, before any option
    if key is None:
        env0 = make_env(pre)
        d0 = (int(np.prod(env0.observation_space.shape)), int(np.prod(env0.action_space.shape)))
        env0.close()
        group0 = group_name(spec.domain, d0[0], d0[1], spec.id)
    else:
        group0 = meta.get("group")
    inherited = _training_options(model, key, group0, adapter_for(spec).variation_options)
    options = {**inherited, **dict(cfg.variation)}
    if inherited:
        notes.append(
            f"one task variation per run ({', '.join(f'{k}={v}' for k, v in inherited.items())}), as in the "
            "training data"
        )
    env_id = meta.get("env_id")
    for key_, value in adapter_for(spec).checkpoint_options(spec, env_id).items():
        options.setdefault(key_, value)  # e.g. MuJoCo: the checkpoint was trained on gymnasium's v4 layout of this task
    try:
        spec = configure_task(spec, episode_limit=meta.get("episode_limit"), env_options=options)
    except ValueError as e:
        raise EvalError(str(e).replace("--env-option", "--variation")) from None
    env = make_env(spec)
    obs_dim, act_dim = int(np.prod(env.observation_space.shape)), int(np.prod(env.action_space.shape))
    space = env.action_space
    env.close()
    if key is not None:
        ctx = TaskContext.from_metadata(model, key, space)
        if (len(ctx.obs_mean), model.groups[ctx.group].act_dim) != (obs_dim, act_dim):
            raise EvalError(
                f"{spec.id}: the env has dims {obs_dim}/{act_dim} but the checkpoint trained {key} with "
                f"{len(ctx.obs_mean)}/{model.groups[ctx.group].act_dim}"
            )
        stats_source, scores = "checkpoint metadata (the training dataset's stats)", meta.get("reference_scores")
        if cfg.variation:
            notes.append(f"variation {options}: reference scores are for the unvaried env")
        hidden = _hidden_for(model, key, ctx.group, spec, notes)
        return ResolvedTask(
            spec, ctx, False, stats_source, _reference(scores, spec, paper_comparable(spec)), notes, hidden
        )
    group = group_name(spec.domain, obs_dim, act_dim, spec.id)
    if group not in model.groups:
        have = ", ".join(f"{n} ({g.obs_dim}/{g.act_dim})" for n, g in model.groups.items())
        raise EvalError(
            f"{spec.id} (dims {obs_dim}/{act_dim}, group {group}) matches no group of the checkpoint: {have}"
        )
    notes.append(f"held-out task: {spec.id} is not among the checkpoint's training tasks; it shares group {group}")
    hidden = _hidden_for(model, None, group, spec, notes)
    scores = None
    if cfg.stats_from:
        from vintix_model.data.arrays import DataError, open_task, use_obs_norm

        try:
            data = use_obs_norm([open_task(cfg.stats_from)], model.config.obs_norm)[0]
        except DataError as e:
            raise EvalError(str(e)) from None
        if data.obs_dim != obs_dim:
            raise EvalError(f"--stats-from {cfg.stats_from}: {data.obs_dim} observation dims, {spec.id} has {obs_dim}")
        mean, std, reward_scale = (
            np.asarray(data.obs_mean, np.float32),
            np.asarray(data.obs_std, np.float32),
            data.reward_scale,
        )
        stats_source = f"dataset {cfg.stats_from} ({data.task})"
        scores = data.env.get("reference_scores")
        if data.task != spec.id:
            notes.append(f"observation stats from a dataset of {data.task}, not {spec.id}")
    else:
        mean, std = _estimate_stats(spec, cfg.stats_steps, cfg.seed, hidden, int(model.config.obs_norm == "original"))
        reward_scale = spec.reward_scale
        stats_source = f"estimated from {cfg.stats_steps:,} uniform-random steps"
        notes.append(f"observation stats estimated from {cfg.stats_steps:,} uniform-random steps (no dataset given)")
    ctx = TaskContext(spec.id, group, mean, std, float(reward_scale), space.low, space.high)
    return ResolvedTask(spec, ctx, True, stats_source, _reference(scores, spec, paper_comparable(spec)), notes, hidden)


def _hidden_for(model, key: str | None, group: str, spec, notes: list[str]):
    """The checkpoint's hidden components, checked against the task (refused where the task lacks them)."""
    from vintix_data.hiding import HidingError, check_components

    hidden = _training_hidden(model, key, group)
    if hidden is None:
        return None
    try:
        check_components(spec, hidden)
    except HidingError as e:
        raise EvalError(str(e)) from None
    notes.append(
        f"latent task: observation component(s) {', '.join(hidden.components)} hidden (set to {hidden.fill}) "
        "as in the training data"
    )
    return hidden


def _prompt(envs, spec, cfg: EvalConfig, task: ResolvedTask, run_ids: list[int]) -> dict[str, np.ndarray]:
    """``cfg.prompt_steps`` uniform-random transitions per run, stacked ``(runs, steps, ...)``."""
    runs = [
        random_transitions(env, spec, EVAL_SEED_BASE + cfg.seed, s, PROMPT_EPISODE_BASE, cfg.prompt_steps)
        for s, env in zip(run_ids, envs)
    ]
    if task.hidden is not None:
        for r in runs:
            r["obs"] = task.observe(r["obs"])
    return {key: np.stack([r[key] for r in runs]) for key in runs[0]}


class _Desynchronized(Exception):
    """Episodes of the batched runs stopped starting together (early terminations)."""


def rollout(
    model,
    task: ResolvedTask,
    cfg: EvalConfig,
    on_episode: Callable[[int, int, float], None] | None = None,
    clear_context: bool = False,
) -> dict[str, Any]:
    """Run ``cfg.seeds`` contexts for ``cfg.episodes`` episodes each; per-seed returns, lengths and successes.

    ``clear_context``: the ablation that tells in-context learning from behaviour cloning: every episode starts
    from an empty context, so nothing carries across episodes (a prompt is replayed at every episode start).
    Batched runs clear together while their episodes start together (fixed-length episodes); if they stop doing
    so, each run is played on its own agent instead. Either way each run sees only its own episodes (the returns
    agree up to the float differences torch's kernels show between batch shapes).
    """
    if clear_context:
        try:
            return _rollout(model, task, cfg, on_episode, clear_context=True, rows=None)
        except _Desynchronized:
            runs = [_rollout(model, task, cfg, on_episode, clear_context=True, rows=[s]) for s in range(cfg.seeds)]
            merged = {k: [r[k][0] for r in runs] for k in ("returns", "lengths", "variations")}
            merged["successes"] = [r["successes"][0] for r in runs] if runs[0]["successes"] is not None else None
            for k in ("env_steps", "prompt_steps", "wall_s", "prompt_s"):
                merged[k] = sum(r[k] for r in runs)
            merged["steps_per_s"] = merged["env_steps"] / max(merged["wall_s"] - merged["prompt_s"], 1e-9)
            return merged
    return _rollout(model, task, cfg, on_episode, clear_context=False, rows=None)


def _rollout(
    model, task: ResolvedTask, cfg: EvalConfig, on_episode, clear_context: bool, rows: list[int] | None
) -> dict[str, Any]:
    """Runs ``rows`` (default: all ``cfg.seeds``) in one batched agent; row ``i`` is run ``rows[i]``."""
    from vintix_data.domains import episode_reset_seed, make_env, resolve

    runs = list(range(cfg.seeds)) if rows is None else list(rows)
    S, spec = len(runs), resolve(task.spec)
    agent = ICRLAgent(
        model, batch=S, window=cfg.window, use_cache=cfg.use_cache, device=cfg.device, precision=cfg.precision
    )
    agent.reset(task.ctx)
    envs = [make_env(spec) for _ in range(S)]
    base = EVAL_SEED_BASE + cfg.seed
    t0 = time.perf_counter()
    prompt = _prompt(envs, spec, cfg, task, runs) if cfg.prompt_steps else None
    if prompt is not None:
        agent.prefill(prompt["obs"], prompt["act"], prompt["rew"], prompt["first"])
    t_prompt = time.perf_counter() - t0
    returns: list[list[float]] = [[] for _ in range(S)]
    lengths: list[list[int]] = [[] for _ in range(S)]
    successes: list[list[bool]] = [[] for _ in range(S)]
    variations: list[list[int | None]] = [[] for _ in range(S)]
    track_success = spec.adapter.reports_success
    shots = ShotRecorder(spec, base, {0, cfg.episodes - 1} if cfg.video else ())  # eval --video: run 0's actions

    def reset(i: int, k: int) -> np.ndarray:
        o, info = envs[i].reset(seed=episode_reset_seed(spec, base, runs[i], k))
        v = info.get("variation")
        variations[i].append(None if v is None else int(v))
        return task.observe(o)

    obs = [reset(i, 0) for i in range(S)]
    ret, length, success = np.zeros(S), np.zeros(S, np.int64), np.zeros(S, bool)
    prev_r, first = np.zeros(S, np.float32), np.ones(S, bool)
    active, steps = list(range(S)), 0
    while active:
        if clear_context and steps > 0 and first[active].any():  # at step 0 the context is empty (or the prompt)
            if not first[active].all():
                raise _Desynchronized
            agent.clear()
            if prompt is not None:
                idx = np.asarray(active)
                agent.prefill(prompt["obs"][idx], prompt["act"][idx], prompt["rew"][idx], prompt["first"][idx])
        actions = agent.act(np.stack([obs[i] for i in active]), prev_r[active], first[active])
        finished = []
        for j, i in enumerate(active):
            shots.step(runs[i], len(returns[i]), actions[j])
            o, r, terminated, truncated, info = envs[i].step(actions[j])
            ret[i] += float(r)
            length[i] += 1
            success[i] |= bool(info.get("success", False))
            prev_r[i], first[i], obs[i] = r, False, task.observe(o)
            if terminated or truncated:
                returns[i].append(float(ret[i]))
                lengths[i].append(int(length[i]))
                successes[i].append(bool(success[i]))
                shots.end(runs[i], len(returns[i]) - 1, float(ret[i]))
                if on_episode is not None:
                    on_episode(runs[i], len(returns[i]) - 1, float(ret[i]))
                ret[i], length[i], success[i] = 0.0, 0, False
                if len(returns[i]) == cfg.episodes:
                    finished.append(j)
                else:
                    obs[i] = reset(i, len(returns[i]))
                    first[i] = True
        steps += len(active)
        if finished:
            keep = [j for j in range(len(active)) if j not in finished]
            active = [active[j] for j in keep]
            if active:
                agent.keep(keep)
    for env in envs:
        env.close()
    wall = time.perf_counter() - t0
    return {
        "returns": returns,
        "lengths": lengths,
        "successes": successes if track_success else None,
        "variations": [v[: cfg.episodes] for v in variations],
        "env_steps": steps,
        "prompt_steps": cfg.prompt_steps * S,
        "wall_s": wall,
        "prompt_s": t_prompt,
        "steps_per_s": steps / max(wall - t_prompt, 1e-9),
        "shots": shots.recorded,
    }


def evaluate(checkpoint: str | Path, cfg: EvalConfig, progress: bool = True, model=None) -> dict[str, Any]:
    """Load (unless given), resolve, roll out and summarize: the ``results.json`` content."""
    from vintix_model.evaluate.report import paired_difference, summarize

    cfg.check()
    if model is None:
        from vintix_model.model.vintix import Vintix

        model = Vintix.from_pretrained(checkpoint, device=cfg.device)
    task = resolve_task(model, cfg)
    if cfg.video:  # a missing GL backend is refused before a step is played
        check_video(task.spec, cfg.video)
    if cfg.window is not None and cfg.window > model.config.context:
        task.notes.append(f"window {cfg.window} > the training context {model.config.context} (ALiBi extrapolates)")
    bar = _Bar(cfg.episodes * cfg.seeds * (2 if cfg.ablation else 1), task.spec.id) if progress else None
    try:
        run = rollout(model, task, cfg, bar.episode if bar else None)
        cleared = rollout(model, task, cfg, bar.episode if bar else None, clear_context=True) if cfg.ablation else None
    finally:
        if bar:
            bar.close()
    source = str(getattr(model, "folder", None) or checkpoint)
    meta = getattr(model, "metadata", {}) or {}
    header = {
        "checkpoint": str(checkpoint),
        "checkpoint_folder": source,
        "checkpoint_step": meta.get("step"),
        "task": task.spec.id,
        "env_id": task.spec.env_id,
        "group": task.ctx.group,
        "held_out": task.held_out,
        "stats_source": task.stats_source,
        "reward_scale": task.ctx.reward_scale,
        "reference": task.reference,
        "notes": task.notes,
        "config": {**dataclasses.asdict(cfg), "window": cfg.window or model.config.context},
    }
    if task.hidden is not None:
        header["hidden_observation"] = task.hidden.to_dict()
    results = {**header, **summarize(run, task.reference)}
    if cfg.video:
        results["video"] = render_shots(task.spec, run["shots"], cfg.video)
    if cleared is not None:
        results["ablation"] = {
            "context_reset": summarize(cleared, task.reference),
            "paired_difference": paired_difference(run["returns"], cleared["returns"]),
        }
    return results


class _Bar:
    """A rich progress bar over episodes (all seeds), with the latest return."""

    def __init__(self, total: int, label: str):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn(f"[bold]eval {label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("episodes  last return {task.fields[last]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = self.progress.add_task("eval", total=total, last="-")
        self.progress.start()

    def episode(self, seed: int, k: int, ret: float) -> None:
        self.progress.update(self.task, advance=1, last=f"{ret:,.1f} (seed {seed}, shot {k + 1})")

    def close(self) -> None:
        self.progress.stop()
