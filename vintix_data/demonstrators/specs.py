"""Demonstrator SPECs users type (docs/design.md §1): ``sb3:PATH.zip``, ``hub:ORG/REPO[/FILE.zip]``, ``scripted`` (the task's
domain's scripted expert: Meta-World), ``random``, ``zero``."""

from __future__ import annotations

import gymnasium as gym

from vintix_data.demonstrators.base import Demonstrator, DemonstratorError, RandomDemonstrator, ZeroDemonstrator
from vintix_data.demonstrators.sb3 import load_hub, load_sb3


def load_demonstrator(spec: str, observation_space: gym.Space, action_space: gym.Space, task=None) -> Demonstrator:
    """Resolve a demonstrator SPEC (docs/design.md §1) against a task's spaces (``scripted`` also needs the TaskSpec)."""
    if spec == "scripted":
        if task is None:
            raise DemonstratorError(
                "demonstrator 'scripted' is Meta-World's scripted experts; this task has none "
                "(use sb3:PATH.zip, random or zero)"
            )
        from vintix_data.domains import resolve

        task = resolve(task)
        return task.adapter.scripted_demonstrator(task.spec)
    if spec == "zero":
        return ZeroDemonstrator(action_space)
    if spec == "random":
        return RandomDemonstrator(action_space)
    if spec.startswith("sb3:"):
        return load_sb3(spec[4:], observation_space, action_space, task=task)
    if spec.startswith("hub:"):
        return load_hub(spec, observation_space, action_space, task=task)
    if spec.endswith(".zip"):
        return load_sb3(spec, observation_space, action_space, task=task)
    raise DemonstratorError(
        f"unknown demonstrator spec {spec!r}: use sb3:PATH.zip, hub:ORG/REPO[/FILE.zip], random or zero"
    )
