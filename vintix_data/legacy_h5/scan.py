"""Reading and checking a task folder in the original layout without loading its transitions (see ``legacy_h5``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vintix_data.format import file_sha256
from vintix_data.legacy_h5.layout import DEMO_KEYS, GROUP_NAME, H5_KEYS, LegacyH5Error, h5py_module


@dataclass
class Chunk:
    name: str
    first: int
    last: int

    @property
    def rows(self) -> int:
        return self.last - self.first + 1


@dataclass
class SourceFile:
    path: Path
    chunks: list[Chunk]
    starts: np.ndarray  # row index of every episode start (step_num == 0), ascending, starts[0] == 0
    has_demo: bool
    sha256: str = ""
    demo_key: str | None = None  # which of DEMO_KEYS holds the demonstrator's actions (Vintix II names it differently)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def rows(self) -> int:
        return self.chunks[-1].last + 1


@dataclass
class SourceScan:
    folder: Path
    metadata_path: Path
    metadata: dict[str, Any]
    obs_dim: int
    act_dim: int
    files: list[SourceFile] = field(default_factory=list)

    @property
    def has_demo(self) -> bool:
        return bool(self.files) and self.files[0].has_demo

    @property
    def demo_key(self) -> str | None:
        return self.files[0].demo_key if self.files else None


def read_metadata(src: Path) -> tuple[Path, dict[str, Any], int, int]:
    """The task folder's ``<folder name>.json``: (path, contents, obs_dim, act_dim)."""
    path = src / f"{src.name}.json"
    if not path.is_file():
        others = sorted(p.name for p in src.glob("*.json"))
        hint = f" (found {', '.join(others)}; the original loader reads exactly <folder name>.json)" if others else ""
        raise LegacyH5Error(f"{path}: missing metadata JSON{hint}")
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LegacyH5Error(
            f"{path}: unreadable metadata JSON ({type(e).__name__}: {str(e).splitlines()[0][:100]})"
        ) from None
    if not isinstance(meta, dict):
        raise LegacyH5Error(f"{path}: metadata JSON is not an object")
    missing = [k for k in ("task_name", "observation_shape", "action_dim") if k not in meta]
    if missing:
        raise LegacyH5Error(f"{path}: metadata JSON lacks {', '.join(missing)}")
    try:
        proprio = meta["observation_shape"]["proprio"]
        obs_dim = int(np.prod(proprio))
        act_dim = int(meta["action_dim"])
        if len(proprio) != 1 or obs_dim < 1 or act_dim < 1:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        raise LegacyH5Error(
            f"{path}: observation_shape must be {{\"proprio\": [obs_dim]}} and action_dim a positive "
            f"integer, got {meta.get('observation_shape')!r} and {meta.get('action_dim')!r}"
        ) from None
    if meta.get("action_type", "continuous") != "continuous":
        raise LegacyH5Error(f"{path}: action_type {meta['action_type']!r} is not supported (only continuous)")
    return path, meta, obs_dim, act_dim


def _error(path: Path, group: str | None, message: str) -> LegacyH5Error:
    return LegacyH5Error(f"{path} group '{group}': {message}" if group is not None else f"{path}: {message}")


def _scan_file(
    path: Path, obs_dim: int, act_dim: int, demo_ref: tuple[str | None, str] | None, check_values: bool
) -> SourceFile:
    h5py = h5py_module()
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise _error(path, None, f"not a readable HDF5 file ({str(e).splitlines()[0][:100]})") from None
    with f:
        chunks = []
        for key in f.keys():
            obj = f.get(key)
            if not isinstance(obj, h5py.Group):
                raise _error(path, key, "is not a chunk group (the layout holds only groups named '<first>-<last>')")
            m = GROUP_NAME.match(key)
            if not m:
                raise _error(path, key, "name is not '<first>-<last>'")
            first, last = int(m.group(1)), int(m.group(2))
            if last < first:
                raise _error(path, key, f"last row {last} before first row {first}")
            chunks.append(Chunk(key, first, last))
        if not chunks:
            raise _error(path, None, "no chunk groups")
        chunks.sort(key=lambda c: (c.first, c.last))
        expected, prev = 0, None
        for c in chunks:
            if c.first < expected:
                raise _error(path, c.name, f"rows {c.first}..{c.last} overlap group '{prev.name}'")
            if c.first > expected:
                where = f"after group '{prev.name}'" if prev else "at the start of the file"
                raise _error(path, c.name, f"rows {expected}..{c.first - 1} are missing {where}")
            expected, prev = c.last + 1, c

        has_demo, demo_key = None, None
        steps, prev_step = [], None
        for c in chunks:
            g = f[c.name]
            for k in H5_KEYS:
                if k not in g:
                    raise _error(path, c.name, f"no dataset '{k}'")
            unknown = sorted(set(g.keys()) - set(H5_KEYS) - set(DEMO_KEYS))
            if unknown:  # refused by name rather than silently dropped
                raise _error(
                    path,
                    c.name,
                    f"dataset '{unknown[0]}' is not one import-h5 understands (it reads "
                    f"{', '.join(H5_KEYS + DEMO_KEYS)}); nothing imported",
                )
            demos = [k for k in DEMO_KEYS if k in g]
            if len(demos) > 1:
                raise _error(
                    path, c.name, f"has both '{demos[0]}' and '{demos[1]}'; which are the demonstrator's actions?"
                )
            g_key = demos[0] if demos else None
            g_demo = g_key is not None
            shapes = {"proprio_observation": (c.rows, obs_dim), "action": (c.rows, act_dim), "step_num": (c.rows,)}
            if g_demo:
                shapes[g_key] = (c.rows, act_dim)
            for k, shape in shapes.items():
                d = g[k]
                if not isinstance(d, h5py.Dataset):
                    raise _error(path, c.name, f"'{k}' is not a dataset")
                if d.shape != shape:
                    if len(d.shape) == len(shape) and d.shape[0] == c.rows and len(shape) == 2:
                        which = "obs dim" if k == "proprio_observation" else "action dim"
                        raise _error(path, c.name, f"'{k}' has {which} {d.shape[1]}, the metadata JSON says {shape[1]}")
                    raise _error(
                        path, c.name, f"'{k}' has shape {d.shape}, expected {shape} (the group name says {c.rows} rows)"
                    )
            rew = g["reward"]
            if rew.shape not in ((c.rows,), (c.rows, 1)):
                raise _error(path, c.name, f"'reward' has shape {rew.shape}, expected ({c.rows},)")
            for k in ("proprio_observation", "action", "reward") + ((g_key,) if g_demo else ()):
                if g[k].dtype.kind != "f":
                    raise _error(path, c.name, f"'{k}' has dtype {g[k].dtype}, expected float32")
            if g["step_num"].dtype.kind not in "iu":
                raise _error(path, c.name, f"'step_num' has dtype {g['step_num'].dtype}, expected int32")
            if has_demo is None:
                has_demo, demo_key = g_demo, g_key
                if demo_ref is not None and demo_ref[0] != g_key:
                    raise _error(
                        path,
                        c.name,
                        f"demonstrator actions {g_key or 'absent'!r} but {demo_ref[1]} has {demo_ref[0] or 'none'!r}",
                    )
            elif demo_key != g_key:
                raise _error(
                    path,
                    c.name,
                    f"demonstrator actions {g_key or 'absent'!r} unlike the file's first group "
                    f"({demo_key or 'absent'!r})",
                )
            step = np.asarray(g["step_num"][()], dtype=np.int64)
            if prev_step is None and step[0] != 0:
                raise _error(path, c.name, f"the file starts at step_num {step[0]}, not 0")
            full = np.r_[prev_step, step] if prev_step is not None else step
            bad = (full[1:] != 0) & (full[1:] != full[:-1] + 1)
            if bad.any():
                i = int(np.argmax(bad)) + 1
                row = c.first + i - (1 if prev_step is not None else 0)
                raise _error(
                    path,
                    c.name,
                    f"step_num {full[i - 1]} -> {full[i]} at row {row}: "
                    f"step numbers must count up by 1 and restart at 0",
                )
            prev_step = step[-1]
            steps.append(np.flatnonzero(step == 0) + c.first)
            if check_values:
                for k in ("proprio_observation", "action", "reward") + ((g_key,) if g_demo else ()):
                    x = g[k][()]
                    finite = np.isfinite(x).reshape(len(x), -1).all(1)
                    if not finite.all():
                        raise _error(path, c.name, f"'{k}' has NaN or inf at row {c.first + int(np.argmin(finite))}")
                    if x.dtype != np.float32 and not np.array_equal(x.astype(np.float32).astype(x.dtype), x):
                        raise _error(path, c.name, f"'{k}' ({x.dtype}) does not fit float32 exactly")
                    _check_magnitudes(x, path, c, k)
    return SourceFile(path, chunks, np.concatenate(steps).astype(np.int64), bool(has_demo), demo_key=demo_key)


# The release's HDF5 files carry no checksums, so a flipped bit is found, if at all, by what it does to a value:
# an exponent bit turns a value into a float32 denormal (|x| < 1.2e-38, e.g. 1e-43) or into an absurd magnitude.
# Neither occurs in real observations, actions or rewards (--sha256 with the exporter's hash list catches the rest).
MAX_ABS_VALUE = 1e9


def _check_magnitudes(x: np.ndarray, path: Path, c: Chunk, k: str) -> None:
    a = np.abs(np.asarray(x, np.float64)).reshape(len(x), -1)
    denormal = (a > 0) & (a < np.finfo(np.float32).tiny)
    for bad, what in ((denormal, "a denormal value"), (a > MAX_ABS_VALUE, f"a value beyond +-{MAX_ABS_VALUE:g}")):
        if bad.any():
            i, j = (int(v[0]) for v in np.nonzero(bad))
            raise _error(
                path,
                c.name,
                f"'{k}' has {what} ({float(np.asarray(x).reshape(len(x), -1)[i, j]):.4g}) at row "
                f"{c.first + i}: a corrupted file (flipped bits?), not data",
            )


def scan_source(src: str | Path, chunk_check: bool = False, hash_files: bool = True) -> SourceScan:
    """Check a task folder in the original layout without reading its transitions (only ``step_num``;
    every value too with ``chunk_check``); raise :class:`LegacyH5Error` naming the file and group."""
    src = Path(src)
    if not src.is_dir():
        raise LegacyH5Error(f"{src}: not a directory (expected a task folder of *.h5 files and <folder name>.json)")
    meta_path, meta, obs_dim, act_dim = read_metadata(src)
    paths = sorted(p for p in src.iterdir() if p.name.endswith(".h5") and p.is_file())
    if not paths:
        raise LegacyH5Error(f"{src}: no *.h5 files")
    scan = SourceScan(src, meta_path, meta, obs_dim, act_dim)
    for p in paths:
        ref = (
            (scan.files[0].demo_key, f"{scan.files[0].name} group '{scan.files[0].chunks[0].name}'")
            if scan.files
            else None
        )
        sf = _scan_file(p, obs_dim, act_dim, ref, chunk_check)
        if hash_files:
            sf.sha256 = file_sha256(p)
        scan.files.append(sf)
    return scan
