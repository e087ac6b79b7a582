"""Latent-task data: named observation components hidden from the recorded rows (docs/design.md §8).

In-context improvement needs a task the learner cannot read off its observation. The demonstrator (privileged)
still acts on the full observation; only what is *recorded* (and what the model sees at evaluation) has the
hidden components overwritten with a constant ``fill``. What is hidden is part of the dataset's identity: it is
written to ``meta/info.json`` (``hidden_observation``), the card and the dataset's name, checked by ``validate``
and carried into a checkpoint's metadata, so evaluation masks the live env the same way without a flag.

The fill defaults to 0.0, Meta-World's own convention for its ML benchmarks' unobserved goal
(``partially_observable=True`` zeroes the goal slots).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vintix_data.errors import UserError


class HidingError(UserError, ValueError):
    """An unknown or unavailable observation component (one-line message)."""


@dataclass(frozen=True)
class HiddenObservation:
    """Which observation columns are overwritten, with what value."""

    components: tuple[str, ...]
    indices: tuple[int, ...]
    fill: float = 0.0

    def __post_init__(self):
        if not math.isfinite(self.fill):
            raise HidingError(f"--hide-fill must be a finite number, got {self.fill}")

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """A copy of ``obs`` (..., obs_dim) with the hidden columns set to ``fill``."""
        out = np.array(obs, copy=True)
        out[..., list(self.indices)] = self.fill
        return out

    def apply_(self, obs: np.ndarray) -> np.ndarray:
        """In place (the collector's buffers)."""
        obs[..., list(self.indices)] = self.fill
        return obs

    @property
    def suffix(self) -> str:
        """The dataset-name suffix that marks latent-task data: ``hidden-goal``."""
        return "hidden-" + "-".join(self.components)

    def to_dict(self) -> dict:
        return {"components": list(self.components), "indices": list(self.indices), "fill": float(self.fill)}

    @classmethod
    def from_dict(cls, d: dict | None) -> HiddenObservation | None:
        if not d:
            return None
        return cls(tuple(d["components"]), tuple(int(i) for i in d["indices"]), float(d.get("fill", 0.0)))


def resolve_hidden(task, names, fill: float = 0.0) -> HiddenObservation | None:
    """The task's named components -> a HiddenObservation (None when nothing is hidden).

    Raises HidingError naming the valid components for an unknown name, or saying the domain has none.
    """
    from vintix_data.domains import observation_components

    names = [n.strip() for n in (names or []) if n and n.strip()]
    if not names:
        return None
    available = observation_components(task)
    if not available:
        raise HidingError(f"--hide: {task.id} ({task.domain}) has no named observation components to hide")
    unknown = [n for n in names if n not in available]
    if unknown:
        raise HidingError(
            f"--hide {unknown[0]!r}: not an observation component of {task.id}; valid: " + ", ".join(available)
        )
    ordered = [n for n in available if n in names]  # the domain's order, duplicates dropped
    indices = sorted({i for n in ordered for i in available[n]})
    return HiddenObservation(tuple(ordered), tuple(indices), float(fill))


def check_components(task, hidden: HiddenObservation) -> None:
    """Refuse a task on which ``hidden`` cannot mean the same columns (evaluating a latent-task checkpoint)."""
    from vintix_data.domains import observation_components

    available = observation_components(task)
    missing = [c for c in hidden.components if c not in available]
    if missing:
        have = ", ".join(available) if available else "none"
        raise HidingError(
            f"{task.id} has no observation component {missing[0]!r} (the checkpoint was trained with "
            f"{', '.join(hidden.components)} hidden); its components: {have}"
        )
    indices = sorted({i for c in hidden.components for i in available[c]})
    if tuple(indices) != tuple(hidden.indices):
        raise HidingError(
            f"{task.id}: component(s) {', '.join(hidden.components)} are columns {indices}, but the "
            f"checkpoint hid columns {list(hidden.indices)}"
        )


__all__ = ["HiddenObservation", "HidingError", "resolve_hidden", "check_components"]
