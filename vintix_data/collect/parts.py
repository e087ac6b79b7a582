"""Episode parts: every completed episode saved at once (atomically) under ``DIR/.vintix/parts``, and the seeded
noise each episode draws (DESIGN §2), so ``--resume`` restarts each history at its first missing episode."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from vintix_data.format import STATE_DIR, EpisodeData


def episode_seed(seed: int, history: int, episode: int) -> int:
    return int(np.random.SeedSequence((seed, history, episode)).generate_state(1)[0])


def episode_noise(seed: int, history: int, episode: int, low: np.ndarray, high: np.ndarray, length: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, history, episode), spawn_key=(1,))))
    return rng.uniform(low, high, size=(length,) + low.shape)


def episode_behaviour(seed: int, history: int, episode: int) -> np.random.Generator:
    """The generator of an episode's goal-blind behaviour draws (random or decoy, the decoy goal; docs/design.md §3)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence((seed, history, episode), spawn_key=(5,))))


def replay_transitions(out: Path, history: int, episodes: int):
    """(next observation, reward) of each saved transition of ``history``'s first ``episodes`` episodes, in order, as
    stored (float32): what a stateful behaviour (``--behaviour learner``) saw, replayed to rebuild it on ``--resume``."""
    for e in range(episodes):
        with np.load(part_path(out, history, e)) as z:
            obs, final, reward = z["observation"], z["final_observation"], z["reward"]
        following = np.concatenate([obs[1:], final[None]])
        yield from zip(following, reward)


def part_path(out: Path, history: int, episode: int) -> Path:
    return out / f"{STATE_DIR}/parts/h{history:05d}/e{episode:07d}.npz"  # one join: pathlib's cost a join


def save_part(ep: EpisodeData, path: Path) -> None:
    """What ``ep.save_part(path)`` saves (an uncompressed ``.npz`` that ``np.load`` and ``EpisodeData.load_part``
    read), atomically (temporary name, then ``os.replace``), assembled in memory instead of by ``np.savez``.

    Why: zipfile's streaming writer and NumPy's header code cost about 1 ms per part, a few percent of a cheap
    env's collection (an Industrial Benchmark episode is 250 steps of ~60 us). Parts are the collector's own
    intermediate files; the dataset's bytes come from the arrays, which are the same.
    """
    arrays = {
        "observation": ep.observation,
        "action": ep.action,
        "reward": ep.reward,
        "terminated": ep.terminated,
        "truncated": ep.truncated,
        "final_observation": ep.final_observation,
    }
    if ep.demonstrator_action is not None:
        arrays["demonstrator_action"] = ep.demonstrator_action
    if ep.epsilon is not None:
        arrays["epsilon"] = ep.epsilon
    arrays["ids"] = np.array([ep.history, ep.episode, ep.t0, ep.reset_seed], np.int64)
    blobs = [(f"{name}.npy".encode(), _npy_bytes(a)) for name, a in arrays.items()]
    if sum(len(b) + 2 * len(n) + 76 for n, b in blobs) + 22 >= 2**32:  # past plain zip's 4 GiB: zipfile's ZIP64
        ep.save_part(path)
        return
    local, central, offset = [], [], 0
    for name, blob in blobs:
        crc, size = zlib.crc32(blob), len(blob)
        # version 2.0, no flags, stored, 1980-01-01 00:00 (NumPy's own parts carry the wall clock; nothing reads it)
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0x21, crc, size, size, len(name), 0) + name
        central.append(
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                20,
                20,
                0,
                0,
                0,
                0x21,
                crc,
                size,
                size,
                len(name),
                0,
                0,
                0,
                0,
                0o600 << 16,
                offset,
            )
            + name
        )
        local += [header, blob]
        offset += len(header) + size
    directory = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(blobs), len(blobs), len(directory), offset, 0)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(b"".join(local) + directory + end)
    os.replace(tmp, path)


def _npy_bytes(a: np.ndarray) -> bytes:
    """``np.save``'s bytes for a plain (non-object) array: format 1.0, header padded to 64 bytes."""
    a = np.asarray(a)
    # NumPy's own header template (numpy/lib/format.py), kept as NumPy writes it: these bytes must match np.save's
    header = "{'descr': %r, 'fortran_order': False, 'shape': %r, }" % (np.lib.format.dtype_to_descr(a.dtype), a.shape)  # noqa: UP031
    header += " " * (-(10 + len(header) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + a.tobytes(order="C")


def completed_episodes(out: Path, history: int) -> tuple[int, int]:
    """(episodes, transitions) already saved for a history: the contiguous run of parts from 0."""
    k, t = 0, 0
    while True:
        p = part_path(out, history, k)
        if not p.exists():
            return k, t
        with np.load(p) as z:
            t += len(z["reward"])
        k += 1
