"""Daily marts rebuilt only for the days that changed (issue 21), equal to a full rebuild.

On the hand-made platform of test_dbt.py (orders on 2026-01-02, -03 and -04): a first ``dbt
run``; then a later load brings a new day, a late-arriving order for an older day and an order
on 01-04 cancelled (01-04 is left without demand orders). The incremental run rebuilds 01-03,
01-04 and the new day only: a value planted in an untouched day (01-02) survives it. Then price
changes arrive (re-pricing orders without their own cost), a further incremental run, and every
mart equals what ``dbt run --full-refresh`` builds from the same raw rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest
from test_dbt import (
    SECOND_PRICE_CHANGES,
    Dbt,
    insert_rows,
    order,
    query,
    ts,
    upsert_orders,
    write_first_load,
)

DAILY_MARTS = ("fct_daily_sku_sales", "fct_daily_merchant_sales")
WHOLE_ORDER = ("fct_order_profit", "fct_payments")
LATER_LOAD = dt.datetime(2026, 1, 7, 1, 0, 0)
PRICES_LOAD = dt.datetime(2026, 1, 8, 1, 0, 0)

LATER_ORDERS = [
    # A new day.
    order("O20", "2026-01-06 09:00:00", "SKU-A", 2, "91.00", "paid", cost="70.00", list="100.00"),
    # Late-arriving: placed on 01-03, loaded after 01-06's orders.
    order("O21", "2026-01-03 15:00:00", "SKU-A", 4, "88.00", "delivered", cost="70.00",
          list="100.00", paid="2026-01-03 15:00:00", delivered="2026-01-03 15:00:05"),
    # 01-04's only demand order is cancelled: the day must lose its demand rows.
    order("O8", "2026-01-04 09:00:00", "SKU-A", 1, "90.00", "cancelled", cost="70.00",
          supplier="S1", updated="2026-01-06 20:00:00"),
]  # fmt: skip


# Whole-order inputs that change an old day's profit: a later payment for O6 (01-02: its fee
# comes from its payments) and its agent A2's commission rule raised from 5% to 8%.
LATER_PAYMENTS = [
    {
        "payment_id": "P4", "order_id": "O6", "channel": "wxpay", "amount": Decimal("118.00"),
        "fee": Decimal("0.50"), "status": "success", "created_at": ts("2026-01-02 13:05:00"),
        "callback_at": ts("2026-01-02 13:05:02"),
    }
]  # fmt: skip
LATER_AGENTS = [
    {"agent_id": "A2", "merchant_id": "M4", "parent_agent_id": "A1", "commission_pct": 8.0},
]


def mart_rows(warehouse, mart: str) -> list[tuple]:
    return sorted(query(warehouse, f"SELECT * FROM analytics.{mart}"), key=repr)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every stage's marts: after the later load's incremental run (with the planted value),
    after the price changes' incremental run, and after a full refresh."""
    warehouse = tmp_path_factory.mktemp("incremental") / "warehouse.duckdb"
    dbt = Dbt(warehouse)
    assert dbt("parse").success
    write_first_load(warehouse)
    first = dbt("run")
    assert first.success, first.explain()
    with duckdb.connect(str(warehouse)) as conn:
        # Planted on 01-02, which the later load does not touch.
        conn.execute(
            """UPDATE analytics.fct_daily_sku_sales SET units = units + 1000
               WHERE order_date = DATE '2026-01-02' AND sku_id = 'SKU-A'"""
        )
        upsert_orders(conn, LATER_ORDERS, LATER_LOAD, "f-orders-later")
        insert_rows(conn, "payments", LATER_PAYMENTS, LATER_LOAD, "f-payments-later")
        insert_rows(conn, "agents", LATER_AGENTS, LATER_LOAD, "f-agents-later")
    later = dbt("run")
    assert later.success, later.explain()
    stages = {"later": {m: mart_rows(warehouse, m) for m in (*DAILY_MARTS, *WHOLE_ORDER)}}
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            """UPDATE analytics.fct_daily_sku_sales SET units = units - 1000
               WHERE order_date = DATE '2026-01-02' AND sku_id = 'SKU-A'"""
        )
        insert_rows(conn, "price_changes", SECOND_PRICE_CHANGES, PRICES_LOAD, "f-prices-2")
    priced = dbt("run")
    assert priced.success, priced.explain()
    marts = [
        name
        for (name,) in query(
            warehouse,
            """SELECT table_name FROM information_schema.tables
               WHERE table_schema = 'analytics' ORDER BY 1""",
        )
    ]
    stages["incremental"] = {m: mart_rows(warehouse, m) for m in marts}
    full = dbt("run", "--full-refresh")
    assert full.success, full.explain()
    stages["full"] = {m: mart_rows(warehouse, m) for m in marts}
    stages["warehouse"] = warehouse
    return stages


def test_the_daily_marts_are_incremental_by_day(runs):
    by_day = {
        (row[0], row[2]): row[3]  # (sku_id, order_date) -> units, region CN-GD only here
        for row in runs["later"]["fct_daily_sku_sales"]
        if row[1] == "CN-GD"
    }
    # Untouched day: the planted value is still there (the run did not rebuild 01-02).
    assert by_day[("SKU-A", dt.date(2026, 1, 2))] > 1000
    # Touched days: the late order counted on 01-03, the new day present, 01-04 emptied.
    assert by_day[("SKU-A", dt.date(2026, 1, 6))] == 2
    assert ("SKU-A", dt.date(2026, 1, 3)) in by_day
    assert by_day[("SKU-A", dt.date(2026, 1, 3))] >= 4
    assert ("SKU-A", dt.date(2026, 1, 4)) not in by_day
    merchant_days = {row[1] for row in runs["later"]["fct_daily_merchant_sales"]}
    assert dt.date(2026, 1, 6) in merchant_days


def test_profit_and_payments_take_late_payments_and_agent_rules_for_old_days(runs):
    profit = {row[0]: row for row in runs["later"]["fct_order_profit"]}
    columns = [c for (c,) in query(runs["warehouse"], """SELECT column_name
        FROM information_schema.columns WHERE table_name = 'fct_order_profit'
        ORDER BY ordinal_position""")]  # fmt: skip
    fee, commission = columns.index("payment_fee"), columns.index("agent_commission")
    assert profit["O6"][fee] == Decimal("1.21")  # P2 0.71 + the later P4 0.50
    assert profit["O6"][commission] == Decimal("9.44")  # A2's new 8% of 118.00
    assert "O8" not in profit  # cancelled: no longer a demand order
    payments = {row[0] for row in runs["later"]["fct_payments"]}
    assert {"P1", "P2", "P3", "P4"} <= payments


def test_incremental_runs_equal_a_full_rebuild(runs):
    assert set(runs["incremental"]) == set(runs["full"])
    assert {"fct_orders", *DAILY_MARTS, *WHOLE_ORDER} <= set(runs["full"])
    differing = [m for m in runs["full"] if runs["incremental"][m] != runs["full"][m]]
    assert differing == []
    # The late order and the re-priced SKU-B orders are in the rebuilt marts.
    assert any(row[2] == dt.date(2026, 1, 3) for row in runs["full"]["fct_daily_sku_sales"])
    assert (
        query(
            runs["warehouse"],
            """SELECT count(*) FROM analytics.fct_daily_sku_sales
           WHERE sku_id = 'SKU-B' AND gross_margin IS NOT NULL""",
        )[0][0]
        > 0
    )
