"""``--source dujiao-next``: an order is split over ``orders`` + ``order_items``; payments name
their order by ``orders.id``. The fixtures use the real columns of dujiao-next's GORM models
(``internal/models``: Order, OrderItem, Payment, CardSecretBatch), in model order, as a CSV
export with header or as one mysqldump of the database."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from ingest_helpers import counts, ingest, query, write

from pipelines.ingest.secrets import installation_secret, keyed_hash

ORDERS = (
    "id,order_no,parent_id,user_id,guest_email,guest_password,guest_locale,status,currency,"
    "original_amount,discount_amount,member_discount_amount,promotion_discount_amount,"
    "wholesale_discount_amount,total_amount,wallet_paid_amount,online_paid_amount,"
    "refunded_amount,member_level_id,coupon_id,promotion_id,affiliate_profile_id,"
    "affiliate_code,reseller_id,reseller_domain,reseller_profit_amount,client_ip,expires_at,"
    "paid_at,canceled_at,created_at,updated_at,deleted_at"
)
ORDER_ROWS = (
    # DN1: a guest, one item, coupon 4, sold on reseller 3's domain (2.00 profit).
    "1,DN1,,0,Buyer@Example.com,$2a$pw,zh-CN,delivered,CNY,30.00,2.50,1.50,0.00,0.00,27.50,"
    "0.00,27.50,0.00,,4,,,,3,r3.example.com,2.00,1.2.3.4,,2024-03-01 10:00:30,,"
    "2024-03-01 10:00:00,2024-03-01 10:01:00,",
    # DN2: a member (user 42), two items, reseller 3 (1.20 profit), paid, not yet delivered.
    "2,DN2,,42,,,zh-CN,fulfilling,CNY,20.00,0.00,0.00,0.00,0.00,20.00,0.00,20.00,0.00,,,,,,3,"
    "r3.example.com,1.20,5.6.7.8,,2024-03-02 09:00:10,,2024-03-02 09:00:00,"
    "2024-03-02 09:00:10,",
    # DN3: the same guest in other case, not paid yet; no reseller.
    "3,DN3,,0,buyer@example.com ,,zh-CN,pending_payment,CNY,5.00,0.00,0.00,0.00,0.00,5.00,"
    "0.00,0.00,0.00,,,,,,,,0.00,1.2.3.4,2024-03-03 08:15:00,,,2024-03-03 08:00:00,"
    "2024-03-03 08:00:00,",
    # DN4: a status this version of the mapping does not know.
    "4,DN4,,0,x@example.com,,zh-CN,on_hold,CNY,5.00,0.00,0.00,0.00,0.00,5.00,0.00,5.00,0.00,,"
    ",,,,,,0.00,9.9.9.9,,,,2024-03-04 08:00:00,2024-03-04 08:00:00,",
)
ITEMS = (
    "id,order_id,product_id,sku_id,title_json,sku_snapshot_json,tags,original_unit_price,"
    "unit_price,cost_price,quantity,original_total_price,total_price,coupon_discount,"
    "member_discount,promotion_discount,wholesale_discount,promotion_id,fulfillment_type,"
    "manual_form_schema_snapshot_json,manual_form_submission_json,instructions_json,"
    "created_at,updated_at,deleted_at"
)
TITLE = '"{""zh-CN"":""Q币 10元, 直充""}"'
ITEM_ROWS = (
    # 3 x 9.50 after a member discount of 1.50, then 1.00 coupon: 27.50 paid.
    f"11,1,5,7,{TITLE},,[],10.00,9.50,8.00,3,30.00,28.50,1.00,1.50,0.00,0.00,,auto,,,,"
    "2024-03-01 10:00:00,2024-03-01 10:00:00,",
    # Order 2's two items: a product without SKUs (sku_id 0) and an upstream-fulfilled one.
    f"12,2,6,0,{TITLE},,[],5.00,5.00,0.00,2,10.00,10.00,0.00,0.00,0.00,0.00,,manual,,,,"
    "2024-03-02 09:00:00,2024-03-02 09:00:00,",
    f"13,2,5,7,{TITLE},,[],10.00,10.00,8.00,1,10.00,10.00,0.00,0.00,0.00,0.00,,upstream,,,,"
    "2024-03-02 09:00:00,2024-03-02 09:00:00,",
    f"14,3,5,7,{TITLE},,[],5.00,5.00,4.00,1,5.00,5.00,0.00,0.00,0.00,0.00,,auto,,,,"
    "2024-03-03 08:00:00,2024-03-03 08:00:00,",
    # Bad: an item of an order the orders file lacks, an unknown fulfillment type, DN4's item.
    f"15,99,5,7,{TITLE},,[],5.00,5.00,4.00,1,5.00,5.00,0.00,0.00,0.00,0.00,,auto,,,,"
    "2024-03-03 08:00:00,2024-03-03 08:00:00,",
    f"16,3,5,7,{TITLE},,[],5.00,5.00,4.00,1,5.00,5.00,0.00,0.00,0.00,0.00,,robot,,,,"
    "2024-03-03 08:00:00,2024-03-03 08:00:00,",
    f"17,4,5,7,{TITLE},,[],5.00,5.00,4.00,1,5.00,5.00,0.00,0.00,0.00,0.00,,auto,,,,"
    "2024-03-04 08:00:00,2024-03-04 08:00:00,",
)
PAYMENTS = (
    "id,order_id,channel_id,provider_type,channel_type,interaction_mode,amount,fee_rate,"
    "fixed_fee,fee_amount,currency,status,provider_ref,gateway_order_no,provider_payload,"
    "pay_url,qr_code,created_at,updated_at,paid_at,expired_at,callback_at,deleted_at"
)
PAYMENT_ROWS = (
    "1,1,2,epay,alipay,redirect,27.50,0.60,0.00,0.17,CNY,success,T2024A,G1,{},,,"
    "2024-03-01 10:00:05,2024-03-01 10:00:30,2024-03-01 10:00:30,,2024-03-01 10:00:31,",
    "2,2,3,official,wechat,qr,20.00,0.60,0.00,0.12,CNY,expired,,G2,{},,,"
    "2024-03-02 09:00:01,2024-03-02 09:05:01,,2024-03-02 09:05:00,,",
    "3,2,2,epay,alipay,redirect,20.00,0.60,0.00,0.12,CNY,success,T2024B,G3,{},,,"
    "2024-03-02 09:06:00,2024-03-02 09:06:10,2024-03-02 09:06:10,,2024-03-02 09:06:10,",
    # Bad: still pending; an order the orders file lacks.
    "4,3,2,epay,alipay,redirect,5.00,0.60,0.00,0.03,CNY,pending,,G4,{},,,"
    "2024-03-03 08:00:05,2024-03-03 08:00:05,,,,",
    "5,77,2,epay,alipay,redirect,5.00,0.60,0.00,0.03,CNY,success,,G5,{},,,"
    "2024-03-03 08:00:05,2024-03-03 08:00:05,,,,",
)
BATCHES = (
    "id,product_id,sku_id,batch_no,source,total_count,note,created_by,created_at,updated_at,"
    "deleted_at"
)
BATCH_ROWS = (
    "1,5,7,B20240301,csv,500,首批,1,2024-03-01 09:00:00,2024-03-01 09:00:00,",
    "2,6,0,B20240302,manual,20,,1,2024-03-02 09:00:00,2024-03-02 09:00:00,",
)


def csv_export(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    write(folder / "orders.csv", ORDERS, *ORDER_ROWS)
    write(folder / "order_items.csv", ITEMS, *ITEM_ROWS)
    write(folder / "payments.csv", PAYMENTS, *PAYMENT_ROWS)
    write(folder / "card_secret_batches.csv", BATCHES, *BATCH_ROWS)
    return folder


def _sql_values(line: str) -> str:
    """A fixture CSV line as an INSERT's values (empty is NULL; the JSON title quoted)."""
    import csv

    [fields] = list(csv.reader([line]))
    return (
        "("
        + ",".join("NULL" if f == "" else "'" + f.replace("'", "''") + "'" for f in fields)
        + ")"
    )


def dump_export(folder: Path) -> Path:
    """One mysqldump of the database: both tables of an order in one file."""
    folder.mkdir(exist_ok=True)
    parts = ["/*!40103 SET TIME_ZONE='+00:00' */;"]
    for table, header, rows in (("orders", ORDERS, ORDER_ROWS), ("order_items", ITEMS, ITEM_ROWS)):
        columns = ",\n".join(
            f"  `{c}` datetime(3) DEFAULT NULL" if c.endswith("_at") else f"  `{c}` longtext"
            for c in header.split(",")
        )
        parts.append(f"CREATE TABLE `{table}` (\n{columns}\n);")
        parts.append(
            f"INSERT INTO `{table}` VALUES " + ",".join(_sql_values(r) for r in rows) + ";"
        )
    return write(folder / "dujiao_next.sql", *parts)


ORDER_COLUMNS = """order_id, created_at, paid_at, delivered_at, merchant_id, sku_id, quantity,
    unit_price, unit_cost, list_price, status, buyer_id, paid_amount, coupon_code,
    discount_amount, agent_id, agent_commission, delivery_mode, buyer_key, buyer_ip_key"""


def _check_orders(tmp_path: Path, first_line: int) -> None:
    """The orders of the fixture; ``first_line`` is the first item's line (a CSV's 2 after its
    header, a dump's 1: its rows are numbered within the table)."""
    rows = query(tmp_path, f"SELECT {ORDER_COLUMNS} FROM raw.orders ORDER BY order_id")
    assert len(rows) == 4, rows
    secret = installation_secret(tmp_path)
    guest = keyed_hash(secret, "buyer@example.com")
    # An order with several items (DN3's second one, 16, is quarantined) names each one.
    assert [r[0] for r in rows] == ["DN1", "DN2/12", "DN2/13", "DN3/14"]
    dn1 = dict(zip([c.strip() for c in ORDER_COLUMNS.split(",")], rows[0], strict=True))
    assert dn1["status"] == "delivered" and dn1["merchant_id"] == "dujiao-next"
    assert (dn1["sku_id"], dn1["quantity"], dn1["unit_price"]) == ("sku:7", 3, Decimal("9.17"))
    assert (dn1["paid_amount"], dn1["discount_amount"]) == (Decimal("27.50"), Decimal("2.50"))
    assert (dn1["unit_cost"], dn1["list_price"]) == (Decimal("8.00"), Decimal("10.00"))
    assert (dn1["coupon_code"], dn1["agent_id"], dn1["agent_commission"]) == (
        "coupon_id:4", "3", Decimal("2.00"),
    )  # fmt: skip
    assert (dn1["buyer_key"], dn1["buyer_ip_key"]) == (guest, keyed_hash(secret, "1.2.3.4"))
    assert dn1["buyer_id"] == "email:" + guest[:16]
    assert str(dn1["delivered_at"]) == "2024-03-01 10:01:00"
    # DN2: two rows, the reseller's profit once (on the first item), paid (fulfilling).
    assert [r[5] for r in rows[1:3]] == ["product:6", "sku:7"]
    assert [r[10] for r in rows[1:3]] == ["paid", "paid"]
    assert [r[16] for r in rows[1:3]] == [Decimal("1.20"), Decimal("0.00")]
    assert [r[17] for r in rows[1:3]] == ["manual", "upstream"]
    assert rows[1][8] is None  # cost_price 0 is "not set"
    assert rows[1][11] == "user:42" and rows[1][18] is None
    # DN3: the same guest, same key; no reseller.
    assert rows[3][10] == "pending_payment" and rows[3][18] == guest
    assert rows[3][15:17] == (None, None)
    reasons = query(
        tmp_path,
        "SELECT line, reason FROM raw.quarantine WHERE entity = 'orders' ORDER BY line",
    )
    assert reasons == [
        (first_line + 4, "order_id '99' has no row in the orders table read with it"),
        (
            first_line + 5,
            "dujiao-next fulfillment_type 'robot' is not one of auto, manual, upstream",
        ),
        (
            first_line + 6,
            "dujiao-next order status 'on_hold' is not one of pending_payment, paid, "
            "fulfilling, partially_delivered, delivered, completed, canceled, refunded",
        ),
    ]


def _no_raw_personal_values(tmp_path: Path) -> None:
    import duckdb

    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    conn.execute("CHECKPOINT")
    conn.close()
    data = (tmp_path / "warehouse.duckdb").read_bytes()
    for raw in (b"Buyer@Example.com", b"buyer@example.com", b"1.2.3.4", b"$2a$pw"):
        assert raw not in data, raw


def test_a_csv_export_lands_items_with_their_orders_fields(tmp_path):
    results = ingest(tmp_path, csv_export(tmp_path / "export"), source="dujiao-next")
    by_table = {r.source_table: r for r in results}
    assert set(by_table) == {"card_secret_batches", "order_items", "payments"}
    assert all(r.error is None for r in results), results
    assert counts(by_table["order_items"]) == (7, 4, 0, 0, 3)
    _check_orders(tmp_path, first_line=2)
    _no_raw_personal_values(tmp_path)


def test_payments_and_card_batches(tmp_path):
    results = ingest(tmp_path, csv_export(tmp_path / "export"), source="dujiao-next")
    by_table = {r.source_table: r for r in results}
    assert counts(by_table["payments"]) == (5, 3, 0, 0, 2)
    assert query(
        tmp_path,
        "SELECT payment_id, order_id, channel, amount, fee, status, gateway_trade_no "
        "FROM raw.payments ORDER BY payment_id",
    ) == [
        ("1", "DN1", "alipay", Decimal("27.50"), Decimal("0.17"), "success", "G1"),
        ("2", "DN2", "wechat", Decimal("20.00"), Decimal("0.12"), "failed", "G2"),
        ("3", "DN2", "alipay", Decimal("20.00"), Decimal("0.12"), "success", "G3"),
    ]
    assert query(
        tmp_path, "SELECT reason FROM raw.quarantine WHERE entity = 'payments' ORDER BY line"
    ) == [
        ("payment not finished yet (dujiao-next status 'pending')",),
        ("order_id '77' has no row in the orders table read with it",),
    ]
    assert counts(by_table["card_secret_batches"]) == (2, 2, 0, 0, 0)
    assert query(
        tmp_path, "SELECT batch_id, sku_id, keys FROM raw.card_batches ORDER BY batch_id"
    ) == [("B20240301", "sku:7", 500), ("B20240302", "product:6", 20)]


def test_a_mysqldump_of_the_database_joins_both_tables_in_one_read(tmp_path):
    [result] = ingest(tmp_path, dump_export(tmp_path / "dump"), source="dujiao-next")
    assert result.error is None, result
    assert counts(result) == (7, 4, 0, 0, 3)
    _check_orders(tmp_path, first_line=1)
    _no_raw_personal_values(tmp_path)


def test_a_rerun_changes_nothing_and_a_changed_orders_file_is_a_new_version(tmp_path):
    folder = csv_export(tmp_path / "export")
    ingest(tmp_path, folder, source="dujiao-next")
    before = query(tmp_path, "SELECT * FROM raw.orders ORDER BY order_id")
    quarantined = query(tmp_path, "SELECT count(*) FROM raw.quarantine")
    again = ingest(tmp_path, folder, source="dujiao-next")
    assert all(r.already_loaded for r in again)
    assert query(tmp_path, "SELECT * FROM raw.orders ORDER BY order_id") == before
    assert query(tmp_path, "SELECT count(*) FROM raw.quarantine") == quarantined
    # DN1 refunded: only orders.csv changes; its items file is read again with it.
    refunded = (
        ORDER_ROWS[0]
        .replace("delivered,CNY", "refunded,CNY")
        .replace("2024-03-01 10:01:00", "2024-03-05 12:00:00")
    )
    write(folder / "orders.csv", ORDERS, refunded, *ORDER_ROWS[1:])
    results = {r.source_table: r for r in ingest(tmp_path, folder, source="dujiao-next")}
    assert not results["order_items"].already_loaded
    assert counts(results["order_items"])[2] == 1  # DN1 updated, the rest duplicates
    assert query(tmp_path, "SELECT status FROM raw.orders WHERE order_id = 'DN1'") == [
        ("refunded",)
    ]


def test_an_items_file_without_its_orders_file_fails_with_one_line(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    items = write(folder / "order_items.csv", ITEMS, *ITEM_ROWS)
    [result] = ingest(tmp_path, items, source="dujiao-next")
    assert result.error == (
        "no orders file found (orders.* beside it): order_items rows are read with their "
        "orders rows; export both tables, or give a mysqldump .sql holding both"
    )
    orders = write(folder / "orders.csv", ORDERS, *ORDER_ROWS)
    (result,) = ingest(tmp_path / "other", orders, source="dujiao-next")
    assert result.error == (
        "dujiao-next orders load only through the rows that need them: ingest the "
        "order_items / payments file (this file is found beside it) or the folder"
    )
