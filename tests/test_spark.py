"""Past one machine, on Spark local[2]: the same dbt models, the same forecasts.

dbt on both targets: DuckDB from the warehouse, Spark from the lake.

The small simulated platform (dirty, so quarantine and upserts are in play; three orders paid
twice, so every reconciliation mart has rows; two months of orders) is ingested with the raw
lake on; ``dbt run`` builds it on DuckDB and on Spark; then a later load (the next month,
orders of the first month arriving late, first-month orders refunded) is ingested and
``dbt run`` builds it incrementally on both. DuckDB's incremental marts must equal a full
refresh, and every mart (every model in schema ``analytics``, read from the manifest, so a new
mart is covered the day it is added) must hold the same rows on both targets, and the same sums
to the fen. The forecast fan-out as a Spark job
gives the same tables as on local processes.

One Spark session serves the module (starting one costs 15-30 s here).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from pipelines.engine import DEFAULT_SPARK_CONF, EngineSettings
from pipelines.ingest.load import ingest_paths
from pipelines.resources import DBT_PROJECT_DIR
from pipelines.simulator import generate

pytest.importorskip("pyspark")

DBT = Path(sys.executable).parent / "dbt"


def mart_names(manifest: Path) -> list[str]:
    nodes = json.loads(manifest.read_text())["nodes"].values()
    return sorted(
        n["name"]
        for n in nodes
        if n["resource_type"] == "model" and n["config"].get("schema") == "analytics"
    )


@pytest.fixture(scope="module")
def spark_root(tmp_path_factory):
    return tmp_path_factory.mktemp("spark")


def spark_settings(lake: Path | None = None) -> EngineSettings:
    # One process builds and compares: no metastore to keep (Derby costs seconds per table).
    conf = {**DEFAULT_SPARK_CONF, "spark.sql.catalogImplementation": "in-memory"}
    conf["spark.sql.shuffle.partitions"] = "2"
    return EngineSettings(
        lake=lake,
        dbt_target="spark" if lake else "duckdb",
        spark_master="local[2]",
        spark_conf=conf,
    )


@pytest.fixture(scope="module")
def spark(spark_root):
    from pipelines.spark_build import spark_session

    session = spark_session(spark_settings(), spark_root)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def two_targets(spark, spark_root):
    """Ingest once (lake on), dbt run on DuckDB (a subprocess) and on Spark (in-process)."""
    from pipelines.spark_build import run_dbt

    root = spark_root
    export = root / "export"
    generate(export, scale="small", seed=5, dirty=True, fmt="parquet")
    # Three late orders paid twice (a duplicate callback), so recon_orders_payments has rows.
    last_month = sorted(export.glob("orders_*"))[-1]
    duckdb.sql(
        "COPY (SELECT 'PX' || payment_id AS payment_id, order_id, channel, amount, fee, status,"
        " created_at + INTERVAL 5 MINUTE AS created_at,"
        " callback_at + INTERVAL 5 MINUTE AS callback_at, gateway_trade_no"
        f" FROM read_parquet('{export / 'payments.parquet'}') WHERE status = 'success'"
        f" AND order_id IN (SELECT order_id FROM read_parquet('{last_month}'))"
        f" ORDER BY payment_id LIMIT 3) TO '{export / 'payments_twice.parquet'}' (FORMAT parquet)"
    )
    warehouse, lake = root / "warehouse.duckdb", root / "lake"
    # Every entity, but only the last three months of orders: Spark's cost here is per model
    # and per file, and the comparison needs variety, not volume (with seed 5 the third month
    # holds a coupon's week, so fct_coupon_daily has rows to compare).
    files = sorted(p for p in export.iterdir() if p.is_file())
    orders = [p for p in files if p.name.startswith("orders")]
    chosen = [p for p in files if p not in orders] + orders[-3:-1]
    results = ingest_paths(warehouse, chosen, lake_path=lake)
    assert not [r.error for r in results if r.error]

    timings = {}
    env = {**os.environ, "CARDPULSE_WAREHOUSE": str(warehouse)}

    def dbt_duckdb(*extra: str) -> None:
        done = subprocess.run(
            [
                str(DBT), "run", "--quiet", *extra,
                "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR),
                "--target-path", str(root / "target-duckdb"),
            ],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    def both_targets(label: str) -> None:
        started = time.perf_counter()
        dbt_duckdb()
        timings[f"duckdb {label}"] = time.perf_counter() - started
        started = time.perf_counter()
        run_dbt(spark_settings(lake), root, ["run"], target_path=root / "target-spark")
        timings[f"spark {label}"] = time.perf_counter() - started

    both_targets("full")
    # The next load, built incrementally on both targets: the last month of orders, orders
    # placed in the first month that arrive late, and first-month orders refunded since.
    later = root / "later"
    later.mkdir()
    write_late_orders(orders[-3], later / "orders_late.parquet")
    results = ingest_paths(warehouse, [orders[-1], later / "orders_late.parquet"], lake_path=lake)
    assert not [r.error for r in results if r.error]
    both_targets("incremental")
    print(f"dbt run seconds: {timings}")
    marts = mart_names(root / "target-duckdb" / "manifest.json")
    incremental = duckdb_rows(warehouse, marts)
    dbt_duckdb("--full-refresh")
    return {
        "warehouse": warehouse,
        "spark": spark,
        "marts": marts,
        "incremental_duckdb": incremental,
    }


def write_late_orders(month_file: Path, path: Path) -> None:
    """Forty orders of ``month_file`` under new ids (placed then, loaded now) and forty of its
    paid or delivered orders refunded (same ids: a newer version)."""
    with duckdb.connect() as conn:
        conn.execute(
            f"""COPY (
                    (SELECT * REPLACE ('late-' || order_id AS order_id)
                     FROM read_parquet('{month_file}') ORDER BY order_id LIMIT 40)
                    UNION ALL
                    (SELECT * REPLACE (
                         'refunded' AS status,
                         CAST(TRY_CAST(updated_at AS TIMESTAMP) + INTERVAL 1 DAY AS VARCHAR)
                             AS updated_at
                     )
                     FROM read_parquet('{month_file}')
                     WHERE status IN ('paid', 'delivered')
                         AND TRY_CAST(updated_at AS TIMESTAMP) IS NOT NULL
                     ORDER BY order_id DESC LIMIT 40)
                ) TO '{path}' (FORMAT parquet)"""
        )


def duckdb_rows(warehouse: Path, marts: list[str]) -> dict[str, list]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return {
            mart: sorted(
                (
                    tuple(map(normalise, r))
                    for r in conn.execute(f"SELECT * FROM analytics.{mart}").fetchall()
                ),
                key=sort_key,
            )
            for mart in marts
        }


def normalise(value):
    """One comparable form for both engines' Python values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, Decimal):
        return value.normalize()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    return value


def sort_key(row: tuple) -> tuple:
    return tuple((v is None, str(v)) for v in row)


def test_every_mart_is_covered(two_targets):
    marts = two_targets["marts"]
    assert {"fct_orders", "fct_daily_sku_sales", "dim_merchant_hierarchy"} <= set(marts)
    spark_tables = {
        r.tableName for r in two_targets["spark"].sql("SHOW TABLES IN analytics").collect()
    }
    assert set(marts) <= spark_tables


def test_incremental_runs_equal_a_full_rebuild(two_targets):
    """After the later load, DuckDB's incremental marts equal a full refresh of the same raw
    rows; Spark's incremental marts equal DuckDB's (the next test, which reads the refreshed
    DuckDB tables): so on both targets incremental == full."""
    rebuilt = duckdb_rows(two_targets["warehouse"], two_targets["marts"])
    differing = [m for m in rebuilt if rebuilt[m] != two_targets["incremental_duckdb"][m]]
    assert differing == []
    late = [r for r in rebuilt["fct_orders"] if str(r[0]).startswith("late-")]
    assert len(late) == 40


def test_every_mart_holds_the_same_rows_and_sums_on_both_targets(two_targets):
    spark = two_targets["spark"]
    conn = duckdb.connect(str(two_targets["warehouse"]), read_only=True)
    try:
        for mart in two_targets["marts"]:
            described = conn.execute(f"DESCRIBE analytics.{mart}").fetchall()
            columns = [name for name, *_ in described]
            money = [name for name, kind, *_ in described if kind.startswith("DECIMAL")]
            on_duckdb = conn.execute(f"SELECT * FROM analytics.{mart}").fetchall()
            frame = spark.table(f"analytics.{mart}")
            assert sorted(c.lower() for c in frame.columns) == sorted(columns), mart
            on_spark = [tuple(row) for row in frame.select(*columns).collect()]

            assert len(on_spark) == len(on_duckdb), mart
            assert len(on_duckdb) > 0, f"{mart} is empty: the comparison would prove nothing"
            for index, name in enumerate(columns):
                if name in money:
                    duck_sum = sum(r[index] for r in on_duckdb if r[index] is not None)
                    spark_sum = sum(r[index] for r in on_spark if r[index] is not None)
                    assert duck_sum == spark_sum, f"{mart}.{name}: {duck_sum} vs {spark_sum}"
            duck_rows = sorted((tuple(map(normalise, r)) for r in on_duckdb), key=sort_key)
            spark_rows = sorted((tuple(map(normalise, r)) for r in on_spark), key=sort_key)
            differ = [(d, s) for d, s in zip(duck_rows, spark_rows, strict=True) if d != s]
            assert not differ, f"{mart}: {len(differ)} rows differ, e.g. {differ[0]}"
    finally:
        conn.close()


def test_forecast_fan_out_on_spark_gives_the_same_tables(spark):
    """forecast_demand's per-series tasks as a groupBy().applyInPandas job: same output."""
    from forecasting.demand.pipeline import forecast_demand
    from forecasting.demand.synthetic import synthetic_inputs

    as_of = dt.date(2025, 11, 1)
    inputs, _ = synthetic_inputs({"A": 30.0, "B": 4.0, "C": 0.6}, as_of, days=120, stockout_sku="A")
    local = forecast_demand(inputs, as_of, workers=1, chunk_size=1)
    on_spark = forecast_demand(inputs, as_of, chunk_size=1, spark=spark)
    assert len(local.forecast) and set(local.forecast["sku_id"]) == {"A", "B", "C"}
    pd.testing.assert_frame_equal(local.forecast, on_spark.forecast)
    pd.testing.assert_frame_equal(local.backtest, on_spark.backtest)
    pd.testing.assert_frame_equal(local.merchant_forecast, on_spark.merchant_forecast)
