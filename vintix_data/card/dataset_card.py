"""The dataset card (``README.md``): the Hub's YAML header plus a body that lets a reader trust and
reproduce the data without opening ``meta/info.json``.

The YAML's ``configs`` points ``load_dataset`` at ``data/train-*.parquet`` only; without it the Hub
would also try to read ``meta/episodes.parquet`` as data and fail on the schema mismatch.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from huggingface_hub import DatasetCard, DatasetCardData

from vintix_data.card.plots import PLOT_PATH, VIDEO_PATH
from vintix_data.format import DATA_DIR, META_DIR, DatasetInfo, atomic_write_text
from vintix_data.tenths import cut_final, tenth_masks

TEMPLATE = "dataset_card.md"
SIZE_BINS = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
    (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"),
)


def template_path() -> Path:
    return card_template(TEMPLATE)


def card_template(name: str) -> Path:
    """A card template: the top-level ``cards/`` folder, shipped as the package resource ``vintix_data.cards``.

    Why not the resource alone: that name exists only through the install's package mapping. Code run from a
    source tree on ``sys.path`` (``PYTHONPATH=checkout``, a Ray job's ``working_dir`` on nodes without the
    package) has no such module, or the installed checkout's templates instead of its own. A source tree's
    ``cards/`` beside ``vintix_data/`` is the right file there; an installed wheel has none and uses the resource.
    """
    beside = Path(__file__).resolve().parents[2] / "cards" / name
    if beside.is_file():
        return beside
    return Path(str(resources.files("vintix_data.cards") / name))


def size_category(rows: int) -> str:
    for bound, name in SIZE_BINS:
        if rows < bound:
            return name
    return "n>10B"


def decile_means(folder: Path, info: DatasetInfo) -> tuple[float | None, float | None, bool]:
    """Mean return of the episodes that start in the first and in the last tenth of each history's *steps*
    (pooled over histories; the rule ``validate`` checks, :func:`vintix_data.tenths.tenth_masks`), and whether a
    final episode cut short by the history's end was left out anywhere."""
    t = pq.read_table(Path(folder) / META_DIR / "episodes.parquet", columns=["history", "episode", "length", "return"])
    cols = {c: t.column(c).to_numpy(zero_copy_only=False) for c in t.column_names}
    first, last, cut = [], [], False
    for h in np.unique(cols["history"]):
        idx = np.flatnonzero(cols["history"] == h)
        idx = idx[np.argsort(cols["episode"][idx], kind="stable")]
        lengths, returns = cols["length"][idx].astype(np.int64), cols["return"][idx].astype(np.float64)
        m_first, m_last = tenth_masks(lengths, info.steps_per_history, info.episode_limit)
        first.append(returns[m_first])
        last.append(returns[m_last])
        cut = cut or bool((cut_final(lengths, info.steps_per_history, info.episode_limit) & ~m_last).any())
    if not first:
        return None, None, False
    return float(np.mean(np.concatenate(first))), float(np.mean(np.concatenate(last))), cut


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{digits}g}" if abs(x) < 1e5 else f"{x:,.0f}"


def _pm(mean, std) -> str:
    return "—" if mean is None else _fmt(mean) + (f" ± {_fmt(std)}" if std is not None else "")


def _files(folder: Path, info: DatasetInfo) -> list[tuple[str, str]]:
    shards = sorted(p.relative_to(folder).as_posix() for p in (folder / DATA_DIR).glob("train-*.parquet"))
    if len(shards) > 4:
        shards = [shards[0], f"... ({len(shards)} shards)", shards[-1]]
    elif not shards:
        shards = [f"{DATA_DIR}/train-XXXXX-of-{info.num_shards:05d}.parquet"]
    return (
        [("README.md", "this card")]
        + [(s, "transitions, sorted by (history, t)") for s in shards]
        + [
            (
                f"{META_DIR}/info.json",
                "task, environment, spaces, schedule, demonstrator, reference scores, provenance",
            ),
            (f"{META_DIR}/stats.json", "per feature mean, std, min, max, count"),
            (
                f"{META_DIR}/episodes.parquet",
                "one row per episode: history, episode, first row, length, return, "
                "mean ε, terminated/truncated, final observation, reset seed",
            ),
            (f"{META_DIR}/manifest.json", "sha256, size and rows of every file above, and the data fingerprint"),
            (PLOT_PATH, "the learning curve above"),
        ]
        + (
            [(VIDEO_PATH, "history 0's first, middle and last episodes, replayed")]
            if (folder / VIDEO_PATH).is_file()
            else []
        )
    )


def write_card(folder: Path, info: DatasetInfo, repo_id: str | None = None, fingerprint: str | None = None) -> Path:
    """``fingerprint``: the data fingerprint of the folder's data files, when the caller has hashed them already."""
    from vintix_data.manifest import folder_fingerprint

    folder = Path(folder)
    fingerprint = fingerprint or folder_fingerprint(folder)
    repo_id = repo_id or f"<org>/{info.name}"
    refs = info.reference_scores
    normalized = info.demonstrator.get("normalized_score_paper")
    if (
        normalized is None
        and info.demonstrator.get("paper_comparable", True)
        and None not in (refs.demonstrator_mean, refs.paper_random_mean, refs.paper_expert_mean)
        and refs.paper_expert_mean != refs.paper_random_mean
    ):
        normalized = (refs.demonstrator_mean - refs.paper_random_mean) / (
            refs.paper_expert_mean - refs.paper_random_mean
        )
    first, last, cut = decile_means(folder, info)
    card_data = DatasetCardData(
        license=info.extra.get("license") or "apache-2.0",
        task_categories=["reinforcement-learning"],
        tags=["vintix", "in-context-reinforcement-learning", "algorithm-distillation", info.domain, info.task]
        + (["latent-task"] if info.hidden_observation else []),
        pretty_name=f"Vintix learning histories: {info.task}"
        + (f" ({', '.join(info.hidden_observation['components'])} hidden)" if info.hidden_observation else ""),
        size_categories=[size_category(info.total_steps)],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": f"{DATA_DIR}/train-*.parquet"}]}],
    )
    card = DatasetCard.from_template(
        card_data,
        template_path=str(template_path()),
        info=info,
        repo_id=repo_id,
        refs=refs,
        demo=info.demonstrator,
        schedule=info.schedule,
        prov=info.provenance or {},
        env_kwargs_json=json.dumps(info.env_kwargs, sort_keys=True),
        normalized=normalized,
        first_decile=first,
        last_decile=last,
        cut_episodes=cut,
        plot_path=PLOT_PATH,
        video_path=VIDEO_PATH if (folder / VIDEO_PATH).is_file() else None,
        hidden=info.hidden_observation,
        env_options=info.extra.get("env_options") or {},
        behaviour=info.extra.get("behaviour"),
        source_files=info.extra.get("source_files") or [],
        files=_files(folder, info),
        fmt=_fmt,
        pm=_pm,
        fingerprint=fingerprint,
    )
    path = folder / "README.md"
    atomic_write_text(path, str(card))
    return path
