"""Imports point down the layers (docs/architecture.md): a module may import from its own
layer and the layers below it, never from one above.

The upward imports that exist today are listed, so that no new one can come in while they
are moved; an entry that no longer exists must be taken off the list, so it only shrinks."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import nchat

SOURCE = Path(nchat.__file__).parent

# Lowest first.
LAYERS: list[set[str]] = [
    {"__init__", "config", "errors", "storable", "cursors", "fast_json", "observability"},
    {"db", "migrations"},
    {"realtime"},
    {"auth"},
    {"limits"},
    {"users", "channels", "messages", "sync", "admin", "setup", "health", "housekeeping"},
    {"gateway", "graphql", "http_edge", "openapi"},
    {"app"},
    {"cli"},
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}

# Upward imports still to be moved: module -> what it imports from above its layer.
KNOWN_UPWARD: dict[str, set[str]] = {
    "auth/repository.py": {"nchat.users.models"},
    "auth/schemas.py": {"nchat.users.schemas"},
    "auth/service.py": {"nchat.admin.service", "nchat.users", "nchat.users.service"},
    "db/engine.py": {"nchat.realtime.topics"},
    "db/tables.py": {
        "nchat.admin.models",
        "nchat.auth.models",
        "nchat.channels.models",
        "nchat.limits.models",
        "nchat.messages.models",
        "nchat.realtime.models",
        "nchat.sync.models",
        "nchat.users.models",
    },
    "realtime/events.py": {"nchat.messages.schemas", "nchat.users.schemas"},
    "realtime/hub.py": {"nchat.channels.models"},
    "realtime/log.py": {"nchat.channels.models"},
    "realtime/presence.py": {"nchat.users.schemas"},
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name for name in names if name.startswith("nchat.")}


def _upward() -> dict[str, set[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted(SOURCE.rglob("*.py")):
        module = path.relative_to(SOURCE).as_posix()
        package = module.split("/")[0].removesuffix(".py")
        assert package in RANK, f"{package} has no layer: add it to LAYERS"
        for name in _imports(path):
            target = name.split(".")[1]
            assert target in RANK, f"{module} imports {name}, whose package has no layer"
            if RANK[target] > RANK[package]:
                found[module].add(name)
    return dict(found)


def test_no_new_import_points_up() -> None:
    new = {
        module: names - KNOWN_UPWARD.get(module, set())
        for module, names in _upward().items()
        if names - KNOWN_UPWARD.get(module, set())
    }
    assert new == {}, "imports from a higher layer (see docs/architecture.md)"


def test_the_list_of_known_upward_imports_only_shrinks() -> None:
    found = _upward()
    gone = {
        module: names - found.get(module, set())
        for module, names in KNOWN_UPWARD.items()
        if names - found.get(module, set())
    }
    assert gone == {}, "these no longer exist: take them off KNOWN_UPWARD"
