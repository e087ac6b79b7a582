"""Training windows/s and bytes per transition: our dataset folder against the original Vintix HDF5 layout.

On the same transitions (a collected dataset folder, exported with ``vintix-data export-h5``), in one run:

* windows/s at each context (default 8192 and 1024), the same random windows on both sides, one process:
  - ours: ``vintix_model``'s window sampler (``vintix_model.data.arrays.prepare`` decodes the shards once into
    memory-mapped ``.npy`` arrays, ``vintix_model.data.sampler.WindowDataset`` slices a window out of them and
    normalizes it); if ``vintix_model.data.sampler`` cannot be imported, ``ArrowMmapWindows`` below (the parquet
    shards as memory-mapped Arrow through ``datasets``, a window a zero-copy slice of one history's rows) and
    the report says so;
  - baseline: ``vintix_data.legacy_h5.OriginalLayoutReader``, which does what the released loader does: open
    h5py handles, read every chunk group a window touches whole, stack, slice, cast.
  The first windows of both sides are compared (actions equal, observations equal after normalization), so
  both really read the same rows.
* bytes per transition: our parquet shards (as stored, and as the current shard writer writes the same rows),
  the HDF5 files, and a zip (deflate) of them.

Goal of issue 8: >= 5x the windows/s, <= 1.0x the bytes of the zip.

    python benchmarks/loader_vs_h5.py                       # collects IB p50 (zero demonstrator, 4 x 100,000) into --work once
    python benchmarks/loader_vs_h5.py --dataset DIR --work h5bench --contexts 8192 1024 --windows 400
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from vintix_data.format import DatasetInfo, fixed_list_to_numpy, iter_batches, row_schema, rows_per_shard, write_shards
from vintix_data.legacy_h5 import OriginalLayoutReader, export_h5

TASK = "industrial-benchmark-50-v1"


class ArrowMmapWindows:
    """Fallback for our side while ``vintix_model``'s sampler is unavailable: windows read the way a sampler
    would from the dataset folder itself: ``vintix_data.load`` (``datasets.load_dataset``: the parquet shards
    converted once into memory-mapped Arrow files), one history = one contiguous block of rows, a window =
    a zero-copy slice of ``context + 1`` rows, then one copy into float32 arrays."""

    name = "memory-mapped Arrow (datasets), fallback"

    def __init__(self, folder: Path, context: int):
        import vintix_data

        loaded = vintix_data.load(folder)
        self.table = loaded.dataset.data.table.select(["observation", "action", "reward", "step"])
        self.steps = loaded.info.steps_per_history
        self.context = context

    def window(self, history: int, start: int) -> dict[str, np.ndarray]:
        sl = self.table.slice(history * self.steps + start, self.context + 1)
        obs = fixed_list_to_numpy(sl.column("observation"))
        act = fixed_list_to_numpy(sl.column("action"))
        rew = sl.column("reward").combine_chunks().to_numpy()
        step = sl.column("step").combine_chunks().to_numpy()
        return {
            "obs": obs[1:],
            "prev_action": act[:-1],
            "prev_reward": rew[:-1],
            "first": step[1:] == 0,
            "target": act[1:],
        }


def dir_bytes(paths) -> int:
    return sum(p.stat().st_size for p in paths)


def collect_if_needed(dataset: Path | None, work: Path) -> Path:
    if dataset is not None:
        if not (dataset / "meta" / "manifest.json").exists():
            sys.exit(f"error: --dataset {dataset}: not a dataset folder (no meta/manifest.json)")
        return dataset
    out = work / "ib"  # reused by later runs with the same --work
    if not (out / "meta" / "manifest.json").exists():
        print(f"collecting {TASK} into {out} (4 histories x 100,000 steps) ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "vintix_data.cli",
                "collect",
                TASK,
                "--out",
                str(out),
                "--demonstrator",
                "zero",
                "--histories",
                "4",
                "--steps",
                "100000",
            ],
            check=True,
        )
    return out


def rewrite_with_current_writer(folder: Path, info: DatasetInfo, dst: Path) -> list[Path]:
    """The same rows through today's ``write_shards`` (the stored folder may predate its settings)."""
    if dst.exists():
        shutil.rmtree(dst)
    import pyarrow as pa

    schema = row_schema(info.obs_dim, info.act_dim)
    tables = (pa.Table.from_batches([b]).cast(schema) for b in iter_batches(folder))
    return write_shards(dst, tables, schema, info.total_steps, rows_per_shard(info.obs_dim, info.act_dim))


def bytes_report(folder: Path, info: DatasetInfo, h5_dir: Path, zip_path: Path, work: Path) -> dict:
    n = info.total_steps
    shards = sorted((folder / "data").glob("*.parquet"))
    current = rewrite_with_current_writer(folder, info, work / "parquet_current")
    h5 = sorted(h5_dir.iterdir())
    rows = {
        "parquet shards as stored": dir_bytes(shards),
        "parquet shards, current writer": dir_bytes(current),
        "HDF5 files (+ metadata JSON)": dir_bytes(h5),
        "zip of the HDF5 folder (deflate)": zip_path.stat().st_size,
    }
    meta = dir_bytes(p for p in (folder / "meta").iterdir() if p.is_file())
    zip_b = rows["zip of the HDF5 folder (deflate)"]
    return {
        "rows": n,
        "meta_bytes": meta,
        "per_transition": {k: v / n for k, v in rows.items()},
        "vs_zip": {k: v / zip_b for k, v in rows.items()},
        "row_groups_as_stored": sum(pq.ParquetFile(p).metadata.num_row_groups for p in shards),
        "row_groups_current": sum(pq.ParquetFile(p).metadata.num_row_groups for p in current),
    }


def our_side(folder: Path, context: int, work: Path, arrow: bool = False):
    """(name, get(window_index) -> sample, windows as (history, start), normalization, prepare seconds)."""
    t0 = time.perf_counter()
    try:
        if arrow:
            raise ImportError("--arrow given")
        from vintix_model.data.arrays import prepare
        from vintix_model.data.sampler import WindowDataset, WindowOrder, index_tasks
    except ImportError as e:
        print(f"not using vintix_model's sampler ({e}): ArrowMmapWindows", flush=True)
        reader = ArrowMmapWindows(folder, context)
        per = reader.steps - context
        starts = _Lazy(DatasetInfo.load(folder).histories * per, lambda i: divmod(i, per))
        return ArrowMmapWindows.name, lambda i: reader.window(*starts[i]), starts, None, time.perf_counter() - t0
    tasks = prepare([str(folder)], validate=False, cache=work / "arrays")
    windows = index_tasks(tasks, context, 1)
    order = WindowOrder([len(windows[0].starts)], seed=0, mixing="proportional")
    ds = WindowDataset(tasks, windows, order, context)
    history = np.load(tasks[0].arrays / "history.npy", mmap_mode="r")
    steps = DatasetInfo.load(folder).steps_per_history
    w = windows[0]

    def locate(i: int) -> tuple[int, int]:
        row = int(w.kept[w.starts[i]])
        h = int(history[row])
        return h, row - h * steps

    norm = (np.asarray(tasks[0].obs_mean, np.float32), np.asarray(tasks[0].obs_std, np.float32))
    return (
        "vintix_model.data.sampler.WindowDataset (npy memmaps)",
        ds.__getitem__,
        _Lazy(len(w.starts), locate),
        norm,
        time.perf_counter() - t0,
    )


class _Lazy:
    def __init__(self, n, fn):
        self.n, self.fn = n, fn

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.fn(i)


def timed(fn, items, seconds: float) -> tuple[int, float]:
    t0 = time.perf_counter()
    done = 0
    for it in items:
        fn(it)
        done += 1
        if time.perf_counter() - t0 > seconds:
            break
    return done, time.perf_counter() - t0


def windows_report(
    folder: Path, h5_dir: Path, context: int, n_windows: int, seconds: float, seed: int, work: Path, arrow: bool = False
) -> dict:
    name, get, starts, norm, prep_ours = our_side(folder, context, work, arrow)
    t0 = time.perf_counter()
    reader = OriginalLayoutReader(h5_dir, context)
    prep_h5 = time.perf_counter() - t0
    rng = np.random.default_rng([seed, context])
    ids = rng.integers(len(starts), size=n_windows)
    pairs = [starts[int(i)] for i in ids]
    # the same rows on both sides
    for i, (h, s) in zip(ids[:5], pairs[:5]):
        ours, base = get(int(i)), reader.window(h, s)
        assert np.array_equal(np.asarray(ours["prev_action"]), base["prev_action"]), "different windows"
        obs = (
            base["observation"] if norm is None else (base["observation"] - norm[0]) / np.where(norm[1] > 0, norm[1], 1)
        )
        assert np.allclose(np.asarray(ours["obs"], np.float64), obs, rtol=1e-4, atol=1e-4), "different observations"
    for i in ids[:10]:  # warm both (page cache, memmaps)
        get(int(i))
    for h, s in pairs[:10]:
        reader.window(h, s)
    n_ours, t_ours = timed(lambda i: get(int(i)), ids, seconds)
    n_h5, t_h5 = timed(lambda p: reader.window(*p), pairs, seconds)
    reader.close()
    ours_wps, h5_wps = n_ours / t_ours, n_h5 / t_h5
    return {
        "context": context,
        "ours": name,
        "ours_windows": n_ours,
        "ours_windows_per_s": ours_wps,
        "h5_windows": n_h5,
        "h5_windows_per_s": h5_wps,
        "speedup": ours_wps / h5_wps,
        "ours_transitions_per_s": ours_wps * (context + 1),
        "h5_transitions_per_s": h5_wps * (context + 1),
        "prepare_s_ours": prep_ours,
        "prepare_s_h5": prep_h5,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dataset",
        type=Path,
        default=None,
        help="A dataset folder (default: collect IB p50, 4 x 100,000 steps, into --work once, then reuse it).",
    )
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "h5bench")
    ap.add_argument("--contexts", type=int, nargs="+", default=[8192, 1024])
    ap.add_argument("--windows", type=int, default=400, help="Random windows per side and context.")
    ap.add_argument("--seconds", type=float, default=30.0, help="Time cap per side and context.")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--arrow",
        action="store_true",
        help="Our side from memory-mapped Arrow (ArrowMmapWindows) instead of vintix_model's sampler.",
    )
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("VINTIX_CACHE", str(work / "cache"))
    folder = collect_if_needed(args.dataset, work)
    info = DatasetInfo.load(folder)
    h5_dir = work / "h5" / folder.name
    if not (h5_dir / f"{h5_dir.name}.json").exists():
        shutil.rmtree(h5_dir, ignore_errors=True)
        t0 = time.perf_counter()
        export_h5(folder, h5_dir)
        print(f"exported {folder} -> {h5_dir} in {time.perf_counter() - t0:.1f} s", flush=True)
    zip_path = work / f"{folder.name}-h5.zip"
    if not zip_path.exists():
        tmp = zip_path.with_suffix(".zip.tmp")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for p in sorted(h5_dir.iterdir()):
                z.write(p, arcname=f"{h5_dir.name}/{p.name}")
        os.replace(tmp, zip_path)

    print(
        f"dataset {folder}: {info.task}, {info.histories} histories x {info.steps_per_history:,} = {info.total_steps:,} "
        f"transitions; HDF5 export {h5_dir}",
        flush=True,
    )
    sizes = bytes_report(folder, info, h5_dir, zip_path, work)
    print("\nbytes per transition")
    for k, v in sizes["per_transition"].items():
        print(f"  {k:<36} {v:7.2f} B   {sizes['vs_zip'][k]:5.2f}x the zip")
    print(
        f"  (row groups: {sizes['row_groups_as_stored']} as stored, {sizes['row_groups_current']} with the current writer; "
        f"meta/ adds {sizes['meta_bytes'] / sizes['rows']:.2f} B per transition)"
    )

    results = []
    print("\ntraining windows per second (one process, same random windows on both sides)")
    for ctx in args.contexts:
        r = windows_report(folder, h5_dir, ctx, args.windows, args.seconds, args.seed, work, args.arrow)
        results.append(r)
        print(
            f"  context {ctx:>5}: ours {r['ours_windows_per_s']:9.1f}/s ({r['ours_windows']} windows)   "
            f"HDF5 {r['h5_windows_per_s']:8.1f}/s ({r['h5_windows']} windows)   {r['speedup']:6.1f}x   "
            f"[ours: {r['ours']}; prepare {r['prepare_s_ours']:.1f} s vs {r['prepare_s_h5']:.2f} s]",
            flush=True,
        )
    out = work / "loader_vs_h5.json"
    out.write_text(
        json.dumps({"dataset": str(folder), "bytes": sizes, "windows": results}, indent=2, allow_nan=False) + "\n"
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
