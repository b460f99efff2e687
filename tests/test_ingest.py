"""Ingestion of canonical files: counts, ledger, order versions, upserts, formats, regions."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from ingest_helpers import counts, ingest, query, write

from pipelines.ingest.region_codes import normalise_region

ORDER_HEADER = (
    "order_id,created_at,updated_at,paid_at,delivered_at,merchant_id,sku_id,quantity,"
    "unit_price,unit_cost,list_price,status,region_code,channel,supplier_id,buyer_id,"
    "payment_method"
)


def order_line(
    order_id="O1",
    created="2024-01-01 10:00:00",
    updated="",
    status="paid",
    quantity="1",
    price="9.90",
    region="CN-GD",
    sku="S1",
) -> str:
    return (
        f"{order_id},{created},{updated},,,M1,{sku},{quantity},{price},8.00,10.00,"
        f"{status},{region},web,SUP1,B1,alipay"
    )


def test_orders_load_with_counts_and_lineage(tmp_path):
    source = write(
        tmp_path / "orders_2024-01.csv",
        ORDER_HEADER,
        order_line("O1"),
        order_line("O2", quantity="0"),
        order_line("O3"),
    )
    [result] = ingest(tmp_path, source)
    assert result.entity == "orders" and result.error is None
    assert counts(result) == (3, 2, 0, 0, 1)
    rows = query(
        tmp_path,
        "SELECT order_id, quantity, unit_price, _line, _file_id FROM raw.orders ORDER BY order_id",
    )
    assert [(r[0], r[1], float(r[2]), r[3]) for r in rows] == [("O1", 1, 9.9, 2), ("O3", 1, 9.9, 4)]
    assert rows[0][4] == result.file_id and len(result.file_id) == 64
    assert query(tmp_path, "SELECT line, column_name, reason FROM raw.quarantine") == [
        (3, "quantity", "quantity '0' is below 1")
    ]
    ledger = query(
        tmp_path, "SELECT entity, source, rows_read, loaded, quarantined FROM raw.file_ledger"
    )
    assert ledger == [("orders", "canonical", 3, 2, 1)]


def test_same_file_twice_changes_nothing(tmp_path):
    source = write(
        tmp_path / "orders.csv", ORDER_HEADER, order_line("O1"), order_line("O2", status="nonsense")
    )
    ingest(tmp_path, source)
    before = query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY 1")
    [again] = ingest(tmp_path, source)
    assert again.already_loaded and counts(again) == (0, 0, 0, 0, 0)
    assert "already loaded" in again.summary_line()
    assert query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY 1") == before
    assert query(tmp_path, "SELECT count(*) FROM raw.quarantine") == [(1,)]
    assert query(tmp_path, "SELECT count(*) FROM raw.file_ledger") == [(1,)]


def test_refund_as_a_later_row_replaces_the_paid_one(tmp_path):
    paid = write(
        tmp_path / "orders_a.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-01 10:00:00", status="paid"),
    )
    refund = write(
        tmp_path / "orders_b.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-05 09:00:00", status="refunded"),
    )
    stale = write(
        tmp_path / "orders_c.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-02 09:00:00", status="delivered"),
    )
    assert counts(ingest(tmp_path, paid)[0]) == (1, 1, 0, 0, 0)
    assert counts(ingest(tmp_path, refund)[0]) == (1, 0, 1, 0, 0)
    assert counts(ingest(tmp_path, stale)[0]) == (1, 0, 0, 1, 0)
    assert query(tmp_path, "SELECT order_id, status, updated_at::VARCHAR FROM raw.orders") == [
        ("O1", "refunded", "2024-01-05 09:00:00")
    ]


def test_versions_inside_one_file_newest_wins_in_any_line_order(tmp_path):
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-01 10:05:00", status="paid"),
        order_line("O1", updated="2024-01-03 10:00:00", status="refunded"),
        order_line("O1", updated="2024-01-02 10:00:00", status="delivered"),  # older, late
        order_line("O2", updated="2024-01-02 10:00:00", status="delivered"),
        order_line("O2", updated="2024-01-02 10:00:00", status="delivered"),  # exact repeat
    )
    [result] = ingest(tmp_path, source)
    assert counts(result) == (5, 2, 1, 2, 0)
    assert query(tmp_path, "SELECT order_id, status, _line FROM raw.orders ORDER BY 1") == [
        ("O1", "refunded", 3),
        ("O2", "delivered", 5),
    ]


def test_stored_orders_are_found_whatever_the_order_ids_ranges(tmp_path):
    """Only the file's ids inside the stored ones' range are looked up: ids below, between
    and above the stored ones are new, a stored id is an update or a duplicate."""
    first = write(
        tmp_path / "orders_1.csv",
        ORDER_HEADER,
        order_line("O3", updated="2024-01-01 10:00:00"),
        order_line("O5", updated="2024-01-01 10:00:00"),
    )
    assert counts(ingest(tmp_path, first)[0]) == (2, 2, 0, 0, 0)
    second = write(
        tmp_path / "orders_2.csv",
        ORDER_HEADER,
        order_line("O1"),  # below the stored range: new
        order_line("O4"),  # inside it, not stored: new
        order_line("O5", updated="2024-01-02 10:00:00", status="refunded"),  # an update
        order_line("O3", updated="2024-01-01 10:00:00"),  # the stored version again
        order_line("O9"),  # above it: new
    )
    assert counts(ingest(tmp_path, second)[0]) == (5, 3, 1, 1, 0)
    third = write(tmp_path / "orders_3.csv", ORDER_HEADER, order_line("P1"), order_line("P2"))
    assert counts(ingest(tmp_path, third)[0]) == (2, 2, 0, 0, 0)  # nothing stored in range
    assert query(tmp_path, "SELECT order_id, status FROM raw.orders ORDER BY 1") == [
        ("O1", "paid"),
        ("O3", "paid"),
        ("O4", "paid"),
        ("O5", "refunded"),
        ("O9", "paid"),
        ("P1", "paid"),
        ("P2", "paid"),
    ]


def test_same_updated_at_with_different_values_is_quarantined(tmp_path):
    first = write(
        tmp_path / "orders_1.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-01 11:00:00", status="delivered"),
        order_line("O1", updated="2024-01-01 11:00:00", status="failed"),
    )
    [result] = ingest(tmp_path, first)
    assert counts(result) == (2, 1, 0, 0, 1)
    [(line, column, reason)] = query(
        tmp_path, "SELECT line, column_name, reason FROM raw.quarantine"
    )
    assert (line, column) == (3, "updated_at") and "same updated_at" in reason
    # Against the stored version too.
    later = write(
        tmp_path / "orders_2.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-01 11:00:00", status="refunded"),
    )
    assert counts(ingest(tmp_path, later)[0]) == (1, 0, 0, 0, 1)
    assert query(tmp_path, "SELECT status FROM raw.orders") == [("delivered",)]


def test_timestamps_with_offsets_become_shanghai_wall_time(tmp_path):
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1", created="2024-01-01 10:00:00"),
        order_line("O2", created="2024-01-01T02:00:00Z"),
        order_line("O3", created="2024-01-01T02:00:00+00:00"),
        order_line("O4", created="2024-01-01T10:00:00+08:00"),
        order_line("O5", created="2023-12-31T21:00:00-05:00"),
        order_line("O6", created="2024-02-30 10:00:00"),
    )
    [result] = ingest(tmp_path, source)
    assert counts(result) == (6, 5, 0, 0, 1)
    rows = query(
        tmp_path, "SELECT DISTINCT created_at::VARCHAR, updated_at::VARCHAR FROM raw.orders"
    )
    assert rows == [("2024-01-01 10:00:00", "2024-01-01 10:00:00")]
    [(reason,)] = query(tmp_path, "SELECT reason FROM raw.quarantine")
    assert reason == "created_at '2024-02-30 10:00:00' is not an ISO 8601 timestamp"


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        ("CN-GD", "CN-GD"),
        ("cn-gd", "CN-GD"),
        ("GD", "CN-GD"),
        ("广东", "CN-GD"),
        ("广东省", "CN-GD"),
        ("Guangdong", "CN-GD"),
        ("44", "CN-GD"),
        ("440300", "CN-GD"),
        ("内蒙古自治区", "CN-NM"),
        ("内蒙古", "CN-NM"),
        ("Inner Mongolia", "CN-NM"),
        ("广西壮族自治区", "CN-GX"),
        ("新疆维吾尔自治区", "CN-XJ"),
        ("宁夏回族自治区", "CN-NX"),
        ("西藏自治区", "CN-XZ"),
        ("香港特别行政区", "CN-HK"),
        ("81", "CN-HK"),
        ("Macau", "CN-MO"),
        ("Shanxi", "CN-SX"),
        ("Shaanxi", "CN-SN"),
        ("北京市", "CN-BJ"),
        ("CN-44", "CN-GD"),
        ("火星", "UNKNOWN"),
        ("N/A", "UNKNOWN"),
        ("CN-XX", "UNKNOWN"),
        ("99", "UNKNOWN"),
    ],
)
def test_region_spellings_normalise(spelling, code):
    assert normalise_region(spelling) == code


def test_region_spellings_in_a_file_are_normalised_and_unknown_counted(tmp_path):
    spellings = [
        "广东",
        "广东省",
        "Guangdong",
        "44",
        "内蒙古自治区",
        "广西壮族自治区",
        "火星",
        "",
        "CN-GD",
    ]
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        *(order_line(f"O{i}", region=s) for i, s in enumerate(spellings)),
    )
    [result] = ingest(tmp_path, source)
    assert result.loaded == len(spellings) and result.unknown_region == 2
    assert "2 with region UNKNOWN" in result.summary_line()
    rows = query(tmp_path, "SELECT region_raw, region_code FROM raw.orders ORDER BY _line")
    assert rows == [
        ("广东", "CN-GD"),
        ("广东省", "CN-GD"),
        ("Guangdong", "CN-GD"),
        ("44", "CN-GD"),
        ("内蒙古自治区", "CN-NM"),
        ("广西壮族自治区", "CN-GX"),
        ("火星", "UNKNOWN"),
        (None, "UNKNOWN"),
        (None, "CN-GD"),  # the ISO code itself: no second copy (dbt reads it as the code)
    ]


SKU_HEADER = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"
)


def test_other_entities_upsert_by_natural_key(tmp_path):
    first = write(
        tmp_path / "skus_1.csv",
        SKU_HEADER,
        "S1,Q币 10,game_card,Q币,10,card_key,SUP1,365,true",
        "S2,话费 50,mobile_topup,移动,50,direct_topup,SUP2,,false",
    )
    second = write(
        tmp_path / "skus_2.csv",
        SKU_HEADER,
        "S1,Q币 10,game_card,Q币,10,card_key,SUP1,365,true",  # unchanged
        "S2,话费 50 元,mobile_topup,移动,50,direct_topup,SUP2,,true",  # changed
        "S3,爱奇艺月卡,video_vip,爱奇艺,25,card_key,SUP1,30,true",
        "S3,爱奇艺月卡,video_vip,爱奇艺,25,card_key,SUP1,30,yes",  # same values
        "S4,腾讯视频月卡,video_vip,腾讯,25,card_key,SUP1,30,true",  # new, once: not judged
        "S5,优酷月卡,video_vip,优酷,25,card_key,SUP1,30,true",
        "S5,优酷月卡,video_vip,优酷,25,card_key,SUP1,60,true",  # changed within the file
    )
    assert counts(ingest(tmp_path, first)[0]) == (2, 2, 0, 0, 0)
    assert counts(ingest(tmp_path, second)[0]) == (7, 3, 2, 2, 0)
    assert query(
        tmp_path, "SELECT sku_id, name, active, shelf_life_days FROM raw.skus ORDER BY 1"
    ) == [
        ("S1", "Q币 10", True, 365),
        ("S2", "话费 50 元", True, None),
        ("S3", "爱奇艺月卡", True, 30),
        ("S4", "腾讯视频月卡", True, 30),
        ("S5", "优酷月卡", True, 60),
    ]
    lines = query(tmp_path, "SELECT sku_id, _line FROM raw.skus WHERE sku_id > 'S1' ORDER BY 1")
    assert lines == [("S2", 3), ("S3", 5), ("S4", 6), ("S5", 8)]  # the last line of each


def test_keys_with_empty_parts_upsert_too(tmp_path):
    prices = write(
        tmp_path / "price_changes.csv",
        "sku_id,region_code,effective_at,list_price",
        "S1,,2024-01-01 00:00:00,9.80",
        "S1,广东,2024-01-01 00:00:00,10.00",
        "S1,,2024-01-01 00:00:00,9.70",
    )
    inventory = write(
        tmp_path / "inventory.csv",
        "as_of,sku_id,on_hand",
        "2024-01-01 23:59:59,S1,5",
        "2024-01-01 23:59:59,S1,4",
    )
    results = ingest(tmp_path, prices, inventory)
    assert [counts(r) for r in results] == [(3, 2, 1, 0, 0), (2, 1, 1, 0, 0)]
    assert query(
        tmp_path,
        "SELECT region_code, list_price::VARCHAR FROM raw.price_changes ORDER BY 1 NULLS FIRST",
    ) == [(None, "9.70"), ("CN-GD", "10.00")]
    assert query(
        tmp_path, "SELECT supplier_id, on_hand, on_order, expiring_7d FROM raw.inventory"
    ) == [(None, 4, 0, 0)]


def test_events_rules(tmp_path):
    events = write(
        tmp_path / "events.csv",
        "name,start_date,end_date,scope",
        "618,2024-06-01,2024-06-18,all",
        "新游上线,2024-07-01,2024-07-03,brand:原神",
        "倒着的,2024-07-05,2024-07-01,all",
        "乱写,2024-07-05,2024-07-06,everything",
        "无范围,2024-08-01,2024-08-02,",
    )
    [result] = ingest(tmp_path, events)
    assert counts(result) == (5, 3, 0, 0, 2)
    assert query(tmp_path, "SELECT line, reason FROM raw.quarantine ORDER BY line") == [
        (4, "end_date is before start_date"),
        (5, "scope 'everything' is not all, category:<c>, brand:<b> or sku:<id>"),
    ]
    assert ("无范围", "all") in query(tmp_path, "SELECT name, scope FROM raw.events")


def test_an_order_of_an_unknown_sku_loads_and_names_the_inferred_sku(tmp_path):
    write(tmp_path / "skus.csv", SKU_HEADER, "S1,a,game_card,,,card_key,,,true")
    write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1", sku="S1"),
        order_line("O2", sku="测试商品"),
    )
    results = ingest(tmp_path, tmp_path)  # the folder: skus load before orders
    assert [r.entity for r in results] == ["skus", "orders"]
    assert counts(results[1]) == (2, 2, 0, 0, 0)
    [members] = results[1].inferred
    assert (members.master, members.count, members.examples) == ("skus", 1, ("测试商品",))
    assert "1 SKU not in skus yet, inferred: 测试商品" in results[1].summary_line()
    assert query(tmp_path, "SELECT count(*) FROM raw.quarantine") == [(0,)]
    assert query(tmp_path, "SELECT sku_id FROM raw.orders ORDER BY order_id") == [
        ("S1",),
        ("测试商品",),
    ]


def test_folder_is_read_by_prefix_at_top_level_only(tmp_path):
    landing = tmp_path / "landing"
    (landing / "_truth").mkdir(parents=True)
    write(landing / "orders_2024-01.csv", ORDER_HEADER, order_line("O1"))
    write(landing / "_truth" / "orders_truth.csv", ORDER_HEADER, order_line("O9"))
    write(landing / "notes.csv", "a,b", "1,2")
    write(landing / "orders_readme.md", "not data")
    results = ingest(tmp_path, landing)
    assert [Path(r.path).name for r in results] == ["orders_2024-01.csv"]


def _same_orders_three_ways(tmp_path: Path) -> list[Path]:
    csv_path = write(
        tmp_path / "src.csv",
        ORDER_HEADER,
        order_line("O1", region="广东"),
        order_line("O2", quantity="x"),
        order_line("O3", created="2024-01-01T02:00:00Z"),
    )
    conn = duckdb.connect()
    parquet = tmp_path / "orders_p.parquet"
    jsonl = tmp_path / "orders_j.jsonl"
    conn.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    conn.execute(
        f"COPY (SELECT * FROM read_csv('{csv_path}', all_varchar = true)) "
        f"TO '{jsonl}' (FORMAT json)"
    )
    gz = tmp_path / "orders_g.csv.gz"
    gz.write_bytes(gzip.compress(csv_path.read_bytes()))
    return [parquet, jsonl, gz]


@pytest.mark.parametrize("kind", ["parquet", "jsonl", "csv.gz"])
def test_parquet_json_lines_and_gzip_load_the_same(tmp_path, kind):
    files = {p.name.split(".", 1)[1]: p for p in _same_orders_three_ways(tmp_path)}
    [result] = ingest(tmp_path, files[kind])
    assert counts(result) == (3, 2, 0, 0, 1)
    assert query(
        tmp_path, "SELECT order_id, created_at::VARCHAR, region_code FROM raw.orders ORDER BY 1"
    ) == [("O1", "2024-01-01 10:00:00", "CN-GD"), ("O3", "2024-01-01 10:00:00", "CN-GD")]
    assert query(tmp_path, "SELECT line, column_name FROM raw.quarantine") == [
        (3 if kind == "csv.gz" else 2, "quantity")
    ]


def test_typed_parquet_columns_load(tmp_path):
    parquet = tmp_path / "orders.parquet"
    duckdb.connect().execute(
        f"""COPY (SELECT 'O' || i AS order_id, TIMESTAMP '2024-03-01 08:00:00' AS created_at,
                  'M1' AS merchant_id, 'S1' AS sku_id, i::INTEGER AS quantity,
                  (i * 1.25)::DOUBLE AS unit_price, 9.999::DOUBLE AS unit_cost,
                  'paid' AS status, NULL::VARCHAR AS region_code
                  FROM range(0, 3) t(i)) TO '{parquet}' (FORMAT parquet)"""
    )
    [result] = ingest(tmp_path, parquet)
    # i = 0: quantity below 1; unit_cost 9.999 has 3 decimals on every row.
    assert counts(result) == (3, 0, 0, 0, 3)
    reasons = query(tmp_path, "SELECT line, reason FROM raw.quarantine ORDER BY line")
    assert reasons[0] == (1, "quantity '0' is below 1")
    assert reasons[1][1] == "unit_cost '9.999' is not an amount in CNY with at most 2 decimals"


def test_gb18030_and_bom_files_are_decoded(tmp_path):
    gb = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        "S1,腾讯Q币卡 10元,game_card,Q币,10,card_key,,,true",
        encoding="gb18030",
    )
    merchants = tmp_path / "merchants.csv"
    merchants.write_bytes("\ufeffmerchant_id,name,region_code\nM1,星辰数卡,广东省\n".encode())
    results = ingest(tmp_path, gb, merchants)
    assert [counts(r) for r in results] == [(1, 1, 0, 0, 0), (1, 1, 0, 0, 0)]
    assert query(tmp_path, "SELECT name, brand FROM raw.skus") == [("腾讯Q币卡 10元", "Q币")]
    assert query(tmp_path, "SELECT merchant_id, name, region_code FROM raw.merchants") == [
        ("M1", "星辰数卡", "CN-GD")
    ]


def test_named_encoding_is_used(tmp_path):
    gbk = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        "S1,王者荣耀点券,game_card,,,card_key,,,true",
        encoding="gbk",
    )
    [result] = ingest(tmp_path, gbk, encoding="gbk")
    assert result.loaded == 1
    assert query(tmp_path, "SELECT name FROM raw.skus") == [("王者荣耀点券",)]


def test_a_folder_mixing_formats_loads_each_file(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    first = write(landing / "orders_a.csv", ORDER_HEADER, order_line("O1"))
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{first}', all_varchar = true)) "
        f"TO '{landing / 'orders_b.parquet'}' (FORMAT parquet)"
    )
    write(landing / "orders_c.csv", ORDER_HEADER, order_line("O2"), order_line("O3", quantity="x"))
    (landing / "orders_d.jsonl").write_text(
        '{"order_id": "O4", "created_at": "2024-01-01 10:00:00", "merchant_id": "M1", '
        '"sku_id": "S1", "quantity": 1, "unit_price": 1.5, "status": "paid"}\n',
        encoding="utf-8",
    )
    results = ingest(tmp_path, landing)
    assert [counts(r) for r in results] == [
        (1, 1, 0, 0, 0),
        (1, 0, 0, 1, 0),
        (2, 1, 0, 0, 1),
        (1, 1, 0, 0, 0),
    ]
    assert query(tmp_path, "SELECT order_id FROM raw.orders ORDER BY 1") == [
        ("O1",),
        ("O2",),
        ("O4",),
    ]


def test_tab_or_semicolon_delimited_csv(tmp_path):
    tabbed = write(
        tmp_path / "suppliers.tsv",
        "supplier_id\tname\tlead_time_hours\tbatch_size",
        "SUP1\t卡速达\t2.5\t100",
    )
    semi = write(
        tmp_path / "suppliers_2.csv",
        "supplier_id;name;lead_time_hours;batch_size",
        "SUP2;星卡;-1;10",
        "SUP3;x;1;0",
    )
    results = ingest(tmp_path, tabbed, semi)
    assert [counts(r) for r in results] == [(1, 1, 0, 0, 0), (2, 0, 0, 0, 2)]
    assert query(
        tmp_path, "SELECT supplier_id, name, lead_time_hours, batch_size FROM raw.suppliers"
    ) == [("SUP1", "卡速达", 2.5, 100)]
    assert query(tmp_path, "SELECT reason FROM raw.quarantine ORDER BY line") == [
        ("lead_time_hours '-1' is below 0",),
        ("batch_size '0' is below 1",),
    ]


def test_an_optional_order_column_is_stored_once_a_file_carries_a_value(tmp_path):
    def columns() -> set[str]:
        return {r[0] for r in query(tmp_path, "SELECT name FROM pragma_table_info('raw.orders')")}

    first = write(tmp_path / "orders_1.csv", ORDER_HEADER, order_line("O1"))
    ingest(tmp_path, first)
    assert "coupon_code" not in columns()
    # A header naming it with no value in it adds nothing either.
    empty = write(tmp_path / "orders_2.csv", ORDER_HEADER + ",coupon_code", order_line("O2") + ",")
    ingest(tmp_path, empty)
    assert "coupon_code" not in columns()
    carried = write(
        tmp_path / "orders_3.csv", ORDER_HEADER + ",coupon_code", order_line("O3") + ",NEW10"
    )
    [result] = ingest(tmp_path, carried)
    assert result.loaded == 1 and {"coupon_code"} <= columns() and "card_key_ids" not in columns()
    rows = query(tmp_path, "SELECT order_id, coupon_code FROM raw.orders ORDER BY order_id")
    assert rows == [("O1", None), ("O2", None), ("O3", "NEW10")]
