"""``--source dujiaoka`` and ``--source acg-faka``: table exports mapped onto the contract.

The fixtures use the real column names of assimon/dujiaoka ``database/sql/install.sql``
(orders, goods, carmis) and lizhipay/acg-faka ``kernel/Install/Install.sql`` (order,
commodity, card, user), as a MySQL client or phpMyAdmin exports them (CSV with header).
"""

from __future__ import annotations

from pathlib import Path

from ingest_helpers import query, write

from pipelines.ingest.load import ingest_paths


def ingest(tmp_path: Path, folder: Path, source: str, **kwargs):
    results = ingest_paths(tmp_path / "warehouse.duckdb", [folder], source=source, **kwargs)
    for result in results:
        assert result.error is None, result
        assert result.rows_read == (
            result.loaded + result.updated + result.duplicate + result.quarantined
        )
    return results


DUJIAOKA_ORDERS = (
    "id,order_sn,goods_id,coupon_id,title,type,goods_price,buy_amount,coupon_discount_price,"
    "wholesale_discount_price,total_price,actual_price,search_pwd,email,info,pay_id,buy_ip,"
    "trade_no,status,coupon_ret_back,created_at,updated_at,deleted_at"
)


def dujiaoka_export(folder: Path) -> Path:
    folder.mkdir()
    write(
        folder / "goods.csv",
        "id,group_id,gd_name,picture,retail_price,actual_price,in_stock,sales_volume,ord,"
        "buy_limit_num,buy_prompt,description,type,wholesale_price_cnf,other_ipu_cnf,"
        "api_hook,is_open,created_at,updated_at,deleted_at",
        "1,3,腾讯Q币 10元,,10.00,9.80,0,120,1,0,,,1,,,,1,2024-01-01 00:00:00,,",
        "2,4,王者荣耀代充 60点券,,6.00,5.90,99,30,1,0,,,2,,,,1,2024-01-01 00:00:00,,",
        "3,4,下架商品,,1.00,1.00,0,0,1,0,,,1,,,,0,2024-01-01 00:00:00,,",
    )
    write(
        folder / "carmis.csv",
        "id,goods_id,status,carmi,created_at,updated_at,deleted_at",
        "1,1,1,KEY-AAA,2024-03-01 09:00:00,,",
        "2,1,1,KEY-BBB,2024-03-01 09:00:00,,",
        "3,1,2,KEY-CCC,2024-03-01 09:00:00,2024-03-02 12:00:00,",
        "4,1,1,KEY-DDD,2024-03-01 09:00:00,2024-03-02 13:00:00,2024-03-02 13:00:00",
        "5,3,2,KEY-EEE,2024-03-01 09:00:00,2024-03-01 10:00:00,",
        "6,3,9,KEY-FFF,2024-03-01 09:00:00,,",
    )
    write(
        folder / "orders.csv",
        DUJIAOKA_ORDERS,
        "1,D2024030100001,1,0,腾讯Q币 10元 x 3,1,9.80,3,1.00,0.00,29.40,28.40,,"
        "Buyer@Example.com,,14,1.2.3.4,T1,4,0,2024-03-01 10:00:00,2024-03-01 10:00:05,",
        "2,D2024030100002,2,0,王者荣耀代充,2,5.90,1,0.00,0.00,5.90,5.90,,b@example.com,,"
        "14,1.2.3.5,T2,2,0,2024-03-01 11:00:00,2024-03-01 11:00:30,",
        "3,D2024030100003,1,0,腾讯Q币 10元,1,9.80,1,0.00,0.00,9.80,9.80,,c@example.com,,"
        "15,1.2.3.6,,-1,0,2024-03-01 12:00:00,2024-03-01 12:10:00,",
        "4,D2024030100004,1,0,腾讯Q币 10元,1,9.80,1,0.00,0.00,9.80,9.80,,d@example.com,,"
        "15,1.2.3.7,T4,7,0,2024-03-01 13:00:00,,",
        "5,D2024030100005,2,0,王者荣耀代充,2,5.90,1,0.00,0.00,5.90,5.90,,e@example.com,,"
        "14,1.2.3.8,T5,6,0,2024-03-01 14:00:00,2024-03-01 14:05:00,",
    )
    return folder


def test_dujiaoka_export_maps_onto_the_contract(tmp_path):
    results = ingest(
        tmp_path, dujiaoka_export(tmp_path / "export"), "dujiaoka", merchant_id="shop-1"
    )
    assert [(r.source_table, r.entity) for r in results] == [
        ("goods", "skus"),
        ("carmis", "inventory"),
        ("carmis", "card_batches"),
        ("orders", "orders"),
    ]
    assert query(
        tmp_path,
        "SELECT sku_id, name, category, face_value::VARCHAR, delivery_type, "
        "active FROM raw.skus ORDER BY 1",
    ) == [
        ("1", "腾讯Q币 10元", "group:3", "10.00", "card_key", True),
        ("2", "王者荣耀代充 60点券", "group:4", "6.00", "direct_topup", True),
        ("3", "下架商品", "group:4", "1.00", "card_key", False),
    ]

    # Unsold, not deleted card keys per goods, as of the export's latest change.
    carmis = results[1]
    assert (carmis.rows_read, carmis.quarantined) == (6, 1)
    assert query(
        tmp_path,
        "SELECT as_of::VARCHAR, sku_id, on_hand, on_order FROM raw.inventory ORDER BY sku_id",
    ) == [("2024-03-02 13:00:00", "1", 2, 0), ("2024-03-02 13:00:00", "3", 0, 0)]
    assert carmis.loaded == 5  # the five good key rows feed two new inventory rows

    orders = results[3]
    assert (orders.rows_read, orders.loaded, orders.quarantined) == (5, 4, 1)
    rows = query(
        tmp_path,
        "SELECT order_id, merchant_id, sku_id, quantity, "
        "unit_price::VARCHAR, list_price::VARCHAR, status, channel, "
        "delivered_at::VARCHAR, region_code, payment_method, buyer_id "
        "FROM raw.orders ORDER BY 1",
    )
    assert [r[:11] for r in rows] == [
        (
            "D2024030100001",
            "shop-1",
            "1",
            3,
            "9.47",
            "9.80",
            "delivered",
            "web",
            "2024-03-01 10:00:05",
            "UNKNOWN",
            "pay_id:14",
        ),
        (
            "D2024030100002",
            "shop-1",
            "2",
            1,
            "5.90",
            "5.90",
            "paid",
            "web",
            None,
            "UNKNOWN",
            "pay_id:14",
        ),
        (
            "D2024030100003",
            "shop-1",
            "1",
            1,
            "9.80",
            "9.80",
            "cancelled",
            "web",
            None,
            "UNKNOWN",
            "pay_id:15",
        ),
        (
            "D2024030100005",
            "shop-1",
            "2",
            1,
            "5.90",
            "5.90",
            "failed",
            "web",
            None,
            "UNKNOWN",
            "pay_id:14",
        ),
    ]
    # The buyer key is stable and does not hold the e-mail address.
    assert rows[0][11].startswith("email:") and "example" not in rows[0][11]
    assert query(
        tmp_path, "SELECT line, column_name, reason FROM raw.quarantine WHERE entity = 'orders'"
    ) == [(5, "status", "dujiaoka status '7' is not one of 1, 2, 3, 4, 5, 6, -1")]


def test_dujiaoka_default_merchant_and_status_progress(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    write(
        export / "orders_1.csv",
        DUJIAOKA_ORDERS,
        "1,D1,1,0,t,1,9.80,1,0,0,9.80,9.80,,a@b.c,,14,ip,,1,0,2024-03-01 10:00:00,,",
    )
    ingest(tmp_path, export, "dujiaoka")
    write(
        export / "orders_2.csv",
        DUJIAOKA_ORDERS,
        "1,D1,1,0,t,1,9.80,1,0,0,9.80,9.80,,a@b.c,,14,ip,T,4,0,2024-03-01 10:00:00,"
        "2024-03-01 10:03:00,",
    )
    [first, second] = ingest(tmp_path, export, "dujiaoka")
    assert first.already_loaded and (second.updated, second.loaded) == (1, 0)
    assert query(tmp_path, "SELECT merchant_id, status FROM raw.orders") == [
        ("dujiaoka", "delivered")
    ]


def acg_export(folder: Path) -> Path:
    folder.mkdir()
    write(
        folder / "acg_user.csv",
        "id,username,email,phone,qq,password,salt,app_key,avatar,balance,coin,integral,"
        "create_time,login_time,last_login_time,login_ip,last_login_ip,pid,recharge,"
        "total_coin,status,business_level,nicename,alipay,wechat,settlement",
        "1000,总代理,,,,x,s,k,,0,0,0,2023-05-01 08:00:00,,,,,0,0,0,1,4,,,,0",
        "1001,下级商户,,,,x,s,k,,0,0,0,2023-06-01 08:00:00,,,,,1000,0,0,1,1,,,,0",
    )
    write(
        folder / "acg_commodity.csv",
        "id,category_id,name,description,cover,factory_price,price,user_price,status,owner,"
        "create_time,api_status,code,delivery_way",
        "1,1,Steam 钱包 50,,,45.00,50.00,49.00,1,0,2024-01-01 00:00:00,0,C1,0",
        "2,1,网易云音乐年卡,,,80.00,98.00,95.00,0,1000,2024-01-01 00:00:00,0,C2,1",
    )
    write(
        folder / "acg_card.csv",
        "id,owner,commodity_id,draft,secret,create_time,purchase_time,order_id,status,note,race",
        "1,0,1,,S-1,2024-02-01 10:00:00,,,0,,",
        "2,0,1,,S-2,2024-02-01 10:00:00,2024-02-03 09:00:00,7,1,,",
        "3,0,1,,S-3,2024-02-01 10:00:00,,,2,,",
        "4,0,1,,S-4,2024-02-01 10:00:00,,,0,,",
    )
    write(
        folder / "acg_order.csv",
        "id,owner,user_id,trade_no,amount,commodity_id,card_id,card_num,pay_id,create_time,"
        "create_ip,create_device,pay_time,status,secret,password,contact,delivery_status,"
        "pay_url,coupon_id,cost,from,premium,widget,rent,race,rebate,pay_cost",
        "1,0,1000,A20240301000001,100.00,1,,2,2,2024-03-01 10:00:00,ip,0,"
        "2024-03-01 10:01:00,1,S,,13800000000,1,,,0,,0,,90.00,,0,0",
        "2,55,1001,A20240301000002,98.00,2,,1,2,2024-03-01 11:00:00,ip,1,"
        "2024-03-01 11:00:40,1,,,qq123456,0,,,0,,0,,80.00,,0,0",
        "3,0,0,A20240301000003,50.00,1,,1,1,2024-03-01 12:00:00,ip,0,,0,,,x@y.z,0,,,0,,0,,"
        "45.00,,0,0",
    )
    return folder


def test_acg_faka_export_maps_onto_the_contract(tmp_path):
    results = ingest(tmp_path, acg_export(tmp_path / "export"), "acg-faka")
    assert [(r.source_table, r.entity) for r in results] == [
        ("user", "merchants"),
        ("commodity", "skus"),
        ("card", "inventory"),
        ("card", "card_batches"),
        ("order", "orders"),
    ]
    assert query(
        tmp_path,
        "SELECT merchant_id, name, tier, parent_merchant_id, "
        "joined_at::VARCHAR FROM raw.merchants ORDER BY 1",
    ) == [
        ("1000", "总代理", "business_level:4", None, "2023-05-01 08:00:00"),
        ("1001", "下级商户", "business_level:1", "1000", "2023-06-01 08:00:00"),
    ]
    assert query(
        tmp_path,
        "SELECT sku_id, category, face_value::VARCHAR, delivery_type, active "
        "FROM raw.skus ORDER BY 1",
    ) == [
        ("1", "category:1", "50.00", "card_key", True),
        ("2", "category:1", "98.00", "direct_topup", False),
    ]
    assert query(tmp_path, "SELECT as_of::VARCHAR, sku_id, on_hand FROM raw.inventory") == [
        ("2024-02-03 09:00:00", "1", 2)
    ]
    assert query(
        tmp_path,
        "SELECT order_id, merchant_id, sku_id, quantity, unit_price::VARCHAR, "
        "unit_cost::VARCHAR, status, paid_at::VARCHAR, updated_at::VARCHAR, "
        "buyer_id LIKE 'user:%' FROM raw.orders ORDER BY 1",
    ) == [
        (
            "A20240301000001",
            "1000",
            "1",
            2,
            "50.00",
            "45.00",
            "delivered",
            "2024-03-01 10:01:00",
            "2024-03-01 10:01:01",
            False,
        ),
        (
            "A20240301000002",
            "1001",
            "2",
            1,
            "98.00",
            "80.00",
            "paid",
            "2024-03-01 11:00:40",
            "2024-03-01 11:00:40",
            True,
        ),
        (
            "A20240301000003",
            "0",
            "1",
            1,
            "50.00",
            "45.00",
            "pending_payment",
            None,
            "2024-03-01 12:00:00",
            False,
        ),
    ]


def test_acg_faka_re_export_after_delivery_replaces_the_paid_version(tmp_path):
    export = acg_export(tmp_path / "export")
    ingest(tmp_path, export, "acg-faka")
    (export / "acg_order.csv").rename(export / "acg_order_20240301.csv")
    write(
        export / "acg_order_20240302.csv",
        "trade_no,user_id,commodity_id,card_num,amount,rent,pay_id,create_time,pay_time,status,"
        "delivery_status",
        "A20240301000002,1001,2,1,98.00,80.00,2,2024-03-01 11:00:00,2024-03-01 11:00:40,1,1",
        "A20240301000003,0,1,1,50.00,45.00,1,2024-03-01 12:00:00,2024-03-01 12:30:00,1,1",
    )
    results = ingest(tmp_path, export, "acg-faka")
    latest = results[-1]
    assert latest.source_table == "order" and (latest.updated, latest.loaded) == (2, 0)
    assert query(tmp_path, "SELECT order_id, status FROM raw.orders ORDER BY 1") == [
        ("A20240301000001", "delivered"),
        ("A20240301000002", "delivered"),
        ("A20240301000003", "delivered"),
    ]
