"""Bi-DexHands adapter: the paper's 20 ShadowHand tasks are in the registry, their simulator is not on any registry.

Bi-DexHands runs on NVIDIA IsaacGym (Preview 4), which NVIDIA distributes only as a download after
registration, and ``bidexhands`` is installed from its GitHub repository; neither is on PyPI. Both are
imported lazily, only when a command needs the simulator. Where they are missing (always, on machines
that install only from package registries) every such command exits with one line naming what to install
and pointing to ``vintix-data import-h5`` for the published Vintix data of these tasks.
"""

from __future__ import annotations

import importlib.util

import gymnasium as gym

from vintix_data.domains.base import DomainAdapter, DomainUnavailableError
from vintix_data.registry import TaskSpec

DOOR_TASKS = frozenset(
    {"shadowhanddoorcloseinward", "shadowhanddoorcloseoutward", "shadowhanddooropeninward", "shadowhanddooropenoutward"}
)
INSTALL_HINT = (
    "needs NVIDIA IsaacGym Preview 4 (download from https://developer.nvidia.com/isaac-gym, then "
    "`pip install -e isaacgym/python`) and bidexhands (`pip install -e .` in a clone of "
    "https://github.com/PKU-MARL/DexterousHands); neither is on PyPI. The published Vintix data for "
    "this task can be brought in with `vintix-data import-h5 SRC --task {task} --out DIR`"
)


def bidexhands_missing(task_id: str = "TASK") -> str:
    """Why a Bi-DexHands env cannot be made here (one line). Never imports isaacgym (it must precede torch)."""
    missing = [m for m in ("isaacgym", "bidexhands") if importlib.util.find_spec(m) is None]
    if missing:
        return f"Bi-DexHands ({' and '.join(missing)} not installed) " + INSTALL_HINT.format(task=task_id)
    return (
        "Bi-DexHands: isaacgym and bidexhands are installed, but vintix does not drive IsaacGym's batched "
        f"GPU envs yet; bring the published data in with `vintix-data import-h5 SRC --task {task_id} --out DIR`"
    )


class BiDexHandsAdapter(DomainAdapter):
    domain = "bi-dexhands"
    demonstrator_kinds = ()
    episode_limit_is_mean = True  # the registry has only the paper's mean episode length

    def unavailable(self, task: TaskSpec | None = None) -> str | None:
        return bidexhands_missing(task.id if task is not None else "TASK")

    def model_family(self, task: TaskSpec) -> str:
        """The door tasks share a group of their own (same dims as other ShadowHand tasks, other semantics)."""
        return "bi-dexhands-door" if task.paper_name.lower() in DOOR_TASKS else self.domain

    def configure(self, task: TaskSpec, options: dict) -> TaskSpec:
        self._refuse(task)
        return task

    def make_env(self, task: TaskSpec, **overrides) -> gym.Env:
        self._refuse(task)

    def default_demonstrator(self, task: TaskSpec) -> str | None:
        self._refuse(task)

    def _refuse(self, task: TaskSpec):
        raise DomainUnavailableError(f"{task.id}: {bidexhands_missing(task.id)}")
