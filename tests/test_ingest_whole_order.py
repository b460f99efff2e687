"""Issue #18 at ingest: the order's payment / coupon / agent / batch columns, keyed buyer hashes,
and the optional payments, card_batches and agents files with their quarantine rules."""

from __future__ import annotations

import gzip
import json
import stat
from decimal import Decimal

import pytest
from ingest_helpers import counts, ingest, query, write

from pipelines.ingest.secrets import SECRET_FILE, installation_secret, keyed_hash

HEADER = (
    "order_id,created_at,merchant_id,sku_id,quantity,unit_price,status,paid_amount,"
    "payment_channel,payment_fee,coupon_code,discount_amount,agent_id,agent_commission,"
    "delivery_mode,gateway_trade_no,card_batch_id,buyer_contact,buyer_ip"
)
EMAIL = "Zhang.San@example.com"
QQ = "10001234"
IP = "203.0.113.77"


def _orders(tmp_path, *rows):
    return write(tmp_path / "orders.csv", HEADER, *rows)


def test_new_order_columns_load_and_buyers_become_keyed_hashes(tmp_path):
    path = _orders(
        tmp_path,
        f"O1,2026-03-01 10:00,M1,S1,2,45.00,delivered,90.00,alipay,0.54,NEW10,10.00,A1,4.50,"
        f"auto,2026030122001,B1,{EMAIL},{IP}",
        f"O2,2026-03-01 11:00,M1,S1,1,50.00,paid,50.00,wxpay,0.30,,,,,manual,,,"
        f" zhang.san@EXAMPLE.com ,{IP}",
        f"O3,2026-03-01 12:00,M1,S1,1,50.00,paid,,usdt,,,,,,upstream,,,{QQ},",
    )
    [result] = ingest(tmp_path, path)
    assert counts(result) == (3, 3, 0, 0, 0)
    rows = query(
        tmp_path,
        """SELECT order_id, payment_channel, payment_fee, coupon_code, discount_amount, agent_id,
                  agent_commission, delivery_mode, gateway_trade_no, card_batch_id, buyer_key,
                  buyer_ip_key
           FROM raw.orders ORDER BY order_id""",
    )
    secret = installation_secret(tmp_path)
    o1, o2, o3 = rows
    assert o1[:10] == (
        "O1", "alipay", Decimal("0.54"), "NEW10", Decimal("10.00"), "A1", Decimal("4.50"),
        "auto", "2026030122001", "B1",
    )  # fmt: skip
    # The same buyer (case and spaces aside) has the same key; the key is the HMAC.
    assert o1[10] == o2[10] == keyed_hash(secret, EMAIL)
    assert o1[11] == o2[11] == keyed_hash(secret, IP)
    assert o3[10] == keyed_hash(secret, QQ) and o3[11] is None
    assert o3[7] == "upstream" and o2[7] == "manual"


def test_the_secret_is_created_once_with_mode_0600(tmp_path):
    path = _orders(tmp_path, f"O1,2026-03-01 10:00,M1,S1,1,5,paid,,,,,,,,,,,{EMAIL},")
    ingest(tmp_path, path)
    secret_file = tmp_path / SECRET_FILE
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    first = secret_file.read_text()
    other = write(
        tmp_path / "orders_2.csv", HEADER, f"O9,2026-03-02 10:00,M1,S1,1,5,paid,,,,,,,,,,,{EMAIL},"
    )
    ingest(tmp_path, other)
    assert secret_file.read_text() == first
    keys = query(tmp_path, "SELECT DISTINCT buyer_key FROM raw.orders")
    assert len(keys) == 1


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_raw_contacts_and_ips_are_nowhere_in_the_warehouse_quarantine_included(tmp_path, kind):
    good = f"O1,2026-03-01 10:00,M1,S1,1,45.00,paid,45.00,alipay,,,,,,auto,,,{EMAIL},{IP}"
    # Quarantined for its quantity: its raw text must not hold the contact either.
    bad = f"O2,2026-03-01 10:00,M1,S1,zero,45.00,paid,,,,,,,,,,,{QQ},198.51.100.9"
    csv_path = _orders(tmp_path, good, bad)
    if kind == "csv":
        path = csv_path
    else:
        import pandas as pd

        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
        csv_path.unlink()
        if kind == "jsonl":
            path = tmp_path / "orders.jsonl.gz"
            with gzip.open(path, "wt") as handle:
                for record in frame.to_dict("records"):
                    handle.write(json.dumps(record) + "\n")
        else:
            path = tmp_path / "orders.parquet"
            frame.to_parquet(path)
    [result] = ingest(tmp_path, path)
    assert (result.loaded, result.quarantined) == (1, 1)
    [(raw_text, raw_values)] = query(tmp_path, "SELECT raw_text, raw_values FROM raw.quarantine")
    assert QQ not in raw_text and QQ not in raw_values
    assert keyed_hash(installation_secret(tmp_path), QQ) in raw_values
    data = (tmp_path / "warehouse.duckdb").read_bytes()
    for secret_value in (EMAIL, EMAIL.lower(), QQ, IP, "198.51.100.9"):
        assert secret_value.encode() not in data, secret_value


def test_a_line_the_reader_rejects_keeps_no_contact(tmp_path):
    path = _orders(
        tmp_path,
        f"O1,2026-03-01 10:00,M1,S1,1,45.00,paid,,,,,,,,,,,{EMAIL},{IP}",
        f"O2,2026-03-01 10:00,M1,S1,1,{QQ}",
    )
    [result] = ingest(tmp_path, path)
    assert result.quarantined == 1
    [(raw_text,)] = query(tmp_path, "SELECT raw_text FROM raw.quarantine")
    assert QQ not in raw_text and "withheld" in raw_text


def test_bad_values_of_the_new_order_columns_are_quarantined(tmp_path):
    path = _orders(
        tmp_path,
        "O1,2026-03-01 10:00,M1,S1,1,45.00,paid,,alipay,-0.10,,,,,,,,,",
        "O2,2026-03-01 10:00,M1,S1,1,45.00,paid,,alipay,,,1.234,,,,,,,",
        "O3,2026-03-01 10:00,M1,S1,1,45.00,paid,,alipay,,,,,,robot,,,,",
        "O4,2026-03-01 10:00,M1,S1,1,45.00,paid,,alipay,,,,,nan,,,,,",
        "O5,2026-03-01 10:00,M1,S1,1,45.00,paid,,alipay,,,,,,,,,,",
    )
    [result] = ingest(tmp_path, path)
    assert counts(result) == (5, 1, 0, 0, 4)
    reasons = dict(query(tmp_path, "SELECT column_name, reason FROM raw.quarantine"))
    assert reasons["payment_fee"] == "payment_fee '-0.10' is below 0"
    assert "with at most 2 decimals" in reasons["discount_amount"]
    assert reasons["delivery_mode"] == "delivery_mode 'robot' is not one of auto, manual, upstream"
    assert "agent_commission 'nan'" in reasons["agent_commission"]


def test_payments_card_batches_and_agents_load_and_rerun_changes_nothing(tmp_path):
    payments = write(
        tmp_path / "payments.csv",
        "payment_id,order_id,channel,amount,fee,status,created_at,callback_at,gateway_trade_no",
        "P1,O1,alipay,45.00,0.27,failed,2026-03-01 10:00:00,,",
        "P2,O1,alipay,45.00,0.27,success,2026-03-01 10:01:00,2026-03-01 10:01:05,T2",
    )
    batches = write(
        tmp_path / "card_batches.csv",
        "batch_id,sku_id,supplier_id,keys,unit_cost,received_at,expires_at",
        "B1,S1,SUP1,500,41.20,2026-02-20 09:00,2027-02-20 00:00",
    )
    agents = write(
        tmp_path / "agents.csv",
        "agent_id,merchant_id,parent_agent_id,commission_pct,joined_at",
        "A1,M1,,10,2025-06-01",
        "A2,M1,A1,5.5,2025-09-01",
    )
    results = ingest(tmp_path, payments, batches, agents)
    # Masters first: agents, card_batches, then payments.
    assert [r.entity for r in results] == ["agents", "card_batches", "payments"]
    assert [counts(r) for r in results] == [(2, 2, 0, 0, 0), (1, 1, 0, 0, 0), (2, 2, 0, 0, 0)]
    assert query(tmp_path, "SELECT expires_at::DATE::VARCHAR FROM raw.card_batches") == [
        ("2027-02-20",)
    ]
    assert query(tmp_path, "SELECT agent_id, commission_pct FROM raw.agents ORDER BY 1") == [
        ("A1", 10.0),
        ("A2", 5.5),
    ]
    again = ingest(tmp_path, payments, batches, agents)
    assert all(r.already_loaded for r in again)


def test_bad_payments_batches_and_agents_are_quarantined_with_reasons(tmp_path):
    payments = write(
        tmp_path / "payments.csv",
        "payment_id,order_id,channel,amount,fee,status,created_at,callback_at",
        "P1,O1,alipay,45.00,50.00,success,2026-03-01 10:00,",
        "P2,O1,alipay,45.00,0.2,pending,2026-03-01 10:00,",
        "P3,O1,alipay,45.00,0.2,success,2026-03-01 10:00,2026-03-01 09:00",
        "P4,,alipay,45.00,0.2,success,2026-03-01 10:00,",
        "P5,O1,alipay,45.00,0.2,success,2026-03-01 10:00,2026-03-01 10:00:02",
    )
    batches = write(
        tmp_path / "card_batches.csv",
        "batch_id,sku_id,keys,unit_cost,received_at,expires_at",
        "B1,S1,-5,1.00,2026-02-20,",
        "B2,S1,5,1.00,2026-02-20,2026-01-01",
        "B3,S1,5,1.00,2026-02-20,2200-01-01",
        "B4,S1,5,1.00,2026-02-20,2030-01-01",
    )
    agents = write(
        tmp_path / "agents.csv",
        "agent_id,merchant_id,parent_agent_id,commission_pct",
        "A1,M1,A1,10",
        "A2,M1,,120",
        "A3,M1,,-1",
        "A4,,,5",
        "A5,M1,,5",
    )
    results = ingest(tmp_path, payments, batches, agents)
    assert [counts(r) for r in results] == [(5, 1, 0, 0, 4), (4, 1, 0, 0, 3), (5, 1, 0, 0, 4)]
    reasons = {
        (entity, line): reason
        for entity, line, reason in query(
            tmp_path, "SELECT entity, line, reason FROM raw.quarantine"
        )
    }
    assert reasons[("payments", 2)] == "fee is above the amount paid"
    assert reasons[("payments", 3)] == "status 'pending' is not one of success, failed, refunded"
    assert reasons[("payments", 4)] == "callback_at is before created_at"
    assert reasons[("payments", 5)] == "order_id is missing"
    assert reasons[("card_batches", 2)] == "keys '-5' is below 0"
    assert reasons[("card_batches", 3)] == "expires_at is before received_at"
    assert reasons[("card_batches", 4)] == "expires_at '2200-01-01' is after 2099-12-31"
    assert reasons[("agents", 2)] == "an agent cannot be its own parent"
    assert reasons[("agents", 3)] == "commission_pct is above 100"
    assert reasons[("agents", 4)] == "commission_pct '-1' is below 0"
    assert reasons[("agents", 5)] == "merchant_id is missing"
