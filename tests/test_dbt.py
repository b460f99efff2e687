"""The dbt project on a real DuckDB file: marts, measures, incremental refunds, dbt's own tests.

A small hand-made platform is written straight into the raw tables (the DDL ingestion uses),
then real dbt runs against that file, in this process (``dbtRunner``, the manifest parsed once
and reused: each dbt start-up costs seconds). The numbers asserted below are worked out by
hand from the fixture rows, in the comments next to them.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.schema import create_raw_tables

REPO = Path(__file__).resolve().parents[1]
DBT_PROJECT = REPO / "dbt_project"

FIRST_LOAD = dt.datetime(2026, 1, 5, 1, 0, 0)
SECOND_LOAD = dt.datetime(2026, 1, 6, 1, 0, 0)


def ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def order(order_id: str, created: str, sku: str, qty: int, price: str, status: str, **extra):
    """One raw order row; unspecified optional columns are NULL."""
    row = {
        "order_id": order_id,
        "created_at": ts(created),
        "updated_at": ts(extra.pop("updated", created)),
        "paid_at": ts(extra["paid"]) if extra.get("paid") else None,
        "delivered_at": ts(extra["delivered"]) if extra.get("delivered") else None,
        "merchant_id": extra.get("merchant", "M3"),
        "sku_id": sku,
        "quantity": qty,
        "unit_price": Decimal(price),
        "unit_cost": Decimal(extra["cost"]) if extra.get("cost") else None,
        "list_price": Decimal(extra["list"]) if extra.get("list") else None,
        "status": status,
        "region_code": extra.get("region", "CN-GD"),
        # As ingest stores it: no copy of a spelling that is the ISO code itself.
        "region_raw": extra.get("region_raw"),
        "channel": extra.get("channel", "web"),
        "supplier_id": extra.get("supplier"),
        "buyer_id": "B1",
        "payment_method": "alipay",
    }
    # Issue #18's optional columns: given ones as they are (money as Decimal).
    for name, value in extra.items():
        if name in WHOLE_ORDER_COLUMNS:
            row[name] = Decimal(value) if name in WHOLE_ORDER_MONEY else value
    return row


WHOLE_ORDER_MONEY = ("paid_amount", "payment_fee", "discount_amount", "agent_commission")
WHOLE_ORDER_COLUMNS = WHOLE_ORDER_MONEY + (
    "payment_channel",
    "coupon_code",
    "agent_id",
    "delivery_mode",
    "card_batch_id",
    "buyer_key",
)


# SKU-A: a card-key game card from S1, priced by price_changes; SKU-B: a direct top-up from S2.
FIRST_ORDERS = [
    # delivered in 30 s: 2 x 90.00, cost 70.00 -> margin 40.00
    order(
        "O1",
        "2026-01-02 10:00:00",
        "SKU-A",
        2,
        "90.00",
        "delivered",
        cost="70.00",
        list="100.00",
        supplier="S1",
        paid="2026-01-02 10:00:00",
        delivered="2026-01-02 10:00:30",
        # Whole order: GMV 200.00 - coupon 20.00 = 180.00 paid; fee 1.08; A1's commission 9.00
        payment_channel="alipay",
        payment_fee="1.08",
        coupon_code="NEW10",
        discount_amount="20.00",
        agent_id="A1",
        agent_commission="9.00",
        delivery_mode="auto",
        card_batch_id="B1",
    ),
    # paid, no own cost or list price: CN-GD change of 01-02 gives list 95.00, the all-region
    # change of 01-01 the cost 80.00 -> margin 1 x (95.00 - 80.00) = 15.00
    order(
        "O2",
        "2026-01-02 11:00:00",
        "SKU-A",
        1,
        "95.00",
        "paid",
        supplier="S1",
        paid="2026-01-02 11:00:00",
    ),
    # failed: still demand (paid), 3 x 90.00 = 270.00, margin 60.00
    order(
        "O3",
        "2026-01-02 12:00:00",
        "SKU-A",
        3,
        "90.00",
        "failed",
        cost="70.00",
        region="CN-BJ",
        channel="api",
        supplier="S1",
        paid="2026-01-02 12:00:00",
    ),
    # not demand
    order("O4", "2026-01-02 12:30:00", "SKU-A", 5, "90.00", "cancelled", cost="70.00"),
    order("O5", "2026-01-02 12:40:00", "SKU-B", 1, "30.00", "pending_payment", merchant="M9"),
    # no supplier on the order: attributed to SKU-B's supplier S2; no channel; 10 s delivery
    order(
        "O6",
        "2026-01-02 13:00:00",
        "SKU-B",
        4,
        "29.50",
        "delivered",
        cost="28.00",
        merchant="M4",
        channel=None,
        paid="2026-01-02 13:00:00",
        delivered="2026-01-02 13:00:10",
        # Whole order: fee from its payments (0.71), commission by A2's rule 5% of 118.00
        agent_id="A2",
        delivery_mode="upstream",
    ),
    # no cost anywhere (SKU-B has no price changes): margin unknown (NULL), not zero
    order(
        "O7",
        "2026-01-03 09:00:00",
        "SKU-B",
        1,
        "29.50",
        "delivered",
        region="UNKNOWN",
        channel="douyin",
        supplier="S2",
        merchant="M2",
        paid="2026-01-03 09:00:00",
        delivered="2026-01-03 09:00:20",
    ),
    order(
        "O8",
        "2026-01-04 09:00:00",
        "SKU-A",
        1,
        "90.00",
        "paid",
        cost="70.00",
        supplier="S1",
        paid="2026-01-04 09:00:00",
    ),
]

# The second load: O2 was delivered after 100 s and then refunded; a new order O10 arrives.
SECOND_ORDERS = [
    order(
        "O2",
        "2026-01-02 11:00:00",
        "SKU-A",
        1,
        "95.00",
        "refunded",
        supplier="S1",
        paid="2026-01-02 11:00:00",
        delivered="2026-01-02 11:01:40",
        updated="2026-01-05 18:00:00",
    ),
    order(
        "O10",
        "2026-01-05 10:00:00",
        "SKU-B",
        2,
        "29.50",
        "paid",
        cost="28.00",
        supplier="S2",
        merchant="M1",
    ),
]

SKUS = [
    {
        "sku_id": "SKU-A",
        "name": "王者荣耀 点券 100",
        "category": "game_card",
        "brand": "Tencent",
        "face_value": Decimal("100.00"),
        "delivery_type": "card_key",
        "supplier_id": "S1",
        "shelf_life_days": 365,
        "active": True,
    },
    {
        "sku_id": "SKU-B",
        "name": "移动 话费 30",
        "category": "mobile_topup",
        "brand": "CMCC",
        "face_value": Decimal("30.00"),
        "delivery_type": "direct_topup",
        "supplier_id": "S2",
        "shelf_life_days": None,
        "active": True,
    },
]

# M1 -> M2 -> M3 is an agent chain; M4 a separate shop; M9 only appears in an order.
MERCHANTS = [
    {
        "merchant_id": "M1",
        "name": "总站",
        "tier": "platform",
        "parent_merchant_id": None,
        "region_code": "CN-GD",
        "joined_at": ts("2025-01-01 00:00:00"),
    },
    {
        "merchant_id": "M2",
        "name": "一级代理",
        "tier": "agent",
        "parent_merchant_id": "M1",
        "region_code": "CN-BJ",
        "joined_at": ts("2025-02-01 00:00:00"),
    },
    {
        "merchant_id": "M3",
        "name": "二级代理",
        "tier": "agent",
        "parent_merchant_id": "M2",
        "region_code": "CN-SH",
        "joined_at": ts("2025-03-01 00:00:00"),
    },
    {
        "merchant_id": "M4",
        "name": "独立店",
        "tier": "shop",
        "parent_merchant_id": None,
        "region_code": "CN-ZJ",
        "joined_at": ts("2025-04-01 00:00:00"),
    },
]

SUPPLIERS = [
    {
        "supplier_id": "S1",
        "name": "卡密供应商",
        "lead_time_hours": 24.0,
        "min_order_qty": 10,
        "batch_size": 10,
    },
    {
        "supplier_id": "S2",
        "name": "话费直充",
        "lead_time_hours": 0.0,
        "min_order_qty": 1,
        "batch_size": 1,
    },
]

PRICE_CHANGES = [
    {
        "sku_id": "SKU-A",
        "region_code": None,
        "effective_at": ts("2026-01-01 00:00:00"),
        "list_price": Decimal("100.00"),
        "unit_cost": Decimal("80.00"),
    },
    {
        "sku_id": "SKU-A",
        "region_code": "CN-GD",
        "effective_at": ts("2026-01-02 00:00:00"),
        "list_price": Decimal("95.00"),
        "unit_cost": None,
    },
]

# SKU-A stock: 10 (01-01), runs out on 01-02, restocked late on 01-03 without a sale that day,
# 15 left on 01-04.
INVENTORY = [
    {
        "as_of": ts(at),
        "sku_id": "SKU-A",
        "supplier_id": "S1",
        "on_hand": on_hand,
        "on_order": 0,
        "expiring_7d": 0,
    }
    for at, on_hand in [
        ("2026-01-01 23:00:00", 10),
        ("2026-01-02 09:00:00", 5),
        ("2026-01-02 23:00:00", 0),
        ("2026-01-03 08:00:00", 0),
        ("2026-01-03 23:00:00", 20),
        ("2026-01-04 23:00:00", 15),
    ]
]

SUPPLIER_BALANCES = [
    {"as_of": ts("2026-01-02 08:00:00"), "supplier_id": "S2", "balance": Decimal("1000.00")},
    {"as_of": ts("2026-01-02 20:00:00"), "supplier_id": "S2", "balance": Decimal("850.50")},
]

EVENTS = [
    {
        "name": "618 大促",
        "start_date": dt.date(2026, 6, 1),
        "end_date": dt.date(2026, 6, 18),
        "scope": "all",
    },
]


# Issue #18: agents, payment attempts and a card-key batch.
AGENTS = [
    {"agent_id": "A1", "merchant_id": "M3", "parent_agent_id": None, "commission_pct": 10.0},
    {"agent_id": "A2", "merchant_id": "M4", "parent_agent_id": "A1", "commission_pct": 5.0},
]
PAYMENTS = [
    {
        "payment_id": pid,
        "order_id": oid,
        "channel": channel,
        "amount": Decimal(amount),
        "fee": Decimal(fee),
        "status": status,
        "created_at": ts(at),
        "callback_at": ts(callback) if callback else None,
    }
    for pid, oid, channel, amount, fee, status, at, callback in [
        ("P1", "O6", "wxpay", "118.00", "0.71", "failed", "2026-01-02 12:59:00", None),
        ("P2", "O6", "wxpay", "118.00", "0.71", "success", "2026-01-02 13:00:00",
         "2026-01-02 13:00:03"),
        ("P3", "O1", "alipay", "180.00", "1.08", "success", "2026-01-02 10:00:00",
         "2026-01-02 10:00:02"),
    ]
]  # fmt: skip
CARD_BATCHES = [
    {
        "batch_id": "B1",
        "sku_id": "SKU-A",
        "supplier_id": "S1",
        "keys": 10,
        "unit_cost": Decimal("70.00"),
        "received_at": ts("2026-01-01 08:00:00"),
        "expires_at": ts("2027-01-01 00:00:00"),
    }
]


def insert_rows(conn, table: str, rows: list[dict], loaded_at: dt.datetime, file_id: str) -> None:
    """Append rows to raw.<table> with lineage, the way ingestion would."""
    for line, row in enumerate(rows, start=2):
        full = {**row, "_file_id": file_id, "_line": line, "_loaded_at": loaded_at}
        columns = ", ".join(full)
        marks = ", ".join("?" for _ in full)
        conn.execute(f"INSERT INTO raw.{table} ({columns}) VALUES ({marks})", list(full.values()))


def upsert_orders(conn, rows: list[dict], loaded_at: dt.datetime, file_id: str) -> None:
    """Replace orders by order_id, as ingestion does for a newer version of an order."""
    ids = [row["order_id"] for row in rows]
    conn.execute("DELETE FROM raw.orders WHERE order_id IN (SELECT unnest(?))", [ids])
    insert_rows(conn, "orders", rows, loaded_at, file_id)


def write_first_load(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse)) as conn:
        create_raw_tables(conn, optional=True)  # its rows carry the optional columns
        insert_rows(conn, "orders", FIRST_ORDERS, FIRST_LOAD, "f-orders-1")
        insert_rows(conn, "skus", SKUS, FIRST_LOAD, "f-skus")
        insert_rows(conn, "merchants", MERCHANTS, FIRST_LOAD, "f-merchants")
        insert_rows(conn, "suppliers", SUPPLIERS, FIRST_LOAD, "f-suppliers")
        insert_rows(conn, "price_changes", PRICE_CHANGES, FIRST_LOAD, "f-prices")
        insert_rows(conn, "inventory", INVENTORY, FIRST_LOAD, "f-inventory")
        insert_rows(conn, "supplier_balances", SUPPLIER_BALANCES, FIRST_LOAD, "f-balances")
        insert_rows(conn, "agents", AGENTS, FIRST_LOAD, "f-agents")
        insert_rows(conn, "payments", PAYMENTS, FIRST_LOAD, "f-payments")
        insert_rows(conn, "card_batches", CARD_BATCHES, FIRST_LOAD, "f-batches")
        # The same events file twice (say, renamed): one event in the mart.
        insert_rows(conn, "events", EVENTS, FIRST_LOAD, "f-events")
        insert_rows(conn, "events", EVENTS, FIRST_LOAD, "f-events-copy")


@dataclass
class DbtRun:
    """One dbt command's outcome: success, its run_results.json, and a readable failure."""

    success: bool
    results: dict
    error: str

    def explain(self) -> str:
        problems = [
            f"{r['unique_id']}: {r['status']}: {r.get('message')}"
            for r in self.results.get("results", [])
            if r["status"] not in ("success", "pass")
        ]
        return "\n".join([self.error, *problems])


class Dbt:
    """dbt commands against one warehouse, run in this process.

    After ``parse`` the manifest is handed to later commands, which then skip parsing. After
    each command dbt-duckdb's shared connection is dropped, so the test can open, change and
    copy the file between commands.
    """

    def __init__(self, warehouse: Path):
        self.warehouse = warehouse
        self.target = warehouse.parent / "dbt_target"
        self.manifest = None

    def __call__(self, *args: str) -> DbtRun:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
        from dbt.cli.main import dbtRunner

        self.target.joinpath("run_results.json").unlink(missing_ok=True)
        flags = [
            "--project-dir", str(DBT_PROJECT),
            "--profiles-dir", str(DBT_PROJECT),
            "--target-path", str(self.target),
            "--log-path", str(self.warehouse.parent / "dbt_logs"),
            "--quiet",
        ]  # fmt: skip
        previous = os.environ.get("CARDPULSE_WAREHOUSE")
        os.environ["CARDPULSE_WAREHOUSE"] = str(self.warehouse)
        try:
            outcome = dbtRunner(manifest=self.manifest).invoke([*args, *flags])
        finally:
            if previous is None:
                os.environ.pop("CARDPULSE_WAREHOUSE", None)
            else:
                os.environ["CARDPULSE_WAREHOUSE"] = previous
            DuckDBConnectionManager.close_all_connections()
            gc.collect()  # the last reference to the DuckDB database goes: the file is free
        if args[0] == "parse" and outcome.success:
            self.manifest = outcome.result
        results_file = self.target / "run_results.json"
        results = json.loads(results_file.read_text()) if results_file.exists() else {}
        return DbtRun(outcome.success, results, repr(outcome.exception or ""))


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql, params or []).fetchall()


# The second load also brings SKU-B's first price change (with a cost): the orders without their
# own cost or list price are re-priced by the incremental run.
SECOND_PRICE_CHANGES = [
    {
        "sku_id": "SKU-B",
        "region_code": None,
        "effective_at": ts("2026-01-01 00:00:00"),
        "list_price": Decimal("30.00"),
        "unit_cost": Decimal("27.00"),
    },
]


def node_statuses(results: dict) -> dict[str, str]:
    """unique_id -> status, with the hash suffix of data tests dropped."""
    statuses = {}
    for result in results["results"]:
        unique_id = result["unique_id"]
        if unique_id.startswith("test."):
            unique_id = ".".join(unique_id.split(".")[:3])
        statuses[unique_id] = result["status"]
    return statuses


@dataclass
class Session:
    """What one staged dbt session left behind, for the tests to read."""

    parse: DbtRun
    manifest: dict
    warehouse_after_parse_exists: bool
    first: Path
    first_results: dict
    catalog_exists: bool
    bad: DbtRun
    bad_results: dict
    second: Path


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Session:
    """All dbt runs of this file, in order, on one warehouse path (each run costs seconds).

    1. ``dbt parse`` before any warehouse exists (dagster-dbt needs the manifest at import).
    2. The first load, ``dbt build``, ``dbt docs generate``; a copy is kept as ``first``.
    3. Bad values in raw orders: ``dbt test`` on the source must fail; then they are removed.
    4. O1's payment_method is tampered with in the mart, the second load (O2 refunded, O10 new,
       SKU-B priced) is written, ``dbt build`` again; kept as ``second``. An incremental run
       leaves O1 alone (it was not reloaded); a full rebuild would restore it.
    """
    root = tmp_path_factory.mktemp("dbt")
    warehouse = root / "work" / "warehouse.duckdb"
    warehouse.parent.mkdir()

    dbt = Dbt(warehouse)
    parse = dbt("parse")
    manifest_file = warehouse.parent / "dbt_target" / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.exists() else {}
    warehouse_after_parse_exists = warehouse.exists()

    write_first_load(warehouse)
    build = dbt("build")
    assert build.success, build.explain()
    docs = dbt("docs", "generate", "--no-compile")
    assert docs.success, docs.explain()
    catalog_exists = (warehouse.parent / "dbt_target" / "catalog.json").exists()
    first = root / "first.duckdb"
    shutil.copyfile(warehouse, first)

    bad_order = order(
        "BAD1", "2026-01-03 10:00:00", "SKU-A", 1, "90.00", "chargeback",
        region="Guangdong", channel="wechat",
    )  # fmt: skip
    with duckdb.connect(str(warehouse)) as conn:
        insert_rows(conn, "orders", [bad_order], SECOND_LOAD, "f-bad")
    bad = dbt("test", "--select", "source:cardpulse.orders")
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute("DELETE FROM raw.orders WHERE order_id = 'BAD1'")

    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            "UPDATE analytics.fct_orders SET payment_method = 'untouched' WHERE order_id = 'O1'"
        )
        upsert_orders(conn, SECOND_ORDERS, SECOND_LOAD, "f-orders-2")
        insert_rows(conn, "price_changes", SECOND_PRICE_CHANGES, SECOND_LOAD, "f-prices-2")
    rebuild = dbt("build")
    assert rebuild.success, rebuild.explain()
    second = root / "second.duckdb"
    shutil.copyfile(warehouse, second)

    return Session(
        parse=parse,
        manifest=manifest,
        warehouse_after_parse_exists=warehouse_after_parse_exists,
        first=first,
        first_results=build.results,
        catalog_exists=catalog_exists,
        bad=bad,
        bad_results=bad.results,
        second=second,
    )


@pytest.fixture
def first_build(session) -> Path:
    return session.first


@pytest.fixture
def second_build(session) -> Path:
    return session.second


def test_first_build_passes_every_model_unit_test_and_data_test(session):
    statuses = node_statuses(session.first_results)
    assert set(statuses.values()) == {"success", "pass"}, statuses
    kinds = {uid.split(".")[0] for uid in statuses}
    # "operation": the on-run-start hook that creates ops.recon_state (#19).
    assert kinds == {"model", "test", "unit_test", "operation"}
    assert sum(uid.startswith("unit_test.") for uid in statuses) == 7
    assert session.catalog_exists


def test_orders_measures_follow_the_contract(first_build):
    # Demand: O1 2 + O2 1 + O3 3 (failed) + O6 4 + O7 1 + O8 1 = 12 units; O4 cancelled and O5
    # pending count nothing. Revenue 180 + 95 + 270 + 118 + 29.50 + 90 = 782.50. Margin
    # 40 + 15 + 60 + 6 + 20 = 141.00 (O7 has no cost anywhere: NULL, left out).
    row = query(
        first_build,
        """
        SELECT count(*), sum(quantity) FILTER (WHERE is_demand), sum(gross_revenue),
               sum(net_revenue), sum(gross_margin), count(*) FILTER (WHERE is_demand)
        FROM analytics.fct_orders""",
    )[0]
    assert row == (8, 12, Decimal("782.50"), Decimal("782.50"), Decimal("141.00"), 6)

    by_id = {
        r[0]: r[1:]
        for r in query(
            first_build,
            """
            SELECT order_id, is_demand, gross_margin, effective_unit_cost, unit_cost_source,
                   effective_list_price, delivery_seconds, order_date
            FROM analytics.fct_orders""",
        )
    }
    # O2 has no cost of its own: the all-region change of 01-01 (80.00) is the cost in effect,
    # the CN-GD change of 01-02 (95.00, no cost) the list price.
    assert by_id["O2"][1:5] == (
        Decimal("15.00"),
        Decimal("80.00"),
        "price_change",
        Decimal("95.00"),
    )
    assert by_id["O7"][1:4] == (None, None, None)
    assert by_id["O1"][3:6] == ("order", Decimal("100.00"), 30)
    assert by_id["O4"][:2] == (False, Decimal("0.00"))
    assert by_id["O1"][6] == dt.date(2026, 1, 2)
    # raw.orders keeps no copy of a spelling that is the code: fct_orders shows the code.
    assert query(
        first_build,
        """SELECT count(*) FROM analytics.fct_orders
           WHERE region_code <> 'UNKNOWN' AND region_raw IS DISTINCT FROM region_code""",
    ) == [(0,)]


def test_order_profit_waterfall_adds_up_to_the_fen(first_build):
    rows = {
        r[0]: r[1:]
        for r in query(
            first_build,
            """SELECT order_id, gmv, discount_amount, revenue, payment_fee, payment_fee_source,
                      agent_commission, agent_commission_source, cost_amount, net_profit
               FROM analytics.fct_order_profit""",
        )
    }
    # Demand orders only (O4 cancelled and O5 pending are not in it).
    assert sorted(rows) == ["O1", "O2", "O3", "O6", "O7", "O8"]
    # O1: 200.00 GMV - 20.00 coupon = 180.00; - fee 1.08 - commission 9.00 - cost 140.00 = 29.92
    assert rows["O1"] == (
        Decimal("200.00"), Decimal("20.00"), Decimal("180.00"), Decimal("1.08"), "order",
        Decimal("9.00"), "order", Decimal("140.00"), Decimal("29.92"),
    )  # fmt: skip
    # O6: 118.00; the fee of its successful attempt (0.71), A2's 5% rule (5.90), cost 112.00
    assert rows["O6"] == (
        Decimal("118.00"), Decimal("0.00"), Decimal("118.00"), Decimal("0.71"), "payments",
        Decimal("5.90"), "agent_rule", Decimal("112.00"), Decimal("-0.61"),
    )  # fmt: skip
    # O7: no cost anywhere: net profit unknown, not a guess.
    assert rows["O7"][7:] == (None, None)
    agents = query(
        first_build,
        """SELECT agent_id, orders, revenue, agent_commission, net_profit
           FROM analytics.fct_agent_daily ORDER BY agent_id""",
    )
    assert agents == [
        ("A1", 1, Decimal("180.00"), Decimal("9.00"), Decimal("29.92")),
        ("A2", 1, Decimal("118.00"), Decimal("5.90"), Decimal("-0.61")),
    ]
    assert query(
        first_build,
        """SELECT coupon_code, orders, discount_amount, net_profit, merchant_orders
           FROM analytics.fct_coupon_daily""",
    ) == [("NEW10", 1, Decimal("20.00"), Decimal("29.92"), 3)]
    payments = query(
        first_build,
        """SELECT payment_channel, count(*), count(*) FILTER (WHERE is_success), sum(fee)
           FROM analytics.fct_payments GROUP BY 1 ORDER BY 1""",
    )
    assert payments == [("alipay", 1, 1, Decimal("1.08")), ("wxpay", 2, 1, Decimal("1.42"))]
    assert query(
        first_build,
        "SELECT agent_id, merchant_id, parent_agent_id FROM analytics.dim_agents ORDER BY 1",
    ) == [("A1", "M3", None), ("A2", "M4", "A1")]
    # B1: 10 keys, O1 took 2.
    assert query(
        first_build,
        "SELECT batch_id, keys, keys_sold, keys_left, batch_cost FROM analytics.dim_card_batches",
    ) == [("B1", 10, 2, 8, Decimal("700.00"))]


def test_daily_sku_sales(first_build):
    rows = {
        (r[0], r[1], r[2]): r[3:]
        for r in query(
            first_build,
            """
            SELECT sku_id, region_code, order_date, units, orders, gross_revenue, net_revenue,
                   gross_margin, refunded_units, failed_units, uncosted_units, avg_list_price
            FROM analytics.fct_daily_sku_sales""",
        )
    }
    day = dt.date(2026, 1, 2)
    # O1 (2 x 90) + O2 (1 x 95); the cancelled O4 is not a sale. List price units-weighted:
    # (2 x 100 + 1 x 95) / 3.
    assert rows[("SKU-A", "CN-GD", day)] == (
        3,
        2,
        Decimal("275.00"),
        Decimal("275.00"),
        Decimal("55.00"),
        0,
        0,
        0,
        Decimal("98.3333"),
    )
    assert rows[("SKU-A", "CN-BJ", day)][:2] == (3, 1)
    assert rows[("SKU-A", "CN-BJ", day)][6] == 3  # failed units are demand
    assert rows[("SKU-B", "UNKNOWN", dt.date(2026, 1, 3))][4:8] == (None, 0, 0, 1)
    assert len(rows) == 5


def test_daily_merchant_sales_counts_every_status(first_build):
    rows = {
        (r[0], r[1], r[2], r[3], r[4]): r[5:]
        for r in query(
            first_build,
            """
            SELECT merchant_id, order_date, sku_id, region_code, channel, orders, paid_orders,
                   units, gross_revenue, delivery_seconds_sum, delivery_count
            FROM analytics.fct_daily_merchant_sales""",
        )
    }
    day = dt.date(2026, 1, 2)
    # O1 (delivered) and O2 (paid) are web orders; O4 (cancelled) as well: three orders, two paid.
    assert rows[("M3", day, "SKU-A", "CN-GD", "web")] == (3, 2, 3, Decimal("275.00"), 30, 1)
    assert rows[("M9", day, "SKU-B", "CN-GD", "web")] == (1, 0, 0, Decimal("0.00"), 0, 0)
    # O6 has no channel: its own bucket.
    assert rows[("M4", day, "SKU-B", "CN-GD", "unknown")] == (1, 1, 4, Decimal("118.00"), 10, 1)


def test_merchant_sku_share_over_the_trailing_window(first_build):
    rows = {
        (r[0], r[1]): r[2:]
        for r in query(
            first_build,
            """
            SELECT merchant_id, sku_id, window_start, window_end, units, sku_units, unit_share
            FROM analytics.fct_merchant_sku_share""",
        )
    }
    # The window: 28 days ending on the last order day (O8, 01-04). SKU-A is all M3's: O1 2 +
    # O2 1 + O3 3 (failed is demand) + O8 1 = 7 (the cancelled O4 counts 0). SKU-B: M4's O6 4,
    # M2's O7 1, M9's pending O5 0 of 5.
    start, end = dt.date(2025, 12, 8), dt.date(2026, 1, 4)
    assert rows == {
        ("M3", "SKU-A"): (start, end, 7, 7, 1.0),
        ("M4", "SKU-B"): (start, end, 4, 5, 0.8),
        ("M2", "SKU-B"): (start, end, 1, 5, 0.2),
        ("M9", "SKU-B"): (start, end, 0, 5, 0.0),
    }


def test_supplier_performance_rates_and_latency(first_build):
    rows = {
        (r[0], r[1]): r[2:]
        for r in query(
            first_build,
            """
            SELECT supplier_id, order_date, orders, success_rate, failure_rate, refund_rate,
                   latency_p50_seconds, latency_p95_seconds
            FROM analytics.fct_supplier_performance""",
        )
    }
    day = dt.date(2026, 1, 2)
    # S1 on 01-02: O1 delivered in 30 s, O2 paid, O3 failed.
    assert rows[("S1", day)] == pytest.approx((3, 1 / 3, 1 / 3, 0.0, 30.0, 30.0))
    # O6 names no supplier: it is SKU-B's supplier S2's order.
    assert rows[("S2", day)] == pytest.approx((1, 1.0, 0.0, 0.0, 10.0, 10.0))
    assert ("S2", dt.date(2026, 1, 3)) in rows


def test_merchant_hierarchy_closure(first_build):
    pairs = set(
        query(
            first_build,
            """
        SELECT ancestor_merchant_id, merchant_id, depth FROM analytics.dim_merchant_hierarchy""",
        )
    )
    assert pairs == {
        ("M1", "M1", 0),
        ("M2", "M2", 0),
        ("M3", "M3", 0),
        ("M4", "M4", 0),
        ("M9", "M9", 0),
        ("M1", "M2", 1),
        ("M2", "M3", 1),
        ("M1", "M3", 2),
    }
    # M9 only appears in an order: it is still a merchant, flagged as not listed.
    assert query(
        first_build,
        """
        SELECT is_listed FROM analytics.dim_merchants WHERE merchant_id = 'M9'""",
    ) == [(False,)]


def test_inventory_stockouts_and_balances(first_build):
    flags = dict(
        query(
            first_build,
            """
        SELECT inventory_date, is_stockout FROM analytics.fct_inventory_daily
        WHERE sku_id = 'SKU-A' ORDER BY inventory_date""",
        )
    )
    assert flags == {
        dt.date(2026, 1, 1): False,
        dt.date(2026, 1, 2): True,  # zero keys at the day's last snapshot
        dt.date(2026, 1, 3): True,  # began at zero and sold nothing, restocked at 23:00
        dt.date(2026, 1, 4): False,
    }
    assert query(
        first_build,
        """
        SELECT supplier_id, balance_date, balance FROM analytics.fct_supplier_balance_daily""",
    ) == [("S2", dt.date(2026, 1, 2), Decimal("850.50"))]
    assert query(first_build, "SELECT count(*) FROM analytics.dim_events") == [(1,)]
    assert query(
        first_build,
        """
        SELECT first_sale_date, last_sale_date FROM analytics.dim_skus WHERE sku_id = 'SKU-A'""",
    ) == [(dt.date(2026, 1, 2), dt.date(2026, 1, 4))]


def test_incremental_run_applies_a_late_refund(second_build):
    o2 = query(
        second_build,
        """
        SELECT status, gross_revenue, net_revenue, delivery_seconds, count(*) OVER ()
        FROM analytics.fct_orders WHERE order_id = 'O2'""",
    )
    assert o2 == [("refunded", Decimal("95.00"), Decimal("0.00"), 100, 1)]
    assert query(second_build, "SELECT count(*) FROM analytics.fct_orders") == [(9,)]
    # O1 was not in the later load: the incremental run did not rebuild it.
    assert query(
        second_build,
        """
        SELECT payment_method FROM analytics.fct_orders WHERE order_id = 'O1'""",
    ) == [("untouched",)]

    day = dt.date(2026, 1, 2)
    assert query(
        second_build,
        """
        SELECT units, gross_revenue, net_revenue, refunded_units FROM analytics.fct_daily_sku_sales
        WHERE sku_id = 'SKU-A' AND region_code = 'CN-GD' AND order_date = ?""",
        [day],
    ) == [(3, Decimal("275.00"), Decimal("180.00"), 1)]
    # S1 on 01-02 now: one refund of three, latencies 30 s and 100 s -> p50 65, p95 96.5.
    assert query(
        second_build,
        """
        SELECT success_rate, refund_rate, latency_p50_seconds, latency_p95_seconds
        FROM analytics.fct_supplier_performance WHERE supplier_id = 'S1' AND order_date = ?""",
        [day],
    )[0] == pytest.approx((1 / 3, 1 / 3, 65.0, 96.5))


def test_incremental_run_reprices_orders_after_new_price_changes(second_build):
    # O7 had no cost anywhere; SKU-B's price change (cost 27.00) arrived with the second load.
    assert query(
        second_build,
        """
        SELECT gross_margin, unit_cost_source, effective_list_price FROM analytics.fct_orders
        WHERE order_id = 'O7'""",
    ) == [(Decimal("2.50"), "price_change", Decimal("30.00"))]
    # O6 keeps its own cost; only its missing list price came from the change.
    assert query(
        second_build,
        """
        SELECT effective_unit_cost, unit_cost_source, effective_list_price FROM analytics.fct_orders
        WHERE order_id = 'O6'""",
    ) == [(Decimal("28.00"), "order", Decimal("30.00"))]


def test_bad_values_in_raw_fail_dbt_tests(session):
    assert not session.bad.success
    statuses = node_statuses(session.bad_results)
    failed = {uid.split(".")[2] for uid, status in statuses.items() if status == "fail"}
    assert failed == {
        "source_accepted_values_cardpulse_orders_status___order_statuses_",
        "source_accepted_values_cardpulse_orders_channel__web__api__mini_program__douyin__other",
        "source_cn_region_code_cardpulse_orders_region_code",
    }  # fmt: skip
    assert statuses["test.cardpulse.source_not_null_cardpulse_orders_region_code"] == "pass"


def test_parse_needs_no_warehouse(session):
    assert session.parse.success, session.parse.explain()
    assert not session.warehouse_after_parse_exists
    marts = {
        node["name"]
        for node in session.manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "analytics"
    }
    assert {
        "fct_orders", "fct_daily_sku_sales", "fct_daily_merchant_sales", "dim_skus",
        "dim_merchants", "dim_merchant_hierarchy", "dim_suppliers", "fct_supplier_performance",
        "fct_inventory_daily", "fct_supplier_balance_daily", "dim_events",
    } <= marts  # fmt: skip


def _dbt_by_hand(home: Path, *args: str, unset: str) -> subprocess.CompletedProcess:
    """``dbt ARGS`` run as a person would from dbt_project/: ``$CARDPULSE_HOME`` set, ``unset``
    not."""
    env = {k: v for k, v in os.environ.items() if k != unset}
    env["CARDPULSE_HOME"] = str(home)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--profiles-dir", "."],
        cwd=DBT_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    return done


def test_dbt_by_hand_finds_the_warehouse_under_cardpulse_home(tmp_path):
    """`dbt docs generate` or `dbt show` run by hand need no CARDPULSE_WAREHOUSE export."""
    done = _dbt_by_hand(tmp_path, "debug", unset="CARDPULSE_WAREHOUSE")
    assert f"path: {tmp_path / 'warehouse.duckdb'}" in done.stdout


def test_dbt_runs_duckdb_under_a_memory_limit_of_its_own(tmp_path):
    """Two large marts built at once took DuckDB's default 80% of the machine and dbt was
    killed; dbt's DuckDB has 40% unless ``CARDPULSE_DBT_MEMORY_LIMIT`` says otherwise."""
    expected = duckdb.connect()
    expected.execute("SET memory_limit = '40%'")
    (forty_percent,) = expected.execute("SELECT current_setting('memory_limit')").fetchone()
    done = _dbt_by_hand(
        tmp_path,
        "show",
        "--inline",
        "select current_setting('memory_limit') as memory_limit",
        "--output",
        "json",
        "--log-format",
        "json",
        unset="CARDPULSE_DBT_MEMORY_LIMIT",
    )
    previews = [
        json.loads(json.loads(line)["data"]["preview"])
        for line in done.stdout.splitlines()
        if '"preview"' in line
    ]
    assert previews == [[{"memory_limit": forty_percent}]]


def test_every_mart_column_and_source_is_described(session):
    """The Dagster UI and `dbt docs` show these: none may say 'No description provided'."""
    nodes = session.manifest["nodes"].values()
    marts = [n for n in nodes if n["resource_type"] == "model" and n["fqn"][1] == "marts"]
    assert marts
    undescribed = [
        f"{n['name']}.{name}"
        for n in marts
        for name, column in n["columns"].items()
        if not column.get("description")
    ]
    undescribed += [n["name"] for n in marts if not n.get("description")]
    undescribed += [
        f"source {s['name']}" for s in session.manifest["sources"].values() if not s["description"]
    ]
    assert undescribed == []


def _cardpulse(*args: str, home: Path, **options):
    env = {k: v for k, v in os.environ.items() if k != "CARDPULSE_WAREHOUSE"}
    env["CARDPULSE_HOME"] = str(home)
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "cardpulse"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def test_cardpulse_docs_generates_from_the_warehouse_serves_and_stops_on_sigterm(session, tmp_path):
    import signal
    import socket
    import urllib.error
    import urllib.request

    shutil.copyfile(session.second, tmp_path / "warehouse.duckdb")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = _cardpulse("docs", "--port", str(port), home=tmp_path)
    try:
        for line in server.stdout:  # "generating ...", then the URL once it is listening
            if line.startswith("dbt docs: http://"):
                break
        else:
            raise AssertionError(server.stderr.read()[-2000:])
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url, timeout=10) as reply:
            assert reply.status == 200 and b"<html" in reply.read(2000).lower()
        with urllib.request.urlopen(f"{url}/catalog.json", timeout=10) as reply:
            catalog = json.loads(reply.read())
        # Generated against this warehouse: the mart's real columns are in the catalog.
        orders = catalog["nodes"]["model.cardpulse.fct_orders"]
        assert "paid_amount" in {c.lower() for c in orders["columns"]}
        assert (tmp_path / "dbt-docs" / "manifest.json").exists()
        for hidden in ("logs/dbt.log", "run_results.json", "../warehouse.duckdb"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{url}/{hidden}", timeout=10)
            assert refused.value.code == 404, hidden
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
        with socket.socket() as again:  # nothing listens there any more
            again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
            again.bind(("127.0.0.1", port))
            again.listen()
    finally:
        if server.poll() is None:
            server.kill()


def test_cardpulse_docs_waits_for_no_build_it_names_the_running_one(tmp_path):
    from pipelines.build_guard import hold_build_lock
    from pipelines.settings import Home

    (tmp_path / "warehouse.duckdb").write_bytes(b"")
    with hold_build_lock(Home(tmp_path)):
        refused = _cardpulse("docs", "--generate-only", home=tmp_path)
        _out, error = refused.communicate(timeout=60)
    assert refused.returncode == 1
    assert f"pid {os.getpid()}" in error and len(error.strip().splitlines()) == 1
    missing = _cardpulse("docs", "--generate-only", home=tmp_path / "nowhere")
    _out, error = missing.communicate(timeout=60)
    assert missing.returncode == 1 and "run `cardpulse build` first" in error
