import pytest

import vintix_data
from vintix_data.format import FormatError


def test_load_local_folder_materialized_and_streaming(tiny_dataset):
    d = vintix_data.load(tiny_dataset)
    assert d.dataset.num_rows == 10000 and d.info.task == "industrial-benchmark-50-v1"
    assert len(d.stats["observation"]["mean"]) == 6 and d.stats["observation"]["count"] == 10000
    assert [p.name for p in d.shards] == ["train-00000-of-00001.parquet"]
    s = vintix_data.load(str(tiny_dataset), streaming=True)
    it = iter(s.dataset)
    first = [next(it) for _ in range(5)]
    del it  # close the generator before interpreter exit (pyarrow's reader thread aborts otherwise)
    assert [r["t"] for r in first] == [0, 1, 2, 3, 4] and first[0]["observation"] == d.dataset[0]["observation"]


def test_load_errors(tmp_path):
    with pytest.raises(FormatError, match="not a Hub dataset id"):
        vintix_data.load(tmp_path / "missing" / "deep")
    (tmp_path / "f").write_text("x")
    with pytest.raises(FormatError, match="is a file"):
        vintix_data.load(tmp_path / "f")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no meta/info.json"):
        vintix_data.load(tmp_path / "empty")
