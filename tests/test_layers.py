"""The package's layering, read from its source: no module imports another module's private (``_name``)
helpers, jobs import only the model (never the store, a file format or the clock's owner), the model
imports nothing above it, and no module reaches the META sheet or record IDs by a literal of its own."""
from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import crm_sheets

PACKAGE = Path(crm_sheets.__file__).parent


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return out


MODULES = _modules()


def _imports(tree: ast.Module, module: str) -> list[tuple[str, str, int]]:
    """(imported module, imported name or '', line) of every import in a module, relative ones resolved."""
    if tree is MODULES.get(module):
        return list(_scan(module)[0])
    return _imports_in(ast.walk(tree), module)


def _imports_in(nodes, module: str) -> list[tuple[str, str, int]]:
    out = []
    package = module if module in _packages() else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out += [(base, a.name, node.lineno) for a in node.names]
    return out


@lru_cache(maxsize=None)
def _scan(module: str) -> tuple[tuple, tuple]:
    """One walk of a module: its imports, and the lines holding the literal '_crm_meta'."""
    nodes = list(ast.walk(MODULES[module]))
    meta = tuple(n.lineno for n in nodes if isinstance(n, ast.Constant) and n.value == "_crm_meta")
    return tuple(_imports_in(nodes, module)), meta


@lru_cache(maxsize=None)
def _packages() -> frozenset[str]:
    return frozenset(name for name in MODULES if (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists())


def test_no_module_imports_a_private_name_of_another_module():
    found = []
    for module, tree in MODULES.items():
        for source, name, line in _imports(tree, module):
            if not source.startswith("crm_sheets") or source == module:
                continue
            if name.startswith("_") and not name.startswith("__"):
                found.append(f"{module}:{line} imports {name} from {source}")
    assert not found, "private names imported across modules (make them public where they live):\n" + "\n".join(found)


def test_jobs_import_only_the_model_and_their_own_package():
    allowed = ("crm_sheets.model", "crm_sheets.jobs", "crm_sheets.errors")
    banned_outside = {"openpyxl", "gspread", "xlwings", "smtplib", "socket", "urllib.request", "requests", "sqlite3"}
    found = []
    for module, tree in MODULES.items():
        if not module.startswith("crm_sheets.jobs"):
            continue
        for source, _name, line in _imports(tree, module):
            if source.startswith("crm_sheets") and not source.startswith(allowed):
                found.append(f"{module}:{line} imports {source}")
            if source.split(".")[0] in banned_outside or source in banned_outside:
                found.append(f"{module}:{line} imports {source}")
    assert not found, "\n".join(found)


def test_the_model_imports_nothing_above_it():
    found = [f"{module}:{line} imports {source}"
             for module, tree in MODULES.items() if module.startswith("crm_sheets.model")
             for source, _name, line in _imports(tree, module)
             if source.startswith("crm_sheets") and not source.startswith(("crm_sheets.model", "crm_sheets.errors"))]
    assert not found, "\n".join(found)


def test_the_meta_sheet_is_named_in_one_place():
    found = []
    for module, tree in MODULES.items():
        if module == "crm_sheets.model.tables":
            continue
        found += [f"{module}:{line}" for line in _scan(module)[1]]
    assert not found, "use model.tables.META_SHEET instead of the literal:\n" + "\n".join(found)


def test_record_ids_are_formatted_by_format_id_only():
    # an f-string such as f"{prefix}-{n:05d}" builds an ID by hand; format_id (model/tables.py) is its one home
    pattern = re.compile(r"f[\"']([A-Z]{1,4}|\{[^}]*\})-\{[^}]*:0?5d?\}")
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "tables.py" and path.parent.name == "model":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{n}: {line.strip()}")
    assert not found, "use model.tables.format_id:\n" + "\n".join(found)


def _top_level_imports(tree: ast.Module, module: str) -> set[str]:
    """The crm_sheets modules a module imports when it is loaded (not in functions, not for type checking)."""
    out = set()
    nodes = list(tree.body)
    while nodes:
        node = nodes.pop(0)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, (ast.If, ast.Try)):
            nodes += node.body + getattr(node, "orelse", []) + [n for h in getattr(node, "handlers", []) for n in h.body]
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for source, name, _line in _imports(ast.Module(body=[node], type_ignores=[]), module):
                if f"{source}.{name}" in MODULES:
                    out.add(f"{source}.{name}")  # from package import module
                elif source in MODULES:
                    out.add(source)
    return {m for m in out if m != module}


def test_no_import_cycle_between_modules():
    graph = {m: _top_level_imports(tree, m) for m, tree in MODULES.items()}
    # a package's __init__ importing its own modules is how a package shows its face, not a cycle
    for m in graph:
        graph[m] = {d for d in graph[m] if not (m in _packages() and d.startswith(m + "."))}
    cycles, state = [], {}

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d):] + [d]))
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "modules that import each other when loaded:\n" + "\n".join(cycles)
