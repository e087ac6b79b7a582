"""The release report: ``report.md`` (a table per task beside the paper's figures, and the totals), ``report.json``
(the same rows) and ``report.png``. Written at the end of every driver run, so an interrupted release has one too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from vintix_data.format import DatasetInfo, FormatError, atomic_write_text
from vintix_data.registry import TaskSpec, all_tasks
from vintix_data.release.units import dataset_dir

PAPER_STATED_TRANSITIONS = 222.7e6  # the paper's text; the sum of its task table (paper_tasks.csv) is larger


def _row(root: Path, spec: TaskSpec, t: dict) -> dict:
    info = None
    if t.get("valid") is not None:  # finalized (valid or not): its info.json says what was made
        try:
            info = DatasetInfo.load(dataset_dir(root, spec.id))
        except FormatError:
            info = None
    gate = t.get("gate", {})
    tried = gate.get("tried", [])
    histories, steps = t.get("histories"), t.get("steps")
    return {
        "task": spec.id,
        "domain": spec.domain,
        "split": spec.split,
        "status": t.get("stage", "pending"),
        "error": t.get("error"),
        "histories": histories,
        "steps_per_history": steps,
        "transitions": info.total_steps if info else None,
        "paper_histories": spec.num_histories,
        "paper_steps_per_history": spec.history_steps,
        "paper_transitions": spec.num_histories * spec.history_steps,
        "episodes": info.episodes if info else None,
        "demonstrator": t.get("spec"),
        "demonstrator_source": t.get("demonstrator_source"),
        "demonstrator_return": info.demonstrator.get("measured_mean_return") if info else None,
        "normalized_score": info.demonstrator.get("normalized_score_paper") if info else None,
        "gate": None if not tried else ("pass" if gate.get("passed") else "FAIL"),
        "episode_limit": tried[-1]["episode_limit"] if tried else None,
        "valid": t.get("valid"),
        "wall_s": t.get("wall_s"),
    }


def _fmt(x, spec="") -> str:
    return "-" if x is None else format(x, spec)


def write_report(root: Path, specs: list[TaskSpec], state) -> list[dict]:
    root = Path(root)
    rows = [_row(root, s, state.task(s.id)) for s in specs]
    runs = state.manifest.get("runs", [])
    ours = sum(r["transitions"] or 0 for r in rows)
    paper_sel = sum(r["paper_transitions"] for r in rows)
    paper_all = sum(t.num_histories * t.history_steps for t in all_tasks())
    done = [r for r in rows if r["status"] == "done"]
    lines = [
        f"# Release report: {' '.join(state.manifest['selection'])}",
        "",
        f"{len(done)} of {len(rows)} tasks done and valid; {ours:,} transitions "
        f"(the paper's table: {paper_sel:,} for these tasks; {paper_all:,} for all of its {len(all_tasks())} tasks; "
        f"its text states {PAPER_STATED_TRANSITIONS / 1e6:.1f}M).",
        "",
        f"Driver runs: {len(runs)} (resumed {max(0, len(runs) - 1)} times); wall time "
        f"{sum(r.get('wall_s') or 0 for r in runs) / 3600:.2f} h in all; task time (sum of unit times) "
        f"{sum(r['wall_s'] or 0 for r in rows) / 3600:.2f} h.",
        "",
        "| task | status | histories x steps (ours / paper) | transitions (ours / paper) | episodes | demonstrator | "
        "demonstrator return | normalized (paper) | gate (episode limit) | validate | task time (s) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        hs = f"{_fmt(r['histories'])} x {_fmt(r['steps_per_history'], ',')} / {r['paper_histories']} x {r['paper_steps_per_history']:,}"
        tr = f"{_fmt(r['transitions'], ',')} / {r['paper_transitions']:,}"
        valid = "-" if r["valid"] is None else ("valid" if r["valid"] else "INVALID")
        status = r["status"] if not r["error"] else f"{r['status']}: {r['error']}"
        lines.append(
            f"| {r['task']} | {status.replace('|', '/')} | {hs} | {tr} | {_fmt(r['episodes'], ',')} | "
            f"{r['demonstrator_source'] or '-'} | {_fmt(r['demonstrator_return'], '.1f')} | "
            f"{_fmt(r['normalized_score'], '.3f')} | {r['gate'] or '-'} ({_fmt(r['episode_limit'])}) | {valid} | "
            f"{_fmt(r['wall_s'], '.0f')} |"
        )
    lines += [
        "",
        f"| total | {len(done)}/{len(rows)} done | | {ours:,} / {paper_sel:,} | "
        f"{sum(r['episodes'] or 0 for r in rows):,} | | | | | | {sum(r['wall_s'] or 0 for r in rows):.0f} |",
        "",
        "![release](report.png)",
        "",
    ]
    atomic_write_text(root / "report.md", "\n".join(lines))
    atomic_write_text(
        root / "report.json",
        json.dumps(
            {
                "rows": rows,
                "runs": runs,
                "transitions": ours,
                "paper_transitions_selected": paper_sel,
                "paper_transitions_table": paper_all,
            },
            indent=2,
        )
        + "\n",
    )
    _plot(root / "report.png", rows)
    return rows


def _plot(path: Path, rows: list[dict]) -> None:
    names = [r["task"] for r in rows]
    x = np.arange(len(rows))
    fig = Figure(figsize=(max(8, 0.35 * len(rows) + 3), 7), dpi=100, layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.bar(x - 0.2, [r["paper_transitions"] / 1e6 for r in rows], 0.4, label="paper", color="0.7")
    ax1.bar(x + 0.2, [(r["transitions"] or 0) / 1e6 for r in rows], 0.4, label="this release", color="C0")
    ax1.set_ylabel("transitions (M)")
    ax1.legend()
    ax2.bar(x, [r["normalized_score"] if r["normalized_score"] is not None else np.nan for r in rows], color="C2")
    ax2.axhline(1.0, color="k", lw=0.8, ls="--", label="the paper's expert")
    ax2.set_ylabel("demonstrator, normalized")
    ax2.legend()
    ax2.set_xticks(x, names, rotation=90, fontsize=7)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)
