"""Demonstrators: the expert policy pi_D that noise distillation corrupts.

The protocol is one method, ``act(obs_batch) -> actions``, deterministic and *batch-invariant*: row i of
the answer depends only on row i of the input, bit for bit, whatever else is in the batch. docs/design.md §3
needs that, because a history's bytes must not depend on ``--num-envs`` or on which sub-env ran it.
Torch (like any BLAS) does not promise it: the kernel and the summation order change with the batch
shape. So an SB3 checkpoint's deterministic actor is re-evaluated here in NumPy float64 with one fixed
reduction per output unit (``(x[:, None, :] * W).sum(-1)``, whose order depends only on the layer width),
and only architectures we cannot translate fall back to torch with one row per call.

``hub:ORG/REPO[/FILE.zip]`` is an SB3 zip downloaded from a Hub model repo (the ``sb3/<algo>-<Env>`` convention
naming the file ``<algo>-<Env>.zip``), loaded like ``sb3:PATH.zip``; a ``vec_normalize.pkl`` beside it in the repo
(RL-Zoo's PPO/A2C models) is applied to the observations first (``vintix_data.demonstrators.vecnorm``).
sb3-contrib's TQC loads too (its actor is SAC's). A checkpoint whose observation size is another env version's
layout of the task (RL-Zoo's ``-v3`` MuJoCo models on ``-v5``) is refused in one line naming both.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

from vintix_data.errors import DemonstratorError
from vintix_data.format import file_sha256

# -- SB3 checkpoints ------------------------------------------------------------------------------


def _numpy_activation(module) -> Callable[[np.ndarray], np.ndarray] | None:
    import torch.nn as nn

    if isinstance(module, nn.Tanh):
        return np.tanh
    if isinstance(module, nn.ReLU):
        return lambda x: np.maximum(x, 0.0)
    if isinstance(module, nn.LeakyReLU):
        slope = module.negative_slope
        return lambda x: np.where(x >= 0, x, x * slope)
    if isinstance(module, nn.ELU):
        alpha = module.alpha
        return lambda x: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    if isinstance(module, nn.Identity):
        return lambda x: x
    if isinstance(module, nn.Hardtanh):  # SAC/TQC with gSDE clip their mean (clip_mean)
        lo, hi = float(module.min_val), float(module.max_val)
        return lambda x: np.minimum(np.maximum(x, lo), hi)
    return None


def _numpy_layers(modules) -> list[Callable[[np.ndarray], np.ndarray]] | None:
    """Translate a chain of Linear/activation modules into batch-invariant NumPy functions."""
    import torch.nn as nn

    from vintix_data.sb3_extras import ScaledObservation

    layers: list[Callable[[np.ndarray], np.ndarray]] = []
    for m in modules:
        if isinstance(m, nn.Sequential):
            sub = _numpy_layers(list(m))
            if sub is None:
                return None
            layers += sub
        elif isinstance(m, nn.Linear):
            w = m.weight.detach().cpu().double().numpy()
            b = m.bias.detach().cpu().double().numpy() if m.bias is not None else np.zeros(w.shape[0])
            layers.append(lambda x, w=w, b=b: (x[:, None, :] * w[None, :, :]).sum(-1) + b)
        elif isinstance(m, ScaledObservation):
            scale = m.scale.detach().cpu().double().numpy()
            layers.append(lambda x, s=scale: x * s)
        elif type(m).__name__ == "FlattenExtractor":
            layers.append(lambda x: x.reshape(len(x), -1))
        else:
            act = _numpy_activation(m)
            if act is None:
                return None
            layers.append(act)
    return layers


@dataclass
class SB3Demonstrator:
    """The deterministic action of a Stable-Baselines3 checkpoint (PPO, A2C, SAC, TD3, DDPG; sb3-contrib's TQC),
    after the repo's VecNormalize statistics where it has them."""

    model: object
    algo: str
    path: str
    sha256: str
    kind: str = "sb3"
    normalizer: object = None  # vecnorm.ObsNormalizer or None
    adapter: object = None  # the domain's observation adapter (another env version's layout), or None
    source: dict | None = None  # hub: where the bytes came from (repo, file, commit, file sha256), for info.json

    def __post_init__(self):
        self.name = f"{self.algo}:{Path(self.path).name}"
        space = self.model.action_space
        self._low, self._high = space.low.astype(np.float64), space.high.astype(np.float64)
        self._chain, self._post = self._translate()

    def _translate(self):
        policy = self.model.policy
        if self.algo in ("PPO", "A2C"):
            modules = [policy.pi_features_extractor, policy.mlp_extractor.policy_net, policy.action_net]
            post = "clip"
        elif self.algo in ("SAC", "TQC"):
            actor = policy.actor
            modules = [actor.features_extractor, actor.latent_pi, actor.mu]
            post = "tanh_unscale"
        else:  # TD3 / DDPG: mu ends in Tanh
            actor = policy.actor
            modules = [actor.features_extractor, actor.mu]
            post = "unscale"
        return _numpy_layers(modules), post

    def _torch_rows(self, obs_batch: np.ndarray) -> np.ndarray:
        # Fallback for architectures we do not translate: one row per call keeps the batch shape fixed.
        out = [self.model.predict(row[None], deterministic=True)[0][0] for row in obs_batch]
        return np.asarray(out, np.float32)

    def act(self, obs_batch: np.ndarray) -> np.ndarray:
        obs_batch = np.asarray(obs_batch)
        if self.adapter is not None:
            obs_batch = self.adapter(obs_batch.reshape(len(obs_batch), -1))
        if self.normalizer is not None:
            obs_batch = self.normalizer(obs_batch.astype(np.float64).reshape(len(obs_batch), -1))
        if self._chain is None:
            return self._torch_rows(obs_batch)
        x = obs_batch.astype(np.float64).reshape(len(obs_batch), -1)
        for f in self._chain:
            x = f(x)
        if self._post == "tanh_unscale":
            x = np.tanh(x)
        if self._post in ("tanh_unscale", "unscale"):
            x = self._low + 0.5 * (x + 1.0) * (self._high - self._low)
        return np.minimum(np.maximum(x, self._low), self._high).astype(np.float32)  # = np.clip, cheaper


def _algo_from_zip(path: Path) -> str:
    """The algorithm that saved a zip, from the policy class module SB3 records in ``data``."""
    try:
        with zipfile.ZipFile(path) as z:
            data = json.loads(z.read("data"))
        module = data["policy_class"]["__module__"]
    except (zipfile.BadZipFile, KeyError, TypeError, ValueError) as e:
        raise DemonstratorError(f"{path} is not a Stable-Baselines3 checkpoint zip ({type(e).__name__}: {e})") from None
    for algo in ("sac", "td3", "ddpg", "tqc"):
        if f".{algo}." in module:
            return "TD3" if algo == "ddpg" else algo.upper()
    if module.endswith("common.policies"):
        # PPO and A2C share ActorCriticPolicy; only PPO saves a clip range.
        return "PPO" if "clip_range" in data else "A2C"
    raise DemonstratorError(f"{path}: unsupported policy class module {module!r} (PPO, A2C, SAC, TD3, DDPG, TQC load)")


def _algo_class(algo: str, path: Path):
    if algo == "TQC":
        try:
            from sb3_contrib import TQC
        except ImportError:
            raise DemonstratorError(
                f"{path} is an sb3-contrib TQC checkpoint: pip install sb3-contrib (or \"vintix[mujoco]\")"
            ) from None
        return TQC
    import stable_baselines3 as sb3

    return getattr(sb3, algo)


def load_sb3(
    path: str | Path,
    observation_space: gym.Space | None = None,
    action_space: gym.Space | None = None,
    task=None,
    vec_normalize: Path | None = None,
    label: str | None = None,
) -> SB3Demonstrator:
    """``task`` (a TaskSpec or ConfiguredTask) lets a wrong observation size be named as another env version's
    layout; ``vec_normalize`` is a VecNormalize pickle whose observation statistics the policy was trained with."""
    path = Path(path)
    if not path.is_file():
        raise DemonstratorError(f"checkpoint not found: {path}")
    algo = _algo_from_zip(path)
    cls = _algo_class(algo, path)

    import vintix_data.sb3_extras  # noqa: F401  (custom extractor classes referenced by our own zips)

    try:
        model = cls.load(str(path), device="cpu")
    except Exception as e:  # noqa: BLE001 - SB3 raises many types on a bad zip; the user needs one line
        raise DemonstratorError(f"cannot load {path} as {algo}: {type(e).__name__}: {e}") from None
    adapter = _check_spaces(label or path, model, observation_space, action_space, task)
    sha, normalizer = file_sha256(path), None
    if vec_normalize is not None:
        from vintix_data.demonstrators.vecnorm import read_vec_normalize

        shape = getattr(model.observation_space, "shape", None) or (0,)
        normalizer = read_vec_normalize(vec_normalize, int(np.prod(shape)))
        if normalizer is not None:  # the demonstrator is the pair: its identity covers both files
            sha = hashlib.sha256(f"{sha}+{normalizer.sha256}".encode()).hexdigest()
    demo = SB3Demonstrator(model=model, algo=algo, path=str(path), sha256=sha, normalizer=normalizer, adapter=adapter)
    if adapter is not None:
        demo.name += f" ({adapter.what})"
    return demo


def _layout_refusal(where, got: int, task) -> str | None:
    """One line naming the env version whose observation layout has ``got`` dims, where the task's domain knows."""
    from vintix_data.domains import resolve

    t = resolve(task)
    layouts = t.adapter.observation_layouts(t.spec)
    matches = [v for v, d in layouts.items() if d == got]
    if not layouts or not matches:
        return None
    return (
        f"{where}: the checkpoint observes {got} dims, the {'/'.join(matches)} layout of {t.spec.env_id.rsplit('-v', 1)[0]} "
        f"(dims by version: {', '.join(f'{v} {d}' for v, d in layouts.items())}); the task runs {t.spec.env_id} with "
        f"{layouts.get(t.spec.env_id.rsplit('-', 1)[1], t.spec.obs_dim)}: use a checkpoint trained on {t.spec.env_id}"
        + (
            " or run the task as v4 (--env-option version=v4)"
            if "v4" in matches and t.adapter.options.get("version")
            else ""
        )
    )


def _check_spaces(path, model, observation_space, action_space, task=None):
    """Refuse a checkpoint whose spaces do not fit the task's; returns the domain's observation adapter when the
    checkpoint's observation is another env version's layout that the task's observation gives exactly."""
    adapter = None
    if observation_space is not None:
        mo = model.observation_space
        if (
            task is not None
            and isinstance(mo, gym.spaces.Box)
            and len(mo.shape) == 1
            and mo.shape != observation_space.shape
        ):
            from vintix_data.domains import resolve

            t = resolve(task)
            adapter = t.adapter.observation_adapter(t.spec, int(mo.shape[0]))
        if adapter is None and (not isinstance(mo, gym.spaces.Box) or mo.shape != observation_space.shape):
            if task is not None and isinstance(mo, gym.spaces.Box) and len(mo.shape) == 1:
                line = _layout_refusal(path, int(mo.shape[0]), task)
                if line is not None:
                    raise DemonstratorError(line)
            raise DemonstratorError(
                f"{path}: checkpoint observation space {_space_str(mo)} does not match the task's {_space_str(observation_space)}"
            )
    if action_space is not None:
        ma = model.action_space
        if (
            not isinstance(ma, gym.spaces.Box)
            or ma.shape != action_space.shape
            or not np.allclose(ma.low, action_space.low)
            or not np.allclose(ma.high, action_space.high)
        ):
            raise DemonstratorError(
                f"{path}: checkpoint action space {_space_str(ma)} does not match the task's {_space_str(action_space)}"
            )
    return adapter


def _space_str(space) -> str:
    """A space on one line: Box(shape, dtype) plus the bounds when they are short (large Box reprs span lines)."""
    if not isinstance(space, gym.spaces.Box):
        return " ".join(str(space).split())
    text = f"Box(shape={space.shape}, dtype={space.dtype}"
    if space.low.size <= 8:
        # tuples, not lists: the CLI prints through rich, which would take "[inf, ...]" for a markup tag
        text += f", low={tuple(np.round(space.low, 4).tolist())}, high={tuple(np.round(space.high, 4).tolist())}"
    return text + ")"


def parse_hub_spec(spec: str) -> tuple[str, str, str | None]:
    """``hub:ORG/REPO[/FILE.zip][@REVISION]`` -> (repo id, file, revision or None); one-line error otherwise."""
    body, _, revision = spec[len("hub:") :].partition("@")
    parts = body.split("/")
    repo_id, filename = "/".join(parts[:2]), "/".join(parts[2:]) or f"{parts[-1]}.zip"
    if len(parts) < 2 or not all(parts) or not filename.endswith(".zip") or ("@" in spec and not revision):
        raise DemonstratorError(
            f"bad demonstrator spec {spec!r}: use hub:ORG/REPO or hub:ORG/REPO/FILE.zip (optionally @REVISION)"
        )
    return repo_id, filename, revision or None


def load_hub(
    spec: str, observation_space: gym.Space | None = None, action_space: gym.Space | None = None, task=None
) -> SB3Demonstrator:
    """``hub:ORG/REPO[/FILE.zip][@REVISION]``: an SB3 zip from a Hub model repo, loaded like ``sb3:PATH`` (same
    space checks). Without FILE the ``sb3/<algo>-<Env>`` convention applies: the file is ``<algo>-<Env>.zip`` (the
    repo's name). A ``vec_normalize.pkl`` in the zip's folder of the repo, at the same commit, is applied. The
    commit downloaded and the zip's sha256 are kept in ``source`` (info.json and the card record them).
    """
    from vintix_data.hub.client import HubError, download_file

    repo_id, filename, revision = parse_hub_spec(spec)
    try:
        path, commit = download_file(repo_id, filename, repo_type="model", revision=revision)
    except HubError as e:
        raise DemonstratorError(f"{spec}: {e}") from None
    pkl = "/".join([*filename.split("/")[:-1], "vec_normalize.pkl"])
    try:  # the statistics of the same commit, where the repo has them
        vec_normalize = download_file(repo_id, pkl, repo_type="model", revision=commit or None)[0]
    except HubError as e:
        if f"has no file {pkl}" not in str(e):
            raise DemonstratorError(f"{spec}: {e}") from None
        vec_normalize = None
    demo = load_sb3(path, observation_space, action_space, task=task, vec_normalize=vec_normalize, label=spec)
    demo.name = f"{demo.algo}:hub:{repo_id}/{filename}" + (f"@{commit[:12]}" if commit else "")
    demo.source = {
        "route": "hub",
        "repo": repo_id,
        "file": filename,
        "commit": commit or None,
        "file_sha256": file_sha256(path),
        "vec_normalize_sha256": demo.normalizer.sha256 if demo.normalizer is not None else None,
    }
    return demo
