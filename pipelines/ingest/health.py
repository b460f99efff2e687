"""How much of the data is set aside or stood in for, per entity: for the build summary and the
data-health page (read from the warehouse or the published snapshot)."""

from __future__ import annotations

INFERRED_DIMENSIONS = {
    "skus": "dim_skus",
    "merchants": "dim_merchants",
    "suppliers": "dim_suppliers",
}


def _exists(conn, schema: str, table: str, column: str | None = None) -> bool:
    sql = (
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? AND (column_name = ? OR ? IS NULL)"
    )
    return bool(conn.execute(sql, [schema, table, column, column]).fetchone()[0])


def quarantined_by_entity(conn) -> dict[str, int]:
    """Rows in the quarantine now, per entity (largest first)."""
    if not _exists(conn, "raw", "quarantine"):
        return {}
    rows = conn.execute(
        "SELECT entity, count(*) AS n FROM raw.quarantine GROUP BY entity ORDER BY n DESC, entity"
    ).fetchall()
    return {entity: int(n) for entity, n in rows}


def inferred_by_entity(conn) -> dict[str, int]:
    """Inferred members per master entity in the built dimensions (only those with any)."""
    found = {}
    for entity, table in INFERRED_DIMENSIONS.items():
        if _exists(conn, "analytics", table, "is_inferred"):
            count = conn.execute(
                f"SELECT count(*) FROM analytics.{table} WHERE is_inferred"
            ).fetchone()[0]
            if count:
                found[entity] = int(count)
    return found


def health_line(quarantined: dict[str, int], inferred: dict[str, int]) -> str:
    """``quarantined: orders 12, skus 1; inferred: skus 3 (send their master rows)``."""
    parts = []
    if quarantined:
        shown = ", ".join(f"{entity} {n:,}" for entity, n in quarantined.items())
        parts.append(f"quarantined rows: {shown} (cardpulse quarantine list)")
    else:
        parts.append("quarantined rows: none")
    if inferred:
        shown = ", ".join(f"{entity} {n:,}" for entity, n in inferred.items())
        parts.append(f"inferred members: {shown} (send their master rows)")
    return "; ".join(parts)
