"""Reconciliation marts (#19) on a small export written by the test: every kind found with its
amount to the fen, first_seen kept across builds, resolved when the data settles it, the
state and the per-supplier XLSX report written by the ``recon_state`` asset."""

import datetime as dt
import json
import os
import subprocess
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import openpyxl
import pytest
from dagster_duckdb import DuckDBResource
from ingest_helpers import ingest, query, write

from pipelines.assets.reconciliation import recon_state
from pipelines.resources import BuildSettings

ROOT = Path(__file__).resolve().parents[1]
ORDERS = (
    "order_id,created_at,updated_at,paid_at,delivered_at,merchant_id,sku_id,quantity,"
    "unit_price,unit_cost,status,supplier_id,paid_amount,gateway_trade_no,card_batch_id"
)
PAYMENTS = "payment_id,order_id,channel,amount,fee,status,created_at,callback_at,gateway_trade_no"
SKUS = "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"


def _first_load(folder: Path) -> list[Path]:
    t = "2026-03-{:02d} {}"
    return [
        write(
            folder / "skus.csv",
            SKUS,
            "K,Key,game_card,Q,10,card_key,SUP-K,,true",
            "K2,Key2,game_card,Q,30,card_key,SUP-K,,true",
            "T,Topup,mobile_topup,CMCC,100,direct_topup,SUP-T,,true",
        ),
        write(
            folder / "card_batches.csv",
            "batch_id,sku_id,supplier_id,keys,unit_cost,received_at,expires_at",
            "B1,K,SUP-K,100,9.10,2026-03-01 08:00,",
            "B2,K2,SUP-K,100,28.40,2026-03-01 08:00,",
        ),
        write(
            folder / "orders.csv",
            ORDERS,
            # paid, never delivered (3 days before the last order)
            f"O1,{t.format(2, '10:00')},{t.format(2, '10:01')},{t.format(2, '10:01')},,M1,T,1,"
            "99.50,96.00,paid,SUP-T,99.50,G1,",
            # delivered, only a failed attempt
            f"O2,{t.format(3, '10:00')},{t.format(3, '10:02')},{t.format(3, '10:01')},"
            f"{t.format(3, '10:02')},M1,K,2,10.00,9.10,delivered,SUP-K,20.00,G2,B1",
            # paid twice (second callback 19.90)
            f"O3,{t.format(3, '11:00')},{t.format(3, '11:02')},{t.format(3, '11:01')},"
            f"{t.format(3, '11:02')},M1,K,2,9.95,9.10,delivered,SUP-K,19.90,G3,B1",
            # the gateway took 0.37 less
            f"O4,{t.format(3, '12:00')},{t.format(3, '12:02')},{t.format(3, '12:01')},"
            f"{t.format(3, '12:02')},M1,K,1,10.00,9.10,delivered,SUP-K,10.00,G4,B1",
            # refunded, never paid
            f"O5,{t.format(3, '13:00')},{t.format(4, '13:00')},{t.format(3, '13:01')},"
            f"{t.format(3, '13:02')},M2,K,1,10.00,9.10,refunded,SUP-K,10.00,G5,B1",
            # clean card-key order, and its duplicate delivery with the same trade number
            f"O6,{t.format(4, '10:00')},{t.format(4, '10:02')},{t.format(4, '10:01')},"
            f"{t.format(4, '10:02')},M1,K,1,10.00,9.10,delivered,SUP-K,10.00,G6,B1",
            f"O7,{t.format(4, '10:05')},{t.format(4, '10:06')},{t.format(4, '10:05')},"
            f"{t.format(4, '10:06')},M1,K,1,10.00,9.10,delivered,SUP-K,10.00,G6,B1",
            # keys of K delivered naming K2's batch: 3 x 28.40
            f"O8,{t.format(4, '11:00')},{t.format(4, '11:02')},{t.format(4, '11:01')},"
            f"{t.format(4, '11:02')},M1,K,3,10.00,9.10,delivered,SUP-K,30.00,G8,B2",
            # a top-up delivered on the 4th: costs SUP-T 96.00
            f"O9,{t.format(4, '12:00')},{t.format(4, '12:02')},{t.format(4, '12:01')},"
            f"{t.format(4, '12:02')},M1,T,1,99.50,96.00,delivered,SUP-T,99.50,G9,",
            # the last order: as_of = 2026-03-06
            f"O10,{t.format(5, '12:00')},{t.format(5, '12:02')},{t.format(5, '12:01')},"
            f"{t.format(5, '12:02')},M1,K,1,10.00,9.10,delivered,SUP-K,10.00,G10,B1",
        ),
        write(
            folder / "payments.csv",
            PAYMENTS,
            f"P1,O1,alipay,99.50,0,success,{t.format(2, '10:01')},,G1",
            f"P2,O2,alipay,20.00,0,failed,{t.format(3, '10:01')},,",
            f"P3a,O3,alipay,19.90,0,success,{t.format(3, '11:01')},,G3",
            f"P3b,O3,alipay,19.90,0,success,{t.format(3, '11:05')},,G3",
            f"P4,O4,alipay,9.63,0,success,{t.format(3, '12:01')},,G4",
            f"P6,O6,alipay,10.00,0,success,{t.format(4, '10:01')},,G6",
            f"P8,O8,alipay,30.00,0,success,{t.format(4, '11:01')},,G8",
            f"P9,O9,alipay,99.50,0,success,{t.format(4, '12:01')},,G9",
            f"P10,O10,alipay,10.00,0,success,{t.format(5, '12:01')},,G10",
        ),
        # SUP-T: -96.00 on the 4th is O9; -12.34 on the 5th is no order's
        write(
            folder / "supplier_balances.csv",
            "as_of,supplier_id,balance",
            "2026-03-03 23:59:59,SUP-T,5000.00",
            "2026-03-04 23:59:59,SUP-T,4904.00",
            "2026-03-05 23:59:59,SUP-T,4891.66",
        ),
    ]


def _dbt_build(home: Path, as_of: str = "") -> None:
    env = {**os.environ, "CARDPULSE_HOME": str(home)}
    as_of_vars = ["--vars", json.dumps({"as_of": as_of})] if as_of else []
    env.pop("CARDPULSE_WAREHOUSE", None)
    run = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "dbt"),
            "build",
            "--quiet",
            "--select",
            "+recon_orders_payments +recon_card_keys +recon_supplier_balances",
            "--exclude",
            "test_type:unit",
            "--indirect-selection",
            "cautious",
            "--project-dir",
            str(ROOT / "dbt_project"),
            "--profiles-dir",
            str(ROOT / "dbt_project"),
            "--target-path",
            str(home / "dbt_target"),
            "--log-path",
            str(home / "dbt_logs"),
            *as_of_vars,
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def _record_state(home: Path, monkeypatch, as_of: str = "") -> None:
    monkeypatch.setenv("CARDPULSE_HOME", str(home))
    result = dg.materialize(
        [recon_state],
        resources={
            "duckdb": DuckDBResource(database=str(home / "warehouse.duckdb")),
            "build_settings": BuildSettings(as_of=as_of),
        },
    )
    assert result.success


def _findings(home: Path) -> dict:
    rows = query(
        home,
        """
        SELECT kind, coalesce(order_id, supplier_id), amount, status, first_seen
        FROM analytics.recon_orders_payments
        UNION ALL SELECT kind, order_id, amount, status, first_seen FROM analytics.recon_card_keys
        UNION ALL SELECT kind, supplier_id || ' ' || coalesce(CAST(balance_date AS VARCHAR), ''),
            amount, status, first_seen FROM analytics.recon_supplier_balances""",
    )
    return {
        (kind, subject): (amount, status, str(seen)) for kind, subject, amount, status, seen in rows
    }


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_every_kind_is_found_to_the_fen_and_its_status_follows_the_data(tmp_path, monkeypatch):
    files = tmp_path / "export"
    files.mkdir()
    ingest(tmp_path, *_first_load(files))
    _dbt_build(tmp_path)
    assert _findings(tmp_path) == {
        ("paid_not_delivered", "O1"): (Decimal("99.50"), "open", "2026-03-06"),
        ("delivered_without_payment", "O2"): (Decimal("20.00"), "open", "2026-03-06"),
        ("paid_twice", "O3"): (Decimal("19.90"), "open", "2026-03-06"),
        ("amount_mismatch", "O4"): (Decimal("0.37"), "open", "2026-03-06"),
        ("refund_without_payment", "O5"): (Decimal("10.00"), "open", "2026-03-06"),
        ("key_delivered_twice", "O7"): (Decimal("10.00"), "open", "2026-03-06"),
        ("batch_mismatch", "O8"): (Decimal("85.20"), "open", "2026-03-06"),
        ("supplier_balance_gap", "SUP-T 2026-03-05"): (Decimal("12.34"), "open", "2026-03-06"),
    }
    # Each order found lists its successful attempts in time order; O2's failed one is none.
    assert dict(
        query(tmp_path, "SELECT order_id, payment_ids FROM analytics.recon_orders_payments")
    ) == {"O1": "P1", "O2": None, "O3": "P3a,P3b", "O4": "P4", "O5": None}
    _record_state(tmp_path, monkeypatch)
    report = openpyxl.load_workbook(tmp_path / "reports" / "recon-2026-03-06.xlsx")
    assert set(report.sheetnames) == {"summary", "SUP-K", "SUP-T"}
    rerun = query(tmp_path, "SELECT count(*) FROM ops.recon_state")
    _record_state(tmp_path, monkeypatch)  # the same day again changes nothing
    assert query(tmp_path, "SELECT count(*) FROM ops.recon_state") == rerun == [(8,)]

    # Next day: O1 is delivered, the late callback for O2 arrives; a new order moves as_of.
    later = tmp_path / "later"
    later.mkdir()
    ingest(
        tmp_path,
        write(
            later / "orders_2.csv",
            ORDERS,
            "O1,2026-03-02 10:00,2026-03-06 09:00,2026-03-02 10:01,2026-03-06 09:00,M1,T,1,"
            "99.50,96.00,delivered,SUP-T,99.50,G1,",
            "O11,2026-03-06 12:00,2026-03-06 12:02,2026-03-06 12:01,2026-03-06 12:02,M1,K,1,"
            "10.00,9.10,delivered,SUP-K,10.00,G11,B1",
        ),
        write(
            later / "payments_2.csv",
            PAYMENTS,
            "P2b,O2,alipay,20.00,0,success,2026-03-06 09:00,,G2",
            "P11,O11,alipay,10.00,0,success,2026-03-06 12:01,,G11",
        ),
    )
    _dbt_build(tmp_path)
    after = _findings(tmp_path)
    assert after[("paid_not_delivered", "O1")][1:] == ("resolved", "2026-03-06")
    assert after[("delivered_without_payment", "O2")][1] == "resolved"
    # Still open: first seen the day it was first found, not today.
    assert after[("paid_twice", "O3")] == (Decimal("19.90"), "open", "2026-03-06")
    assert after[("batch_mismatch", "O8")][1:] == ("open", "2026-03-06")
    assert len(after) == 8


def _batch_load(folder: Path) -> list[Path]:
    t = "2026-03-{:02d} {}"

    def order(n: int, day: int, keys: int, cost: str, batch: str) -> str:
        at = t.format(day, "12:00")
        return (
            f"O{n},{at},{at},{at},{at},M1,K,{keys},10.00,{cost},delivered,SUP-K,{keys}0.00,"
            f"G{n},{batch}"
        )

    return [
        write(folder / "skus.csv", SKUS, "K,Key,game_card,Q,10,card_key,SUP-K,,true"),
        write(
            folder / "card_batches.csv",
            "batch_id,sku_id,supplier_id,keys,unit_cost,received_at,expires_at",
            "B0,K,SUP-K,50,9.00,2026-02-20 08:00,",  # never drawn: B1, later, is
            "B1,K,SUP-K,3,9.10,2026-03-01 08:00,",  # 4 keys delivered from 3
            "B2,K,SUP-K,100,9.10,2026-03-02 08:00,",  # 3 keys booked at 9.25
            "B3,K,SUP-K,100,9.20,2026-03-05 08:00,",  # the newest: not drawn yet, no finding
        ),
        write(
            folder / "orders.csv",
            ORDERS,
            order(1, 1, 2, "9.10", "B1"),
            order(2, 2, 2, "9.10", "B1"),
            order(3, 3, 3, "9.25", "B2"),
            order(4, 4, 1, "9.10", "B2"),
            order(5, 5, 1, "9.10", ""),
        ),
        write(
            folder / "payments.csv",
            PAYMENTS,
            *(f"P{n},O{n},alipay,{k}0.00,0,success,{t.format(n, '12:00')},,G{n}"
              for n, k in ((1, 2), (2, 2), (3, 3), (4, 1), (5, 1))),
        ),
    ]  # fmt: skip


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_batch_draw_down_on_the_builds_day_and_its_status(tmp_path, monkeypatch):
    """Over-drawn, never-drawn and cost-mismatched batches to the fen; the build's as-of date
    (dbt var as_of) is the recon marts' day, the same one risk uses."""
    files = tmp_path / "export"
    files.mkdir()
    ingest(tmp_path, *_batch_load(files))
    _dbt_build(tmp_path)
    # Without --as-of, the marts' day is BuildSettings' (the one risk_signals uses).
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as conn:
        default_day = BuildSettings().as_of_date(conn)
        days = conn.execute("SELECT DISTINCT as_of_date FROM analytics.recon_card_keys").fetchall()
    assert days == [(default_day,)] and str(default_day) == "2026-03-06"

    _dbt_build(tmp_path, as_of="2026-03-10")
    rows = query(
        tmp_path,
        "SELECT kind, batch_id, order_id, keys, amount, status, first_seen, as_of_date "
        "FROM analytics.recon_card_keys ORDER BY kind",
    )
    day = dt.date(2026, 3, 10)
    assert rows == [
        ("batch_cost_mismatch", "B2", None, 4, Decimal("0.45"), "open", day, day),
        ("batch_never_drawn", "B0", None, 50, Decimal("450.00"), "open", day, day),
        ("batch_overdrawn", "B1", None, 1, Decimal("9.10"), "open", day, day),
    ]
    _record_state(tmp_path, monkeypatch, as_of="2026-03-10")
    assert query(tmp_path, "SELECT DISTINCT as_of FROM ops.recon_state") == [(day,)]

    # The supplier's corrected batch file: B1 held 4 keys. The over-draw resolves; the others
    # stay open with the day they were first seen.
    fix = tmp_path / "fix"
    fix.mkdir()
    ingest(
        tmp_path,
        write(
            fix / "card_batches_fix.csv",
            "batch_id,sku_id,supplier_id,keys,unit_cost,received_at,expires_at",
            "B1,K,SUP-K,4,9.10,2026-03-01 08:00,",
        ),
    )
    _dbt_build(tmp_path, as_of="2026-03-11")
    after = {
        kind: (status, str(seen))
        for kind, status, seen in query(
            tmp_path, "SELECT kind, status, first_seen FROM analytics.recon_card_keys"
        )
    }
    assert after == {
        "batch_cost_mismatch": ("open", "2026-03-10"),
        "batch_never_drawn": ("open", "2026-03-10"),
        "batch_overdrawn": ("resolved", "2026-03-10"),
    }
