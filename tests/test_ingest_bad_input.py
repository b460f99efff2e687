"""The contract's "Bad input" rules and the files that cannot be read at all."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import duckdb
import pytest
from ingest_helpers import counts, ingest, query, write

from pipelines.errors import CardPulseError
from pipelines.ingest.load import MAX_RAW_TEXT, ingest_paths

ORDER_HEADER = (
    "order_id,created_at,updated_at,paid_at,delivered_at,merchant_id,sku_id,quantity,"
    "unit_price,unit_cost,list_price,status,region_code,channel,supplier_id,buyer_id,"
    "payment_method"
)
SKU_HEADER = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"
)


def order_line(
    order_id="O1",
    quantity="1",
    price="9.90",
    status="paid",
    buyer="B1",
    created="2024-01-01 10:00:00",
) -> str:
    return f"{order_id},{created},,,,M1,S1,{quantity},{price},,,{status},CN-GD,web,,{buyer},alipay"


def nothing_of(tmp_path: Path, path: Path) -> None:
    """Nothing of a failed file stays: no rows, no quarantine, no ledger entry."""
    for table in ("orders", "skus", "quarantine"):
        column = "file_path" if table == "quarantine" else "_file_id"
        found = query(
            tmp_path,
            f"SELECT count(*) FROM raw.{table} WHERE {column} IN "
            f"(SELECT '{path}' UNION SELECT _file_id FROM raw.file_ledger "
            f"WHERE file_path = '{path}')",
        )
        assert found == [(0,)]
    assert query(tmp_path, f"SELECT count(*) FROM raw.file_ledger WHERE file_path = '{path}'") == [
        (0,)
    ]


def test_a_file_that_cannot_be_read_fails_alone(tmp_path):
    empty = tmp_path / "orders_1.csv"
    empty.write_bytes(b"")
    good = write(tmp_path / "orders_2.csv", ORDER_HEADER, order_line("O1"))
    results = ingest(tmp_path, empty, good)
    assert results[0].error == "empty file: no header row"
    assert results[1].error is None and results[1].loaded == 1
    nothing_of(tmp_path, empty)
    assert "FAILED: empty file" in results[0].summary_line()


def test_header_only_is_zero_rows(tmp_path):
    header_only = write(tmp_path / "orders.csv", ORDER_HEADER)
    [result] = ingest(tmp_path, header_only)
    assert result.error is None and result.rows_read == 0
    assert query(tmp_path, "SELECT rows_read FROM raw.file_ledger") == [(0,)]


def test_missing_required_column_fails_the_file(tmp_path):
    source = write(
        tmp_path / "orders.csv",
        "order_id,created_at,merchant_id,sku_id,unit_price",
        "O1,2024-01-01 10:00:00,M1,S1,9.9",
    )
    [result] = ingest(tmp_path, source)
    assert result.error.startswith("missing required column(s): quantity, status")
    nothing_of(tmp_path, source)


def test_wrong_types_are_quarantined_with_column_and_reason(tmp_path):
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1", quantity="abc"),
        order_line("O2", price="1,50".replace(",", "，")),
        order_line("O3", created="not a date"),
        order_line("O4", quantity="2.5"),
        order_line("O5", price="-1"),
        order_line("O6", status="PAID_OK"),
        order_line("", quantity="1"),
        order_line("O8"),
    )
    [result] = ingest(tmp_path, source)
    assert (result.loaded, result.quarantined) == (1, 7)
    assert query(
        tmp_path, "SELECT line, column_name, reason FROM raw.quarantine ORDER BY line"
    ) == [
        (2, "quantity", "quantity 'abc' is not a whole number"),
        (3, "unit_price", "unit_price '1，50' is not an amount in CNY with at most 2 decimals"),
        (4, "created_at", "created_at 'not a date' is not an ISO 8601 timestamp"),
        (5, "quantity", "quantity '2.5' is not a whole number"),
        (6, "unit_price", "unit_price '-1' is below 0"),
        (
            7,
            "status",
            "status 'PAID_OK' is not one of pending_payment, paid, delivered, "
            "failed, refunded, cancelled",
        ),
        (8, "order_id", "order_id is missing"),
    ]
    raw = query(tmp_path, "SELECT raw_text FROM raw.quarantine WHERE line = 2")[0][0]
    assert raw == order_line("O1", quantity="abc")


def test_wrong_types_in_other_entities(tmp_path):
    source = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        "S1,a,game_card,,10,card_key,,,maybe",
        "S2,b,,,10,card_key,,,true",
        "S3,c,game_card,,10,courier,,,true",
        "S4,d,game_card,,10,card_key,,-5,true",
    )
    [result] = ingest(tmp_path, source)
    assert result.quarantined == 4
    assert [
        r[0] for r in query(tmp_path, "SELECT column_name FROM raw.quarantine ORDER BY line")
    ] == ["active", "category", "delivery_type", "shelf_life_days"]


def test_duplicate_rows_inside_a_file_count_as_duplicate(tmp_path):
    line = order_line("O1")
    source = write(tmp_path / "orders.csv", ORDER_HEADER, line, line, line)
    [result] = ingest(tmp_path, source)
    assert (result.rows_read, result.loaded, result.duplicate) == (3, 1, 2)
    assert query(tmp_path, "SELECT count(*) FROM raw.orders") == [(1,)]


def test_truncated_gzip_fails_alone(tmp_path):
    data = gzip.compress(
        ("\n".join([ORDER_HEADER] + [order_line(f"O{i}") for i in range(3000)])).encode()
    )
    broken = tmp_path / "orders.csv.gz"
    broken.write_bytes(data[: len(data) // 2])
    [result] = ingest(tmp_path, broken)
    assert result.error == "truncated gzip file (compressed data ends early)"
    nothing_of(tmp_path, broken)


def test_binary_file_named_csv_fails_alone(tmp_path):
    binary = tmp_path / "orders.csv"
    binary.write_bytes(os.urandom(4096) + b"\x00\x01\x02")
    parquet_named_csv = tmp_path / "skus.csv"
    duckdb.connect().execute(f"COPY (SELECT 1 AS a) TO '{parquet_named_csv}' (FORMAT parquet)")
    fake_parquet = tmp_path / "merchants.parquet"
    fake_parquet.write_text("merchant_id\nM1\n")
    results = {
        Path(r.path).name: r for r in ingest(tmp_path, binary, parquet_named_csv, fake_parquet)
    }
    assert all(r.error for r in results.values())
    assert results["orders.csv"].error.startswith("binary data, not a text file")
    assert results["skus.csv"].error.startswith("binary data, not a text file")
    assert results["merchants.parquet"].error.startswith("not a Parquet file")


def test_formula_like_fields_load_as_plain_text(tmp_path):
    formulas = ["=cmd|' /C calc'!A0", "+SUM(A1:A9)", '"@HYPERLINK(""http://x.example"")"', "=1+1"]
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        *(order_line(f"O{i}", buyer=f) for i, f in enumerate(formulas)),
        order_line("O9", quantity="=1+1"),
    )
    [result] = ingest(tmp_path, source)
    assert (result.loaded, result.quarantined) == (4, 1)
    assert [r[0] for r in query(tmp_path, "SELECT buyer_id FROM raw.orders ORDER BY _line")] == [
        "=cmd|' /C calc'!A0",
        "+SUM(A1:A9)",
        '@HYPERLINK("http://x.example")',
        "=1+1",
    ]
    assert query(tmp_path, "SELECT column_name FROM raw.quarantine") == [("quantity",)]


def test_quote_broken_lines_are_quarantined_with_their_line(tmp_path):
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1"),
        order_line("O2", buyer='"unterminated').replace(",alipay", ",alipay,extra"),
        order_line("O3", buyer='mid"quote'),
        order_line("O4") + ",one too many",
        order_line("O5"),
    )
    [result] = ingest(tmp_path, source)
    # The quote opened on line 3 closes mid-field on line 4: line 3 alone is broken, and
    # line 4 (whose quote is a character, not at a field's start) is read as its own row.
    assert counts(result) == (5, 3, 0, 0, 2)
    quarantined = query(
        tmp_path, "SELECT line, column_name, reason, raw_text FROM raw.quarantine ORDER BY line"
    )
    assert [q[0] for q in quarantined] == [3, 5]
    assert "broken quoting" in quarantined[0][2]
    assert quarantined[0][3].startswith("O2,") and 'mid"quote' not in quarantined[0][3]
    assert "expected 17 fields, found 18" in quarantined[1][2]
    assert quarantined[1][3] == order_line("O4") + ",one too many"
    assert query(tmp_path, "SELECT order_id, buyer_id, _line FROM raw.orders ORDER BY _line") == [
        ("O1", "B1", 2),
        ("O3", 'mid"quote', 4),
        ("O5", "B1", 6),
    ]


def test_multiline_fields_and_blank_lines_keep_line_numbers(tmp_path):
    source = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        'S1,"两行\n名字",game_card,,10,card_key,,,true',
        "",
        "S2,b,game_card,,10,card_key,,,nope",
        "S3,c,game_card",
        "S4,d,game_card,,10,card_key,,,true",
    )
    [result] = ingest(tmp_path, source)
    assert counts(result) == (4, 2, 0, 0, 2)
    assert query(tmp_path, "SELECT line, column_name FROM raw.quarantine ORDER BY line")[0] == (
        5,
        "active",
    )
    assert [q[0] for q in query(tmp_path, "SELECT line FROM raw.quarantine ORDER BY line")] == [
        5,
        6,
    ]
    assert query(tmp_path, "SELECT sku_id, name, _line FROM raw.skus ORDER BY 1") == [
        ("S1", "两行\n名字", 2),
        ("S4", "d", 7),
    ]


def test_a_one_megabyte_field(tmp_path):
    big = "长" * ((1 << 20) // 3)  # about 1 MB of UTF-8
    source = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        f"S1,{big},game_card,,10,card_key,,,true",
        f"S2,b,game_card,,{big},card_key,,,true",
        "S3,c,game_card,,10,card_key,,,true",
    )
    [result] = ingest(tmp_path, source)
    assert counts(result) == (3, 2, 0, 0, 1)
    assert query(tmp_path, "SELECT sku_id, length(name), _line FROM raw.skus ORDER BY 1") == [
        ("S1", len(big), 2),
        ("S3", 1, 4),
    ]
    [(line, raw_length)] = query(tmp_path, "SELECT line, length(raw_text) FROM raw.quarantine")
    assert line == 3 and raw_length == MAX_RAW_TEXT


def test_invalid_json_lines_are_quarantined(tmp_path):
    source = tmp_path / "skus.jsonl"
    source.write_text(
        '{"sku_id": "S1", "category": "game_card", "delivery_type": "card_key"}\n'
        "\n"
        '{"sku_id": "S2", "category": "game_card", \n'
        "[1, 2]\n"
        '{"sku_id": "S3", "category": "game_card", "delivery_type": "card_key", "active": 0}\n',
        encoding="utf-8",
    )
    [result] = ingest(tmp_path, source)
    assert counts(result) == (4, 2, 0, 0, 2)
    assert [r[0] for r in query(tmp_path, "SELECT line FROM raw.quarantine ORDER BY 1")] == [3, 4]
    assert query(tmp_path, "SELECT sku_id, active, _line FROM raw.skus ORDER BY 1") == [
        ("S1", True, 1),
        ("S3", False, 5),
    ]


def test_unknown_source_missing_path_and_encoding_are_one_line_errors(tmp_path):
    good = write(tmp_path / "orders.csv", ORDER_HEADER, order_line())
    with pytest.raises(CardPulseError, match="unknown source 'shopify'"):
        ingest_paths(tmp_path / "w.duckdb", [good], source="shopify")
    with pytest.raises(CardPulseError, match="no such file or folder"):
        ingest_paths(tmp_path / "w.duckdb", [good, tmp_path / "missing.csv"])
    with pytest.raises(CardPulseError, match="unknown encoding"):
        ingest_paths(tmp_path / "w.duckdb", [good], encoding="klingon")
    assert not (tmp_path / "w.duckdb").exists()


def test_file_named_for_no_table_fails_alone(tmp_path):
    odd = write(tmp_path / "customers.csv", "a,b", "1,2")
    [result] = ingest(tmp_path, odd)
    assert "cannot tell the table from the file name" in result.error
