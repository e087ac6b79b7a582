"""rl-zoo3's tuned MuJoCo hyper-parameters, carried into the project as data (``demonstrator train --algo``).

Source: rl-zoo3 2.9.2, ``rl_zoo3/hyperparams/{tqc,sac,td3,ppo}.yml`` (MIT licence), the "Mujoco Envs" sections,
copied key for key. rl-zoo3 itself cannot be a dependency (it pins gymnasium < 1.3), and its yml files are read
by its own ``exp_manager``, so the settings are restated here with what each entry says:

* TQC / SAC / TD3 have entries for HalfCheetah, Ant, Hopper, Walker2d, Humanoid and Swimmer (``-v4``; the v5 envs
  differ only in defaults that do not change these tasks' dynamics). Each file's HalfCheetah entry is its
  ``&mujoco-defaults`` anchor; the tasks without an entry (Reacher, Pusher, the pendulums, HumanoidStandup) get
  that anchor, as rl-zoo3 itself would for an env it has no entry for only through its ``default`` (which lacks
  ``learning_starts``); we take the MuJoCo anchor because it is what the authors tuned for these physics.
* PPO has an entry for most tasks, each with ``normalize: true`` (VecNormalize). That is *not* carried over: its
  running statistics would live outside the SB3 zip, so a saved policy would not be a pure function of the raw
  observation (docs/design.md §3). The other PPO keys are kept; ``n_envs`` too (Swimmer: 4). PPO without
  normalization is known to do worse on the locomotion tasks; TQC and SAC are the recipes to use there.
* rl-zoo3's ``n_timesteps`` is the default ``--timesteps``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SOURCE = "rl-zoo3 2.9.2, rl_zoo3/hyperparams/{algo}.yml"
ALGOS = ("tqc", "sac", "td3", "ppo")

_OFF_POLICY_DEFAULTS = {"n_timesteps": 1_000_000, "learning_starts": 10_000}
_TD3_DEFAULTS = {"n_timesteps": 1_000_000, "learning_starts": 10_000, "noise_type": "normal", "noise_std": 0.1,
                 "train_freq": 1, "gradient_steps": 1, "learning_rate": 1e-3, "batch_size": 256,
                 "policy_kwargs": {"net_arch": [400, 300]}}
_PPO_ZOO_NET = {"log_std_init": -2, "ortho_init": False, "activation_fn": "relu",
                "net_arch": {"pi": [256, 256], "vf": [256, 256]}}

# key: the env's name without its version; value: the yml entry (the anchor merged in), rl-zoo3's own keys
ZOO: dict[str, dict[str, dict[str, Any]]] = {
    "tqc": {
        "HalfCheetah": dict(_OFF_POLICY_DEFAULTS), "Ant": dict(_OFF_POLICY_DEFAULTS), "Walker2d": dict(_OFF_POLICY_DEFAULTS),
        "Hopper": {**_OFF_POLICY_DEFAULTS, "top_quantiles_to_drop_per_net": 5},
        "Humanoid": {**_OFF_POLICY_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_OFF_POLICY_DEFAULTS, "gamma": 0.999},
    },
    "sac": {
        "HalfCheetah": dict(_OFF_POLICY_DEFAULTS), "Ant": dict(_OFF_POLICY_DEFAULTS), "Walker2d": dict(_OFF_POLICY_DEFAULTS),
        "Hopper": dict(_OFF_POLICY_DEFAULTS),
        "Humanoid": {**_OFF_POLICY_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_OFF_POLICY_DEFAULTS, "gamma": 0.999},
    },
    "td3": {
        "HalfCheetah": dict(_TD3_DEFAULTS), "Ant": dict(_TD3_DEFAULTS), "Walker2d": dict(_TD3_DEFAULTS),
        "Hopper": dict(_TD3_DEFAULTS),
        "Humanoid": {**_TD3_DEFAULTS, "n_timesteps": 2_000_000},
        "Swimmer": {**_TD3_DEFAULTS, "gamma": 0.9999},
    },
    "ppo": {
        "Ant": {"n_timesteps": 1_000_000},
        "Swimmer": {"n_timesteps": 1_000_000, "gamma": 0.9999, "n_envs": 4, "n_steps": 1024, "batch_size": 256,
                    "learning_rate": 0.0006, "gae_lambda": 0.98},
        "HalfCheetah": {"n_timesteps": 1_000_000, "batch_size": 64, "n_steps": 512, "gamma": 0.98,
                        "learning_rate": 2.0633e-05, "ent_coef": 0.000401762, "clip_range": 0.1, "n_epochs": 20,
                        "gae_lambda": 0.92, "max_grad_norm": 0.8, "vf_coef": 0.58096, "policy_kwargs": _PPO_ZOO_NET},
        "Hopper": {"n_timesteps": 1_000_000, "batch_size": 32, "n_steps": 512, "gamma": 0.999,
                   "learning_rate": 9.80828e-05, "ent_coef": 0.00229519, "clip_range": 0.2, "n_epochs": 5,
                   "gae_lambda": 0.99, "max_grad_norm": 0.7, "vf_coef": 0.835671, "policy_kwargs": _PPO_ZOO_NET},
        "HumanoidStandup": {"n_timesteps": 10_000_000, "batch_size": 32, "n_steps": 512, "gamma": 0.99,
                            "learning_rate": 2.55673e-05, "ent_coef": 3.62109e-06, "clip_range": 0.3, "n_epochs": 20,
                            "gae_lambda": 0.9, "max_grad_norm": 0.7, "vf_coef": 0.430793, "policy_kwargs": _PPO_ZOO_NET},
        "Humanoid": {"n_timesteps": 10_000_000, "batch_size": 256, "n_steps": 512, "gamma": 0.95,
                     "learning_rate": 3.56987e-05, "ent_coef": 0.00238306, "clip_range": 0.3, "n_epochs": 5,
                     "gae_lambda": 0.9, "max_grad_norm": 2, "vf_coef": 0.431892, "policy_kwargs": _PPO_ZOO_NET},
        "InvertedDoublePendulum": {"n_timesteps": 1_000_000, "batch_size": 512, "n_steps": 128, "gamma": 0.98,
                                   "learning_rate": 0.000155454, "ent_coef": 1.05057e-06, "clip_range": 0.4,
                                   "n_epochs": 10, "gae_lambda": 0.8, "max_grad_norm": 0.5, "vf_coef": 0.695929},
        "InvertedPendulum": {"n_timesteps": 1_000_000, "batch_size": 64, "n_steps": 32, "gamma": 0.999,
                             "learning_rate": 0.000222425, "ent_coef": 1.37976e-07, "clip_range": 0.4, "n_epochs": 5,
                             "gae_lambda": 0.9, "max_grad_norm": 0.3, "vf_coef": 0.19816},
        "Reacher": {"n_timesteps": 1_000_000, "batch_size": 32, "n_steps": 512, "gamma": 0.9,
                    "learning_rate": 0.000104019, "ent_coef": 7.52585e-08, "clip_range": 0.3, "n_epochs": 5,
                    "gae_lambda": 1.0, "max_grad_norm": 0.9, "vf_coef": 0.950368},
        "Walker2d": {"n_timesteps": 1_000_000, "batch_size": 32, "n_steps": 512, "gamma": 0.99,
                     "learning_rate": 5.05041e-05, "ent_coef": 0.000585045, "clip_range": 0.1, "n_epochs": 20,
                     "gae_lambda": 0.95, "max_grad_norm": 1, "vf_coef": 0.871923},
    },
}
# where a task has no entry: the file's MuJoCo anchor (TQC/SAC/TD3) or rl-zoo3's `default` (PPO: SB3's defaults)
FALLBACK = {"tqc": _OFF_POLICY_DEFAULTS, "sac": _OFF_POLICY_DEFAULTS, "td3": _TD3_DEFAULTS,
            "ppo": {"n_timesteps": 1_000_000}}


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
        return int(self.settings.get("n_envs", 1))

    def constructor_kwargs(self, action_dim: int) -> dict:
        """The SB3 / sb3-contrib constructor arguments (rl-zoo3's keys that are not constructor arguments resolved)."""
        import numpy as np
        import torch

        kw = {k: v for k, v in self.settings.items() if k not in ("n_timesteps", "n_envs", "noise_type", "noise_std")}
        if "noise_type" in self.settings:
            from stable_baselines3.common.noise import NormalActionNoise

            std = float(self.settings["noise_std"])
            kw["action_noise"] = NormalActionNoise(np.zeros(action_dim), std * np.ones(action_dim))
        if "policy_kwargs" in kw:
            pk = dict(kw["policy_kwargs"])
            if "activation_fn" in pk:
                pk["activation_fn"] = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[pk["activation_fn"]]
            kw["policy_kwargs"] = pk
        return kw


def recipe(algo: str, env_id: str, overrides: dict | None = None) -> Recipe:
    """rl-zoo3's settings of ``algo`` for ``env_id`` (e.g. ``Reacher-v5``), with ``overrides`` on top."""
    name = env_id.rsplit("-v", 1)[0]
    entry = ZOO[algo].get(name)
    where = SOURCE.format(algo=algo) + (f", entry {name}-v4" if entry is not None and algo != "ppo" else
                                        f", entry {name}" if entry is not None else
                                        ", no entry: the file's MuJoCo defaults" if algo != "ppo" else
                                        ", no entry: its `default` (SB3's defaults)")
    settings = {**(entry if entry is not None else FALLBACK[algo]), **(overrides or {})}
    if algo == "ppo":
        where += "; without its normalize: true (VecNormalize statistics would live outside the zip)"
    return Recipe(algo=algo, env=env_id, settings=settings, source=where)
