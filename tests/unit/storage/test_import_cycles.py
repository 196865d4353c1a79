"""The storage modules import each other in one direction only: ``Log`` over ``LocalLog``,
loading, retention and the cleaner's swap, never back. A cycle (a ``TYPE_CHECKING`` or
function-level import counts) is how a lower module starts writing a higher one's fields."""

from __future__ import annotations

import grimp

PACKAGE = "brook.storage"


def storage_import_cycles() -> list[list[str]]:
    graph = grimp.build_graph("brook", exclude_type_checking_imports=False)
    modules = sorted(m for m in graph.modules if m == PACKAGE or m.startswith(PACKAGE + "."))
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for imported in edges[module]:
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = 2

    for module in modules:
        if module not in state:
            visit(module)
    return cycles


def test_storage_modules_have_no_import_cycle() -> None:
    cycles = storage_import_cycles()
    assert not cycles, "import cycles in brook.storage:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles
    )


def test_the_check_sees_type_checking_and_function_level_imports() -> None:
    graph = grimp.build_graph("brook", exclude_type_checking_imports=False)
    # cleaner imports Log only for annotations; the check must still see that edge.
    assert "brook.storage.log" in graph.find_modules_directly_imported_by("brook.storage.cleaner")
