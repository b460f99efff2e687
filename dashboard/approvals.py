"""Approved prices, kept in ``$CARDPULSE_HOME/approvals.duckdb``.

The snapshot is read-only and replaced by every build, so approvals live in their own small
DuckDB file: one row per recommendation approved (SKU x region x the recommendation's
``as_of``). Approving the same recommendation again at the same price changes nothing; at a
new price it replaces the row (who and when included). Only the pricing and admin roles may
write, checked here rather than by hiding a button; every platform role may read the history.

Each call opens the file, does its work in one transaction and closes it, so dashboards in
several processes take turns; a file another process holds is retried for a moment, then
reported as busy. Within one process a lock serialises the calls (DuckDB's file lock does not
guard two handles of one process).
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from dashboard.data.access import APPROVER_ROLES, PLATFORM_ROLES, Scope

TABLE = "approved_prices"
COLUMNS = [
    "sku_id", "region_code", "as_of", "current_price", "approved_price", "unit_cost",
    "action", "guardrails_hit", "approved_by", "approved_at",
]  # fmt: skip
DDL = f"""
CREATE TABLE IF NOT EXISTS approvals.{TABLE} (
    sku_id VARCHAR NOT NULL,
    region_code VARCHAR NOT NULL,
    as_of DATE NOT NULL,
    current_price DECIMAL(18, 2),
    approved_price DECIMAL(18, 2) NOT NULL,
    unit_cost DECIMAL(18, 2),
    action VARCHAR,
    guardrails_hit VARCHAR,
    approved_by VARCHAR NOT NULL,
    approved_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sku_id, region_code, as_of)
)"""
UPSERT = f"""
INSERT INTO approvals.{TABLE} ({", ".join(COLUMNS)}) VALUES ({", ".join("?" * len(COLUMNS))})
ON CONFLICT (sku_id, region_code, as_of) DO UPDATE SET
    current_price = excluded.current_price, approved_price = excluded.approved_price,
    unit_cost = excluded.unit_cost, action = excluded.action,
    guardrails_hit = excluded.guardrails_hit, approved_by = excluded.approved_by,
    approved_at = excluded.approved_at
WHERE approved_prices.approved_price <> excluded.approved_price"""
BUSY_RETRY_SECONDS = 3.0

_lock = threading.Lock()


class ApprovalsError(RuntimeError):
    """The approvals file cannot be used (not a DuckDB file, unreadable); the message says why."""


class ApprovalsBusy(ApprovalsError):
    """The approvals file stayed locked by another process."""


def approve(
    path: Path, scope: Scope, approver: str, rows: pd.DataFrame, approved_at: datetime
) -> int:
    """Store ``rows`` (price_recommendations rows: sku_id, region_code, as_of,
    recommended_price ...) as approved by ``approver``; returns how many rows were stored.

    1. Role check (pricing, admin); 2. one transaction of upserts with bound parameters;
    3. a row already approved at the same price is left as it was (not counted).
    """
    if scope.role not in APPROVER_ROLES:
        raise PermissionError("only the pricing and admin roles can approve prices")
    records = [_record(row, approver, approved_at) for row in rows.to_dict("records")]
    if not records:
        return 0
    with _open(path, write=True) as conn:
        conn.execute(DDL)
        conn.execute("BEGIN")
        try:
            stored = conn.execute(
                f"SELECT sku_id, region_code, as_of, approved_price FROM approvals.{TABLE}"
            ).fetchall()
            before = {(sku, region, day): float(price) for sku, region, day, price in stored}
            changed = sum(before.get((r[0], r[1], r[2])) != r[4] for r in records)
            conn.executemany(UPSERT, records)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return changed


REVOKED_DDL = f"""
CREATE TABLE IF NOT EXISTS approvals.revoked_prices AS
SELECT *, NULL::VARCHAR AS revoked_by, NULL::TIMESTAMPTZ AS revoked_at
FROM approvals.{TABLE} WHERE false"""


def revoke(
    path: Path,
    scope: Scope,
    revoker: str,
    keys: list[tuple[str, str, object]],
    revoked_at: datetime,
) -> int:
    """Withdraw approvals named by (sku_id, region_code, as_of); returns how many were removed.

    1. Role check (pricing, admin); 2. in one transaction, each approval is copied to
    ``revoked_prices`` with who and when, then deleted from ``approved_prices`` (the table
    the tool that applies prices reads). A key with no approval is skipped.
    """
    if scope.role not in APPROVER_ROLES:
        raise PermissionError("only the pricing and admin roles can revoke approved prices")
    wanted = [(str(sku), str(region), pd.Timestamp(day).date()) for sku, region, day in keys]
    if not wanted or not Path(path).exists():
        return 0
    with _open(path, write=True) as conn:
        conn.execute(DDL)
        conn.execute(REVOKED_DDL)
        conn.execute("BEGIN")
        try:
            removed = 0
            for key in wanted:
                where = "sku_id = ? AND region_code = ? AND as_of = ?"
                conn.execute(
                    f"INSERT INTO approvals.revoked_prices SELECT *, ?, ? "
                    f"FROM approvals.{TABLE} WHERE {where}",
                    [revoker, revoked_at, *key],
                )
                deleted = conn.execute(
                    f"DELETE FROM approvals.{TABLE} WHERE {where} RETURNING 1", list(key)
                ).fetchall()
                removed += len(deleted)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return removed


def history(path: Path, scope: Scope, limit: int = 500) -> pd.DataFrame:
    """The newest approvals first, for the platform roles; empty before the first one."""
    if scope.role not in PLATFORM_ROLES:
        raise PermissionError("approved prices are for the platform roles")
    if not Path(path).exists():
        return pd.DataFrame(columns=COLUMNS)
    with _open(path, write=False) as conn:
        if not _has_table(conn):
            return pd.DataFrame(columns=COLUMNS)
        return conn.execute(
            f"SELECT {', '.join(COLUMNS)} FROM approvals.{TABLE} "
            "ORDER BY approved_at DESC, sku_id, region_code LIMIT ?",
            [int(limit)],
        ).df()


def _record(row: dict, approver: str, approved_at: datetime) -> list:
    def number(name: str):
        value = row.get(name)
        return None if value is None or pd.isna(value) else round(float(value), 2)

    price = number("recommended_price")
    if price is None or price <= 0:
        raise ValueError(f"{row.get('sku_id')} {row.get('region_code')}: no price to approve")
    return [
        str(row["sku_id"]), str(row["region_code"]), pd.Timestamp(row["as_of"]).date(),
        number("current_price"), price, number("unit_cost"), _text(row.get("action")),
        _text(row.get("guardrails_hit")), approver, approved_at,
    ]  # fmt: skip


def _text(value) -> str | None:
    return None if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _has_table(conn) -> bool:
    return (
        conn.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE database_name = 'approvals'"
            " AND table_name = ?",
            [TABLE],
        ).fetchone()[0]
        > 0
    )


class _open:
    """An in-memory DuckDB with the approvals file attached (read-only unless ``write``),
    under the process lock; retried while another process holds the file."""

    def __init__(self, path: Path, write: bool):
        self.path, self.write = Path(path), write

    def __enter__(self):
        _lock.acquire()
        deadline = time.monotonic() + BUSY_RETRY_SECONDS
        while True:
            conn = duckdb.connect(":memory:")
            try:
                if self.write:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                mode = "" if self.write else " (READ_ONLY)"
                conn.execute(f"ATTACH ? AS approvals{mode}", [str(self.path)])
                self.conn = conn
                return conn
            except duckdb.Error as error:
                conn.close()
                reason = str(error).splitlines()[0]
                if "lock" not in reason.lower():
                    _lock.release()
                    raise ApprovalsError(reason) from error
                if time.monotonic() > deadline:
                    _lock.release()
                    raise ApprovalsBusy(reason) from error
                time.sleep(0.1)
            except BaseException:
                conn.close()
                _lock.release()
                raise

    def __exit__(self, *exc) -> None:
        try:
            self.conn.close()
        finally:
            _lock.release()
