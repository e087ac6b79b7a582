"""The original Vintix HDF5 layout's names and errors, shared by scan, import, export and reader (see ``legacy_h5``)."""

from __future__ import annotations

import re
from pathlib import Path

from vintix_data.format import FormatError

DEFAULT_CHUNK_ROWS = 10_000
H5_KEYS = ("proprio_observation", "action", "reward", "step_num")
DEMO_KEY = "demonstrator_action"
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
