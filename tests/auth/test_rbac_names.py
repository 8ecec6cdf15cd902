"""Every permission the code asks for exists in the matrix (a typo would otherwise surface
only when that code path runs)."""

from __future__ import annotations

import re
from pathlib import Path

from nchat.auth import rbac

SRC = Path(__file__).resolve().parents[2] / "src" / "nchat"
CALL = re.compile(r"(?:has_permission|check_permission)\(\s*[^,]+,\s*\"([a-z_]+:[a-z_]+)\"")


def test_every_permission_used_is_in_the_matrix() -> None:
    used = {m.group(1) for p in SRC.rglob("*.py") for m in CALL.finditer(p.read_text())}
    assert len(used) > 15
    assert used <= rbac.ALL_PERMISSIONS, used - rbac.ALL_PERMISSIONS


def test_roles_inherit_everything_below_them() -> None:
    for lower, higher in zip(rbac.ROLES, rbac.ROLES[1:], strict=False):
        assert rbac.PERMISSIONS[lower] < rbac.PERMISSIONS[higher]
