"""Reward relabelling of training windows (``train.relabel``; docs/design.md §8, §10; the research note's D1).

On latent-goal data from a privileged demonstrator the executed motion in every window points at the history's
hidden goal, so a model can learn to read the goal off the motion instead of the rewards, and at evaluation reads one
off its own motion. Relabelling breaks that link: each window drawn for training gets a fresh goal g*, independent of
the history's own, and its rewards and demonstrator labels are recomputed for g* from the stored observations through
the domain adapter (``DomainAdapter.relabeler``; reach-v3 only, the formulas in
``vintix_data/domains/metaworld_goals.py``). The executed actions and observations stay as stored; only rewards
carry g*, so the DPT-style target can only be predicted by inferring g* from rewards.

* ``uniform``: g* uniform over the task family's goal space (reach-v3's goal box).
* ``dataset``: g* one of the dataset's own variations' goals, uniformly (the diversity ablation: as many tasks as the
  data has, but each window's label still comes from its rewards).

g* is a function of ``(train.seed, rank, position in the rank's stream)``, so a resumed run relabels exactly as an
uninterrupted one. Token ``i`` of a window takes the reward of transition ``i``, computed from the hand in
observation ``i + 1``, which is token ``i``'s own observation; at an episode start that reward is replaced by the
padding vector anyway, so the last transition of an episode (whose next observation is not in the rows) never counts.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow.parquet as pq

from vintix_model.data.arrays import DataError, TaskData

RELABEL_MODES = ("none", "uniform", "dataset")
_KEY = 0x5E1ABE1  # separates relabelling's generator from every other draw keyed on train.seed


class TaskRelabel:
    """One task's relabeler and the goals g* is drawn from."""

    def __init__(self, t: TaskData, mode: str):
        from vintix_data.domains import resolve
        from vintix_data.registry import UnknownTaskError, get_task

        try:
            spec = get_task(t.task)
        except UnknownTaskError:
            raise DataError(
                f"train.relabel: task {t.task} is not in the registry, so no domain can relabel it"
            ) from None
        spec = dataclasses.replace(spec, env_kwargs=dict(t.env.get("env_kwargs") or spec.env_kwargs))
        task = resolve(spec)
        self.relabeler = task.relabeler()
        if self.relabeler is None:
            raise DataError(
                f"train.relabel: {t.task}'s reward cannot be recomputed from its observations (relabelling "
                "knows reach-v3)"
            )
        hidden = set((t.env.get("hidden_observation") or {}).get("indices") or [])
        goal = set(self.relabeler.goal_columns)
        if not goal <= hidden:
            raise DataError(
                f"train.relabel: dataset {t.source['source']} shows the goal (columns {sorted(goal)}): "
                "relabelling is for latent-goal data (collect --hide goal)"
            )
        if hidden & set(self.relabeler.needs_visible()):
            raise DataError(
                f"train.relabel: dataset {t.source['source']} hides columns the reward formula reads "
                f"({sorted(hidden & set(self.relabeler.needs_visible()))})"
            )
        self.scale = np.float32(t.reward_scale)
        self.goals = None
        if mode == "dataset":
            variations = pq.read_table(t.folder / "meta" / "episodes.parquet", columns=["variation"]).column(
                "variation"
            )
            found = sorted({int(v) for v in variations.to_pylist() if v is not None})
            if not found:
                raise DataError(
                    f"train.relabel=dataset: {t.source['source']} records no variations in meta/episodes.parquet"
                )
            self.goals = self.relabeler.variation_goals[found]

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        if self.goals is not None:
            return self.goals[rng.integers(len(self.goals))]
        return rng.uniform(self.relabeler.low, self.relabeler.high)


class WindowRelabel:
    """The hook ``WindowDataset`` calls on each sample: a fresh g*, its rewards and labels."""

    def __init__(self, tasks: list[TaskData], mode: str, seed: int, target: str, rank: int = 0):
        if mode not in RELABEL_MODES[1:]:
            raise DataError(f"train.relabel must be one of {', '.join(RELABEL_MODES)}, got {mode!r}")
        if target != "demonstrator_action":
            raise DataError(
                "train.relabel needs train.target=demonstrator_action (the executed actions aim at the "
                "history's own goal, not at the relabelled one)"
            )
        self.tasks = [TaskRelabel(t, mode) for t in tasks]
        self.seed, self.rank = int(seed), int(rank)

    def goal(self, task: int, position: int | None, window: int) -> np.ndarray:
        key = (self.seed, _KEY, self.rank, position) if position is not None else (self.seed, _KEY, -1, window)
        return self.tasks[task].draw(np.random.default_rng([k & 0xFFFFFFFF for k in key]))

    def __call__(self, sample: dict, raw_obs: np.ndarray, position: int | None) -> dict:
        """Relabel ``sample`` (WindowDataset's dict) in place; ``raw_obs`` are its tokens' stored observations."""
        k = sample["task"]
        rel = self.tasks[k]
        g = self.goal(k, position, sample["window"])
        obs = np.asarray(raw_obs, np.float64)
        sample["prev_reward"] = rel.relabeler.rewards(obs, g).astype(np.float32) * rel.scale
        sample["target"] = rel.relabeler.labels(obs, g)
        sample["goal"] = g
        return sample


def window_relabel(tasks: list[TaskData], mode: str, seed: int, target: str, rank: int = 0) -> WindowRelabel | None:
    """The hook for ``train.relabel`` (None for ``none``)."""
    return None if mode == "none" else WindowRelabel(tasks, mode, seed, target, rank)
