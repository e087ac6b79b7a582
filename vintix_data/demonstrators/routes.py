"""Where each task's demonstrator comes from (``vintix-data demonstrator list``), and its recorded gate result.

Per task: the route (``installed`` in the cache, the ``catalogue``'s public expert, ``scripted``, ``trained by the
release``, or ``none``), the spec it resolves to, the env version it runs, the catalogue's facts, and the last gate
result ``demonstrator eval`` recorded for exactly that demonstrator (``<cache>/<task>.gate.json``, keyed by spec and,
for an installed zip, its sha256; vintix_data.domains.base.gate_record_path).
"""

from __future__ import annotations

from vintix_data.catalogue import public_expert
from vintix_data.errors import UserError
from vintix_data.format import file_sha256
from vintix_data.registry import list_tasks


def gate_record_for(task) -> dict | None:
    """The recorded gate result of the task's default demonstrator, where one was recorded for those very bytes."""
    from vintix_data.domains import read_gate_record, resolve

    t = resolve(task)
    route, spec = t.demonstrator_route()
    sha = file_sha256(spec[4:]) if route == "installed" else None
    return read_gate_record(t.spec.id, spec, sha) if spec is not None else None


def demonstrator_routes(domain: str | None = None) -> list[dict]:
    """One dict per registry task (of ``domain``): task, domain, env_id, route, spec, catalogue row, gate record."""
    from vintix_data.domains import resolve

    rows = []
    for spec in list_tasks(domain):
        t = resolve(spec)
        expert = public_expert(spec.id)
        row = {
            "task": spec.id,
            "domain": spec.domain,
            "env_id": spec.env_id,
            "route": None,
            "spec": None,
            "catalogue": expert.to_dict() if expert is not None else None,
            "gate": None,
            "error": None,
        }
        try:
            row["route"], row["spec"] = t.demonstrator_route()
            row["gate"] = gate_record_for(spec)
        except UserError as e:  # a domain that cannot run here (Bi-DexHands) says why in one line
            row["route"], row["error"] = "unavailable", str(e)
        rows.append(row)
    return rows


def record_gate(task, spec: str, demonstrator, result) -> None:
    """Record a gate result of the task's default demonstrator beside the cache's zip (``demonstrator list`` shows
    it while the default is still those bytes). Only results at the registry's settings are recorded; a cache that
    cannot be written is not an error of the evaluation."""
    import time

    from vintix_data.domains import write_gate_record

    record = {
        "spec": spec,
        "sha256": demonstrator.sha256 if spec.startswith("sb3:") else None,
        "source": getattr(demonstrator, "source", None),
        "demonstrator": result.demonstrator,
        "passed": result.passed,
        "demonstrator_mean": result.demonstrator_mean,
        "random_mean": result.random_mean,
        "normalized_score_paper": result.normalized_score_paper,
        "episodes": result.episodes,
        "seed": result.seed,
        "episode_limit": result.episode_limit,
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        write_gate_record(task.id, record)
    except OSError:
        pass  # a read-only cache: the verdict is still printed; only `demonstrator list` goes without it
