"""Import and export of the original Vintix release layout (HDF5), streaming, never a whole task in memory.

The original layout (Vintix I, and Vintix II which adds the demonstrator's actions, as ``demonstrator_actions`` or
``expert_action``; ours writes ``demonstrator_action``): a task folder holds one
``*.h5`` file per learning history (in file-name order) and one metadata JSON named ``<folder name>.json``
with at least ``task_name``, ``observation_shape: {"proprio": [obs_dim]}``, ``action_dim`` and
``action_type: "continuous"``. A file holds only groups, one per chunk of consecutive transitions (10,000 by
default; the last may be shorter), named ``"<first>-<last>"`` with ``last`` the inclusive index of the
chunk's last row. Each group has ``proprio_observation`` float32 (n, obs_dim), ``action`` float32
(n, act_dim), ``reward`` float32 (n,), ``step_num`` int32 (n,) and, in Vintix II, the demonstrator's actions
float32 (n, act_dim) under one of those names; any other dataset is refused by name, never dropped. Episodes are
delimited only by ``step_num == 0``; there are no done flags, no final observation, no epsilon.

Import (``vintix-data import-h5``) checks every group of every file first (names, row ranges, shapes,
dtypes, step numbers; with ``chunk_check`` also every value), then writes the dataset folder of docs/design.md §5
into a hidden sibling folder and renames it to ``--out`` only once it is complete and validates, so a
failed import never leaves a folder that looks complete. The end flags are reconstructed:

* a row is an episode's last when the next row of its file has ``step_num == 0`` or it is the file's last row;
* the file's last episode was cut by the history's end (the original writer stops mid-episode): ``truncated``;
* any other episode is ``truncated`` when its length reaches the episode limit, else ``terminated``.

The episode limit is the task registry's (``--episode-limit`` overrides it). For Bi-DexHands the registry only
has the paper's *mean* episode length, so the limit becomes the longest episode found in the data when
that is longer; any other task with an episode longer than its limit is refused (wrong ``--task``?).

Export (``vintix-data export-h5``) writes the same layout back: groups ``"<first>-<last>"`` of
``chunk_rows`` rows, float32/int32 datasets without filters, Vintix II's ``demonstrator_action`` when the
dataset has it. A dataset that was itself imported is exported under its original file names, chunk size
and metadata JSON.
"""

# The code is split by concern; this package keeps the public import path ``vintix_data.legacy_h5``:
#   layout  names, errors and the lazy h5py import shared by all of them
#   scan    reading and checking a task folder in the original layout
#   importer  import_h5 (and how tasks, spaces, episode limits and end flags are reconstructed)
#   export  export_h5
#   staging staging folders renamed to --out only once complete
#   reader  OriginalLayoutReader, the released loader's access pattern

from vintix_data.legacy_h5.export import export_h5
from vintix_data.legacy_h5.importer import import_h5, resolve_task
from vintix_data.legacy_h5.layout import (
    DEFAULT_CHUNK_ROWS,
    DEMO_KEY,
    DEMO_KEYS,
    FLAVORS,
    GROUP_NAME,
    H5_KEYS,
    ImportNotValid,
    LegacyH5Error,
)
from vintix_data.legacy_h5.reader import OriginalLayoutReader
from vintix_data.legacy_h5.scan import Chunk, SourceFile, SourceScan, read_metadata, scan_source

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "DEMO_KEY",
    "DEMO_KEYS",
    "FLAVORS",
    "GROUP_NAME",
    "H5_KEYS",
    "Chunk",
    "ImportNotValid",
    "LegacyH5Error",
    "OriginalLayoutReader",
    "SourceFile",
    "SourceScan",
    "export_h5",
    "import_h5",
    "read_metadata",
    "resolve_task",
    "scan_source",
]
