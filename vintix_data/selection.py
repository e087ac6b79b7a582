"""Task selections: the names a release, a suite and ``load_suite`` accept for *sets* of registry tasks.

A SELECTION is one of

* a task id (or any name :func:`vintix_data.registry.get_task` accepts),
* a domain by any of its spellings (``ib``, ``meta-world``, ...) or ``domain:D``,
* ``split:train`` / ``split:test``,
* ``ml45-train`` / ``ml45-test``: Meta-World's ML45 split as the paper uses it,
* ``paper``: every task of the paper that can be collected here (the domains whose simulator runs in this package;
  Bi-DexHands needs IsaacGym and comes in through ``import-h5``).

Several selections are a union, in registry order, without repeats, so the same words always name the same list
in the same order (a release's units and a suite's index lookups depend on it).
"""

from __future__ import annotations

import difflib

from vintix_data.registry import (
    DOMAIN_ALIASES,
    SPLITS,
    RegistryError,
    TaskSpec,
    UnknownTaskError,
    all_tasks,
    canonical_domain,
    every_task,
    get_task,
    list_tasks,
)

# the domains whose tasks this package collects (their simulators are pip-installable and driven here)
COLLECTABLE_DOMAINS = ("industrial-benchmark", "mujoco", "meta-world")
NAMED = {
    "paper": "every collectable task of the paper (IB, MuJoCo, Meta-World)",
    "ml45-train": "Meta-World's 45 ML45 training tasks",
    "ml45-test": "Meta-World's 5 ML45 test tasks",
    "all": "every task of the registry, Bi-DexHands included",
}


class SelectionError(RegistryError):
    """A selection that names no task (one line, with the closest names)."""


def _one(word: str) -> list[TaskSpec]:
    key = word.strip().lower()
    if key == "paper":
        return [t for t in all_tasks() if t.domain in COLLECTABLE_DOMAINS]
    if key == "all":
        return list(all_tasks())
    if key in ("ml45-train", "ml45-test"):
        return list_tasks("meta-world", key.split("-")[1])
    if key.startswith("domain:"):
        return list_tasks(key.split(":", 1)[1])
    if key.startswith("split:"):
        split = key.split(":", 1)[1]
        if split not in SPLITS:
            raise SelectionError(f"unknown split {split!r} in {word!r}; choose from {', '.join(SPLITS)}")
        return list_tasks(split=split)
    if key.replace("_", "-").replace(" ", "-") in DOMAIN_ALIASES:
        return list_tasks(key)
    try:
        return [get_task(word)]
    except UnknownTaskError:
        pass
    try:  # a user domain (a task file's `domain`, a plugin's) by its bare name
        return list_tasks(canonical_domain(word))
    except RegistryError:
        raise SelectionError(_unknown(word)) from None


def _unknown(word: str) -> str:
    names = [t.id for t in every_task()] + list(NAMED) + sorted(DOMAIN_ALIASES) + [f"split:{s}" for s in SPLITS]
    close = difflib.get_close_matches(word.strip().lower(), [n.lower() for n in names], n=3, cutoff=0.6)
    by_lower = {n.lower(): n for n in names}
    hint = ("; did you mean " + " or ".join(repr(by_lower[c]) for c in close) + "?") if close else ""
    return f"unknown selection {word!r}{hint} (a task id, a domain, domain:D, split:train|test, {', '.join(NAMED)})"


def select_tasks(selections: list[str] | tuple[str, ...] | str) -> list[TaskSpec]:
    """The tasks a list of selections names, in registry order, each once. Raises SelectionError (one line)."""
    if isinstance(selections, str):
        selections = [selections]
    if not selections:
        raise SelectionError(
            f"no selection given (a task id, a domain, domain:D, split:train|test, {', '.join(NAMED)})"
        )
    wanted: dict[str, TaskSpec] = {}
    for word in selections:
        found = _one(word)
        if not found:
            raise SelectionError(f"selection {word!r} names no task")
        wanted.update((t.id, t) for t in found)
    paper = {t.id for t in all_tasks()}
    # registry order, then the user's tasks in source order (a selection of paper tasks never loads a plugin)
    known = [t for t in (every_task() if set(wanted) - paper else all_tasks()) if t.id in wanted]
    return known + [t for i, t in wanted.items() if i not in {k.id for k in known}]  # `gym:` ids as given
