import io
import zipfile

import numpy as np

from vintix_data.collect.parts import part_path, save_part
from vintix_data.format import EpisodeData


def _episode(rng, n: int, obs_dim: int, act_dim: int) -> EpisodeData:
    return EpisodeData(
        history=3,
        episode=12,
        t0=1750,
        reset_seed=4_000_000_011,
        observation=rng.random((n, obs_dim), np.float32),
        action=rng.random((n, act_dim), np.float32),
        demonstrator_action=rng.random((n, act_dim), np.float32),
        epsilon=rng.random(n).astype(np.float32),
        reward=rng.standard_normal(n).astype(np.float32),
        terminated=rng.random(n) > 0.5,
        truncated=rng.random(n) > 0.5,
        final_observation=rng.random(obs_dim).astype(np.float32),
    )


def test_a_hand_written_part_holds_what_np_savez_writes(tmp_path):
    """The collector writes parts without np.savez (its zip streaming costs ~1 ms an episode); the files must
    still be zips whose every member is byte for byte the .npy that np.savez writes, read by load_part."""
    rng = np.random.default_rng(0)
    for n, obs_dim, act_dim in [(250, 6, 3), (1, 39, 4), (0, 17, 6)]:
        ep = _episode(rng, n, obs_dim, act_dim)
        ours, numpys = part_path(tmp_path / "a", 3, 12), tmp_path / f"b{n}.npz"
        ours.parent.mkdir(parents=True, exist_ok=True)
        save_part(ep, ours)
        ep.save_part(numpys)
        assert sorted(p.name for p in ours.parent.iterdir()) == [ours.name]  # no temporary left behind
        with zipfile.ZipFile(ours) as a, zipfile.ZipFile(numpys) as b:
            assert a.testzip() is None and a.namelist() == b.namelist()
            assert all(a.read(name) == b.read(name) for name in a.namelist())
        back = EpisodeData.load_part(ours)
        assert (back.history, back.episode, back.t0, back.reset_seed) == (3, 12, 1750, 4_000_000_011)
        for field in (
            "observation",
            "action",
            "demonstrator_action",
            "epsilon",
            "reward",
            "terminated",
            "truncated",
            "final_observation",
        ):
            got, want = getattr(back, field), getattr(ep, field)
            assert got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()
        with np.load(ours) as z:  # np.load itself, as completed_episodes reads a part
            assert len(z["reward"]) == n


def test_a_part_from_strided_rows_is_stored_in_c_order(tmp_path):
    rng = np.random.default_rng(1)
    ep = _episode(rng, 40, 6, 3)
    wide = rng.random((40, 2, 6), np.float32)
    ep.observation = wide[:, 1]  # a column of a batch log: not contiguous
    save_part(ep, tmp_path / "p.npz")
    f = io.BytesIO()
    np.save(f, np.ascontiguousarray(wide[:, 1]))
    with zipfile.ZipFile(tmp_path / "p.npz") as z:
        assert z.read("observation.npy") == f.getvalue()
