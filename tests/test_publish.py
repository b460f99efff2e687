"""Snapshot publishing: a complete, atomic copy of what the dashboard reads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from snapshot_reader import snapshot_reader

from pipelines.ingest.schema import create_raw_tables
from pipelines.snapshot_writer import BuildInfo, publish_snapshot, read_dbt_results


def make_warehouse(path: Path, orders: int) -> None:
    """A warehouse with the raw layer, one mart of ``orders`` rows and one view."""
    with duckdb.connect(str(path)) as conn:
        create_raw_tables(conn)
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(
            "CREATE OR REPLACE TABLE analytics.fct_orders AS "
            "SELECT 'o' || range AS order_id, range AS units FROM range(?)",
            [orders],
        )
        conn.execute(
            "CREATE OR REPLACE VIEW analytics.v_units AS SELECT sum(units) AS units "
            "FROM analytics.fct_orders"
        )
        conn.execute(
            "INSERT INTO raw.quarantine (_file_id, file_path, entity, line, column_name, reason, "
            "raw_text, quarantined_at) VALUES ('f1', 'orders.csv', 'orders', 3, 'quantity', "
            "'quantity must be >= 1', '...', now())"
        )
        conn.execute("CREATE SCHEMA IF NOT EXISTS staging")
        conn.execute("CREATE OR REPLACE TABLE staging.stg_orders AS SELECT 1 AS x")


def build_info(build_id: str = "run-1") -> BuildInfo:
    started = dt.datetime(2026, 3, 1, 2, 0, 0)
    return BuildInfo(
        build_id=build_id,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=42),
        status="success",
        as_of=dt.date(2026, 3, 1),
        message="",
    )


def publish(warehouse: Path, snapshot: Path, build_id: str = "run-1", dbt_results=()):
    with duckdb.connect(str(warehouse)) as conn:
        return publish_snapshot(conn, snapshot, build_info(build_id), list(dbt_results))


def test_snapshot_holds_analytics_quarantine_ledger_and_build_tables(tmp_path):
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=5)

    published = publish(warehouse, snapshot)

    assert published.path == snapshot
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables"
            ).fetchall()
        }
        assert tables == {
            "analytics.fct_orders",
            "analytics.v_units",
            "analytics.build_info",
            "analytics.dbt_results",
            "raw.quarantine",
            "raw.file_ledger",
        }
        # The view is materialised: the snapshot stands alone.
        assert conn.execute("SELECT units FROM analytics.v_units").fetchone()[0] == 10
        assert conn.execute("SELECT reason FROM raw.quarantine").fetchone()[0].startswith("quant")
        row = conn.execute("SELECT build_id, status, as_of FROM analytics.build_info").fetchall()
        assert row == [("run-1", "success", dt.date(2026, 3, 1))]
    assert published.row_counts["analytics.fct_orders"] == 5
    assert published.row_counts["analytics.dbt_results"] == 0
    assert set(tmp_path.iterdir()) == {warehouse, snapshot}  # no temporary file left behind


def test_the_notification_outbox_is_published_for_the_health_page(tmp_path):
    from cardpulse.notify_settings import parse
    from pipelines.notify import outbox
    from pipelines.notify.alert_kinds import Alert

    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=1)
    config = parse(
        {"notify": {"channels": {"ops": {"type": "wecom", "webhook_url_env": "X"}},
                    "roles": {"ops": ["ops"]}, "routes": {"low_stock": ["ops"]}}}
    )  # fmt: skip
    with duckdb.connect(str(warehouse)) as conn:
        outbox.record(conn, config, [Alert("low_stock", "low_stock:S1:d", "S1", "t", "x")], "r1")
        conn.execute("CREATE TABLE ops.notify_funding_state (supplier_id VARCHAR)")
    publish(warehouse, snapshot)
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        rows = conn.execute("SELECT message_key, status FROM ops.notify_outbox").fetchall()
        ops_tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ops'"
        ).fetchall()
    assert rows == [("low_stock:S1:d@ops", "pending")]
    assert ops_tables == [("notify_outbox",)]  # state tables stay in the warehouse


def test_dbt_results_come_from_run_results_json(tmp_path):
    run_results = tmp_path / "run_results.json"
    run_results.write_text(
        json.dumps(
            {
                "results": [
                    {
                        "unique_id": "model.cardpulse.fct_orders",
                        "status": "success",
                        "failures": None,
                        "message": "OK",
                        "execution_time": 0.5,
                    },
                    {
                        "unique_id": "test.cardpulse.not_null_fct_orders_order_id.abc123",
                        "status": "fail",
                        "failures": 2,
                        "message": "Got 2 results",
                        "execution_time": 0.1,
                    },
                ]
            }
        )
    )
    results = read_dbt_results(run_results)
    assert [(r.resource_type, r.name, r.status, r.failures) for r in results] == [
        ("model", "fct_orders", "success", None),
        ("test", "not_null_fct_orders_order_id", "fail", 2),
    ]
    assert read_dbt_results(tmp_path / "missing.json") == []

    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=1)
    publish(warehouse, snapshot, dbt_results=results)
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        failed = conn.execute(
            "SELECT name, failures FROM analytics.dbt_results WHERE status = 'fail'"
        ).fetchall()
    assert failed == [("not_null_fct_orders_order_id", 2)]


def test_stale_wal_beside_the_snapshot_is_removed(tmp_path):
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=3)
    stale_wal = tmp_path / "snapshot.duckdb.wal"
    stale_wal.write_bytes(b"left over by a crashed writer")

    publish(warehouse, snapshot)

    assert not stale_wal.exists()
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.fct_orders").fetchone()[0] == 3


def test_failed_publish_keeps_the_old_snapshot(tmp_path):
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=3)
    publish(warehouse, snapshot, build_id="good")
    broken = BuildInfo("bad", None, None, "success", None)  # NOT NULL columns: the insert fails

    with duckdb.connect(str(warehouse)) as conn, pytest.raises(duckdb.Error):
        publish_snapshot(conn, snapshot, broken, [])

    with duckdb.connect(str(snapshot), read_only=True) as conn:
        assert conn.execute("SELECT build_id FROM analytics.build_info").fetchall() == [("good",)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["snapshot.duckdb", "warehouse.duckdb"]


def test_reader_holding_the_snapshot_open_sees_new_data_after_reconnecting(tmp_path):
    warehouse, snapshot = tmp_path / "warehouse.duckdb", tmp_path / "snapshot.duckdb"
    make_warehouse(warehouse, orders=3)
    publish(warehouse, snapshot, build_id="first")
    with snapshot_reader(snapshot) as ask:
        assert ask("count") == 3
        make_warehouse(warehouse, orders=7)
        publish(warehouse, snapshot, build_id="second")  # while the reader holds the file open
        assert ask("count") == 3  # the open connection still reads the old, complete file
        assert ask("reconnect") == 7
