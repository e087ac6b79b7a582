"""The released Vintix loader's access pattern over the original layout (see ``legacy_h5``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vintix_data.legacy_h5.layout import h5py_module


class OriginalLayoutReader:
    """Training windows from a task folder in the original layout, read the way the released Vintix loader
    (``FoundationMapDataset``) reads them: one open h5py handle per file (sorted by name), each file's groups
    sorted by first row; a window of ``context_len + 1`` consecutive rows of one file reads *every group it
    touches whole* (``np.array(group[key])``), stacks them, then slices the window out and casts to float32.
    The sample is the released loader's: ``observation`` o_1..o_T, ``prev_action``/``prev_reward`` a_0..a_{T-1},
    r_0..r_{T-1}, ``action`` a_1..a_T and ``step_num``.

    Used by ``benchmarks/loader_vs_h5.py`` as the baseline and by the tests to check that an export is read
    back, window by window, as the same rows the dataset folder holds.
    """

    def __init__(self, folder: str | Path, context_len: int):
        h5py = h5py_module()
        folder = Path(folder)
        self.context_len = context_len
        self.paths = sorted(p for p in folder.iterdir() if p.name.endswith(".h5"))
        self.metadata = json.loads((folder / f"{folder.name}.json").read_text())
        self.files = [h5py.File(p, "r") for p in self.paths]
        self.keys, self.firsts, self.lasts = [], [], []
        for f in self.files:
            keys = sorted(f.keys(), key=lambda k: int(k.split("-")[0]))
            self.keys.append(keys)
            self.firsts.append(np.array([int(k.split("-")[0]) for k in keys]))
            self.lasts.append(np.array([int(k.split("-")[1]) for k in keys]))
        self.rows = [int(last[-1]) + 1 for last in self.lasts]

    def num_starts(self, file: int) -> int:
        """Window starts in a file at stride 1, as the released loader counts them: ``range(0, rows - (context_len +
        1))``, which leaves out the last start from which ``context_len + 1`` rows would still fit."""
        return max(0, self.rows[file] - self.context_len - 1)

    def window(self, file: int, start: int) -> dict[str, np.ndarray]:
        n = self.context_len + 1
        k0 = int(np.searchsorted(self.lasts[file], start))
        k1 = int(np.searchsorted(self.lasts[file], start + n - 1))
        f, keys = self.files[file], self.keys[file]
        obs, acs, rew, stp = [], [], [], []
        for k in keys[k0 : k1 + 1]:
            g = f.get(k)
            obs.append(np.array(g.get("proprio_observation")))
            acs.append(np.array(g.get("action")))
            rew.append(np.array(g.get("reward")))
            stp.append(np.array(g.get("step_num")))
        obs, acs = np.vstack(obs), np.vstack(acs)
        rew, stp = np.expand_dims(np.hstack(rew), -1), np.hstack(stp)
        idx = np.arange(start, start + n) - self.firsts[file][k0]
        obs, acs, rew, stp = (
            obs[idx].astype(np.float32),
            acs[idx].astype(np.float32),
            rew[idx].astype(np.float32),
            stp[idx].astype(int),
        )
        return {
            "observation": obs[1:],
            "prev_action": acs[:-1],
            "prev_reward": rew[:-1],
            "action": acs[1:],
            "step_num": stp[1:],
        }

    def close(self) -> None:
        for f in self.files:
            f.close()

    def __enter__(self) -> OriginalLayoutReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
