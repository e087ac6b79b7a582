"""A Stable-Baselines3 training's whole state in one file, so a killed training continues to the same policy bits.

What the next steps of an SB3 training depend on, at the start of a rollout (right after an update): the model
object (networks, optimizers, replay or rollout buffer, step counters, the last observation, the action space's
generator, the vectorized env and its wrappers: Monitor's episode records, TimeLimit's step count), the global
torch / NumPy / Python generators (action sampling, minibatch and replay sampling), and each *unwrapped* env's
own state. The last does not survive pickling for every simulator (gymnasium's MuJoCo envs rebuild themselves
from their constructor arguments), so the unwrapped envs are pickled by reference (``persistent_id``): on resume
the task's env is made afresh, exactly as the training made it, and its domain adapter puts the saved state back
(``DomainAdapter.env_state`` / ``restore_env_state``).

A replay buffer is allocated at its full size (1M rows) and filled from the front; only the filled rows are
written and the rest are re-created as the zeros they were. Files are written to a temporary name and renamed.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np

from vintix_data.errors import UserError


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be continued by this training (one-line message)."""


def rng_state() -> dict:
    import torch

    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def set_rng_state(state: dict) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _buffer_rows(model) -> tuple[Any, int, list[str]]:
    """The replay buffer, its filled rows and the names of its per-row arrays (None, 0, [] without one)."""
    buf = getattr(model, "replay_buffer", None)
    if buf is None:
        return None, 0, []
    size = buf.buffer_size
    keys = [k for k, v in vars(buf).items() if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == size]
    return buf, (size if buf.full else buf.pos), keys


def save_checkpoint(path: Path, model, task, state: dict) -> None:
    """Write ``state`` (which holds ``model``) with the replay buffer cut to its filled rows and the unwrapped
    envs of ``model.env`` saved through ``task``'s adapter, atomically."""
    import cloudpickle

    envs = [e.unwrapped for e in model.env.envs]
    ids = {id(e): f"env{i}" for i, e in enumerate(envs)}

    class Pickler(cloudpickle.CloudPickler):
        def persistent_id(self, obj):
            return ids.get(id(obj))

    buf, rows, keys = _buffer_rows(model)
    full = {k: getattr(buf, k) for k in keys}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        for k in keys:
            setattr(buf, k, full[k][:rows])
        with open(tmp, "wb") as f:
            Pickler(f).dump(
                {
                    **state,
                    "buffer_rows": {k: full[k].shape for k in keys},
                    "env_states": [task.adapter.env_state(e) for e in envs],
                }
            )
    finally:
        for k in keys:
            setattr(buf, k, full[k])
    os.replace(tmp, path)


def load_checkpoint(path: Path, task, fresh_envs: list) -> dict:
    """The state ``save_checkpoint`` wrote, its envs replaced by ``fresh_envs`` (unwrapped envs made afresh for the
    same task) with their saved state put back, and the replay buffer at full size again."""

    class Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            return fresh_envs[int(str(pid)[3:])]

    try:
        with open(path, "rb") as f:
            state = Unpickler(f).load()
    except Exception as e:  # noqa: BLE001 (any failure to read it means it is not ours to continue)
        raise CheckpointError(
            f"cannot read the training checkpoint {path} ({type(e).__name__}: {e}); "
            "remove it to start the training over"
        ) from None
    if not isinstance(state, dict) or "model" not in state:
        raise CheckpointError(f"{path} is not a training checkpoint; remove it to start the training over")
    for env, saved in zip(fresh_envs, state.pop("env_states"), strict=True):
        task.adapter.restore_env_state(env, saved)
    buf = getattr(state["model"], "replay_buffer", None)
    for k, shape in state.pop("buffer_rows").items():
        part = getattr(buf, k)
        whole = np.zeros(shape, dtype=part.dtype)
        whole[: len(part)] = part
        setattr(buf, k, whole)
    return state
