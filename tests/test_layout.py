"""The package layout (issue 13): no import cycle between modules, no oversized module, no private name imported
across modules, no domain-name branch outside ``vintix_data/domains/``, every package shipped by pyproject.toml.

The import graph is built from the source with ``ast``: every import, including those inside functions (an import
placed inside a function hides a cycle, it does not remove it). Importing ``a.b.c`` also runs the ``__init__`` of
``a.b`` (and ``a``), so that is an edge too, except to packages that contain the importing module itself (Python
has already started those). A cycle through a package ``__init__``'s re-exports therefore counts.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vintix_data", "vintix_model")
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name: str, path: Path) -> set[str]:
    """Every project module ``name`` imports, with the package __init__s those imports run."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if _is_package(name) else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:
                sub = f"{base}.{a.name}"
                targets.add(sub if sub in MODULES else base)
    out = set()
    for t in targets:
        if t.split(".")[0] not in PACKAGES:
            continue
        while t and t not in MODULES:  # e.g. "vintix_data.domains.configure_task" -> the module that holds it
            t = t.rpartition(".")[0]
        parts = t.split(".")
        for i in range(1, len(parts) + 1):  # the module and the package __init__s its import runs
            mod = ".".join(parts[:i])
            if mod in MODULES and mod != name and not (name + ".").startswith(mod + "."):
                out.add(mod)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a sorted list."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_imports_inside_functions():
    # collect.run imports the gate at the top; legacy_h5.importer imports finalize inside import_h5
    assert "vintix_data.collect.finalize" in GRAPH["vintix_data.legacy_h5.importer"]
    assert "vintix_data.collect" in GRAPH["vintix_data.legacy_h5.importer"]  # the package __init__ that import runs


def test_the_cycle_finder_finds_a_cycle_through_a_package_reexport():
    toy = {"p": {"p.a"}, "p.a": {"q"}, "q": {"p"}}  # p/__init__ re-exports p.a, which imports q, which imports p
    assert _cycles(toy) == [["p", "p.a", "q"]]


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def _root_imports(name: str, path: Path) -> list[str]:
    """Imports in module ``name`` that go through its own package's root for a name the root defines (``from
    vintix_data import __version__``, ``import vintix_data``): the root's ``__init__`` imports (lazily or not) the
    modules deep in the package, so such an import is a loop through the root that works only while the root
    stays lazy. Importing a submodule by name (``from vintix_data import envs``) is an ordinary edge."""
    root = name.split(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name == root]
        elif isinstance(node, ast.ImportFrom) and node.module == root and not node.level:
            found += [f"from {root} import {a.name}" for a in node.names if f"{root}.{a.name}" not in MODULES]
    return found


def test_no_module_imports_from_its_own_package_root():
    offenders = [
        f"{path.relative_to(ROOT)}: {imp}"
        for name, path in MODULES.items()
        if name not in PACKAGES
        for imp in _root_imports(name, path)
    ]
    assert not offenders, "import what they need from the module that defines it:\n" + "\n".join(offenders)
    assert GRAPH["vintix_data.version"] == set()  # the version is a leaf: anything may import it


def test_the_root_import_check_sees_a_name_not_a_submodule(tmp_path):
    toy = tmp_path / "m.py"
    toy.write_text("def f():\n    from vintix_data import __version__, envs\n    import vintix_data\n")
    assert _root_imports("vintix_data.x.m", toy) == ["from vintix_data import __version__", "import vintix_data"]


def test_no_module_over_400_lines():
    over = {str(p.relative_to(ROOT)): n for p in MODULES.values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_no_private_name_imported_across_modules():
    offenders = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES:
                offenders += [
                    f"{path.relative_to(ROOT)}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not offenders, "\n".join(offenders)


def _unused_project_imports(name: str, path: Path) -> list[str]:
    """Names a module imports from the project and never uses: a re-export (only a package ``__init__`` may make them)."""
    tree = ast.parse(path.read_text())
    imported = {
        a.asname or a.name: node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PACKAGES
        for a in node.names
    }
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    return [f"{path.relative_to(ROOT)}:{line}: {n}" for n, line in sorted(imported.items()) if n not in used]


def test_vintix_model_modules_do_not_reexport():
    # issue 29: every importer imports a name from the module that defines it, not from an old home kept alive by a
    # re-export (evaluate.py re-exported eval_config's names, hub.py checkpoint's, groups.py two domain tables)
    offenders = [
        o
        for name, path in MODULES.items()
        if name.startswith("vintix_model.") and not _is_package(name)
        for o in _unused_project_imports(name, path)
    ]
    assert not offenders, "re-exported (imported, unused):\n" + "\n".join(offenders)


def test_no_domain_name_branch_outside_domains():
    pattern = re.compile(
        r"""domain\s*(==|!=)\s*["']|["'](industrial-benchmark|meta-world|mujoco|bi-dexhands)["']\s*(==|!=)"""
    )
    offenders = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for name, p in MODULES.items()
        if not name.startswith("vintix_data.domains")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "\n".join(offenders)


def test_one_fail_helper():
    defs = [
        f"{p.relative_to(ROOT)}" for p in MODULES.values() if re.search(r"^def _?fail\(", p.read_text(), re.MULTILINE)
    ]
    assert defs == ["vintix_data/cli/output.py"], defs


def test_pyproject_ships_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {name for name in MODULES if _is_package(name)} | {"vintix_data.data", "vintix_data.cards"}
    assert listed == folders, f"missing: {sorted(folders - listed)}, stale: {sorted(listed - folders)}"
    assert config["package-dir"]["vintix_data.cards"] == "cards"


SCRIPTS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_both_console_scripts_are_declared():
    assert set(SCRIPTS) == {"vintix-data", "vintix-model"}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_console_scripts_resolve(script):
    # what pip's generated `vintix-data` / `vintix-model` wrappers import: module:attribute, a callable
    import importlib

    module, _, attr = SCRIPTS[script].partition(":")
    assert callable(getattr(importlib.import_module(module), attr))
