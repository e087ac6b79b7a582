"""The release index: one parquet table per organization, ``ORG/vintix-index``, that maps every task to the repo and
commit holding its dataset (docs/design.md §5).

Once a release has many repos nobody should need to know their names: a suite (``load_suite``, ``vintix-model
train --datasets suite:ORG/SELECTION``) reads this table and loads each dataset at the *commit* it lists, so a
suite read at an index revision always gives the same bytes, whatever is pushed to the dataset repos later. The
same table is what ``datasets.load_dataset("ORG/vintix-index")`` shows, so the columns are plain scalars.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from vintix_data.format import DatasetInfo, atomic_write_text, file_sha256
from vintix_data.manifest import folder_fingerprint, recorded_fingerprint

INDEX_NAME = "vintix-index"
INDEX_FILE = "data/index.parquet"
RELEASE_FILE = "release.json"


def index_repo(org: str) -> str:
    return f"{org}/{INDEX_NAME}"


def dataset_repo(org: str, task: str) -> str:
    return f"{org}/vintix-{task}"


@dataclass(frozen=True)
class IndexEntry:
    """One row of the index: what a task's dataset is and the exact commit that holds it."""

    task: str
    domain: str
    split: str
    obs_dim: int
    act_dim: int
    histories: int
    steps_per_history: int
    total_steps: int
    episodes: int
    demonstrator_kind: str | None
    demonstrator_id: str | None
    demonstrator_score: float | None  # the demonstrator's measured mean return (meta/info.json)
    normalized_score: float | None  # that return normalized with the paper's random and expert scores
    repo_id: str
    commit: str
    tag: str | None
    manifest_sha256: str  # identifies the published folder (its card and info.json record dates, command lines)
    data_fingerprint: str | None = None  # identifies the data: equal data <=> equal fingerprint (None: older indexes)

    @classmethod
    def of(cls, folder: Path, repo_id: str, commit: str, tag: str | None) -> IndexEntry:
        info = DatasetInfo.load(folder)
        demo = info.demonstrator or {}
        score = demo.get("measured_mean_return", info.reference_scores.demonstrator_mean)
        norm = demo.get("normalized_score_paper")
        return cls(
            task=info.task,
            domain=info.domain,
            split=info.split,
            obs_dim=info.obs_dim,
            act_dim=info.act_dim,
            histories=info.histories,
            steps_per_history=info.steps_per_history,
            total_steps=info.total_steps,
            episodes=info.episodes,
            demonstrator_kind=demo.get("kind"),
            demonstrator_id=demo.get("id"),
            demonstrator_score=None if score is None else float(score),
            normalized_score=None if norm is None else float(norm),
            repo_id=repo_id,
            commit=commit,
            tag=tag,
            manifest_sha256=file_sha256(Path(folder) / "meta" / "manifest.json"),
            data_fingerprint=recorded_fingerprint(folder) or folder_fingerprint(folder),
        )


def _schema():
    import pyarrow as pa

    types = {int: pa.int64(), str: pa.string(), float: pa.float64()}
    fields = []
    for f in dataclasses.fields(IndexEntry):
        base = {"int": int, "str": str, "float": float}[f.type.split(" ")[0]]
        fields.append(pa.field(f.name, types[base], nullable="None" in f.type))
    return pa.schema(fields)


def write_index(entries: list[IndexEntry], path: Path) -> None:
    """The table as parquet, written atomically; the same entries always give the same bytes (a re-push of an
    unchanged release makes no index commit)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    table = pa.Table.from_pylist([dataclasses.asdict(e) for e in entries], schema=schema)
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp, compression="zstd")
    tmp.replace(path)


def read_index(path: Path) -> list[IndexEntry]:
    import pyarrow.parquet as pq

    names = {f.name for f in dataclasses.fields(IndexEntry)}
    rows = pq.read_table(path).to_pylist()
    return [IndexEntry(**{k: v for k, v in r.items() if k in names}) for r in rows]


def order_entries(entries: list[IndexEntry]) -> list[IndexEntry]:
    """Registry order (the order of a selection), then any task the registry does not know, by name."""
    from vintix_data.registry import all_tasks

    rank = {t.id: i for i, t in enumerate(all_tasks())}
    return sorted(entries, key=lambda e: (rank.get(e.task, len(rank)), e.task))


def _num(x: float | None, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


def index_card(org: str, entries: list[IndexEntry], release: dict) -> str:
    """README.md of the index repo: YAML that points ``load_dataset`` at the table, and the table as markdown."""
    total = sum(e.total_steps for e in entries)
    lines = [
        "---",
        "license: apache-2.0",
        f"pretty_name: Vintix datasets of {org} (index)",
        "tags:",
        "- reinforcement-learning",
        "- in-context-learning",
        "- vintix",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {INDEX_FILE}",
        "---",
        "",
        f"# Vintix datasets of {org}: the index",
        "",
        f"{len(entries)} tasks, {total:,} transitions. Each row names the dataset repo of one task and the commit "
        "that holds it; a suite loads every dataset at that commit:",
        "",
        "```python",
        "import vintix_data",
        f'suite = vintix_data.load_suite("{org}", "ib")      # any selection: a task id, a domain, ml45-train, paper, ...',
        f'index = datasets.load_dataset("{org}/{INDEX_NAME}", split="train")  # this table',
        "```",
        "",
        f"Train on a suite with `vintix-model train --datasets suite:{org}/ib`. The release this index was last pushed "
        f"from selected `{' '.join(release.get('selection') or [])}`; its settings are in `{RELEASE_FILE}`. The column "
        "`data_fingerprint` identifies each dataset's data (equal data <=> equal fingerprint; the card shows its first "
        "16 digits), `manifest_sha256` the published folder.",
        "",
        "| task | domain | split | obs/act | histories x steps | episodes | demonstrator | score | normalized | repo | commit | tag "
        "| data fingerprint |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(
            f"| {e.task} | {e.domain} | {e.split} | {e.obs_dim}/{e.act_dim} | {e.histories} x {e.steps_per_history:,} "
            f"| {e.episodes:,} | {e.demonstrator_kind or 'n/a'} | {_num(e.demonstrator_score, '.1f')} "
            f"| {_num(e.normalized_score, '.3f')} | [{e.repo_id}](https://huggingface.co/datasets/{e.repo_id}) "
            f"| `{e.commit[:8]}` | {e.tag or ''} | {f'`{e.data_fingerprint[:16]}`' if e.data_fingerprint else 'n/a'} |"
        )
    return "\n".join(lines) + "\n"


def write_index_folder(folder: Path, org: str, entries: list[IndexEntry], release: dict) -> None:
    """What the index repo holds: the table, its card and the release manifest the last push came from."""
    write_index(entries, folder / INDEX_FILE)
    atomic_write_text(folder / "README.md", index_card(org, entries, release))
    atomic_write_text(folder / RELEASE_FILE, json.dumps(release, indent=2, sort_keys=True, allow_nan=False) + "\n")
