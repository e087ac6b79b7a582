"""rl-zoo3's tuned MuJoCo hyper-parameters, carried into the project as data (``demonstrator train --algo``).

Source: rl-zoo3 2.9.2, ``rl_zoo3/hyperparams/{tqc,sac,td3}.yml`` (MIT licence), the "Mujoco Envs" sections,
copied key for key (``ppo.yml``: below why not). rl-zoo3 itself cannot be a dependency (it pins gymnasium < 1.3), and its yml files are read
by its own ``exp_manager``, so the settings are restated here with what each entry says:

* TQC / SAC / TD3 have entries for HalfCheetah, Ant, Hopper, Walker2d, Humanoid and Swimmer (``-v4``; the v5 envs
  differ only in defaults that do not change these tasks' dynamics). Each file's HalfCheetah entry is its
  ``&mujoco-defaults`` anchor; the tasks without an entry (Reacher, Pusher, the pendulums, HumanoidStandup) get
  that anchor, as rl-zoo3 itself would for an env it has no entry for only through its ``default`` (which lacks
  ``learning_starts``); we take the MuJoCo anchor because it is what the authors tuned for these physics.
* PPO: every rl-zoo3 MuJoCo entry is tuned *with* ``normalize: true`` (VecNormalize), whose running statistics
  would live outside the SB3 zip, so a saved policy would not be a pure function of the raw observation
  (docs/design.md §3). Without it the tuned entries are not the recipe: measured here, its InvertedPendulum entry
  without VecNormalize evaluated 652, 150, 109, 1000, 56 at 10k..50k steps. So ``ppo`` is SB3's defaults (the PPO
  paper's MuJoCo settings: n_steps 2048, batch 64, 10 epochs, lr 3e-4; InvertedPendulum reaches 1000 by ~50k).
* rl-zoo3's ``n_timesteps`` is the default ``--timesteps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCE = "rl-zoo3 2.9.2, rl_zoo3/hyperparams/{algo}.yml"
ALGOS = ("tqc", "sac", "td3", "ppo")

_OFF_POLICY_DEFAULTS = {"n_timesteps": 1_000_000, "learning_starts": 10_000}
_TD3_DEFAULTS = {
    "n_timesteps": 1_000_000,
    "learning_starts": 10_000,
    "noise_type": "normal",
    "noise_std": 0.1,
    "train_freq": 1,
    "gradient_steps": 1,
    "learning_rate": 1e-3,
    "batch_size": 256,
    "policy_kwargs": {"net_arch": [400, 300]},
}

# key: the env's name without its version; value: the yml entry (the anchor merged in), rl-zoo3's own keys
ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "tqc": {
        "HalfCheetah": dict(_OFF_POLICY_DEFAULTS),
        "Ant": dict(_OFF_POLICY_DEFAULTS),
        "Walker2d": dict(_OFF_POLICY_DEFAULTS),
        "Hopper": {**_OFF_POLICY_DEFAULTS, "top_quantiles_to_drop_per_net": 5},
        "Humanoid": {**_OFF_POLICY_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_OFF_POLICY_DEFAULTS, "gamma": 0.999},
    },
    "sac": {
        "HalfCheetah": dict(_OFF_POLICY_DEFAULTS),
        "Ant": dict(_OFF_POLICY_DEFAULTS),
        "Walker2d": dict(_OFF_POLICY_DEFAULTS),
        "Hopper": dict(_OFF_POLICY_DEFAULTS),
        "Humanoid": {**_OFF_POLICY_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_OFF_POLICY_DEFAULTS, "gamma": 0.999},
    },
    "td3": {
        "HalfCheetah": dict(_TD3_DEFAULTS),
        "Ant": dict(_TD3_DEFAULTS),
        "Walker2d": dict(_TD3_DEFAULTS),
        "Hopper": dict(_TD3_DEFAULTS),
        "Humanoid": {**_TD3_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_TD3_DEFAULTS, "gamma": 0.9999},
    },
}
# where a task has no entry: the file's MuJoCo anchor (TQC/SAC/TD3); PPO: SB3's defaults for every task
FALLBACK = {
    "tqc": _OFF_POLICY_DEFAULTS,
    "sac": _OFF_POLICY_DEFAULTS,
    "td3": _TD3_DEFAULTS,
    "ppo": {"n_timesteps": 1_000_000},
}


@dataclass(frozen=True)
class Recipe:
    """One algorithm's settings for one env: rl-zoo3's keys, where they came from, and our overrides (tests)."""

    algo: str
    env: str
    settings: dict = field(default_factory=dict)
    source: str = ""

    @property
    def timesteps(self) -> int:
        return int(self.settings["n_timesteps"])

    @property
    def n_envs(self) -> int:
        return int(self.settings.get("n_envs", 1))  # rl-zoo3's key; the MuJoCo off-policy entries use 1

    def constructor_kwargs(self, action_dim: int) -> dict:
        """The SB3 / sb3-contrib constructor arguments (rl-zoo3's keys that are not constructor arguments resolved)."""
        import numpy as np

        kw = {k: v for k, v in self.settings.items() if k not in ("n_timesteps", "n_envs", "noise_type", "noise_std")}
        if "noise_type" in self.settings:
            from stable_baselines3.common.noise import NormalActionNoise

            std = float(self.settings["noise_std"])
            kw["action_noise"] = NormalActionNoise(np.zeros(action_dim), std * np.ones(action_dim))
        if "policy_kwargs" in kw:
            kw["policy_kwargs"] = dict(kw["policy_kwargs"])
        return kw


def recipe(algo: str, env_id: str, overrides: dict | None = None) -> Recipe:
    """rl-zoo3's settings of ``algo`` for ``env_id`` (e.g. ``Reacher-v5``), with ``overrides`` on top (PPO: SB3's)."""
    if algo == "ppo":
        return Recipe(
            algo=algo,
            env=env_id,
            settings={**FALLBACK["ppo"], **(overrides or {})},
            source="SB3's PPO defaults (rl-zoo3's PPO entries need VecNormalize, which a zip cannot carry)",
        )
    name = env_id.rsplit("-v", 1)[0]
    entry = ZOO[algo].get(name)
    where = SOURCE.format(algo=algo) + (
        f", entry {name}-v4" if entry is not None else ", no entry: the file's MuJoCo defaults"
    )
    settings = {**(entry if entry is not None else FALLBACK[algo]), **(overrides or {})}
    return Recipe(algo=algo, env=env_id, settings=settings, source=where)
