"""Who may see what: the roles, the merchant ``Scope`` a signed-in user's queries run under,
and the SQL that applies it on the server.

The scope comes from the signed-in user, never from a widget, and is applied inside the SQL
through ``dim_merchant_hierarchy``; widget filters can only narrow it. Platform-wide tables
(restock, funding, pricing, data health, risk) refuse a merchant scope (``PlatformOnly``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from dashboard.data.snapshot import has_tables

ROLES = ("merchant", "ops", "pricing", "admin")
PLATFORM_ROLES = ("ops", "pricing", "admin")
APPROVER_ROLES = ("pricing", "admin")


def in_hierarchy(column: str) -> str:
    """``column`` is one of the merchant's own rows or a sub-agent's; the id is bound (``?``)."""
    return (
        f"{column} IN (SELECT h.merchant_id FROM analytics.dim_merchant_hierarchy h "
        "WHERE h.ancestor_merchant_id = ?)"
    )


class Scope(NamedTuple):
    """Whose numbers a query may return: a merchant (and its sub-agents) or the whole platform."""

    role: str
    merchant_id: str | None = None
    # A merchant user bound to one of its agents (sub-site) sees only that agent's orders.
    agent_id: str | None = None

    @property
    def is_merchant(self) -> bool:
        return self.role == "merchant"


def scope_for(role: str, merchant_id: str | None, agent_id: str | None = None) -> Scope:
    """1. Check the role, 2. bind a merchant user to its merchant (and agent), 3. never widen
    a merchant."""
    if role not in ROLES:
        raise PermissionError(f"unknown role {role!r}")
    if role == "merchant":
        if not merchant_id:
            raise PermissionError("a merchant user must be bound to a merchant_id")
        return Scope(role, str(merchant_id), str(agent_id) if agent_id else None)
    if agent_id:
        raise PermissionError("only a merchant user can be bound to an agent")
    return Scope(role, None)


class PlatformOnly(PermissionError):
    """A merchant scope asked for a platform-wide table."""


def require_platform(scope: Scope) -> None:
    if scope.role not in PLATFORM_ROLES:
        raise PlatformOnly("this view is for the operations, pricing and admin roles only")


def scope_sql(scope: Scope, alias: str = "") -> tuple[str, list[Any]]:
    """The server-side merchant restriction for one query (TRUE for platform roles)."""
    if scope.is_merchant:
        if not scope.merchant_id:
            raise PermissionError("merchant scope without a merchant_id")
        if scope.agent_id:
            # These tables carry no agent: an agent-bound user must not see its merchant's.
            raise PlatformOnly("an agent-bound user sees only its agent's orders")
        column = f"{alias}.merchant_id" if alias else "merchant_id"
        return in_hierarchy(column), [scope.merchant_id]
    if scope.role not in PLATFORM_ROLES:
        raise PermissionError(f"unknown role {scope.role!r}")
    return "TRUE", []


def first_merchant(conn) -> str | None:
    """A top-level merchant with the most sub-agents (for demo accounts), else any merchant."""
    if not has_tables(conn, "analytics.dim_merchants"):
        return None
    if has_tables(conn, "analytics.dim_merchant_hierarchy"):
        row = conn.execute(
            "SELECT m.merchant_id FROM analytics.dim_merchants m "
            "LEFT JOIN analytics.dim_merchant_hierarchy h "
            "ON h.ancestor_merchant_id = m.merchant_id "
            "WHERE m.parent_merchant_id IS NULL GROUP BY m.merchant_id "
            "ORDER BY count(h.merchant_id) DESC, m.merchant_id LIMIT 1"
        ).fetchone()
        if row:
            return row[0]
    row = conn.execute("SELECT min(merchant_id) FROM analytics.dim_merchants").fetchone()
    return row[0] if row else None


def merchant_exists(conn, merchant_id: str) -> bool | None:
    """True/False when the snapshot knows its merchants, None when it cannot tell."""
    if not has_tables(conn, "analytics.dim_merchants"):
        return None
    row = conn.execute(
        "SELECT count(*) FROM analytics.dim_merchants WHERE merchant_id = ?", [merchant_id]
    ).fetchone()
    return row[0] > 0
