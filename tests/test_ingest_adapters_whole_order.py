"""Issue #18 through the 发卡 adapters: payment, coupon, discount, delivery, affiliate and
keyed buyer columns from the real table layouts (assimon/dujiaoka ``database/sql/install.sql``
``orders``; lizhipay/acg-faka ``kernel/Install/Install.sql`` ``order``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ingest_helpers import query, write

from pipelines.ingest.load import ingest_paths
from pipelines.ingest.secrets import installation_secret, keyed_hash

DUJIAOKA_ORDERS = (
    "id,order_sn,goods_id,coupon_id,title,type,goods_price,buy_amount,coupon_discount_price,"
    "wholesale_discount_price,total_price,actual_price,search_pwd,email,info,pay_id,buy_ip,"
    "trade_no,status,coupon_ret_back,created_at,updated_at,deleted_at"
)
ACG_ORDER = (
    "id,owner,user_id,trade_no,amount,commodity_id,card_id,card_num,pay_id,create_time,"
    "create_ip,create_device,pay_time,status,secret,password,contact,delivery_status,"
    "pay_url,coupon_id,cost,from,premium,widget,rent,race,rebate,pay_cost,sku,divide_amount,"
    "substation_user_id,request_no"
)


def _ingest(tmp_path: Path, path: Path, source: str):
    [result] = ingest_paths(tmp_path / "warehouse.duckdb", [path], source=source)
    assert result.error is None, result
    return result


def test_dujiaoka_orders_bring_coupon_discounts_delivery_and_keyed_buyers(tmp_path):
    path = write(
        tmp_path / "orders.csv",
        DUJIAOKA_ORDERS,
        # Coupon 3 (1.00 off) and a wholesale discount (0.50): 30.00 listed, 28.50 paid.
        "1,D1,1,3,Q币 x 3,1,10.00,3,1.00,0.50,30.00,28.50,,Buyer@Example.com,,14,1.2.3.4,"
        "2024030122001,4,0,2024-03-01 10:00:00,2024-03-01 10:00:05,",
        # No coupon (0), manual delivery (type 2), the same buyer in other case.
        "2,D2,2,0,代充,2,5.90,1,0.00,0.00,5.90,5.90,,buyer@example.com ,,15,5.6.7.8,,2,0,"
        "2024-03-01 11:00:00,2024-03-01 11:00:00,",
    )
    result = _ingest(tmp_path, path, "dujiaoka")
    assert (result.loaded, result.quarantined) == (2, 0)
    rows = query(
        tmp_path,
        """SELECT order_id, paid_amount, payment_channel, coupon_code, discount_amount,
                  delivery_mode, gateway_trade_no, buyer_key, buyer_ip_key
           FROM raw.orders ORDER BY 1""",
    )
    secret = installation_secret(tmp_path)
    assert rows[0] == (
        "D1", Decimal("28.50"), "pay_id:14", "coupon_id:3", Decimal("1.50"), "auto",
        "2024030122001", keyed_hash(secret, "buyer@example.com"), keyed_hash(secret, "1.2.3.4"),
    )  # fmt: skip
    assert rows[1][2:7] == ("pay_id:15", None, Decimal("0.00"), "manual", None)
    assert rows[1][7] == rows[0][7]
    data = (tmp_path / "warehouse.duckdb").read_bytes()
    assert b"Buyer@Example.com" not in data and b"1.2.3.4" not in data


def test_acg_faka_orders_bring_fees_coupons_and_the_promoters_share(tmp_path):
    path = write(
        tmp_path / "acg_order.csv",
        ACG_ORDER,
        # Promoted by user 1002: divide_amount 0.80 is the promoter's share; fee 0.30.
        "1,0,1000,A1,100.00,1,,2,2,2024-03-01 10:00:00,9.9.9.9,0,2024-03-01 10:01:00,1,S,,"
        "13800000000,1,,5,0,1002,0,,90.00,,0.50,0.30,,0.80,,R1",
        # Promoter without divide_amount (older versions): the rebate; no coupon.
        "2,0,1000,A2,50.00,1,,1,2,2024-03-01 11:00:00,9.9.9.9,0,2024-03-01 11:01:00,1,S,,"
        "13800000000,1,,,0,1003,0,,45.00,,0.25,0.15,,,,R2",
        # Not promoted: no agent.
        "3,0,1000,A3,50.00,1,,1,1,2024-03-01 12:00:00,8.8.8.8,0,2024-03-01 12:01:00,1,S,,"
        "qq123456,1,,0,0,0,0,,45.00,,0,0,,,,R3",
    )
    result = _ingest(tmp_path, path, "acg-faka")
    assert (result.loaded, result.quarantined) == (3, 0)
    rows = query(
        tmp_path,
        """SELECT order_id, payment_channel, payment_fee, coupon_code, agent_id,
                  agent_commission, buyer_key, buyer_ip_key
           FROM raw.orders ORDER BY 1""",
    )
    secret = installation_secret(tmp_path)
    assert rows[0][:6] == (
        "A1", "pay_id:2", Decimal("0.30"), "coupon_id:5", "1002", Decimal("0.80"),
    )  # fmt: skip
    assert rows[0][6:] == (keyed_hash(secret, "13800000000"), keyed_hash(secret, "9.9.9.9"))
    assert rows[1][3:6] == (None, "1003", Decimal("0.25"))
    assert rows[2][3:6] == (None, None, None)
    assert b"13800000000" not in (tmp_path / "warehouse.duckdb").read_bytes()


def test_a_bad_fee_in_an_acg_faka_order_is_quarantined_with_the_contract_reason(tmp_path):
    path = write(
        tmp_path / "acg_order.csv",
        ACG_ORDER,
        "1,0,1000,A1,100.00,1,,2,2,2024-03-01 10:00:00,9.9.9.9,0,2024-03-01 10:01:00,1,S,,"
        "c,1,,,0,,0,,90.00,,0,abc,,,,R1",
    )
    result = _ingest(tmp_path, path, "acg-faka")
    assert result.quarantined == 1
    [(reason,)] = query(tmp_path, "SELECT reason FROM raw.quarantine")
    assert reason == "payment_fee 'abc' is not an amount in CNY with at most 2 decimals"
