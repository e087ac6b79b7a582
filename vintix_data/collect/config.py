"""``CollectConfig``: everything a collection run is asked to do, built once (frozen) from the command line; and
``CollectPlan``: what :func:`vintix_data.collect.run.prepare` resolved it into."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field

from vintix_data.demonstrators.base import Demonstrator
from vintix_data.domains import ConfiguredTask
from vintix_data.errors import UserError
from vintix_data.hiding import HiddenObservation
from vintix_data.schedule import NoiseSchedule


class CollectError(UserError, ValueError):
    """A collection that cannot start or resume (one-line message)."""


@dataclass(frozen=True)
class CollectConfig:
    """The settings of one ``vintix-data collect`` run (checked by :func:`vintix_data.collect.run.prepare`)."""

    task: str
    out: str
    demonstrator: str | None = None
    histories: int | None = None
    steps: int | None = None
    p: float = 1.0
    f: float = 0.1
    seed: int = 0
    num_envs: int = 1
    vector: str = "auto"  # sync | async | auto (async when num_envs > 1)
    workers: int = 1  # processes, each running its own vector env on a disjoint set of histories
    resume: bool = False
    reference_episodes: int = 20
    command: list[str] = field(default_factory=lambda: list(sys.argv))
    # per-run task settings (vintix_data.domains.configure_task) and the demonstrator gate (vintix_data.gate)
    episode_limit: int | None = None
    fixed_goal: bool = False
    env_options: dict = field(default_factory=dict)
    force: bool = False
    gate_episodes: int = 10
    # latent tasks (vintix_data.hiding): observation components recorded as `hide_fill` instead of their values
    hide: tuple[str, ...] = ()
    hide_fill: float = 0.0
    card_video: bool = False  # a GIF of history 0's first, middle and last episodes on the card (vintix_data.replay)
    # what executes the actions (docs/design.md §3, §8): "demonstrator" (the noise-mixed demonstrator, the paper's),
    # "decoy" (per episode: uniform random with probability DECOY_RANDOM_SHARE, else the demonstrator aimed at a decoy
    # goal drawn from the goal space, noise-mixed) or "random" (uniform random throughout); demonstrator_action and the
    # rewards stay the true task's; or "learner" (the domain's reward-driven learner: the demonstrator aimed at its
    # posterior goal, noise-mixed, its intended action stored as demonstrator_action); or "learner-decoy" (the
    # learner's labels, but per episode with probability LEARNER_DECOY_SHARE the executed actions are the demonstrator
    # aimed at a decoy goal, noise-mixed: contexts hold wrong-goal episodes the labels must recover from)
    behaviour: str = "demonstrator"
    # Gymnasium-served tasks (gym:ENV_ID, task files, plugins): constructor kwargs and the model's reward scale
    env_kwargs: dict = field(default_factory=dict)
    reward_scale: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "hide", tuple(self.hide))  # a list from a caller is stored as a tuple
        object.__setattr__(self, "env_options", dict(self.env_options))
        object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))

    def identity(self) -> dict:
        """What must match for ``--resume`` to continue a run (not how it is executed)."""
        d = asdict(self)
        for k in ("out", "num_envs", "vector", "workers", "resume", "command", "force", "gate_episodes", "card_video"):
            d.pop(k)
        d["hide"] = list(d["hide"])
        for k, default in (
            ("episode_limit", None),
            ("fixed_goal", False),
            ("env_options", {}),
            ("hide", []),
            ("hide_fill", 0.0),
            ("behaviour", "demonstrator"),
            ("env_kwargs", {}),
            ("reward_scale", None),
        ):
            if d[k] == default:  # absent when unused, so runs started before these settings existed still resume
                d.pop(k)
        return d


BEHAVIOURS = ("demonstrator", "decoy", "random", "learner", "learner-decoy")
LEARNERS = ("learner", "learner-decoy")  # behaviours whose labels are the domain's reward-driven learner's
DECOYS = ("decoy", "learner-decoy")  # behaviours that aim the demonstrator at decoy goals (need a goal space)
DECOY_RANDOM_SHARE = 1 / 3  # the research note's D3: a third of the episodes uniformly random, the rest decoys
# learner-decoy: the share of episodes executed by the demonstrator aimed at a decoy goal, at any point of a history
# (a model's own wrong episodes come at any point too); the rest execute the learner's action
LEARNER_DECOY_SHARE = 1 / 3


def behaviour_record(behaviour: str, goal_space=None, learner=None) -> dict | None:
    """What info.json's ``extra.behaviour`` says about a goal-blind behaviour or the learner (None for the
    demonstrator's)."""
    if behaviour == "demonstrator":
        return None
    if behaviour == "learner-decoy":  # the learner's labels; a share of episodes executed by a decoy-aimed demonstrator
        rec = {
            "kind": "learner-decoy",
            "draws": "PCG64(SeedSequence((seed, history, episode), spawn_key=(5,)))",
            "decoy_share": LEARNER_DECOY_SHARE,
            "action": "per episode, with probability decoy_share the demonstrator aimed at a decoy goal (uniform in "
            "the goal space, redrawn every episode), else the learner's intended action; noise-mixed with the "
            "schedule; demonstrator_action is always the learner's intended action, reward the env's; the learner "
            "observes every transition and never reads the goal",
            **(learner.describe() if learner is not None else {}),
        }
        if goal_space is not None:
            rec["decoy"] = decoy_record(goal_space)
        return rec
    if behaviour == "learner":  # not goal-blind noise: the learner's own action is mixed, and is the label
        return {
            "kind": "learner",
            "mixed_from": "demonstrator_action",
            "action": "the learner's intended action (demonstrator_action) noise-mixed with the schedule; reward the "
            "env's; the learner never reads the goal, its state is rebuilt from the rows on --resume",
            **(learner.describe() if learner is not None else {}),
        }
    rec = {
        "kind": behaviour,
        "draws": "PCG64(SeedSequence((seed, history, episode), spawn_key=(5,)))",
        "random_share": 1.0 if behaviour == "random" else DECOY_RANDOM_SHARE,
        "action": "executed behaviour; demonstrator_action and reward are the true task's",
    }
    if behaviour == "decoy" and goal_space is not None:
        rec["decoy"] = decoy_record(goal_space)
    return rec


def decoy_record(goal_space) -> dict:
    """How the decoy goals are drawn (``decoy`` and ``learner-decoy``): uniform in the goal space's box."""
    return {
        "distribution": "uniform",
        "low": [float(x) for x in goal_space[0]],
        "high": [float(x) for x in goal_space[1]],
    }


@dataclass(frozen=True)
class CollectPlan:
    """What a checked run needs: the configured task, the schedule, the loaded demonstrator and its spec, the
    number of histories and the hidden observation components (None: nothing hidden)."""

    task: ConfiguredTask
    schedule: NoiseSchedule
    demonstrator: Demonstrator
    spec: str
    histories: int
    hidden: HiddenObservation | None = None
