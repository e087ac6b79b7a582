"""What every domain adapter is: an abstract base with the defaults, and the task that carries its adapter.

An adapter answers every domain question the rest of the package asks (how to build, limit and seed the env,
what the observation's parts are called, whether the env reports success, which demonstrator is the default,
which per-run options it takes), so nothing outside ``vintix_data.domains`` branches on a domain's name.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from vintix_data.catalogue import catalogue_spec, public_expert
from vintix_data.errors import DemonstratorError, UserError
from vintix_data.registry import TaskSpec


class DomainUnavailableError(UserError, RuntimeError):
    """The task's domain cannot be run on this installation (one-line message)."""


class DomainOptionError(UserError, ValueError):
    """A per-run setting (env option, episode limit, fixed goal) the task's domain does not take (one line)."""


def default_episode_seed(seed: int, history: int, episode: int) -> int:
    """The reset seed of episode ``episode`` of history ``history`` (docs/design.md §3)."""
    return int(np.random.SeedSequence((seed, history, episode)).generate_state(1)[0])


def variation_index(reset_seed: int, n: int) -> int:
    """Which of a task's ``n`` variations an episode reset with ``reset_seed`` runs (docs/design.md §3)."""
    return int(
        np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(reset_seed), spawn_key=(3,)))).integers(n)
    )


def variation_order(seed: int, n: int) -> np.ndarray:
    """The permutation of ``n`` variations that one-variation-per-history runs ``0, 1, ...`` take in turn."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=(4,)))).permutation(n)


@lru_cache(maxsize=8192)
def history_variation_seed(seed: int, history: int, n: int) -> int:
    """The reset seed of every episode of a history that keeps one of ``n`` variations.

    History ``h`` runs variation ``variation_order(seed, n)[h % n]``, so up to ``n`` histories have distinct
    variations, and the variation stays a function of the reset seed alone: the seed is the first of
    ``SeedSequence((seed, h, j), spawn_key=(2,))``, j = 0, 1, ... that selects it.
    """
    want = int(variation_order(seed, n)[history % n])
    for j in range(1_000_000):
        s = int(np.random.SeedSequence((int(seed), int(history), j), spawn_key=(2,)).generate_state(1)[0])
        if variation_index(s, n) == want:
            return s
    raise RuntimeError("no seed selects the variation")  # unreachable: each j hits with probability 1/n


def demonstrator_cache() -> Path:
    """Where `demonstrator train` installs a task's default checkpoint: $VINTIX_CACHE or ~/.cache/vintix."""
    root = os.environ.get("VINTIX_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "vintix"
    )
    return Path(root) / "demonstrators"


def install_default_demonstrator(task: TaskSpec | ConfiguredTask, checkpoint: Path) -> Path:
    """Copy a trained checkpoint to the cache (atomically), so `collect TASK --out DIR` needs no --demonstrator."""
    dst = demonstrator_cache() / f"{task.id}.zip"
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp")
    shutil.copyfile(checkpoint, tmp)
    os.replace(tmp, dst)
    return dst


def gate_record_path(task_id: str) -> Path:
    """Where the gate result of a task's default demonstrator is recorded: beside the installed zip in the cache
    (``<task>.gate.json``), keyed by the demonstrator's sha256, so a record never vouches for other bytes."""
    return demonstrator_cache() / f"{task_id}.gate.json"


def write_gate_record(task_id: str, record: dict) -> Path:
    import json

    path = gate_record_path(task_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path


def read_gate_record(task_id: str, spec: str | None, sha256: str | None = None) -> dict | None:
    """The recorded gate result of ``spec`` (and, where given, of exactly the bytes ``sha256``), else None."""
    import json

    try:
        rec = json.loads(gate_record_path(task_id).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get("spec") != spec or (sha256 is not None and rec.get("sha256") != sha256):
        return None
    return rec


class DomainAdapter(ABC):
    """One domain. Subclasses implement :meth:`make_env` and override the defaults that differ."""

    #: the registry's name of the domain
    domain: str = ""
    #: demonstrator specs this domain supports, the first is the default
    demonstrator_kinds: tuple[str, ...] = ()
    #: per-run env options (``--env-option KEY=VALUE``) -> what they do; empty: none taken
    options: ClassVar[dict[str, str]] = {}
    #: the env's step info carries ``success`` (the gate and the reference episodes report a success rate)
    reports_success: bool = False
    #: the registry's episode limit is only the paper's *mean* episode length (an import may exceed it)
    episode_limit_is_mean: bool = False
    #: ``demonstrator train`` without --algo runs the paper's PPO recipe (vintix_data.demonstrators.train_ib)
    trains_paper_ppo: bool = False
    #: the options that make each history (and each evaluation run) keep one task variation; a checkpoint trained
    #: on such data is evaluated with them too, one variation per run
    variation_options: tuple[str, ...] = ()
    #: ``vintix-data replay`` (vintix_data.replay): recorded vs re-simulated float32 values may differ by
    #: ``atol + rtol * |recorded|``, as ``(rtol, atol)``; (0, 0) is bit for bit, for envs whose floats do not depend on
    #: the CPU (our NumPy Industrial Benchmark)
    replay_tolerance: tuple[float, float] = (0.0, 0.0)

    @abstractmethod
    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        """A fresh env for the task, truncating at ``episode_limit(task)``."""

    def unavailable(self, task: TaskSpec | None = None) -> str | None:
        """Why the env cannot be made on this installation (one line), or None."""
        return None

    def episode_limit(self, task: TaskSpec) -> int:
        """Steps before an episode is truncated."""
        return task.episode_limit

    def configure(self, task: TaskSpec, options: dict[str, Any]) -> TaskSpec:
        """The task with per-run env options applied and checked (default: the domain takes none)."""
        if options:
            raise DomainOptionError(
                f"{task.id}: {task.domain} tasks take no env options (got {', '.join(sorted(options))})"
            )
        return task

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        """The spec ``collect`` uses when none is given: the checkpoint ``demonstrator train`` installed, if any, else
        the catalogue's public expert (vintix_data.catalogue: a Hub zip), else None."""
        path = demonstrator_cache() / f"{task.id}.zip"
        return f"sb3:{path}" if path.exists() else catalogue_spec(task.id)

    def demonstrator_route(self, task: TaskSpec) -> tuple[str, str | None]:
        """Where the task's demonstrator comes from when none is given, and its spec: ``installed`` (the cache),
        ``catalogue`` (a public expert), ``scripted``, ``trained by the release`` (the paper's PPO, or any task the
        catalogue names a training recipe for, with ``release --train-missing``), or ``none``."""
        spec = self.default_demonstrator(task)
        expert = public_expert(task.id)
        if spec is not None and spec == f"sb3:{demonstrator_cache() / f'{task.id}.zip'}":
            return "installed", spec
        if spec is not None and expert is not None and spec == expert.spec:
            return "catalogue", spec
        if spec == "scripted":
            return "scripted", spec
        if spec is not None:
            return "default", spec
        if self.trains_paper_ppo:
            return "trained by the release", None
        if expert is not None and expert.train_algo:
            return "release --train-missing", None
        return "none", None

    def scene_renderer(self, task: TaskSpec, env: gym.Env, width: int, height: int):
        """A function returning the env's current scene as an RGB array (offscreen), or None where the domain has
        no scene to show (replay videos then plot the observation, vintix_data.replay.video)."""
        return None

    def installs_trained_demonstrator(self, task: TaskSpec) -> bool:
        """Whether ``demonstrator train`` makes its checkpoint the task's default (the cache above)."""
        return True

    def scripted_demonstrator(self, task: TaskSpec):
        """The domain's scripted expert (``--demonstrator scripted``)."""
        raise DemonstratorError(
            f"demonstrator 'scripted' is Meta-World's scripted experts; {task.id} has none "
            "(use sb3:PATH.zip, random or zero)"
        )

    def observation_layouts(self, task: TaskSpec) -> dict[str, int]:
        """Observation sizes of the task's env by version (``{"v3": 111, "v4": 27, "v5": 105}``), so a checkpoint
        trained on another version is named as such; empty where the domain has one layout."""
        return {}

    def observation_adapter(self, task: TaskSpec, checkpoint_dims: int):
        """A batch-wise function computing, exactly, the observation a checkpoint of ``checkpoint_dims`` inputs was
        trained on from this task's observation (another env version's layout), or None where there is none."""
        return None

    def env_state(self, env: gym.Env) -> Any:
        """What a resumable training saves of an *unwrapped* env to continue it exactly where it was (docs/design.md
        §6). The default, its attributes, suits envs that are plain Python objects; an env whose objects rebuild
        themselves when unpickled (gymnasium's MuJoCo envs re-run their constructor) overrides it."""
        return dict(vars(env))

    def restore_env_state(self, env: gym.Env, state: Any) -> None:
        """Put ``env_state``'s result back into a freshly made unwrapped env of the same task."""
        vars(env).update(state)

    def episode_seed(self, task: TaskSpec, seed: int, history: int, episode: int) -> int:
        """The seed the collector resets an episode with."""
        return default_episode_seed(seed, history, episode)

    def variation(self, task: TaskSpec, reset_seed: int) -> int | None:
        """The task variation an episode reset with ``reset_seed`` runs (for episodes.parquet), else None."""
        return None

    def observation_components(self, task: TaskSpec) -> dict[str, list[int]]:
        """Named observation components -> their column indices, in observation order (empty: none named)."""
        return {}

    def observation_names(self, task: TaskSpec) -> list[str] | None:
        """One name per observation column (info.json), when every column is a component of its own; else None."""
        comps = self.observation_components(task)
        if comps and all(len(v) == 1 for v in comps.values()):
            return [name for name, _ in sorted(comps.items(), key=lambda kv: kv[1][0])]
        return None

    def paper_comparable(self, task: TaskSpec) -> bool:
        """Whether the paper's reference scores are for this very env (same version, no variation)."""
        return not task.env_options

    def goal_space(self, task: TaskSpec) -> tuple[np.ndarray, np.ndarray] | None:
        """(low, high) of the box the task family's goals come from, when a policy can be aimed at another goal by
        rewriting its observation (``collect --behaviour decoy``); None: the domain has no such goal."""
        return None

    def aim(self, task: TaskSpec, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        """A copy of the observations ``obs`` (n, obs_dim) showing ``goals`` (n, goal dim) as their goal."""
        raise DomainOptionError(f"{task.id}: the {task.domain} domain has no goal a policy can be aimed at")

    def relabeler(self, task: TaskSpec):
        """Rewards and demonstrator labels recomputed for another goal from stored observations (an object with
        ``rewards(next_obs, goal)``, ``labels(obs, goal)``, ``low``, ``high``, ``variation_goals``,
        ``goal_columns``, ``needs_visible()``), or None where the reward cannot be computed from the observation."""
        return None

    def learner(self, task: TaskSpec, slots: int):
        """A reward-driven learner over the task family's hidden goal (``collect --behaviour learner``): an object
        with ``start(slot)``, ``observe(slot, next_obs, reward)``, ``goals()`` (each slot's goal to aim the
        demonstrator at, via :meth:`aim`), ``needs_visible()`` and ``describe()``; it must read no goal column.
        None: the domain has none (its reward cannot be predicted from the observation for another goal)."""
        return None

    def suggested_episode_limit(self, task: TaskSpec) -> int | None:
        """An episode limit at which the default demonstrator passes the gate when it fails at the task's own."""
        return None

    def model_family(self, task: TaskSpec) -> str:
        """The family of the Vintix model's encoder/head group of this task (``vintix_model.model.groups``): the domain,
        unless the domain's tasks of equal dims differ in meaning."""
        return self.domain

    def model_obs_dim(self, task: TaskSpec, mujoco_obs: str = "registry") -> int:
        """The observation dims the model is built for: the registry's, or the released model's layout."""
        return task.obs_dim

    def checkpoint_options(self, task: TaskSpec, env_id: str | None) -> dict[str, Any]:
        """Env options that make the task the env a checkpoint was trained on (its metadata's ``env_id``)."""
        return {}


@dataclasses.dataclass(frozen=True)
class ConfiguredTask:
    """A registry task with its per-run settings applied, carrying its domain adapter.

    Reads like the :class:`TaskSpec` it wraps (``task.id``, ``task.env_kwargs``, ...) and answers the domain's
    questions directly (``task.make_env()``, ``task.adapter.reports_success``), so no caller looks the adapter up
    again by the task's domain.
    """

    spec: TaskSpec
    adapter: DomainAdapter

    def __getattr__(self, name: str):
        if name.startswith("__") or name in (
            "spec",
            "adapter",
        ):  # pickling/copying look these up before __dict__ is set
            raise AttributeError(name)
        return getattr(self.spec, name)

    def make_env(self, **overrides) -> gym.Env:
        return self.adapter.make_env(self.spec, **overrides)

    def episode_seed(self, seed: int, history: int, episode: int) -> int:
        return self.adapter.episode_seed(self.spec, seed, history, episode)

    def variation(self, reset_seed: int) -> int | None:
        return self.adapter.variation(self.spec, reset_seed)

    def observation_components(self) -> dict[str, list[int]]:
        return dict(self.adapter.observation_components(self.spec))

    def observation_names(self) -> list[str] | None:
        return self.adapter.observation_names(self.spec)

    def paper_comparable(self) -> bool:
        return self.adapter.paper_comparable(self.spec)

    def goal_space(self) -> tuple[np.ndarray, np.ndarray] | None:
        return self.adapter.goal_space(self.spec)

    def aim(self, obs: np.ndarray, goals: np.ndarray) -> np.ndarray:
        return self.adapter.aim(self.spec, obs, goals)

    def relabeler(self):
        return self.adapter.relabeler(self.spec)

    def learner(self, slots: int):
        return self.adapter.learner(self.spec, slots)

    def default_demonstrator(self) -> str | None:
        return self.adapter.default_demonstrator(self.spec)

    def demonstrator_route(self) -> tuple[str, str | None]:
        return self.adapter.demonstrator_route(self.spec)

    def replace(self, **changes) -> ConfiguredTask:
        return ConfiguredTask(dataclasses.replace(self.spec, **changes), self.adapter)
