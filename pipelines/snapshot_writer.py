"""Publishing: replace the dashboard's read-only snapshot atomically after a successful build.

A DuckDB file takes one writer or many readers across processes, never both, so the dashboard
never opens the warehouse. Each build writes a complete new snapshot file beside the old one,
checkpoints and closes it, then renames it over the old one. A reader still holding the old
file keeps reading it (the old inode lives until it closes); a reader that reconnects sees the
new build. Nothing half-written ever carries the snapshot's name.

A daily build changes a few days of the large marts: the new file starts as a byte copy of the
previous snapshot (the file system's copy, no decoding or compressing), then only what differs
from the warehouse is rewritten: a table with an ``order_date`` column day by day (the days
whose row count or row-hash sum differ), any other table whole when its count or hash sum
differs (issue 21). Without a previous snapshot, or one DuckDB cannot open, every table is
copied.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

# Raw tables the dashboard shows next to the marts (data quality pages).
PUBLISHED_RAW_TABLES = ("quarantine", "file_ledger")

# Operational tables shown on the data-health page (the notification outbox's status).
PUBLISHED_OPS_TABLES = ("notify_outbox",)

# Tables written at publish time; a warehouse table of the same name is not copied.
PUBLISH_TIME_TABLES = ("build_info", "dbt_results")

_BUILD_INFO_DDL = """
    build_id VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    status VARCHAR NOT NULL,
    as_of DATE,
    message VARCHAR"""

_DBT_RESULTS_DDL = """
    unique_id VARCHAR NOT NULL,
    resource_type VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    failures BIGINT,
    message VARCHAR,
    execution_seconds DOUBLE"""

_SNAPSHOT_ALIAS = "snapshot_new"


@dataclass(frozen=True)
class BuildInfo:
    """One build, as the dashboard shows it ("data as of ..., built at ...")."""

    build_id: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: str
    as_of: dt.date | None
    message: str = ""


@dataclass(frozen=True)
class DbtResult:
    """One dbt node's outcome (model, test, unit test, seed) from ``run_results.json``."""

    unique_id: str
    resource_type: str
    name: str
    status: str
    failures: int | None
    message: str | None
    execution_seconds: float | None


@dataclass(frozen=True)
class PublishedSnapshot:
    """Where the snapshot went and the row count of every table in it (``schema.table``)."""

    path: Path
    row_counts: dict[str, int]


def read_dbt_results(run_results_path: Path) -> list[DbtResult]:
    """Read dbt's ``run_results.json`` into one row per node.

    1. A missing file (dbt did not run in this build) gives no rows.
    2. ``unique_id`` is ``<resource_type>.<package>.<name>[.<hash>]``: type and name come from it.
    """
    if not run_results_path.exists():
        return []
    payload = json.loads(run_results_path.read_text(encoding="utf-8"))
    results = []
    for result in payload.get("results", []):
        unique_id = result["unique_id"]
        parts = unique_id.split(".")
        results.append(
            DbtResult(
                unique_id=unique_id,
                resource_type=parts[0],
                name=parts[2] if len(parts) > 2 else unique_id,
                status=str(result.get("status")),
                failures=result.get("failures"),
                message=result.get("message"),
                execution_seconds=result.get("execution_time"),
            )
        )
    return results


def publish_snapshot(
    warehouse_conn,
    snapshot_path: Path,
    build_info: BuildInfo,
    dbt_results: list[DbtResult],
) -> PublishedSnapshot:
    """Replace ``snapshot_path`` with a fresh copy of what the dashboard reads.

    1. Write a new file beside the snapshot: schema ``analytics`` (views materialised as
       tables), ``raw.quarantine``, ``raw.file_ledger``, plus ``analytics.build_info`` and
       ``analytics.dbt_results`` for this build.
    2. CHECKPOINT and detach it, so the file is complete and no ``.wal`` belongs to it.
    3. Remove any stale ``.wal`` beside the old snapshot (DuckDB would replay it onto the new
       file), then ``os.replace`` the new file over the old one: one atomic rename.

    ``warehouse_conn`` is an open connection to the warehouse; it is left open.
    """
    snapshot_path = Path(snapshot_path)
    snapshot_path.parent.mkdir(parents=True, exist_ok=True)
    new_path = snapshot_path.with_name(f"{snapshot_path.name}.{os.getpid()}.new")
    _remove_database_files(new_path)
    warehouse_db = warehouse_conn.execute("SELECT current_database()").fetchone()[0]
    updating = _start_from_previous(warehouse_conn, snapshot_path, new_path)
    if not updating:
        warehouse_conn.execute(f"ATTACH {_sql_string(str(new_path))} AS {_SNAPSHOT_ALIAS}")
    try:
        if updating:
            row_counts = _update_published_tables(warehouse_conn, warehouse_db)
        else:
            row_counts = _copy_published_tables(warehouse_conn, warehouse_db)
        row_counts.update(_write_build_tables(warehouse_conn, build_info, dbt_results))
        warehouse_conn.execute(f"CHECKPOINT {_SNAPSHOT_ALIAS}")
    except BaseException:
        warehouse_conn.execute(f"DETACH {_SNAPSHOT_ALIAS}")
        _remove_database_files(new_path)
        raise
    warehouse_conn.execute(f"DETACH {_SNAPSHOT_ALIAS}")
    _remove_file(_wal_path(new_path))  # empty after CHECKPOINT; never carried along
    _remove_file(_wal_path(snapshot_path))
    os.replace(new_path, snapshot_path)
    return PublishedSnapshot(path=snapshot_path, row_counts=row_counts)


def analytics_row_counts(conn, database: str | None = None) -> dict[str, int]:
    """Row count of every table and view in schema ``analytics`` (of ``database`` if given)."""
    where_db = f"AND table_catalog = {_sql_string(database)}" if database else ""
    tables = conn.execute(
        f"""SELECT table_catalog, table_name FROM information_schema.tables
            WHERE table_schema = 'analytics' {where_db} ORDER BY table_name"""
    ).fetchall()
    return {
        f"analytics.{table}": conn.execute(
            f"SELECT count(*) FROM {_qualified(catalog, 'analytics', table)}"
        ).fetchone()[0]
        for catalog, table in tables
    }


def _published_sources(conn, warehouse_db: str) -> list[tuple[str, str]]:
    """(schema, table) of every warehouse table the snapshot publishes."""
    sources = conn.execute(
        """SELECT table_schema, table_name FROM information_schema.tables
           WHERE table_catalog = ? AND table_schema = 'analytics'
           ORDER BY table_name""",
        [warehouse_db],
    ).fetchall()
    raw_present = {
        name
        for (name,) in conn.execute(
            """SELECT table_name FROM information_schema.tables
               WHERE table_catalog = ? AND table_schema = 'raw'""",
            [warehouse_db],
        ).fetchall()
    }
    ops_present = {
        name
        for (name,) in conn.execute(
            """SELECT table_name FROM information_schema.tables
               WHERE table_catalog = ? AND table_schema = 'ops'""",
            [warehouse_db],
        ).fetchall()
    }
    sources = [(s, t) for s, t in sources if t not in PUBLISH_TIME_TABLES]
    sources += [("raw", t) for t in PUBLISHED_RAW_TABLES if t in raw_present]
    sources += [("ops", t) for t in PUBLISHED_OPS_TABLES if t in ops_present]
    return sources


def _copy_published_tables(conn, warehouse_db: str) -> dict[str, int]:
    """Copy schema analytics and the published raw and ops tables into the new snapshot."""
    sources = _published_sources(conn, warehouse_db)
    for schema in ("analytics", "raw", "ops"):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_SNAPSHOT_ALIAS}.{schema}")
    row_counts = {}
    for schema, table in sources:
        target = _qualified(_SNAPSHOT_ALIAS, schema, table)
        conn.execute(
            f"CREATE TABLE {target} AS SELECT * FROM {_qualified(warehouse_db, schema, table)}"
        )
        (rows,) = conn.execute(f"SELECT count(*) FROM {target}").fetchone()
        row_counts[f"{schema}.{table}"] = rows
    return row_counts


def _start_from_previous(conn, snapshot_path: Path, new_path: Path) -> bool:
    """Byte-copy the previous snapshot to ``new_path`` and attach it as the new snapshot.

    False (nothing attached, nothing left at ``new_path``) when there is no previous snapshot
    or DuckDB cannot open the copy: the caller then writes every table afresh."""
    if not snapshot_path.exists():
        return False
    try:
        shutil.copyfile(snapshot_path, new_path)
        conn.execute(f"ATTACH {_sql_string(str(new_path))} AS {_SNAPSHOT_ALIAS}")
    except Exception:  # noqa: BLE001 - any unreadable previous snapshot: write a fresh one
        _remove_database_files(new_path)
        return False
    return True


def _columns(conn, database: str, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_catalog = ? AND table_schema = ? AND table_name = ?
           ORDER BY ordinal_position""",
        [database, schema, table],
    ).fetchall()


def _fingerprint_sql(table: str, by_day: bool) -> str:
    """Row count and the sum of every row's hash (order-free), per order_date or whole."""
    if by_day:
        return (
            f"SELECT order_date, count(*) AS n, sum(hash(*COLUMNS(*))::HUGEINT) AS h "
            f"FROM {table} GROUP BY order_date"
        )
    return f"SELECT count(*) AS n, sum(hash(*COLUMNS(*))::HUGEINT) AS h FROM {table}"


def _update_published_tables(conn, warehouse_db: str) -> dict[str, int]:
    """Bring the copied previous snapshot up to the warehouse, rewriting only what differs.

    1. Tables the warehouse no longer publishes, and this build's own tables, are dropped.
    2. A new table, or one whose columns changed, is copied whole.
    3. A table with ``order_date``: the days whose count or hash sum differ are deleted and
       inserted again from the warehouse.
    4. Any other table is copied again when its count or hash sum differs.
    """
    sources = _published_sources(conn, warehouse_db)
    present = conn.execute(
        """SELECT table_schema, table_name FROM information_schema.tables
           WHERE table_catalog = ?""",
        [_SNAPSHOT_ALIAS],
    ).fetchall()
    for schema, table in present:
        if (schema, table) not in sources:
            conn.execute(f"DROP TABLE {_qualified(_SNAPSHOT_ALIAS, schema, table)}")
    for schema in ("analytics", "raw", "ops"):
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_SNAPSHOT_ALIAS}.{schema}")
    row_counts = {}
    for schema, table in sources:
        source = _qualified(warehouse_db, schema, table)
        target = _qualified(_SNAPSHOT_ALIAS, schema, table)
        columns = _columns(conn, warehouse_db, schema, table)
        if (schema, table) not in present or columns != _columns(
            conn, _SNAPSHOT_ALIAS, schema, table
        ):
            conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}")
        elif "order_date" in {name for name, _ in columns}:
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE publish_days AS
                    SELECT coalesce(w.order_date, s.order_date) AS order_date
                    FROM ({_fingerprint_sql(source, True)}) AS w
                    FULL JOIN ({_fingerprint_sql(target, True)}) AS s
                        ON w.order_date IS NOT DISTINCT FROM s.order_date
                    WHERE w.n IS DISTINCT FROM s.n OR w.h IS DISTINCT FROM s.h"""
            )
            in_days = (
                "order_date IN (SELECT order_date FROM publish_days) OR (order_date IS NULL "
                "AND EXISTS (SELECT 1 FROM publish_days WHERE order_date IS NULL))"
            )
            conn.execute(f"DELETE FROM {target} WHERE {in_days}")
            conn.execute(f"INSERT INTO {target} SELECT * FROM {source} WHERE {in_days}")
            conn.execute("DROP TABLE publish_days")
        elif (
            conn.execute(_fingerprint_sql(source, False)).fetchone()
            != conn.execute(_fingerprint_sql(target, False)).fetchone()
        ):
            conn.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {source}")
        (rows,) = conn.execute(f"SELECT count(*) FROM {target}").fetchone()
        row_counts[f"{schema}.{table}"] = rows
    return row_counts


def _write_build_tables(conn, build_info: BuildInfo, dbt_results: list[DbtResult]) -> dict:
    """Write analytics.build_info (one row, this build) and analytics.dbt_results."""
    build_info_table = _qualified(_SNAPSHOT_ALIAS, "analytics", "build_info")
    dbt_results_table = _qualified(_SNAPSHOT_ALIAS, "analytics", "dbt_results")
    conn.execute(f"CREATE TABLE {build_info_table} ({_BUILD_INFO_DDL})")
    conn.execute(
        f"INSERT INTO {build_info_table} VALUES (?, ?, ?, ?, ?, ?)",
        [
            build_info.build_id,
            build_info.started_at,
            build_info.finished_at,
            build_info.status,
            build_info.as_of,
            build_info.message,
        ],
    )
    conn.execute(f"CREATE TABLE {dbt_results_table} ({_DBT_RESULTS_DDL})")
    if dbt_results:
        conn.executemany(
            f"INSERT INTO {dbt_results_table} VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    r.unique_id,
                    r.resource_type,
                    r.name,
                    r.status,
                    r.failures,
                    r.message,
                    r.execution_seconds,
                ]
                for r in dbt_results
            ],
        )
    return {"analytics.build_info": 1, "analytics.dbt_results": len(dbt_results)}


def _qualified(*parts: str) -> str:
    return ".".join('"' + part.replace('"', '""') + '"' for part in parts)


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _wal_path(database_path: Path) -> Path:
    return database_path.with_name(database_path.name + ".wal")


def _remove_file(path: Path) -> None:
    path.unlink(missing_ok=True)


def _remove_database_files(path: Path) -> None:
    _remove_file(path)
    _remove_file(_wal_path(path))
