"""The restock assets, materialised by Dagster on a tiny warehouse made here."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from dagster_duckdb import DuckDBResource

from cardpulse.settings import DEFAULT_RESTOCK
from pipelines.assets import restock
from pipelines.resources import BuildSettings

DAY_1 = dt.date(2026, 11, 6)
DBT_MODELS = Path(__file__).resolve().parent.parent / "dbt_project" / "models"
ASSETS = [restock.restock_plan, restock.purchase_orders, restock.low_stock_alerts,
          restock.funding_plan]  # fmt: skip


def create_marts(conn) -> None:
    """The marts restock reads, by hand: two card-key SKUs, one top-up, one inactive."""
    conn.execute("CREATE SCHEMA analytics")
    conn.execute("""CREATE TABLE analytics.dim_skus AS SELECT * FROM (VALUES
        ('K1', 'Q币 100', 'game_card', 'QQ', 'card_key', 'P1', 60, true),
        ('K2', 'Steam 50', 'game_card', 'Steam', 'card_key', 'P1', NULL, true),
        ('K3', '旧卡', 'game_card', 'Old', 'card_key', 'P1', NULL, false),
        ('T1', '话费 100', 'mobile_topup', 'CMCC', 'direct_topup', 'P2', NULL, true)
    ) AS t(sku_id, name, category, brand, delivery_type, supplier_id, shelf_life_days, active)""")
    conn.execute("""CREATE TABLE analytics.dim_suppliers AS SELECT * FROM (VALUES
        ('P1', '卡商', 48.0, 50, 10), ('P2', 'Topup Co', 1.0, 1, 1)
    ) AS t(supplier_id, name, lead_time_hours, min_order_qty, batch_size)""")
    conn.execute("""CREATE TABLE analytics.fct_inventory_daily (sku_id VARCHAR,
        inventory_date DATE, supplier_id VARCHAR, on_hand BIGINT, on_order BIGINT,
        expiring_7d BIGINT)""")
    conn.execute("""CREATE TABLE analytics.fct_daily_sku_sales (sku_id VARCHAR,
        region_code VARCHAR, order_date DATE, units BIGINT, gross_margin DECIMAL(18, 2),
        avg_unit_cost DECIMAL(18, 2))""")
    conn.execute("""INSERT INTO analytics.fct_daily_sku_sales VALUES
        ('K1', 'CN-GD', DATE '2026-11-01', 10, 5.00, 9.50),
        ('K2', 'CN-GD', DATE '2026-11-01', 5, 10.00, 48.00),
        ('T1', 'CN-BJ', DATE '2026-11-01', 100, 100.00, 99.00)""")
    create_dbt_view(conn, "intermediate", "int_sku_day_totals")
    conn.execute("""CREATE TABLE analytics.fct_supplier_balance_daily AS SELECT * FROM (VALUES
        ('P2', DATE '2026-11-05', 20000.00::DECIMAL(18, 2))) AS t(supplier_id, balance_date,
        balance)""")
    conn.execute("""CREATE TABLE analytics.dim_events AS SELECT * FROM (VALUES
        ('Double 11', DATE '2026-11-11', DATE '2026-11-11', 'all')
    ) AS t(name, start_date, end_date, scope)""")
    conn.execute("""CREATE TABLE analytics.demand_forecast AS
        SELECT sku_id, 'ALL' AS region_code, DATE '2026-11-06' + INTERVAL (d) DAY AS ds,
               mean AS yhat, mean * 0.8 AS yhat_lower, mean * 1.2 AS yhat_upper,
               0.8 AS interval_level, 'test' AS model
        FROM (VALUES ('K1', 10.0), ('K2', 5.0), ('K3', 5.0), ('T1', 100.0)) AS s(sku_id, mean),
             range(0, 40) AS r(d)""")


def create_dbt_view(conn, schema: str, model: str) -> None:
    """The dbt model's own SQL as a view over the hand-made marts (refs point at analytics)."""
    sql = (DBT_MODELS / schema / f"{model}.sql").read_text(encoding="utf-8")
    sql = re.sub(r"\{\{\s*ref\('(\w+)'\)\s*\}\}", r"analytics.\1", sql)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"CREATE VIEW {schema}.{model} AS {sql}")


def set_stock(conn, day: dt.date, k1: int, k2: int, on_order: int = 0) -> None:
    conn.execute(
        "INSERT INTO analytics.fct_inventory_daily VALUES (?, ?, 'P1', ?, ?, 0),"
        " (?, ?, 'P1', ?, 0, 0)",
        ["K1", day, k1, on_order, "K2", day, k2],
    )


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as conn:
        create_marts(conn)
        set_stock(conn, DAY_1 - dt.timedelta(days=1), k1=15, k2=500)
    return path


def build(path, as_of: dt.date, run_config: dict | None = None) -> None:
    result = dg.materialize(
        ASSETS,
        resources={
            "duckdb": DuckDBResource(database=str(path)),
            "build_settings": BuildSettings(as_of=as_of.isoformat()),
        },
        run_config=run_config,
    )
    assert result.success


def table(path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(f"SELECT * FROM {name} ORDER BY ALL").df()


# ../shared/CONTRACT.md: the columns each output table starts with, in order.
PLAN_CONTRACT = [
    "sku_id", "supplier_id", "as_of", "on_hand", "on_order", "daily_demand", "days_of_cover",
    "stockout_date", "safety_stock", "reorder_point", "order_qty", "order_by", "service_level",
    "reason",
]  # fmt: skip
FUNDING_CONTRACT = [
    "supplier_id", "as_of", "balance", "daily_cost", "days_of_cover", "topup_amount", "topup_by",
    "reason",
]  # fmt: skip


def test_build_writes_plan_orders_funding_and_alerts(warehouse):
    build(warehouse, DAY_1)
    for name, contract in (("restock_plan", PLAN_CONTRACT), ("funding_plan", FUNDING_CONTRACT)):
        columns = table(warehouse, f"analytics.{name}").columns
        assert list(columns[: len(contract)]) == contract, name
    plan = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    assert list(plan.index) == ["K1", "K2", "K3"]
    assert plan.loc["K1", "order_qty"] > 0 and plan.loc["K1", "order_qty"] % 10 == 0
    assert plan.loc["K2", "order_qty"] == 0 and plan.loc["K3", "order_qty"] == 0
    assert "Double 11 starts in 5 days" in plan.loc["K1", "reason"]

    orders = table(warehouse, "analytics.purchase_orders")
    assert orders["sku_id"].tolist() == ["K1"] and orders["po_id"].tolist() == ["PO-20261106-P1"]
    assert bool(orders["moq_met"].iloc[0])

    funding = table(warehouse, "analytics.funding_plan").set_index("supplier_id")
    assert float(funding.loc["P2", "daily_cost"]) == pytest.approx(9900)
    assert funding.loc["P2", "topup_by"].date() == dt.date(2026, 11, 7)

    alerts = table(warehouse, "analytics.low_stock_alerts")
    assert alerts["sku_id"].tolist() == ["K1"]
    assert bool(alerts["is_open"].iloc[0]) and bool(alerts["is_new"].iloc[0])


def test_rerun_changes_nothing(warehouse):
    build(warehouse, DAY_1)
    first = {
        name: table(warehouse, name)
        for name in (
            "analytics.restock_plan",
            "analytics.low_stock_alerts",
            "ops.low_stock_alert_state",
        )
    }
    build(warehouse, DAY_1)
    for name, before in first.items():
        pd.testing.assert_frame_equal(table(warehouse, name), before)


def test_alert_fires_once_then_rearms_after_restock_across_builds(warehouse):
    build(warehouse, DAY_1)  # K1: 15 keys, reorder point ~ 33: fires
    day_2 = DAY_1 + dt.timedelta(days=1)
    with duckdb.connect(str(warehouse)) as conn:
        set_stock(conn, DAY_1, k1=5, k2=495)  # still low: no second alert
    build(warehouse, day_2)
    alerts = table(warehouse, "analytics.low_stock_alerts")
    assert len(alerts) == 1 and bool(alerts["is_open"].iloc[0]) and not alerts["is_new"].iloc[0]

    day_3 = day_2 + dt.timedelta(days=1)
    with duckdb.connect(str(warehouse)) as conn:
        set_stock(conn, day_2, k1=200, k2=490)  # restocked
    build(warehouse, day_3)
    alerts = table(warehouse, "analytics.low_stock_alerts")
    assert len(alerts) == 1 and not alerts["is_open"].iloc[0]
    state = table(warehouse, "ops.low_stock_alert_state")
    assert state.query("sku_id == 'K1'")["event"].tolist() == ["fired", None, "rearmed"]

    day_4 = day_3 + dt.timedelta(days=1)
    with duckdb.connect(str(warehouse)) as conn:
        set_stock(conn, day_3, k1=10, k2=485)  # sold down again: a new alert
    build(warehouse, day_4)
    alerts = table(warehouse, "analytics.low_stock_alerts")
    assert alerts["fired_on"].dt.date.tolist() == [DAY_1, day_4]
    assert alerts["is_open"].tolist() == [False, True]


def test_service_levels_are_run_config(warehouse):
    build(warehouse, DAY_1)
    default = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    build(warehouse, DAY_1, {"ops": {"restock_plan": {"config": {"service_level_a": 0.9}}}})
    lowered = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    assert default.loc["K1", "abc_class"] == "A" and default.loc["K1", "service_level"] == 0.98
    assert lowered.loc["K1", "service_level"] == 0.9
    assert lowered.loc["K1", "safety_stock"] < default.loc["K1", "safety_stock"]


def test_late_buffer_and_cycle_days_are_run_config(warehouse):
    def plan(config: dict | None) -> pd.Series:
        build(warehouse, DAY_1, config and {"ops": {"restock_plan": {"config": config}}})
        return table(warehouse, "analytics.restock_plan").set_index("sku_id").loc["K1"]

    default, on_time = plan(None), plan({"late_buffer_days": 0})
    # K1 sells a flat 10 a day: the default late cover is 5 days of it, on top of the band.
    late_cover = 10 * DEFAULT_RESTOCK.late_buffer_days
    assert default["reorder_point"] - on_time["reorder_point"] == pytest.approx(late_cover)
    assert default["safety_stock"] - on_time["safety_stock"] == pytest.approx(late_cover)
    assert default["order_qty"] > 50  # above the MOQ, so the MOQ does not hide what follows
    cycled = plan({"cycle_days": 10})
    # 100 more keys wanted: whole batches of 10 either side of the rounding
    assert 90 <= cycled["order_qty"] - default["order_qty"] <= 110


def test_late_cover_is_learnt_from_the_suppliers_deliveries(warehouse):
    """24 batches of K1 from supplier P1 (nominal 2 days) in the snapshots before as_of: 19
    on time, 5 three days late -> P1's delays learnt; a fifth of its batches 3 days late is
    far above the 0.5% of short days allowed, so its SKUs hold 3 days instead of the fixed 5."""
    start = DAY_1 - dt.timedelta(days=150)
    on_order = {start + dt.timedelta(days=d): 0 for d in range(149)}
    for i in range(24):  # one batch every 6 days: they never overlap
        ordered = start + dt.timedelta(days=6 * i)
        lead = 2 + (3 if i % 5 == 4 else 0)
        for d in range(lead):
            on_order[ordered + dt.timedelta(days=d)] = 100
    with duckdb.connect(str(warehouse)) as conn:
        conn.executemany(
            "INSERT INTO analytics.fct_inventory_daily VALUES ('K1', ?, 'P1', 100, ?, 0)",
            [[day, keys] for day, keys in on_order.items() if day < DAY_1 - dt.timedelta(days=1)],
        )
    build(warehouse, DAY_1)
    learnt = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    build(warehouse, DAY_1, {"ops": {"restock_plan": {"config": {"learn_late_cover": False}}}})
    fixed = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    assert learnt.loc["K1", "late_cover_days"] == learnt.loc["K2", "late_cover_days"] == 3
    assert fixed.loc["K1", "late_cover_days"] == DEFAULT_RESTOCK.late_buffer_days
    # K1 sells about 10 a day: the fixed cover is 5 days (50 keys); the learnt one 3 days
    # (30 keys) plus a margin for the day-to-day spread of the keys those days take.
    saved = fixed.loc["K1", "reorder_point"] - learnt.loc["K1", "reorder_point"]
    assert (
        10 * (DEFAULT_RESTOCK.late_buffer_days - 4)
        < saved
        <= 10 * (DEFAULT_RESTOCK.late_buffer_days - 3)
    )
    assert "keys (about 3 days) more in case a delivery is late" in learnt.loc["K1", "reason"]
    assert "（约 3 天的量）以防到货延误" in learnt.loc["K1", "reason_zh"]
    # Allowing late batches to leave more days short holds less for them.
    config = {"ops": {"restock_plan": {"config": {"late_in_stock": 0.6}}}}
    build(warehouse, DAY_1, config)
    loose = table(warehouse, "analytics.restock_plan").set_index("sku_id")
    assert loose.loc["K1", "late_cover_days"] < learnt.loc["K1", "late_cover_days"]
    assert loose.loc["K1", "reorder_point"] < learnt.loc["K1", "reorder_point"]
    config["ops"]["restock_plan"]["config"]["late_in_stock"] = 1.0
    with pytest.raises(
        dg.Failure, match=r"\[restock\] late_in_stock = 1.0 is out of range \[0.5, 1\)"
    ):
        build(warehouse, DAY_1, config)


def test_missing_forecast_fails_with_one_clear_line(warehouse):
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DROP TABLE analytics.demand_forecast")
    result = dg.materialize(
        [restock.restock_plan],
        resources={
            "duckdb": DuckDBResource(database=str(warehouse)),
            "build_settings": BuildSettings(as_of=DAY_1.isoformat()),
        },
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "restock needs analytics.demand_forecast" in message
    # dagster-duckdb leaves its connection open when the asset raises: open it the same way.
    with DuckDBResource(database=str(warehouse)).get_connection() as conn:
        tables = {
            name for (name,) in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
    assert "restock_plan" not in tables
