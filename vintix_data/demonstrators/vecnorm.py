"""A repo's ``vec_normalize.pkl`` (SB3's VecNormalize statistics) read without the classes it names.

RL-Zoo's PPO/A2C models on the Hub ship the observation statistics their policy was trained with in a pickle of
the whole VecNormalize object, whose observation space is a class of the legacy ``gym`` package (which pins
NumPy < 2 and cannot be installed beside gymnasium 1.x). Only four of its fields matter to act: ``obs_rms.mean``,
``obs_rms.var``, ``epsilon`` and ``clip_obs`` (and ``norm_obs``). So the pickle is read by an unpickler that
builds NumPy arrays and plain containers for real and every other class as an inert record of its state: no
class of the file is imported or run (a pickle is code, and a Hub file is someone else's), and ``gym`` is never
needed. The normalization is SB3's ``VecNormalize.normalize_obs``, row-wise, so it keeps the demonstrator
batch-invariant.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vintix_data.errors import DemonstratorError

# what the statistics themselves need: arrays, dtypes, scalars and builtin containers
_REAL = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("collections", "OrderedDict"),
    ("collections", "deque"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
}


class _Record:
    """Stands in for any class of the file: accepts its constructor arguments and keeps its state as attributes."""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state):
        parts = state if isinstance(state, tuple) else (state,)  # (dict, slots) or a class's own state
        for part in parts:
            if isinstance(part, dict):
                self.__dict__.update({k: v for k, v in part.items() if isinstance(k, str)})
        self._state = state


class _Unpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _REAL:
            return super().find_class(module, name)
        return type(name, (_Record,), {"__module__": f"vintix_record.{module}"})


@dataclass(frozen=True)
class ObsNormalizer:
    """SB3's VecNormalize observation normalization with frozen statistics."""

    mean: np.ndarray
    var: np.ndarray
    epsilon: float
    clip_obs: float
    source: str
    sha256: str

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        # VecNormalize._normalize_obs in float64, then stored as float32 as normalize_obs does
        x = np.clip((obs - self.mean) / np.sqrt(self.var + self.epsilon), -self.clip_obs, self.clip_obs)
        return x.astype(np.float32)


def read_vec_normalize(path: Path, obs_dim: int | None = None) -> ObsNormalizer | None:
    """The observation normalizer of a ``vec_normalize.pkl``; None when it normalizes rewards only. One-line
    DemonstratorError for a file whose statistics cannot be read or do not fit the observation."""
    data = Path(path).read_bytes()
    try:
        obj = _Unpickler(__import__("io").BytesIO(data)).load()
    except Exception as e:  # noqa: BLE001 (any malformed pickle: the user needs one line, not a traceback)
        raise DemonstratorError(f"{path}: cannot read VecNormalize statistics ({type(e).__name__}: {e})") from None
    state = vars(obj) if isinstance(obj, _Record) else obj if isinstance(obj, dict) else {}
    if not state.get("norm_obs", True):
        return None
    rms = state.get("obs_rms")
    rms = vars(rms) if isinstance(rms, _Record) else rms
    if not isinstance(rms, dict) or not all(isinstance(rms.get(k), np.ndarray) for k in ("mean", "var")):
        kind = (
            "per-key statistics (a Dict observation space)" if isinstance(rms, dict) else "no obs_rms mean/var arrays"
        )
        raise DemonstratorError(f"{path}: VecNormalize statistics not applicable: {kind}")
    mean, var = rms["mean"].astype(np.float64).ravel(), rms["var"].astype(np.float64).ravel()
    if obs_dim is not None and mean.shape != (obs_dim,):
        raise DemonstratorError(
            f"{path}: VecNormalize statistics are for {mean.size} observation dims, the checkpoint has {obs_dim}"
        )
    try:
        epsilon, clip_obs = float(state.get("epsilon", 1e-8)), float(state.get("clip_obs", 10.0))
    except (TypeError, ValueError):
        raise DemonstratorError(f"{path}: VecNormalize epsilon/clip_obs are not numbers") from None
    return ObsNormalizer(
        mean=mean,
        var=var,
        epsilon=epsilon,
        clip_obs=clip_obs,
        source=str(path),
        sha256=hashlib.sha256(data).hexdigest(),
    )
