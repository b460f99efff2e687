"""Past one machine, on Spark local[2]: the same dbt models, the same forecasts.

dbt on both targets: DuckDB from the warehouse, Spark from the lake.

The small simulated platform (dirty, so quarantine and upserts are in play; three orders paid
twice, so every reconciliation mart has rows; the last two months
of orders) is ingested once,
with the raw lake on; ``dbt run`` builds it on DuckDB and on Spark; every mart (every model in
schema ``analytics``, read from the manifest, so a new mart is covered the day it is added) must
hold the same rows on both, and the same sums to the fen. The forecast fan-out as a Spark job
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
    chosen = [p for p in files if p not in orders] + orders[-3:]
    results = ingest_paths(warehouse, chosen, lake_path=lake)
    assert not [r.error for r in results if r.error]

    timings = {}
    started = time.perf_counter()
    env = {**os.environ, "CARDPULSE_WAREHOUSE": str(warehouse)}
    done = subprocess.run(
        [
            str(DBT),
            "run",
            "--quiet",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--target-path",
            str(root / "target-duckdb"),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    timings["duckdb"] = time.perf_counter() - started

    started = time.perf_counter()
    run_dbt(spark_settings(lake), root, ["run"], target_path=root / "target-spark")
    timings["spark"] = time.perf_counter() - started
    print(f"dbt run seconds: {timings}")
    return {
        "warehouse": warehouse,
        "spark": spark,
        "marts": mart_names(root / "target-duckdb" / "manifest.json"),
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
