"""vintix_model's array cache is keyed by the manifest's sha256; it is used only while the shards still match that
manifest (issue 17, item 1): a shard edited without its manifest must not train on the old cached arrays."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from vintix_model.data.arrays import DataError, prepare


def test_the_cache_is_used_only_for_shards_that_match_their_manifest(tiny_dataset, tmp_path):
    folder = tmp_path / "ds"
    shutil.copytree(tiny_dataset, folder, ignore=shutil.ignore_patterns(".vintix"))
    cache = tmp_path / "cache"
    [task] = prepare([str(folder)], validate=False, cache=cache)
    arrays = task.arrays
    reward = np.load(arrays / "reward.npy")
    marks = list((cache / ".verified").glob("*.json"))
    assert len(marks) == 1  # the shards were hashed once against the manifest ...
    [again] = prepare([str(folder)], validate=False, cache=cache)
    assert again.arrays == arrays and list((cache / ".verified").glob("*.json")) == marks  # ... and reused as is

    shard = next((folder / "data").glob("*.parquet"))
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one bit of a data page: same size, manifest untouched
    shard.write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"data/train-00000-of-00001.parquet does not match its manifest"):
        prepare([str(folder)], validate=False, cache=cache)
    with pytest.raises(DataError, match="fails validation"):
        prepare([str(folder)], validate=True, cache=cache)
    np.testing.assert_array_equal(np.load(arrays / "reward.npy"), reward)  # the cached arrays were left alone
