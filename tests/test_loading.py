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


def test_an_abandoned_streaming_iterator_lets_the_interpreter_exit_cleanly(tiny_dataset):
    """Iterating ``rows`` half-way and walking away: the iterator is closed while the interpreter is still whole (at
    exit), so no "Exception ignored" traceback and exit status 0 (an iterator left to teardown can abort it)."""
    import subprocess
    import sys

    code = (
        "import vintix_data; d = vintix_data.load(%r, streaming=True); row = next(iter(d.rows)); "
        "assert row['t'] == 0 and set(row) >= {'observation', 'action', 'reward'}" % str(tiny_dataset)
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]


def test_loaded_dataset_closes_its_iterators(tiny_dataset):
    with vintix_data.load(tiny_dataset, streaming=True) as d:
        it = iter(d)
        assert next(it)["history"] == 0
    with pytest.raises(StopIteration):  # closed on leaving the block
        next(it)
