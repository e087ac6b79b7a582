"""The original Vintix HDF5 layout's names and errors, shared by scan, import, export and reader (see ``legacy_h5``)."""

from __future__ import annotations

import re
from pathlib import Path

from vintix_data.format import FormatError

DEFAULT_CHUNK_ROWS = 10_000
H5_KEYS = ("proprio_observation", "action", "reward", "step_num")
DEMO_KEY = "demonstrator_action"
# the demonstrator's actions under the names writers have used: ours (and Vintix I tooling), then the two that Vintix
# II's loaders read ("demonstrator_actions" in FoundationMapDataset, either in FoundationRandomMapDataset)
DEMO_KEYS = (DEMO_KEY, "demonstrator_actions", "expert_action")
FLAVORS = {"vintix-i": DEMO_KEY, "vintix-ii": "demonstrator_actions"}  # export-h5 --flavor -> the key it writes
GROUP_NAME = re.compile(r"^(\d+)-(\d+)$")


class LegacyH5Error(FormatError):
    """Input in the original layout that cannot be imported, or a folder that cannot be exported (one line)."""


class ImportNotValid(FormatError):
    """The import was written but does not validate; it is left unpublished in ``staging``."""

    def __init__(self, errors: list[str], staging: Path):
        super().__init__(f"the imported dataset does not validate; left unpublished in {staging}")
        self.errors, self.staging = errors, staging


def h5py_module():
    try:
        import h5py
    except ImportError:
        raise LegacyH5Error("reading or writing the original HDF5 layout needs h5py: pip install h5py") from None
    return h5py
