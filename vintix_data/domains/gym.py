"""The generic adapter: any Gymnasium env with a Box action space, as `gym:ENV_ID`, a task file row or a plugin's task.

What the paper's registry gives its tasks comes from the env or the user here: the dims, spaces and the env's own
episode limit from ``gymnasium.make``; the reward scale, default demonstrator, observation components (``--hide``)
and variations (env kwargs that ``--env-option``/``--variation`` may set) from a task file or a plugin, else the
defaults (reward scale 1, no components, any constructor kwarg for a `gym:` id). Reference scores are measured at
finalize, as for every task. A plugin's adapter may subclass :class:`GymAdapter` and override what differs
(docs/design.md §7).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import warnings
from functools import lru_cache
from typing import Any

import gymnasium as gym
import numpy as np

from vintix_data.domains.base import DomainAdapter, DomainOptionError
from vintix_data.errors import UserError
from vintix_data.registry import SPLITS, TaskSpec

GYM_PREFIX = "gym:"
DEFAULT_HISTORIES = 10
DEFAULT_EPISODES_PER_HISTORY = 50  # a history of `gym:` task runs this many episode limits by default
# the fields of a task (a task file's row, a plugin's task dict); REQUIRED must be there
FIELDS = {
    "id": "the task id users type (dataset vintix-<id>)",
    "env_id": "the Gymnasium id",
    "env_kwargs": "constructor kwargs",
    "episode_limit": "steps before truncation (default: the env's)",
    "reward_scale": "the model's reward multiplier (default 1)",
    "demonstrator": "default demonstrator SPEC",
    "components": "observation component -> column indices (--hide)",
    "variations": "env kwarg -> what it varies (--env-option / --variation)",
    "domain": "a label (default gym)",
    "split": "train or test",
    "histories": "default --histories",
    "steps": "default --steps",
}
REQUIRED = ("id", "env_id")


class UserTaskError(UserError, ValueError):
    """A user task that cannot be used: an unknown env id, a discrete action space, a malformed task (one line)."""


def parse_value(text: Any) -> Any:
    """A ``KEY=VALUE`` value as YAML reads a scalar: ``9.81`` -> float, ``true`` -> bool, ``abc`` -> str."""
    if not isinstance(text, str):
        return text
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, str)) and value is not None else text


def _close_ids(env_id: str) -> str:
    close = difflib.get_close_matches(env_id, list(gym.registry), n=3, cutoff=0.6)
    return ("; did you mean " + " or ".join(repr(c) for c in close) + "?") if close else ""


def probe_env(env_id: str, kwargs: dict, where: str) -> tuple[int, int, int]:
    """(obs_dim, act_dim, the env's own episode limit or 0) from one ``gymnasium.make``; one-line errors for an
    unknown id, a missing dependency, bad kwargs, a non-Box space."""
    return _probe(env_id, json.dumps(kwargs, sort_keys=True, default=str), where)


@lru_cache(maxsize=256)
def _probe(env_id: str, kwargs_json: str, where: str) -> tuple[int, int, int]:
    kwargs = json.loads(kwargs_json)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            env = gym.make(env_id, disable_env_checker=True, **kwargs)
    except gym.error.NameNotFound as e:
        raise UserTaskError(f"{where}: unknown Gymnasium env id {env_id!r}{_close_ids(env_id)} ({e})") from None
    except gym.error.Error as e:  # version/namespace not found, a dependency not installed
        raise UserTaskError(f"{where}: cannot make Gymnasium env {env_id!r}: {str(e).splitlines()[0]}") from None
    except (TypeError, ValueError) as e:
        raise UserTaskError(f"{where}: Gymnasium env {env_id!r} refused its kwargs {kwargs}: {e}") from None
    except ImportError as e:
        raise UserTaskError(f"{where}: Gymnasium env {env_id!r} needs a package that is not installed ({e})") from None
    try:
        obs, act = env.observation_space, env.action_space
        if not isinstance(act, gym.spaces.Box):
            raise UserTaskError(
                f"{where}: {env_id} has a {type(act).__name__} action space ({act}); vintix records "
                "continuous actions, a Box action space"
            )
        if not isinstance(obs, gym.spaces.Box):
            raise UserTaskError(
                f"{where}: {env_id} has a {type(obs).__name__} observation space; vintix records a flat "
                "Box observation (wrap it, e.g. with FlattenObservation, in a plugin's make_env)"
            )
        if not (np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high))):
            raise UserTaskError(
                f"{where}: {env_id}'s action space is unbounded ({act}); the noise mixer needs finite bounds"
            )
        limit = getattr(env.spec, "max_episode_steps", None) or 0
        try:  # a kwarg of the wrong type often passes the constructor and fails at the first step (Pendulum's g="abc")
            env.reset(seed=0)
            env.step(((act.low.astype(np.float64) + act.high) / 2).astype(act.dtype))
        except Exception as e:  # the env's own error, whatever its type: one line, before anything is written
            raise UserTaskError(
                f"{where}: Gymnasium env {env_id!r} with kwargs {kwargs} fails its first reset/step: "
                f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            ) from None
        return int(np.prod(obs.shape)), int(np.prod(act.shape)), int(limit)
    finally:
        env.close()


def _check_type(where: str, key: str, value: Any, kind) -> None:
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise UserTaskError(f"{where}: {key} must be {names}, got {value!r}")


def task_from_entry(entry: Any, source: str, where: str, domain: str = "gym") -> TaskSpec:
    """A TaskSpec from one task of a task file or a plugin (the FIELDS above); one-line UserTaskError otherwise."""
    if not isinstance(entry, dict):
        raise UserTaskError(f"{where}: a task must be a table of fields, got {type(entry).__name__}")
    missing = [k for k in REQUIRED if k not in entry]
    if missing:
        raise UserTaskError(f"{where}: missing field {', '.join(missing)} (a task needs {', '.join(REQUIRED)})")
    unknown = sorted(set(entry) - set(FIELDS))
    if unknown:
        raise UserTaskError(f"{where}: unknown field {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    for key in ("id", "env_id", "demonstrator", "domain", "split"):
        if key in entry:
            _check_type(where, key, entry[key], str)
    for key in ("env_kwargs", "components", "variations"):
        if key in entry:
            _check_type(where, key, entry[key], dict)
    for key in ("episode_limit", "histories", "steps"):
        if key in entry:
            _check_type(where, key, entry[key], int)
            if entry[key] < 1:
                raise UserTaskError(f"{where}: {key} must be >= 1, got {entry[key]}")
    tid = entry["id"].strip()
    where = f"{where} (task {tid!r})"
    if not tid or tid.lower().startswith(GYM_PREFIX) or any(c.isspace() or c in "/\\" for c in tid):
        raise UserTaskError(f"{where}: id must be a name without spaces or slashes, not starting with {GYM_PREFIX!r}")
    scale = entry.get("reward_scale", 1.0)
    _check_type(where, "reward_scale", scale, (int, float))
    if not (math.isfinite(scale) and scale > 0):
        raise UserTaskError(f"{where}: reward_scale must be a finite number > 0, got {scale}")
    split = entry.get("split", "train")
    if split not in SPLITS:
        raise UserTaskError(f"{where}: split must be {' or '.join(SPLITS)}, got {split!r}")
    kwargs = dict(entry.get("env_kwargs", {}))
    obs_dim, act_dim, own_limit = probe_env(entry["env_id"], kwargs, where)
    limit = entry.get("episode_limit", own_limit)
    components = {}
    for name, cols in entry.get("components", {}).items():
        if not (
            isinstance(cols, list)
            and cols
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < obs_dim for c in cols)
        ):
            raise UserTaskError(
                f"{where}: component {name!r} must list column indices in 0..{obs_dim - 1}, got {cols!r}"
            )
        components[str(name)] = [int(c) for c in cols]
    settings = {
        "components": components,
        "variations": {str(k): str(v) for k, v in entry.get("variations", {}).items()},
        "demonstrator": entry.get("demonstrator"),
        "any_kwarg": False,
    }
    return _spec(
        tid,
        entry.get("domain", domain),
        split,
        entry["env_id"],
        kwargs,
        obs_dim,
        act_dim,
        float(scale),
        limit,
        entry.get("histories"),
        entry.get("steps"),
        source,
        settings,
    )


def _spec(tid, domain, split, env_id, kwargs, obs_dim, act_dim, scale, limit, histories, steps, source, settings):
    histories = histories or DEFAULT_HISTORIES
    steps = steps or DEFAULT_EPISODES_PER_HISTORY * (limit or 1000)
    return TaskSpec(
        id=tid,
        domain=domain,
        split=split,
        paper_name=env_id,
        table_g_name="",
        env_id=env_id,
        env_kwargs=kwargs,
        obs_dim=obs_dim,
        act_dim=act_dim,
        reward_scale=scale,
        episode_limit=limit,
        history_steps=steps,
        num_histories=histories,
        source=source,
        settings=settings,
    )


def gym_task(name: str) -> TaskSpec | None:
    """``gym:ENV_ID`` -> its TaskSpec (dims and episode limit from the env), None for any other name."""
    if not name.lower().startswith(GYM_PREFIX):
        return None
    env_id = name[len(GYM_PREFIX) :].strip()
    if not env_id:
        raise UserTaskError(f"{name!r}: give a Gymnasium id after {GYM_PREFIX!r}, e.g. gym:Pendulum-v1")
    obs_dim, act_dim, limit = probe_env(env_id, {}, f"gym:{env_id}")
    return _spec(
        f"{GYM_PREFIX}{env_id}",
        "gym",
        "train",
        env_id,
        {},
        obs_dim,
        act_dim,
        1.0,
        limit,
        None,
        None,
        "gym",
        {"components": {}, "variations": {}, "demonstrator": None, "any_kwarg": True},
    )


class GymAdapter(DomainAdapter):
    """Any Gymnasium env with a Box action space; per-task settings come from the task (``TaskSpec.settings``)."""

    domain = "gym"
    demonstrator_kinds = ("sb3", "hub", "random", "zero")
    accepts_env_kwargs = True

    def configure(self, task: TaskSpec, options: dict[str, Any]) -> TaskSpec:
        """Env options are constructor kwargs: any for a `gym:` id, the declared ``variations`` for a task file's."""
        if task.episode_limit < 1:
            raise DomainOptionError(f"{task.id}: the env sets no episode limit of its own; pass --episode-limit N")
        allowed = task.settings.get("variations", {})
        opts = {}
        for key, value in options.items():
            if not task.settings.get("any_kwarg") and key not in allowed:
                takes = ", ".join(f"{k} ({v})" for k, v in allowed.items()) or "none"
                raise DomainOptionError(f"{task.id}: unknown env option {key!r}; this task's variations: {takes}")
            opts[key] = parse_value(value)
        if opts:
            merged = {**task.env_kwargs, **task.env_options, **opts}
            try:
                probe_env(task.env_id, merged, task.id)
            except UserTaskError as e:
                raise DomainOptionError(str(e)) from None
        merged_options = {**task.env_options, **opts}
        return dataclasses.replace(task, env_options=merged_options) if merged_options else task

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        kwargs = {**task.env_kwargs, **task.env_options, **overrides}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return gym.make(task.env_id, max_episode_steps=self.episode_limit(task), disable_env_checker=True, **kwargs)

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        return task.settings.get("demonstrator") or super().default_demonstrator(task)

    def observation_components(self, task: TaskSpec) -> dict[str, list[int]]:
        return dict(task.settings.get("components", {}))

    def observation_names(self, task: TaskSpec) -> list[str] | None:
        comps = self.observation_components(task)
        if len(comps) == task.obs_dim and all(len(v) == 1 for v in comps.values()):
            return [n for n, _ in sorted(comps.items(), key=lambda kv: kv[1][0])]
        return None

    def paper_comparable(self, task: TaskSpec) -> bool:
        return False  # not a paper task: no paper scores to compare with

    def model_family(self, task: TaskSpec) -> str:
        """A user domain's tasks of equal dims share a group (the user named the domain); a `gym:` task has its own."""
        if task.domain == "gym":
            return "gym-" + task.env_id.replace("/", "-").rsplit("-v", 1)[0].lower()
        return task.domain
