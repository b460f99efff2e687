"""Publishing after a daily build: the previous snapshot, brought up to the warehouse (issue 21).

The new snapshot starts as a byte copy of the previous one and only what differs is rewritten:
day-keyed tables by day, others whole. Whatever path it takes, the published snapshot must hold
exactly what a fresh publish of the same warehouse holds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from test_publish import publish

from pipelines.ingest.schema import create_raw_tables


def make_warehouse(path: Path) -> None:
    """Raw layer, a day-keyed mart over ten days, a dimension and a view."""
    with duckdb.connect(str(path)) as conn:
        create_raw_tables(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(
            """CREATE TABLE analytics.fct_daily AS
               SELECT DATE '2026-01-01' + (range % 10)::INTEGER AS order_date,
                      'sku' || (range % 7) AS sku_id, range AS units
               FROM range(1000)"""
        )
        conn.execute(
            "CREATE TABLE analytics.dim_skus AS SELECT 'sku' || range AS sku_id FROM range(7)"
        )
        conn.execute(
            "CREATE VIEW analytics.v_units AS SELECT sum(units) AS units FROM analytics.fct_daily"
        )


def contents(snapshot: Path) -> dict[str, list]:
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        tables = conn.execute(
            """SELECT table_schema, table_name FROM information_schema.tables
               WHERE table_name NOT IN ('build_info', 'dbt_results') ORDER BY 1, 2"""
        ).fetchall()
        return {
            f"{schema}.{table}": sorted(
                conn.execute(f'SELECT * FROM "{schema}"."{table}"').fetchall(), key=repr
            )
            for schema, table in tables
        }


def change_warehouse(path: Path) -> None:
    """A daily build's changes: one day rewritten, a new day, a day gone, a dimension row,
    a new mart, a mart dropped, a mart whose columns changed."""
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "UPDATE analytics.fct_daily SET units = units + 1 WHERE order_date = DATE '2026-01-03'"
        )
        conn.execute("DELETE FROM analytics.fct_daily WHERE order_date = DATE '2026-01-05'")
        conn.execute(
            "INSERT INTO analytics.fct_daily "
            "VALUES (DATE '2026-01-11', 'sku1', 5), (NULL, 'sku2', 6)"
        )
        conn.execute("INSERT INTO analytics.dim_skus VALUES ('sku99')")
        conn.execute("CREATE TABLE analytics.fct_new AS SELECT 1 AS x")
        conn.execute("DROP VIEW analytics.v_units")
        conn.execute("CREATE TABLE analytics.v_units AS SELECT 1.5 AS units, 'x' AS note")


def test_a_daily_publish_equals_a_fresh_one(tmp_path):
    warehouse, snapshot, fresh = (tmp_path / n for n in ("w.duckdb", "s.duckdb", "f.duckdb"))
    make_warehouse(warehouse)
    first = publish(warehouse, snapshot, build_id="day-1")
    assert first.row_counts["analytics.fct_daily"] == 1000
    change_warehouse(warehouse)

    second = publish(warehouse, snapshot, build_id="day-2")
    publish(warehouse, fresh, build_id="day-2")

    assert contents(snapshot) == contents(fresh)
    assert "analytics.fct_new" in contents(snapshot)
    assert second.row_counts["analytics.fct_daily"] == 1000 - 100 + 2
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        assert conn.execute("SELECT build_id FROM analytics.build_info").fetchall() == [("day-2",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.duckdb", "s.duckdb", "w.duckdb"]


def test_a_wrong_day_in_the_previous_snapshot_is_put_right(tmp_path):
    """The comparison is with the previous snapshot's contents, not with what the build says
    it changed: a day altered there (and a dimension row) is rewritten from the warehouse."""
    warehouse, snapshot, fresh = (tmp_path / n for n in ("w.duckdb", "s.duckdb", "f.duckdb"))
    make_warehouse(warehouse)
    publish(warehouse, snapshot)
    with duckdb.connect(str(snapshot)) as conn:
        conn.execute("UPDATE analytics.fct_daily SET units = -1 WHERE units = 7")
        conn.execute("UPDATE analytics.dim_skus SET sku_id = 'wrong' WHERE sku_id = 'sku0'")
    publish(warehouse, snapshot, build_id="run-2")
    publish(warehouse, fresh)
    assert contents(snapshot) == contents(fresh)


def test_an_unreadable_previous_snapshot_is_replaced_by_a_fresh_one(tmp_path):
    warehouse, snapshot, fresh = (tmp_path / n for n in ("w.duckdb", "s.duckdb", "f.duckdb"))
    make_warehouse(warehouse)
    snapshot.write_bytes(b"not a database" * 100)
    publish(warehouse, snapshot)
    publish(warehouse, fresh)
    assert contents(snapshot) == contents(fresh)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.duckdb", "s.duckdb", "w.duckdb"]
