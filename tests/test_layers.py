"""The layers of docs/architecture.md: a module may import from its own layer and the layers
below it, never from one above, and no packages import each other in a circle. With them,
the rules that keep the layers honest (who writes events, who touches `app.state`)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import nchat

SOURCE = Path(nchat.__file__).parent

# Lowest first. Features are ordered too: each may use the ones before it.
LAYERS: list[set[str]] = [
    {
        "__init__",
        "appstate",
        "config",
        "errors",
        "storable",
        "cursors",
        "fast_json",
        "observability",
    },
    {"tables"},
    {"db", "migrations", "storage", "jobs"},
    {"realtime"},
    {"auth"},
    {"limits"},
    {"admin"},
    {"users"},
    {"channels"},
    {"files"},
    {"messages"},
    {"search"},
    {"sync"},
    {"notifications"},
    {"accounts", "admin_users", "admin_channels", "exports", "retention"},
    {"maintenance"},
    {"setup", "health", "housekeeping", "background"},
    {"gateway", "graphql", "http_edge", "openapi", "web"},
    {"app"},
    {"cli"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("nchat.")}


def _imported_names(path: Path, module: str) -> set[str]:
    """The names `path` imports from `module`."""
    return {
        alias.name
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module == module
        for alias in node.names
    }


def _modules() -> dict[str, set[str]]:
    """Each module (path under nchat/) -> the nchat modules it imports."""
    return {
        path.relative_to(SOURCE).as_posix(): _imports(path) for path in sorted(SOURCE.rglob("*.py"))
    }


def _package(module: str) -> str:
    return module.split("/", maxsplit=1)[0].removesuffix(".py")


def _upward() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for module, names in _modules().items():
        package = _package(module)
        assert package in RANK, f"{package} has no layer: add it to LAYERS"
        for name in names:
            target = name.split(".")[1]
            assert target in RANK, f"{module} imports {name}, whose package has no layer"
            if RANK[target] > RANK[package]:
                found[module].add(name)
    return dict(found)


def test_no_import_points_up() -> None:
    assert _upward() == {}, "imports from a higher layer (see docs/architecture.md)"


def test_no_two_packages_import_each_other_even_through_others() -> None:
    """Packages of one layer may use each other, but never in a circle."""
    graph: dict[str, set[str]] = defaultdict(set)
    for module, names in _modules().items():
        graph[_package(module)].update(name.split(".")[1] for name in names)
    for package, targets in graph.items():
        targets.discard(package)
    cycles = []
    for start in sorted(graph):
        seen, stack = set(), [start]
        while stack:
            for target in graph[stack.pop()]:
                if target == start:
                    cycles.append(start)
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
    assert cycles == [], "these packages reach themselves through their imports"


def test_only_the_event_log_writes_events() -> None:
    """Writing an event marks the transaction so its commit wakes delivery; only
    realtime/log.py does that, so only it may touch the events table."""
    users = {
        module
        for module in _modules()
        if module not in {"realtime/log.py", "tables/__init__.py"}
        and "events" in _imported_names(SOURCE / module, "nchat.tables.realtime")
    }
    assert users == set()


def test_app_state_is_touched_only_through_typed_keys() -> None:
    """`app.state` is read and written in appstate.py alone; everything else asks for a
    typed key (the engine, the hub...)."""
    found = sorted(
        module
        for module in _modules()
        if module != "appstate.py" and ".state." in (SOURCE / module).read_text()
    )
    assert found == []


def test_log_names_the_event_log_only() -> None:
    """One name, one meaning: `log` is the event log (realtime/log.py); a logging or
    structlog logger is `logger`."""
    found = sorted(
        module
        for module in _modules()
        for node in ast.parse((SOURCE / module).read_text()).body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "log" for t in node.targets)
    )
    assert found == []
