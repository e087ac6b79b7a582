"""User tasks and domains without editing the package: `gym:` ids, task files and `vintix.domains` plugins.

* A **task file** (TOML, or YAML with a ``.yaml``/``.yml`` suffix) holds ``[[tasks]]`` rows of the fields of
  :data:`vintix_data.domains.gym.FIELDS`. Files come from ``vintix-data --tasks FILE`` (which prepends FILE to
  ``$VINTIX_TASKS``, so worker processes and Ray units see it too) and from ``$VINTIX_TASKS`` (paths joined by
  ``os.pathsep``), so `vintix-model eval` in another process finds the same tasks.
* A **plugin** is an installed distribution with an entry point in the group ``vintix.domains`` naming a
  :class:`~vintix_data.domains.base.DomainAdapter` (class or instance) whose ``tasks()`` returns task dicts (the
  same fields; ``domain`` defaults to the adapter's). Its tasks are served by its adapter.

A broken file or plugin is a one-line :class:`~vintix_data.domains.gym.UserTaskError` when a user task is first
looked up or listed; the paper's tasks never load them.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vintix_data.domains.base import DomainAdapter
from vintix_data.domains.gym import GymAdapter, UserTaskError, gym_task, task_from_entry
from vintix_data.registry import DOMAINS, TaskSpec, all_tasks

ENTRY_POINT_GROUP = "vintix.domains"
TASKS_ENV = "VINTIX_TASKS"
GENERIC = GymAdapter()


@dataclass(frozen=True)
class Plugin:
    """One loaded entry point: its distribution, adapter and tasks."""

    name: str
    dist: str
    adapter: DomainAdapter
    tasks: tuple[TaskSpec, ...]


def task_files() -> list[Path]:
    """The task files ``$VINTIX_TASKS`` names, in order, each once."""
    seen, out = set(), []
    for part in os.environ.get(TASKS_ENV, "").split(os.pathsep):
        if part.strip() and part not in seen:
            seen.add(part)
            out.append(Path(part).expanduser())
    return out


def use_task_file(path: Path) -> None:
    """``--tasks FILE`` of both CLIs: prepend FILE to ``$VINTIX_TASKS``, so this process and those it starts see it."""
    if not Path(path).expanduser().is_file():
        raise UserTaskError(f"--tasks {path}: no such file (a TOML or YAML task file)")
    rest = os.environ.get(TASKS_ENV, "")
    os.environ[TASKS_ENV] = str(Path(path).expanduser().resolve()) + (os.pathsep + rest if rest else "")


def read_task_file(path: Path) -> tuple[TaskSpec, ...]:
    """The tasks of one file (parsed again only when its bytes change: the cache keys on the content)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserTaskError(
            f"task file {path}: cannot read it ({e.strerror or type(e).__name__}; from ${TASKS_ENV} or --tasks)"
        ) from None
    return _parse(str(path.resolve()), hashlib.sha256(data).hexdigest(), data)


@lru_cache(maxsize=64)
def _parse(path: str, sha: str, data: bytes) -> tuple[TaskSpec, ...]:
    where = f"task file {path}"
    text = data.decode("utf-8", errors="replace")
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            doc = yaml.safe_load(text)
        else:
            import tomllib

            doc = tomllib.loads(text)
    except Exception as e:  # tomllib.TOMLDecodeError, yaml.YAMLError: one line with the parser's position
        raise UserTaskError(
            f"{where}: not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'TOML'}: {str(e).splitlines()[0]}"
        ) from None
    rows = doc.get("tasks") if isinstance(doc, dict) else None
    if not isinstance(rows, list) or not rows:
        raise UserTaskError(f"{where}: needs a non-empty list `tasks` ([[tasks]] tables in TOML)")
    folder = Path(path).parent
    tasks = []
    for i, row in enumerate(rows):
        if isinstance(row, dict) and isinstance(row.get("demonstrator"), str):
            row = {**row, "demonstrator": _relative_to(row["demonstrator"], folder)}
        tasks.append(task_from_entry(row, f"file:{path}", f"{where}: tasks[{i}]"))
    return tuple(tasks)


def _relative_to(spec: str, folder: Path) -> str:
    """An ``sb3:`` path in a task file is relative to the file's folder."""
    if spec.startswith("sb3:") and not Path(spec[4:]).expanduser().is_absolute():
        return f"sb3:{folder / spec[4:]}"
    return spec


def load_plugins() -> tuple[Plugin, ...]:
    """Every installed ``vintix.domains`` entry point, loaded (the result keys on the installed distributions)."""
    from importlib.metadata import entry_points

    eps = tuple(sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value)))
    return _load(eps)


@lru_cache(maxsize=8)
def _load(eps) -> tuple[Plugin, ...]:
    plugins = []
    for ep in eps:
        dist = ep.dist.name if getattr(ep, "dist", None) is not None else ep.value
        where = f"plugin {ep.name!r} ({ENTRY_POINT_GROUP} entry point {ep.value} of {dist})"
        try:
            obj = ep.load()
            adapter = obj() if isinstance(obj, type) else obj
        except Exception as e:  # anything the plugin's import raises: its author's bug, reported in one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise UserTaskError(f"{where} failed to load: {type(e).__name__}: {msg}") from None
        if not isinstance(adapter, DomainAdapter) or not adapter.domain:
            raise UserTaskError(f"{where} must name a DomainAdapter with a domain name, got {type(adapter).__name__}")
        if adapter.domain in DOMAINS or adapter.domain == GENERIC.domain:
            raise UserTaskError(f"{where}: domain {adapter.domain!r} is vintix's own; name the plugin's domain apart")
        try:
            rows = list(adapter.tasks()) if hasattr(adapter, "tasks") else []
        except UserTaskError:
            raise
        except Exception as e:
            raise UserTaskError(f"{where}: tasks() raised {type(e).__name__}: {e}") from None
        tasks = tuple(
            t
            if isinstance(t, TaskSpec)
            else task_from_entry(t, f"plugin:{dist}", f"{where}: tasks[{i}]", domain=adapter.domain)
            for i, t in enumerate(rows)
        )
        plugins.append(Plugin(ep.name, dist, adapter, tasks))
    return tuple(plugins)


def adapter_for_domain(domain: str) -> DomainAdapter | None:
    """A plugin's adapter for its domain, else None."""
    for plugin in load_plugins():
        if plugin.adapter.domain == domain:
            return plugin.adapter
    return None


class UserTasks:
    """The task source the registry consults after its own table (vintix_data.registry.register_task_source)."""

    def tasks(self) -> list[TaskSpec]:
        """Plugins' tasks, then the task files', each id once (a repeated id is one line naming both places)."""
        out: dict[str, TaskSpec] = {}
        paper = {t.id.lower() for t in all_tasks()}
        found = [t for p in load_plugins() for t in p.tasks] + [t for f in task_files() for t in read_task_file(f)]
        for t in found:
            key = t.id.lower()
            if key in paper:
                raise UserTaskError(f"{t.source}: task id {t.id!r} is one of the paper's tasks; choose another id")
            if key in out:
                raise UserTaskError(f"duplicate task id {t.id!r}: in {out[key].source} and in {t.source}")
            out[key] = t
        return list(out.values())

    def find(self, name: str) -> TaskSpec | None:
        spec = gym_task(name)
        if spec is not None:
            return spec
        key = name.lower().removeprefix("vintix-")
        for t in self.tasks():
            if key == t.id.lower():
                return t
        return None

    def domains(self) -> list[str]:
        return sorted({t.domain for t in self.tasks()} | {p.adapter.domain for p in load_plugins()})
