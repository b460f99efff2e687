"""Queries of the risk and reconciliation page (issue #19), on the published snapshot.

Platform roles only (a merchant never sees another party's discrepancies or buyer keys); a
missing table gives an empty frame. ``kind`` is returned as ``discrepancy_kind`` /
``signal_kind`` so the page shows it in words; ids holding codes are left out.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data.access import Scope, require_platform
from dashboard.data.snapshot import has_tables, read_frame

RECON_TABLES = ("recon_orders_payments", "recon_card_keys", "recon_supplier_balances")


def recon_summary(conn, scope: Scope) -> pd.DataFrame:
    """Open and resolved discrepancies per kind, with their amount in CNY."""
    require_platform(scope)
    parts = [
        f"SELECT kind, status, amount FROM analytics.{t}"
        for t in RECON_TABLES
        if has_tables(conn, f"analytics.{t}")
    ]
    if not parts:
        return pd.DataFrame()
    return read_frame(
        conn,
        "SELECT kind AS discrepancy_kind, status, count(*)::BIGINT AS discrepancies, "
        "CAST(sum(amount) AS DOUBLE) AS amount FROM (" + " UNION ALL ".join(parts) + ") "
        "GROUP BY ALL ORDER BY status, amount DESC",
    )


def recon_rows(conn, scope: Scope, table: str) -> pd.DataFrame:
    """Every discrepancy of one recon table, open ones first, largest amount first."""
    require_platform(scope)
    if table not in RECON_TABLES or not has_tables(conn, f"analytics.{table}"):
        return pd.DataFrame()
    return read_frame(
        conn,
        f"SELECT * EXCLUDE (discrepancy_id, kind, as_of_date, amount), kind AS discrepancy_kind, "
        f"CAST(amount AS DOUBLE) AS amount FROM analytics.{table} "
        "ORDER BY status, amount DESC",
    )


def risk_rows(conn, scope: Scope) -> pd.DataFrame:
    """Today's risk signals with their evidence, highest score first."""
    require_platform(scope)
    if not has_tables(conn, "analytics.risk_signals"):
        return pd.DataFrame()
    held = {d[0] for d in conn.execute("SELECT * FROM analytics.risk_signals LIMIT 0").description}
    # Evidence in both languages (the page shows the viewer's); a snapshot from before
    # evidence_zh has the English only.
    evidence = "evidence, evidence_zh" if "evidence_zh" in held else "evidence"
    return read_frame(
        conn,
        "SELECT kind AS signal_kind, subject_type, left(subject, 16) AS subject, window_start, "
        f"window_end, orders, CAST(amount AS DOUBLE) AS amount, score, {evidence}, order_ids, "
        "first_seen, status, is_new FROM analytics.risk_signals ORDER BY status, score DESC",
    )


QUERIES = {"recon_summary": recon_summary, "recon_rows": recon_rows, "risk_rows": risk_rows}
