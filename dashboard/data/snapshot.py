"""The published snapshot, opened read-only, and the small helpers every page's queries use
on it: a frame with dates kept as dates, which tables and columns it holds.

A missing snapshot or a table that is not built yet gives an empty frame, never an error: each
query checks with ``has_tables`` / ``has_rows`` first.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import duckdb
import pandas as pd

# The trailing window (days) of the pages' "last 28 days" figures.
TRAILING_DAYS = 28


class SnapshotRef(NamedTuple):
    """The snapshot file and its version (inode, mtime, size): a new build gives a new key."""

    path: str
    version: tuple[int, int, int] | None


def snapshot_ref(path: Path | str) -> SnapshotRef:
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return SnapshotRef(str(path), None)
    return SnapshotRef(str(path), (stat.st_ino, stat.st_mtime_ns, stat.st_size))


def read_frame(conn, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    """Run a query; DATE columns stay dates (pandas would make them midnight timestamps)."""
    result = conn.execute(sql, params or [])
    dates = [name for name, kind, *_ in result.description if str(kind) == "DATE"]
    frame = result.fetch_df()
    for name in dates:
        if name in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[name]):
            frame[name] = frame[name].dt.date.astype(object).where(frame[name].notna(), None)
    return frame


def tables(conn) -> frozenset[str]:
    """Qualified names (``analytics.fct_orders``) of every table and view in the snapshot."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
    ).fetchall()
    return frozenset(row[0] for row in rows)


def table_columns(conn, name: str) -> frozenset[str]:
    schema, table = name.split(".")
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ?",
        [schema, table],
    ).fetchall()
    return frozenset(row[0] for row in rows)


def sku_columns(conn, table: str) -> tuple[str, str]:
    """Select items (each followed by ", ") and the JOIN that add the SKU's name and category
    to ``r``, unless the table carries them already (no duplicate column names)."""
    if "analytics.dim_skus" not in tables(conn):
        return "r.sku_id AS sku_name, ", ""
    own = table_columns(conn, table)
    picked = "" if "sku_name" in own else "k.name AS sku_name, "
    picked += "" if "category" in own else "k.category, "
    return picked, "LEFT JOIN analytics.dim_skus k ON k.sku_id = r.sku_id "


def has_tables(conn, *names: str) -> bool:
    present = tables(conn)
    return all(name in present for name in names)


def has_rows(conn, name: str) -> bool:
    return has_tables(conn, name) and conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0] > 0


def connect(path: Path | str):
    """A read-only view of the snapshot file (never the warehouse a build is writing).

    The file is ATTACHed to a private in-memory database rather than opened with
    ``duckdb.connect(path)``: DuckDB shares one instance per path within a process, which would
    keep serving the old file after a build replaces it with ``os.replace``.
    """
    connection = duckdb.connect(":memory:")
    try:
        connection.execute("ATTACH ? AS snapshot (READ_ONLY)", [str(path)])
        connection.execute("USE snapshot")
    except BaseException:
        connection.close()
        raise
    return connection


_handles_lock = threading.Lock()
_handles: dict[str, tuple[tuple[int, int, int], Any]] = {}


def cursor_on(snapshot: SnapshotRef):
    """A cursor on the handle for this snapshot version, opening a new one when the file changed.

    A superseded handle is only dropped, not closed: a query still running on it in another
    session finishes on the old file, and the handle goes once its last cursor is closed.
    """
    with _handles_lock:
        held = _handles.get(snapshot.path)
        if held is None or held[0] != snapshot.version:
            held = (snapshot.version, connect(snapshot.path))
            _handles[snapshot.path] = held
        cursor = held[1].cursor()
    cursor.execute("USE snapshot")
    return cursor
