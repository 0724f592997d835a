"""The house's rules, read from the code itself: one `llmesh` namespace, no import cycles,
no private names taken across modules, no module over ~600 lines.

These read source files as text (ast); nothing is imported or run.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from test_packaging import PARTS, REPO, _source_modules

MAX_LINES = 620  # "no module over ~600 lines"
OLD_TOP_LEVELS = {"agent", "coordinator", "cli", "common", "sdk", "meshcore"}
GENERATED = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def _product_modules() -> dict[str, Path]:
    return {name: path for name, path in _source_modules().items() if not path.name.endswith(GENERATED)}


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int]]:
    """(imported module, names taken from it, line) for every import in the file, lazy ones too."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, [alias.name for alias in node.names], node.lineno))
    return found


def _python_files_of_the_repository():
    for folder in [*PARTS.values(), "tests", "bench", "scripts"]:
        yield from (p for p in (REPO / folder).rglob("*.py") if not p.name.endswith(GENERATED))
    yield REPO / "setup.py"


def test_everything_imports_llmesh_by_its_installed_names():
    wrong = []
    for path in _python_files_of_the_repository():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            modules = ([a.name for a in node.names] if isinstance(node, ast.Import)
                       else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            wrong += [f"{path.relative_to(REPO)}:{node.lineno} imports {m}" for m in modules
                      if m.split(".")[0] in OLD_TOP_LEVELS]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    modules = _product_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for module, names, _ in _imports(name, path):
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules] or [module]
            graph[name] |= {t for t in targets if t in modules and t != name}
    cycles = _cycles(graph)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_private_names_taken_across_modules():
    modules = _product_modules()
    taken = []
    for name, path in modules.items():
        for module, names, line in _imports(name, path):
            private = [n for n in names if n.startswith("_") and not n.startswith("__")]
            if private and module != name:
                taken.append(f"{path.relative_to(REPO)}:{line} takes {', '.join(private)} from {module}")
    assert not taken, "\n".join(taken)


def test_no_module_is_too_long():
    long = [f"{path.relative_to(REPO)}: {n} lines" for path in _product_modules().values()
            if (n := len(path.read_text().splitlines())) > MAX_LINES]
    assert not long, "\n".join(long)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as a loop."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found
