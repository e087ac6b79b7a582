"""Turn collected episode parts into the published folder: shards, episodes, stats, info, plot, card, manifest."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from vintix_data.card import write_card
from vintix_data.card.plots import learning_curve
from vintix_data.collect.config import DECOYS, LEARNERS, CollectConfig, CollectPlan, behaviour_record
from vintix_data.collect.parts import part_path
from vintix_data.demonstrators.baselines import (
    demonstrator_policy,
    noisy_demonstrator_policy,
    run_episodes,
    uniform_policy,
)
from vintix_data.domains import ConfiguredTask, resolve
from vintix_data.format import (
    META_DIR,
    DatasetInfo,
    EpisodeData,
    ReferenceScores,
    RunningStats,
    atomic_write_text,
    episodes_schema,
    flat_dim,
    row_schema,
    rows_per_shard,
    space_dict,
    write_parquet_atomic,
    write_shards,
)
from vintix_data.jsonio import strict
from vintix_data.manifest import data_digests, fingerprint, write_manifest
from vintix_data.registry import TaskSpec
from vintix_data.schedule import NoiseSchedule
from vintix_data.version import __version__

PROVENANCE_PACKAGES = (
    "numpy",
    "gymnasium",
    "torch",
    "stable-baselines3",
    "pyarrow",
    "datasets",
    "huggingface_hub",
    "metaworld",
    "mujoco",
)


def provenance(command: list[str]) -> dict:
    versions = {}
    for name in PROVENANCE_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    try:
        sha = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"],
                cwd=Path(__file__).parent,
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        sha = None
    return {
        "vintix_version": __version__,
        "git_sha": sha,
        "packages": versions,
        "python": platform.python_version(),
        "command": " ".join(command),
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def tenth_epsilons(schedule: NoiseSchedule) -> tuple[float, float]:
    """Mean eps over the first and the last 10% of a history's steps."""
    n = schedule.steps
    cut = max(1, int(np.ceil(0.1 * n)))
    t = np.arange(n)
    eps = schedule.epsilon(t)
    return float(eps[:cut].mean()), float(eps[t >= 0.9 * n].mean() if (t >= 0.9 * n).any() else eps[-1])


def reference_scores(
    task: TaskSpec | ConfiguredTask,
    demonstrator,
    episodes: int,
    seed: int,
    schedule: NoiseSchedule | None = None,
    learner: bool = False,
) -> ReferenceScores:
    """Random, demonstrator and the noise-mixed tenths on the same seeded episodes; with ``learner`` (data of the
    reward-driven learner) the first tenth is the learner's own, run as it is collected (``learner_reference``)."""
    task = resolve(task)
    env = task.make_env()
    space = env.action_space
    rnd = run_episodes(task, uniform_policy(space), episodes, seed)
    dem = run_episodes(task, demonstrator_policy(demonstrator), episodes, seed)
    tenths: dict[str, Any] = {}
    if schedule is not None:
        for which, eps in zip(("first", "last"), tenth_epsilons(schedule)):
            if 1e-3 < eps < 1 - 1e-3:  # at eps 1 the reference is random's, at 0 the demonstrator's
                mixed = run_episodes(task, noisy_demonstrator_policy(demonstrator, space, eps), episodes, seed)
                tenths |= {
                    f"{which}_tenth_epsilon": round(eps, 6),
                    f"{which}_tenth_mean": mixed.mean,
                    f"{which}_tenth_std": mixed.std,
                }
        if learner:  # at any eps, eps 1 included: the learner's first tenth is not the mixture's
            from vintix_data.collect.learner_reference import learner_first_tenth

            runs = learner_first_tenth(task, demonstrator, schedule, episodes, seed)
            tenths |= {
                "first_tenth_epsilon": round(tenth_epsilons(schedule)[0], 6),
                "first_tenth_mean": float(runs.mean()),
                "first_tenth_std": float(runs.std()),
                "first_tenth_behaviour": "learner",
            }
    env.close()
    return ReferenceScores(
        random_mean=rnd.mean,
        random_std=rnd.std,
        demonstrator_mean=dem.mean,
        demonstrator_std=dem.std,
        episodes=episodes,
        paper_random_mean=task.random_mean,
        paper_random_std=task.random_std,
        paper_expert_mean=task.expert_mean,
        paper_expert_std=task.expert_std,
        random_success_rate=rnd.success_rate,
        demonstrator_success_rate=dem.success_rate,
        **tenths,
    )


def demonstrator_source(task_id: str, demonstrator) -> dict:
    """``{"source": ...}`` for a demonstrator downloaded from the Hub (repo, file, the commit downloaded, the zip's
    sha256, and whether it is the task's catalogued public expert); empty otherwise."""
    from vintix_data.catalogue import is_catalogue_source

    src = getattr(demonstrator, "source", None)
    if not src:
        return {}
    return {"source": {**src, "catalogue": is_catalogue_source(task_id, src.get("repo", ""), src.get("file", ""))}}


def finalize(out: Path, plan: CollectPlan, config: CollectConfig, collect_seconds: float = 0.0) -> DatasetInfo:
    task, schedule, demonstrator, spec = plan.task, plan.schedule, plan.demonstrator, plan.spec
    histories, hidden = plan.histories, plan.hidden
    env = task.make_env()
    obs_space, act_space = env.observation_space, env.action_space
    env.close()
    obs_dim, act_dim = flat_dim(obs_space), flat_dim(act_space)
    schema = row_schema(obs_dim, act_dim)
    stats = {
        k: RunningStats(d)
        for k, d in (("observation", obs_dim), ("action", act_dim), ("reward", 1), ("demonstrator_action", act_dim))
    }
    episodes: list[dict] = []
    row = 0

    def tables():
        nonlocal row
        for h in range(histories):
            k = 0
            while (p := part_path(out, h, k)).exists():
                ep = EpisodeData.load_part(p)
                for name, s in stats.items():
                    if getattr(ep, name) is not None:
                        s.update(getattr(ep, name))
                episodes.append(
                    {
                        "history": h,
                        "episode": k,
                        "first_row": row,
                        "length": len(ep),
                        "return": float(ep.reward.sum(dtype=np.float64)),
                        "mean_epsilon": float(ep.epsilon.mean(dtype=np.float64)) if ep.epsilon is not None else None,
                        "terminated": bool(ep.terminated[-1]),
                        "truncated": bool(ep.truncated[-1]),
                        "final_observation": ep.final_observation.tolist(),
                        "reset_seed": ep.reset_seed,
                        "variation": task.variation(ep.reset_seed),
                    }
                )
                row += len(ep)
                yield ep.to_table(schema)
                k += 1

    total = histories * schedule.steps
    shards = write_shards(out, tables(), schema, total, rows_per_shard(obs_dim, act_dim))
    write_episodes_and_stats(out, episodes, stats, obs_dim)
    refs = reference_scores(
        task, demonstrator, config.reference_episodes, config.seed, schedule, learner=config.behaviour == "learner"
    )
    info = DatasetInfo(
        task=task.id,
        domain=task.domain,
        split=task.split,
        env_id=task.env_id,
        env_kwargs=dict(task.env_kwargs),
        observation_space=space_dict(obs_space),
        action_space=space_dict(act_space),
        obs_dim=obs_dim,
        act_dim=act_dim,
        reward_scale=task.reward_scale,
        episode_limit=task.episode_limit,
        histories=histories,
        steps_per_history=schedule.steps,
        total_steps=total,
        episodes=len(episodes),
        num_shards=len(shards),
        schedule={
            "p": schedule.p,
            "f": schedule.f,
            "steps": schedule.steps,
            "formula": "eps(t) = (1 - (t/((1-f)N))^p)^(1/p) for t <= (1-f)N else 0",
        },
        demonstrator={
            "kind": demonstrator.kind,
            "id": demonstrator.name,
            "spec": spec,
            "sha256": demonstrator.sha256,
            "measured_mean_return": refs.demonstrator_mean,
            "normalized_score_paper": task.normalized_score(refs.demonstrator_mean)
            if task.paper_comparable()
            else None,
            "paper_comparable": task.paper_comparable(),
            **demonstrator_source(task.id, demonstrator),
        },
        reference_scores=refs,
        seed=config.seed,
        provenance={**provenance(config.command), "collect_seconds": round(collect_seconds, 1)},
        observation_names=task.observation_names(),
        extra=run_extra(task, config),
        hidden_observation=hidden.to_dict() if hidden is not None else None,
    )
    write_info_manifest_plot_card(out, info, card_video=config.card_video)
    return info


def run_extra(task: ConfiguredTask, config: CollectConfig) -> dict:
    """info.json's ``extra``: the env options; for goal-blind data, the behaviour that executed the actions; for a user
    task where it came from (``gym``, ``file:PATH``, ``plugin:DIST``) and a ``--reward-scale`` given on the command
    line, which no registry then vouches for."""
    extra: dict = {"env_options": dict(task.env_options)} if task.env_options else {}
    behaviour = behaviour_record(
        config.behaviour,
        task.goal_space() if config.behaviour in DECOYS else None,
        task.learner(1) if config.behaviour in LEARNERS else None,
    )
    if behaviour is not None:
        extra["behaviour"] = behaviour
    if task.source != "paper":
        extra["task_source"] = task.source
    if config.reward_scale is not None:
        extra["reward_scale_source"] = "--reward-scale"
    return extra


def write_episodes_and_stats(out: Path, episodes: list[dict], stats: dict[str, RunningStats], obs_dim: int) -> None:
    """``meta/episodes.parquet`` (one dict per episode, in row order) and ``meta/stats.json``."""
    write_parquet_atomic(
        pa.Table.from_pylist(episodes, schema=episodes_schema(obs_dim)), out / META_DIR / "episodes.parquet"
    )
    returns = np.array([e["return"] for e in episodes])
    stats_json = {k: v.to_dict() for k, v in stats.items()}
    stats_json["episode_return"] = {
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "min": float(returns.min()),
        "max": float(returns.max()),
        "count": len(returns),
    }
    atomic_write_text(
        out / META_DIR / "stats.json", json.dumps(strict(stats_json), indent=2, sort_keys=True, allow_nan=False) + "\n"
    )


def write_info_manifest_plot_card(out: Path, info: DatasetInfo, card_video: bool = False) -> None:
    """The last steps of every dataset folder, in this order: info.json, plot (and the card's GIF), card (README.md),
    and the manifest last, since it covers all of them (a kill before it leaves a folder that does not validate, never
    one whose manifest vouches for files written after it)."""
    atomic_write_text(out / META_DIR / "info.json", info.to_json())
    learning_curve(out, info)
    if card_video:
        from vintix_data.replay.video import card_video as render_card_video

        render_card_video(out)
    digests = data_digests(out)  # hashed once: the card shows their fingerprint, the manifest lists them
    write_card(out, info, fingerprint=fingerprint(digests))
    write_manifest(out, hashes=digests)
