"""The whole permission matrix. Every permission check in nchat goes through this module.

Roles are ordered owner > admin > moderator > member > guest; each role holds the
permissions granted to it plus every permission of the roles below it.
"""

from __future__ import annotations

from typing import Final

from nchat.errors import Forbidden

ROLES: Final = ("guest", "member", "moderator", "admin", "owner")  # lowest first
ROLE_RANK: Final = {role: rank for rank, role in enumerate(ROLES)}

# Permissions first granted at each role. Names are `resource:action`.
_GRANTS: Final[dict[str, frozenset[str]]] = {
    "guest": frozenset(
        {
            "user:read",
            "user:update_self",
            "session:manage_own",
            "channel:read_member",
            "message:read",
            "message:post_private",
            "message:edit_own",
            "message:delete_own",
            "reaction:add",
            "bookmark:manage_own",
        }
    ),
    "member": frozenset(
        {
            "channel:create",
            "channel:join_public",
            "channel:read_public",
            "message:post_public",
            "direct:create",
            "channel:add_members",
            "pin:manage",
        }
    ),
    "moderator": frozenset(
        {
            "message:delete_any",
            "channel:manage_members_any",
        }
    ),
    "admin": frozenset(
        {
            "user:create",
            "user:read_email",
            "user:update_any",
            "user:set_role",
            "user:set_active",
            "user:delete",
            "channel:archive_any",
            "channel:update_any",
            "channel:list_any",
            "channel:delete_any",
            "message:hard_delete",
            "message:post_announcement",
            "config:read",
            "config:update",
            "audit:read",
            "user:admin",
            "stats:read",
            # Maintenance mode on and off; with allow_admins, writing while it is on.
            "maintenance:manage",
            # Exporting another person's data (an access request, decision 0056).
            "user:export",
            # Message retention policies, and what a run of them would delete.
            "retention:manage",
        }
    ),
    "owner": frozenset(
        {
            "user:grant_owner",
        }
    ),
}


def _expand() -> dict[str, frozenset[str]]:
    held: set[str] = set()
    matrix: dict[str, frozenset[str]] = {}
    for role in ROLES:
        held |= _GRANTS[role]
        matrix[role] = frozenset(held)
    return matrix


PERMISSIONS: Final = _expand()
ALL_PERMISSIONS: Final = PERMISSIONS["owner"]


def has_permission(role: str, permission: str) -> bool:
    if permission not in ALL_PERMISSIONS:
        raise ValueError(f"unknown permission {permission!r}")  # a typo must fail loudly
    return permission in PERMISSIONS.get(role, frozenset())


def check_permission(role: str, permission: str) -> None:
    if not has_permission(role, permission):
        raise Forbidden(code="forbidden", details={"permission": permission})


def outranks(actor_role: str, target_role: str) -> bool:
    return ROLE_RANK[actor_role] > ROLE_RANK[target_role]


def can_manage(actor_role: str, target_role: str) -> bool:
    """Admins manage those below them; owners manage everyone, other owners included."""
    return actor_role == "owner" or outranks(actor_role, target_role)


def can_assign(actor_role: str, new_role: str) -> bool:
    if new_role == "owner":
        return has_permission(actor_role, "user:grant_owner")
    return (
        has_permission(actor_role, "user:set_role") and ROLE_RANK[new_role] <= ROLE_RANK[actor_role]
    )


def role_not_assignable(role: str) -> Forbidden:
    return Forbidden(
        "You cannot assign that role", code="role_not_assignable", details={"role": role}
    )
