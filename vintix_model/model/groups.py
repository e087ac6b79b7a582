"""Task groups: tasks whose observations and actions have the same dims *and* meaning share encoders and heads.

The rule, from the registry:

* Industrial Benchmark, Meta-World, Bi-DexHands: one group per ``(domain, obs_dim, act_dim)``;
* MuJoCo: one group per task (HalfCheetah and Walker2d both have 17/6 dims but different bodies);
* Bi-DexHands' door tasks (DoorCloseInward in training, DoorCloseOutward / DoorOpenInward / DoorOpenOutward
  held out) observe a door, so they form their own 417/52 group apart from the other 417/52 hand tasks.

On the paper's 87 training tasks this gives 21 groups (11 MuJoCo, 1 Meta-World, 1 IB, 8 Bi-DexHands), which
with gymnasium's v4 observation dims for MuJoCo (as the released model) is exactly the paper's 332,100,768
parameters; the door split is the one Bi-DexHands split that does (it adds one 417/52 group). A task outside
the registry gets the group ``<domain>-<obs>x<act>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from vintix_data.domains import resolve
from vintix_data.registry import UnknownTaskError, get_task, list_tasks


@dataclass(frozen=True)
class TaskDims:
    """What the model needs to know about a task to build its group (data-independent)."""

    task: str
    domain: str
    obs_dim: int
    act_dim: int
    group: str
    reward_scale: float = 1.0
    episode_sparsity: int = 1


@dataclass(frozen=True)
class GroupSpec:
    name: str
    obs_dim: int
    act_dim: int

    def to_dict(self) -> dict:
        return {"obs_dim": self.obs_dim, "act_dim": self.act_dim}


def group_name(domain: str, obs_dim: int, act_dim: int, task: str | None = None) -> str:
    """The group of a task with these dims (see the module docstring for the rule)."""
    family = domain
    if task is not None:
        try:
            spec = get_task(task)
        except UnknownTaskError:
            spec = None
        if spec is not None and spec.domain == domain:  # the registry's task of that domain: its adapter names it
            family = resolve(spec).adapter.model_family(spec)
    return f"{family}-{obs_dim}x{act_dim}"


def registry_task_dims(task: str, mujoco_obs: str = "registry") -> TaskDims:
    """A registry task's dims: the paper table's, or gymnasium v4's for MuJoCo (``mujoco_obs="v4"``)."""
    spec = get_task(task)
    obs = resolve(spec).adapter.model_obs_dim(spec, mujoco_obs)
    return TaskDims(
        spec.id,
        spec.domain,
        obs,
        spec.act_dim,
        group_name(spec.domain, obs, spec.act_dim, spec.id),
        spec.reward_scale,
        spec.episode_sparsity,
    )


def task_set(name: str, mujoco_obs: str = "v4") -> list[TaskDims]:
    """``paper`` (the 87 training tasks), ``all`` (the 102 tasks) or a comma-separated list of task ids."""
    if name == "paper":
        specs = list_tasks(split="train")
    elif name == "all":
        specs = list_tasks()
    else:
        specs = [get_task(t) for t in name.split(",") if t.strip()]
        if not specs:
            raise UnknownTaskError(f"no tasks in {name!r}")
    return [registry_task_dims(s.id, mujoco_obs) for s in specs]


def groups_of(tasks: list[TaskDims]) -> dict[str, GroupSpec]:
    """Groups in first-seen order; every task of a group must have the group's dims."""
    groups: dict[str, GroupSpec] = {}
    for t in tasks:
        g = groups.setdefault(t.group, GroupSpec(t.group, t.obs_dim, t.act_dim))
        if (g.obs_dim, g.act_dim) != (t.obs_dim, t.act_dim):
            raise ValueError(
                f"task {t.task} has dims {t.obs_dim}/{t.act_dim} but its group {t.group} has {g.obs_dim}/{g.act_dim}"
            )
    return groups
