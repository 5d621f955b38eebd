"""The architecture, checked from the source (ast): data flows downhill, with no way back.

* no import cycle between modules (every import counts, including those inside functions);
* ``theory`` never imports ``capacity``, and imports nothing but the standard library, numpy and jax;
* no construction imports another construction (they share gadgets in private modules);
* nothing imports another package's private module (``pkg._mod`` only from inside ``pkg``);
* the CLI holds no mathematics: it imports no numerics beyond what it prints.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("capacity", "theory")


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _imports(name: str) -> set[str]:
    """Every project module that ``name`` imports (absolute and relative, at any depth)."""
    tree = ast.parse(MODULES[name].read_text(), filename=str(MODULES[name]))
    base = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                anchor = base.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                mod = ".".join(anchor + ([mod] if mod else []))
            targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in MODULES:  # "capacity.networks.load_net" -> "capacity.networks"
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


GRAPH = {m: _imports(m) for m in MODULES}


def _cycle() -> list[str] | None:
    color = dict.fromkeys(GRAPH, 0)
    stack: list[str] = []

    def visit(m):
        color[m] = 1
        stack.append(m)
        for d in sorted(GRAPH[m]):
            if color[d] == 1:
                return stack[stack.index(d):] + [d]
            if color[d] == 0:
                found = visit(d)
                if found:
                    return found
        stack.pop()
        color[m] = 2
        return None

    for m in sorted(GRAPH):
        if color[m] == 0:
            found = visit(m)
            if found:
                return found
    return None


def test_the_graph_is_not_empty():
    assert len(MODULES) > 30 and sum(map(len, GRAPH.values())) > 50


def test_no_import_cycles():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_theory_is_pure_mathematics():
    allowed_third_party = {"numpy", "jax"}
    stdlib = set(sys.stdlib_module_names)
    bad = []
    for m, path in MODULES.items():
        if not m.startswith("theory"):
            continue
        bad += [f"{m} imports {d}" for d in GRAPH[m] if d.startswith("capacity")]
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else []
            for n in names:
                top = n.split(".")[0]
                if top not in stdlib and top not in allowed_third_party and top != "theory":
                    bad.append(f"{m} imports {n}")
    assert not bad, bad


def test_no_construction_imports_another():
    public = {m for m in MODULES if m.startswith("capacity.constructions.")
              and not m.rpartition(".")[2].startswith("_") and m != "capacity.constructions.base"}
    bad = [f"{m} imports {d}" for m in public for d in GRAPH[m] if d in public]
    assert not bad, bad


def test_private_modules_stay_private():
    bad = []
    for m, deps in GRAPH.items():
        for d in deps:
            parent, _, leaf = d.rpartition(".")
            if leaf.startswith("_") and not leaf.startswith("__") and not (m == parent or m.startswith(parent + ".")):
                bad.append(f"{m} imports private {d}")
    assert not bad, bad


def test_cli_holds_no_mathematics():
    bad = []
    for m, path in MODULES.items():
        if m.startswith("capacity.cli"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                    bad += [f"{m} imports {n}" for n in names if n.split(".")[0] in ("jax", "scipy", "flint", "optax")]
    assert not bad, bad


@pytest.mark.parametrize("bad_source, rule", [
    ("from capacity import data\n", test_theory_is_pure_mathematics),
])
def test_the_checks_can_fail(tmp_path, monkeypatch, bad_source, rule):
    """A planted violation is caught (so the checks above are not vacuous)."""
    fake = tmp_path / "theory_fake.py"
    fake.write_text(bad_source)
    monkeypatch.setitem(MODULES, "theory.fake", fake)
    monkeypatch.setitem(GRAPH, "theory.fake", {"capacity.data"})
    with pytest.raises(AssertionError):
        rule()


def test_a_planted_cycle_is_found(monkeypatch):
    monkeypatch.setitem(GRAPH, "theory.bounds", GRAPH["theory.bounds"] | {"theory.registry"})
    assert _cycle() is not None
