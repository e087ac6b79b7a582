"""The cross-episode window sampler.

A window is ``context + 1`` consecutive kept transitions of one history: it crosses episode boundaries freely
but never histories. Token ``i`` of a window uses observation ``i + 1`` and the action/reward of transition
``i`` (the previous step; a learned padding vector instead at episode starts) and predicts action ``i + 1``.
With episode sparsity ``k`` only episodes ``0, k, 2k, ...`` of each history are kept (the paper: MuJoCo 2).
Windows start every ``stride`` kept transitions, as the released loader's do: ``range(0, L - context - 1, stride)``.

The order of an epoch is a pure function of ``(seed, epoch)``: ``proportional`` permutes all windows (big tasks
are seen more, as the released code), ``uniform`` draws a task uniformly per slot then cycles through a
permutation of that task's windows (the paper's text). Rank ``r`` of ``world`` takes items ``r, r + world, ...``
(the tail is dropped so ranks are equal), and the stream simply continues into the next epoch, so the whole
state is one number: how many items this rank has consumed.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from vintix_model.data.arrays import DataError, TaskData

if TYPE_CHECKING:
    from vintix_model.data.relabel import WindowRelabel
from vintix_model.model.vintix import GroupBatch, obs_normalizer


@dataclass
class TaskWindows:
    kept: np.ndarray  # row indices of kept transitions, history after history
    starts: np.ndarray  # window starts, as indices into `kept`


def task_windows(
    history: np.ndarray, episode: np.ndarray, context: int, stride: int, sparsity: int, first: int = 0
) -> TaskWindows:
    """Windows of ``context + 1`` kept rows per history (rows sorted by (history, t)); ``first`` extra copies of each
    history's window at its t = 0 (``train.first_windows``): the cold start an evaluation begins from."""
    kept = np.flatnonzero(episode % sparsity == 0) if sparsity > 1 else np.arange(len(history))
    h = history[kept]
    bounds = np.flatnonzero(np.diff(h)) + 1
    starts = []
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, len(kept)]):
        # the released loader's starts: range(0, L - (context + 1), stride) over a history's L kept rows, so a window
        # never starts at L - context - 1 (it would fit; the original leaves it out, and so do we, to train alike)
        if b - a > context + 1:
            starts.append(np.r_[np.full(first, a, np.int64), np.arange(a, b - context - 1, stride)])
    return TaskWindows(kept, np.concatenate(starts) if starts else np.zeros(0, np.int64))


def _arrays_dir(t: TaskData) -> Path:
    assert t.arrays is not None, "a prepared task holds its arrays folder (TaskData.arrays)"
    return t.arrays


def index_tasks(tasks: list[TaskData], context: int, stride: int, first: int = 0) -> list[TaskWindows]:
    out = []
    for t in tasks:
        hist = np.load(_arrays_dir(t) / "history.npy", mmap_mode="r")
        ep = np.load(_arrays_dir(t) / "episode.npy", mmap_mode="r")
        w = task_windows(np.asarray(hist), np.asarray(ep), context, stride, t.episode_sparsity, first)
        if len(w.starts) == 0:
            h = np.asarray(hist)[w.kept]
            longest = int(np.max(np.bincount(h - h.min()))) if len(h) else 0
            raise DataError(
                f"task {t.task}: context {context} needs {context + 2} consecutive transitions of one history, "
                f"but its longest history has {longest} (episode sparsity {t.episode_sparsity}); "
                "lower model.context"
            )
        out.append(w)
    return out


class WindowOrder:
    """Which window each item of a rank's stream is (see the module docstring)."""

    def __init__(self, counts: list[int], seed: int, mixing: str = "uniform", rank: int = 0, world: int = 1):
        if mixing not in ("uniform", "proportional"):
            raise ValueError(f"unknown mixing {mixing!r}")
        self.counts = [int(c) for c in counts]
        self.offsets = np.r_[0, np.cumsum(self.counts)].astype(np.int64)
        self.total = int(self.offsets[-1])
        self.seed, self.mixing, self.rank, self.world = seed, mixing, rank, world
        self.per_rank = self.total // world
        if self.per_rank < 1:
            raise DataError(f"{self.total} windows cannot be shared by {world} processes")
        self._cached: tuple[int, np.ndarray] | None = None

    def global_epoch(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        if self.mixing == "proportional":
            return rng.permutation(self.total)
        k = len(self.counts)
        slots = rng.integers(k, size=self.total)
        order = np.empty(self.total, np.int64)
        for task in range(k):
            where = np.flatnonzero(slots == task)
            n = self.counts[task]
            reps = -(-len(where) // n) if len(where) else 0
            perm = np.concatenate([rng.permutation(n) for _ in range(reps)]) if reps else np.zeros(0, np.int64)
            order[where] = perm[: len(where)] + self.offsets[task]
        return order

    def epoch(self, epoch: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, self.global_epoch(epoch)[self.rank :: self.world][: self.per_rank])
        return self._cached[1]

    def item(self, position: int) -> int:
        return int(self.epoch(position // self.per_rank)[position % self.per_rank])

    def items(self, start: int = 0) -> Iterator[int]:
        pos = start
        while True:
            e, off = divmod(pos, self.per_rank)
            chunk = self.epoch(e)[off:]
            yield from (int(x) for x in chunk)
            pos += len(chunk)

    def state_dict(self, consumed: int) -> dict:
        """Everything the stream depends on, and how far this rank got (items consumed)."""
        return {
            "seed": self.seed,
            "mixing": self.mixing,
            "world": self.world,
            "counts": list(self.counts),
            "consumed": int(consumed),
        }

    def load_state_dict(self, state: dict) -> int:
        """Check that ``state`` describes this same stream; return where to continue it (items consumed)."""
        mine = self.state_dict(0)
        for key in ("seed", "mixing", "world", "counts"):
            if state.get(key) != mine[key]:
                raise DataError(
                    f"sampler state is for another stream ({key}: {state.get(key)!r} there, {mine[key]!r} here)"
                )
        return int(state["consumed"])

    def locate(self, window: int) -> tuple[int, int]:
        task = int(np.searchsorted(self.offsets, window, side="right") - 1)
        return task, window - int(self.offsets[task])


class WindowBatches(Sampler):
    """Endless micro-batches of window ids, starting after ``start`` consumed items."""

    def __init__(self, order: WindowOrder, batch_size: int, start: int = 0, positions: bool = False):
        self.order, self.batch_size, self.start, self.positions = order, batch_size, start, positions

    def __iter__(self):
        it, pos = self.order.items(self.start), self.start
        while True:
            batch = [next(it) for _ in range(self.batch_size)]
            # with positions (relabelling draws per item, not per window): (position in the stream, window) pairs
            yield list(zip(range(pos, pos + len(batch)), batch)) if self.positions else batch
            pos += len(batch)


class WindowDataset(Dataset):
    """Window id -> numpy sample; every process (DataLoader worker) opens its own memory maps."""

    def __init__(
        self,
        tasks: list[TaskData],
        windows: list[TaskWindows],
        order: WindowOrder,
        context: int,
        target: str = "action",
        obs_norm: str = "vintix",
    ):
        self.tasks, self.windows, self.order, self.context, self.target = tasks, windows, order, context, target
        self.norm = [obs_normalizer(t.obs_mean, t.obs_std, obs_norm) for t in tasks]
        self._pid: int | None = None  # the process whose memory maps _maps holds (a DataLoader worker opens its own)
        self._maps: list[dict[str, np.ndarray]] = []
        self.relabel: WindowRelabel | None = None  # a fresh task per window (train.relabel)

    def _arrays(self) -> list[dict[str, np.ndarray]]:
        if self._pid != os.getpid():
            names = ["observation", "action", "reward", "step"] + (
                ["demonstrator_action"] if self.target != "action" else []
            )
            self._maps = [{k: np.load(_arrays_dir(t) / f"{k}.npy", mmap_mode="r") for k in names} for t in self.tasks]
            self._pid = os.getpid()
        return self._maps

    def __len__(self) -> int:
        return self.order.total

    def __getitem__(self, item) -> dict:
        position, window = item if isinstance(item, tuple) else (None, item)  # (position in the stream, window)
        k, local = self.order.locate(window)
        w, arr = self.windows[k], self._arrays()[k]
        s = int(w.starts[local])
        rows = w.kept[s : s + self.context + 1]
        cur: slice | np.ndarray
        prev: slice | np.ndarray
        if rows[-1] - rows[0] == self.context:  # contiguous: slices are cheaper than fancy indexing
            cur, prev = slice(rows[0] + 1, rows[-1] + 1), slice(rows[0], rows[-1])
        else:
            cur, prev = rows[1:], rows[:-1]
        mean, scale = self.norm[k]
        obs = np.asarray(arr["observation"][cur])
        sample = {
            "window": window,
            "task": k,
            "obs": (obs - mean) / scale,
            "prev_action": np.asarray(arr["action"][prev]),
            "prev_reward": np.asarray(arr["reward"][prev]) * np.float32(self.tasks[k].reward_scale),
            "first": np.asarray(arr["step"][cur]) == 0,
            "target": np.asarray(arr[self.target][cur]),
        }
        return sample if self.relabel is None else self.relabel(sample, obs, position)


class Collate:
    """Samples -> ``{"groups": {group: GroupBatch}, "windows": LongTensor, "fingerprint": int}``."""

    def __init__(self, tasks: list[TaskData]):
        self.group_of = [t.group for t in tasks]

    def __call__(self, samples: list[dict]) -> dict:
        by_group: dict[str, list[dict]] = {}
        for s in samples:
            by_group.setdefault(self.group_of[s["task"]], []).append(s)
        stack = lambda rows, k: torch.from_numpy(np.stack([r[k] for r in rows]))  # noqa: E731
        groups = {
            g: GroupBatch(
                stack(rows, "obs").float(),
                stack(rows, "prev_action"),
                stack(rows, "prev_reward"),
                stack(rows, "first"),
                stack(rows, "target"),
            )
            for g, rows in by_group.items()
        }
        windows = np.array([s["window"] for s in samples], np.int64)
        return {"groups": groups, "windows": torch.from_numpy(windows), "fingerprint": zlib.crc32(windows.tobytes())}


def make_loader(
    dataset: WindowDataset, batch_size: int, start_item: int = 0, num_workers: int = 0, pin_memory: bool = False
) -> DataLoader:
    batches = WindowBatches(dataset.order, batch_size, start_item, positions=dataset.relabel is not None)
    return DataLoader(
        dataset,
        batch_sampler=batches,
        collate_fn=Collate(dataset.tasks),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
    )
