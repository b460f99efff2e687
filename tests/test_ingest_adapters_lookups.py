"""Lookup tables exported beside the orders: dujiaoka ``pays`` / ``coupons`` and acg-faka
``pay`` / ``coupon`` / ``business_level`` give orders and merchants their names and codes
instead of ids. One fixture per table, in the install SQL's column order (assimon/dujiaoka
``database/sql/install.sql``; lizhipay/acg-faka ``kernel/Install/Install.sql``); carmis and
card are covered with the exports in test_ingest_adapters.py."""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import counts, ingest, query, write
from test_ingest_adapters import acg_export
from test_ingest_adapters_whole_order import DUJIAOKA_ORDERS

PAYS = (
    "id,pay_name,pay_check,pay_method,pay_client,merchant_id,merchant_key,merchant_pem,"
    "pay_handleroute,is_open,created_at,updated_at,deleted_at"
)
COUPONS = "id,discount,is_use,is_open,coupon,ret,created_at,updated_at,deleted_at"
GATEWAY_KEY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-private"


def dujiaoka_shop(folder: Path) -> Path:
    folder.mkdir()
    write(
        folder / "pays.csv",
        PAYS,
        f"14,支付宝当面付,zfbf2f,2,3,2021000,pk,{GATEWAY_KEY},/pay/alipay,1,,,",
        "15,微信扫码,wescan,2,3,1600,wk,wpem,/pay/wepay,1,,,",
    )
    write(folder / "coupons.csv", COUPONS, "3,1.00,1,1,SPRING,9,,,")
    write(
        folder / "orders.csv",
        DUJIAOKA_ORDERS,
        "1,D1,1,3,Q币,1,10.00,3,1.00,0.50,30.00,28.50,,a@b.c,,14,1.2.3.4,T1,4,0,"
        "2024-03-01 10:00:00,2024-03-01 10:00:05,",
        "2,D2,2,0,代充,2,5.90,1,0.00,0.00,5.90,5.90,,a@b.c,,15,1.2.3.4,,2,0,"
        "2024-03-01 11:00:00,2024-03-01 11:00:00,",
        # A gateway and a coupon the lookup files do not hold: their ids stay.
        "3,D3,2,8,代充,2,5.90,1,0.50,0.00,5.90,5.40,,a@b.c,,99,1.2.3.4,,2,0,"
        "2024-03-01 12:00:00,2024-03-01 12:00:00,",
    )
    return folder


def test_dujiaoka_orders_get_gateway_and_coupon_codes_from_pays_and_coupons(tmp_path):
    results = ingest(tmp_path, dujiaoka_shop(tmp_path / "shop"), source="dujiaoka")
    assert [(r.source_table, counts(r)) for r in results] == [("orders", (3, 3, 0, 0, 0))]
    assert query(
        tmp_path,
        "SELECT order_id, payment_channel, payment_method, coupon_code FROM raw.orders ORDER BY 1",
    ) == [
        ("D1", "zfbf2f", "支付宝当面付", "SPRING"),
        ("D2", "wescan", "微信扫码", None),
        ("D3", "pay_id:99", "pay_id:99", "coupon_id:8"),
    ]
    assert GATEWAY_KEY.encode() not in (tmp_path / "warehouse.duckdb").read_bytes()
    # The same files again change nothing.
    again = ingest(tmp_path, tmp_path / "shop", source="dujiaoka")
    assert [r.already_loaded for r in again] == [True]


def test_without_lookup_files_the_ids_stay_and_a_lone_lookup_file_is_one_line(tmp_path):
    folder = dujiaoka_shop(tmp_path / "shop")
    (folder / "pays.csv").unlink()
    (folder / "coupons.csv").rename(tmp_path / "coupons.csv")
    ingest(tmp_path, folder, source="dujiaoka")
    assert query(tmp_path, "SELECT payment_channel, coupon_code FROM raw.orders") [0] == (
        "pay_id:14", "coupon_id:3",
    )  # fmt: skip
    [lone] = ingest(tmp_path, tmp_path / "coupons.csv", source="dujiaoka")
    assert lone.error == (
        "dujiaoka coupons load only through the rows that need them: ingest the orders file "
        "(this file is found beside it) or the folder"
    )


def test_acg_faka_pay_coupon_and_business_level(tmp_path):
    folder = acg_export(tmp_path / "shop")
    write(
        folder / "acg_pay.csv",
        "id,name,icon,code,commodity,recharge,create_time,handle,sort,equipment,cost,cost_type",
        "1,余额,/wallet.png,#system,1,0,1997-01-01 00:00:00,#system,999,0,0.000,0",
        "2,支付宝,/alipay.png,alipay,1,1,1997-01-01 00:00:00,Epay,1,0,0.006,1",
    )
    write(
        folder / "acg_coupon.csv",
        "id,code,commodity_id,owner,create_time,expire_time,service_time,money,status,"
        "trade_no,note,mode,category_id,life,use_life,race",
        "5,VIP5OFF,1,0,2024-02-01 00:00:00,,2024-03-01 10:00:00,5.00,1,A20240301000001,,0,0,1,1,",
    )
    write(
        folder / "acg_business_level.csv",
        "id,name,icon,cost,accrual,substation,top_domain,price,supplier",
        "1,体验版,/v1.png,0.30,0.10,1,0,188.00,1",
        "4,专业版,/v3.png,0.20,0.20,1,1,388.00,1",
    )
    order = (folder / "acg_order.csv").read_text().splitlines()
    # Order 1 used coupon 5 (coupon_id is the 20th column).
    fields = order[1].split(",")
    fields[19] = "5"
    order[1] = ",".join(fields)
    (folder / "acg_order.csv").write_text("\n".join(order) + "\n")
    results = ingest(tmp_path, folder, source="acg-faka")
    assert all(r.error is None and r.quarantined == 0 for r in results), results
    assert query(
        tmp_path,
        "SELECT order_id, payment_channel, payment_method, coupon_code FROM raw.orders ORDER BY 1",
    ) == [
        ("A20240301000001", "alipay", "支付宝", "VIP5OFF"),
        ("A20240301000002", "alipay", "支付宝", None),
        ("A20240301000003", "balance", "余额", None),
    ]
    assert query(tmp_path, "SELECT merchant_id, tier FROM raw.merchants ORDER BY 1") == [
        ("1000", "专业版"),
        ("1001", "体验版"),
    ]
