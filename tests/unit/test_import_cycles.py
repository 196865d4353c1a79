"""The import graph of ``brook`` has no cycles.

A cycle hides the real layering (a module that "only" imports lazily or under TYPE_CHECKING
still depends on what it imports) and makes start-up order matter. The graph is grimp's (the
one import-linter checks contracts on), with imports made only for type checking left out:
those never run, and naming a type across layers is how a Protocol-shaped seam is annotated.
"""

from __future__ import annotations

import grimp

ALLOWED: dict[frozenset[str], str] = {}
"""Cycles knowingly left, as their set of modules, with the reason; empty means none."""


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


def test_the_brook_import_graph_has_no_cycles() -> None:
    graph = grimp.build_graph("brook", exclude_type_checking_imports=True)
    cycles = [sorted(c) for c in _strongly_connected(graph) if frozenset(c) not in ALLOWED]
    assert cycles == [], "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("pkg", "pkg.a", "pkg.b", "pkg.c"):
        graph.add_module(name)
    graph.add_import(importer="pkg.a", imported="pkg.b")
    graph.add_import(importer="pkg.b", imported="pkg.a")
    graph.add_import(importer="pkg.b", imported="pkg.c")
    assert [sorted(c) for c in _strongly_connected(graph)] == [["pkg.a", "pkg.b"]]
