"""MuJoCo adapter: gymnasium's 11 tasks, ``-v5`` by default, ``-v4`` on request, the paper's parametric variations.

* Ids: the registry's runnable ids are ``<Env>-v5`` (with default options they give the paper table's dims).
  ``--env-option version=v4`` runs gymnasium's ``<Env>-v4`` instead (the layouts of the released Vintix
  checkpoint); the dataset is then named ``vintix-<Env>-v4``. ``Pusher-v4`` only loads on ``mujoco<3``.
* Variations (the paper's MuJoCo test set): ``viscosity=X`` sets ``model.opt.viscosity`` (0.05 and 0.1 in the
  paper) and ``gravity=S`` scales ``model.opt.gravity`` (0.9 and 1.1 for -+10%). They are applied to the
  model after construction, so they hold for every episode, and are recorded in ``info.json``.
* Seeding: gymnasium's MuJoCo envs draw their reset noise from ``reset(seed=...)``, so the collector's
  per-episode seeds are all it takes (docs/design.md §3).
* Demonstrators: ``sb3:PATH.zip`` (space-checked), ``hub:`` where available, or one trained here with
  ``vintix-data demonstrator train <Env>-v5 --algo tqc|sac|td3|ppo|bc`` (installed as the task's default); without
  one installed, the catalogue's public expert (vintix_data/data/public_experts.csv, read by the base adapter).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gymnasium as gym

from vintix_data.domains.base import DomainAdapter, DomainOptionError, DomainUnavailableError
from vintix_data.registry import TaskSpec

# gymnasium's v4 MuJoCo observation dims with default options (gymnasium/envs/mujoco/*_v4.py: Ant 27 without
# contact forces, exclude_current_positions_from_observation=True where it applies). The released Vintix used
# these; our registry lists the paper table's dims (= v5 defaults, docs/design.md §7).
V4_OBS_DIMS = {
    "Ant": 27,
    "HalfCheetah": 17,
    "Hopper": 11,
    "Humanoid": 376,
    "HumanoidStandup": 376,
    "InvertedDoublePendulum": 11,
    "InvertedPendulum": 4,
    "Pusher": 23,
    "Reacher": 11,
    "Swimmer": 8,
    "Walker2d": 17,
}
# gymnasium's v3 dims (RL-Zoo's `sb3/<algo>-<Env>-v3` models): Ant and the humanoids include contact forces,
# the pendulum/Reacher layouts changed in v5 (issue 25 lists them; gymnasium/envs/mujoco/*_v3.py)
V3_OBS_DIMS = {**V4_OBS_DIMS, "Ant": 111}
V5_OBS_DIMS = {
    **V4_OBS_DIMS,
    "Ant": 105,
    "Humanoid": 348,
    "HumanoidStandup": 348,
    "InvertedDoublePendulum": 9,
    "Reacher": 10,
}  # = the registry's (the paper table's) dims
# where gymnasium's v5 observation is the first columns of v4's, the state being the same (checked state for state in
# tests/test_hub_demonstrators.py): Reacher (v4's last column, the fingertip-target z distance, is always 0) and
# InvertedDoublePendulum (v4's last two constraint forces); the other tasks either share the layout or do not
V5_PREFIX_OF_V4 = ("Reacher", "InvertedDoublePendulum")


class ObservationPrefix:
    """The first ``n`` columns of a batch of observations (a picklable function)."""

    def __init__(self, n: int, what: str):
        self.n, self.what = n, what

    def __call__(self, obs):
        return obs[:, : self.n]


OPTIONS = {
    "viscosity": "fluid viscosity, model.opt.viscosity (the paper: 0.05, 0.1)",
    "gravity": "scale of model.opt.gravity (the paper: 0.9, 1.1)",
    "version": "gymnasium id version, v5 (default) or v4",
}


def _base(task: TaskSpec) -> str:
    return task.env_id.rsplit("-v", 1)[0]


def mujoco_missing() -> str | None:
    """None when gymnasium's MuJoCo envs can run here, else what to install (one line)."""
    try:
        import mujoco  # noqa: F401
    except (ImportError, OSError) as e:
        return (
            f"the MuJoCo domain needs the `mujoco` bindings ({type(e).__name__}: {e}); "
            "install them with pip install \"vintix[mujoco]\""
        )
    return None


class ApplyPhysics(gym.Wrapper):
    """Set the MuJoCo model's viscosity and scale its gravity once, at construction."""

    def __init__(self, env: gym.Env, viscosity: float | None = None, gravity: float | None = None):
        super().__init__(env)
        opt = env.unwrapped.model.opt
        if viscosity is not None:
            opt.viscosity = float(viscosity)
        if gravity is not None:
            opt.gravity[:] = opt.gravity * float(gravity)


class MujocoAdapter(DomainAdapter):
    domain = "mujoco"
    demonstrator_kinds = ("sb3", "hub", "random", "zero")
    options = OPTIONS
    replay_tolerance = (1e-5, 1e-6)  # measured here: bit for bit; the margin is for other CPUs (docs/design.md §5)

    def scene_renderer(self, task: TaskSpec, env: gym.Env, width: int, height: int):
        from vintix_data.domains.render import mujoco_scene_renderer

        return mujoco_scene_renderer(env, width, height)

    def unavailable(self, task: TaskSpec | None = None) -> str | None:
        return mujoco_missing()

    def configure(self, task: TaskSpec, options: dict[str, Any]) -> TaskSpec:
        """A TaskSpec with the env options applied and validated (one-line DomainOptionError on a bad one)."""
        opts: dict[str, Any] = {}
        for key, value in options.items():
            if key not in OPTIONS:
                raise DomainOptionError(
                    f"{task.id}: unknown env option {key!r}; MuJoCo tasks take "
                    + ", ".join(f"{k} ({v})" for k, v in OPTIONS.items())
                )
            if key == "version":
                v = str(value).lower().lstrip("-")
                if v not in ("v4", "v5"):
                    raise DomainOptionError(f"{task.id}: env option version must be v4 or v5, got {value!r}")
                if v == "v4":
                    opts["version"] = v
                continue
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise DomainOptionError(f"{task.id}: env option {key} must be a number, got {value!r}") from None
            if not math.isfinite(x) or x < 0 or (key == "gravity" and x == 0):
                raise DomainOptionError(
                    f"{task.id}: env option {key} must be {'> 0' if key == 'gravity' else '>= 0'}, got {value!r}"
                )
            opts[key] = x
        if opts.get("version") == "v4":
            base = _base(task)
            if base == "Pusher":
                raise DomainOptionError(
                    "Pusher-v4 needs mujoco<3 (gymnasium refuses it on mujoco 3.x, which metaworld pins); "
                    "use Pusher-v5, the paper's own Pusher version"
                )
            task = dataclasses.replace(task, id=f"{base}-v4", env_id=f"{base}-v4")
            opts.pop("version")
        merged = {**getattr(task, "env_options", {}), **opts}
        return dataclasses.replace(task, env_options=merged) if merged else task

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        missing = mujoco_missing()
        if missing:
            raise DomainUnavailableError(f"{task.id}: {missing}")
        opts = {**getattr(task, "env_options", {}), **overrides}
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gymnasium's v4 deprecation notice; the id is recorded in info.json
            env = gym.make(
                task.env_id, max_episode_steps=self.episode_limit(task), disable_env_checker=True, **task.env_kwargs
            )
        if opts.get("viscosity") is not None or opts.get("gravity") is not None:
            env = ApplyPhysics(env, opts.get("viscosity"), opts.get("gravity"))
        return env

    def observation_layouts(self, task: TaskSpec) -> dict[str, int]:
        """v3 (Pusher has none), v4 and v5 observation sizes with default options; v5 is the registry's dims."""
        base = _base(task)
        out = {} if base == "Pusher" else {"v3": V3_OBS_DIMS[base]}
        return {**out, "v4": V4_OBS_DIMS[base], "v5": V5_OBS_DIMS[base]}

    def observation_adapter(self, task: TaskSpec, checkpoint_dims: int):
        """A v5 checkpoint on the paper's v4 env, where v5's observation is exactly v4's first columns."""
        base, version = _base(task), task.env_id.rsplit("-", 1)[1]
        if version == "v4" and base in V5_PREFIX_OF_V4 and checkpoint_dims == V5_OBS_DIMS[base]:
            return ObservationPrefix(checkpoint_dims, f"{base}-v5 observation from {task.env_id}'s")
        return None

    def env_state(self, env: gym.Env) -> Any:
        """The simulator's whole ``MjData`` (pickled by mujoco itself, derived quantities included: Humanoid's reward
        reads ``xipos`` left by the previous step) and the reset generator. Pickling the env instead would rebuild
        it from its constructor arguments (gymnasium's EzPickle), losing both, and the physics options applied by
        ``ApplyPhysics`` after construction."""
        return {"data": env.data, "np_random": env._np_random, "np_random_seed": getattr(env, "_np_random_seed", None)}

    def restore_env_state(self, env: gym.Env, state: Any) -> None:
        env.data = state["data"]  # bound to its own copy of the model; steps use env.model, whose options are applied
        renderer = getattr(env, "mujoco_renderer", None)
        if renderer is not None:
            renderer.data = env.data
        env._np_random = state["np_random"]
        env._np_random_seed = state["np_random_seed"]

    def paper_comparable(self, task: TaskSpec) -> bool:
        """The paper's table is for its own env versions (v4, Pusher v5) without variations."""
        return task.env_id == task.paper_name and not getattr(task, "env_options", {})

    def model_family(self, task: TaskSpec) -> str:
        """One group per MuJoCo task: equal dims do not mean equal observation semantics here."""
        return f"mujoco-{task.paper_name.rsplit('-v', 1)[0].lower()}"

    def model_obs_dim(self, task: TaskSpec, mujoco_obs: str = "registry") -> int:
        return V4_OBS_DIMS[task.paper_name.rsplit("-v", 1)[0]] if mujoco_obs == "v4" else task.obs_dim

    def checkpoint_options(self, task: TaskSpec, env_id: str | None) -> dict[str, Any]:
        """A checkpoint trained on gymnasium's v4 layout of the task evaluates on v4."""
        return {"version": "v4"} if env_id and env_id.endswith("-v4") else {}
