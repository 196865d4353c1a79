"""The import graph of ``brook`` has no cycles.

A cycle hides the real layering (a module that "only" imports lazily or under TYPE_CHECKING
still depends on what it imports) and makes start-up order matter. The graph is grimp's (the
one import-linter checks contracts on). Imports that run (at module level or inside a
function) may form no cycle at all; counting imports made only for type checking too, only
the cycles listed in ``ALLOWED`` may remain, each with its reason (none today).
"""

from __future__ import annotations

import grimp

ALLOWED: dict[frozenset[str], str] = {}
"""Cycles through type-checking imports knowingly left: a cycle found must lie wholly
inside one of these module sets."""


def _strongly_connected(graph: grimp.ImportGraph) -> list[set[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module, or a module
    importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[set[str]] = []
    counter = 0
    succ = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = succ[node]
            if i < len(children):
                work.append((node, i + 1))
                child = children[i]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1 or node in succ[node]:
                    out.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return out


def _report(cycles: list[list[str]]) -> str:
    return "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_run_time_import_graph_has_no_cycles() -> None:
    graph = grimp.build_graph("brook", exclude_type_checking_imports=True, cache_dir=None)
    cycles = [sorted(c) for c in _strongly_connected(graph)]
    assert cycles == [], _report(cycles)


def test_type_checking_imports_add_only_the_listed_cycles() -> None:
    graph = grimp.build_graph("brook", cache_dir=None)
    cycles = [sorted(c) for c in _strongly_connected(graph)
              if not any(c <= allowed for allowed in ALLOWED)]
    assert cycles == [], _report(cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    assert [sorted(c) for c in _strongly_connected(graph)] == [["pkg.a", "pkg.b"]]
