"""Exports in the shapes shops hand over: Excel workbooks are read like the CSV they hold, a
JSON array like JSON Lines, and a table's file in a form ingest cannot read is reported."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest
from openpyxl import Workbook

from pipelines.ingest.spreadsheet import cell_text
from tests.ingest_helpers import counts, ingest, query, write

HEADER = ["order_id", "created_at", "merchant_id", "sku_id", "quantity", "unit_price", "status"]


def _workbook(path, *rows, title="orders", more_sheets=()):
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    for name, sheet_rows in more_sheets:
        extra = book.create_sheet(name)
        for row in sheet_rows:
            extra.append(list(row))
    book.save(path)
    return path


def test_a_workbook_loads_with_its_sheet_rows_as_lines(tmp_path):
    created = dt.datetime(2025, 3, 1, 10, 0, 5)
    path = _workbook(
        tmp_path / "orders_2025-03.xlsx",
        HEADER,
        ["X1", created, "M1", "S1", 1, 12.5, "paid"],  # row 2
        ["X2", created, "M1", "S1", 2.0, 8.1000000000000014, "paid"],  # a formula's price
        [],  # row 4: empty, skipped
        ["X3", "2025-03-02 09:00:00", "M1", "S1", 1.5, 10, "paid"],  # row 5: not whole
        ["X4", dt.date(2025, 3, 2), "M1", "S1", 3, 10, "delivered"],
        ["X5", created, "M1", "S1", 1, 10, "paid", None, "stray"],  # row 7: a cell too many
    )
    (result,) = ingest(tmp_path, path)
    assert counts(result) == (5, 3, 0, 0, 2)
    assert "sheet 'orders'" in result.summary_line()
    assert query(
        tmp_path, "SELECT order_id, created_at, quantity, unit_price FROM raw.orders ORDER BY 1"
    ) == [
        ("X1", created, 1, Decimal("12.50")),
        ("X2", created, 2, Decimal("8.10")),
        ("X4", dt.datetime(2025, 3, 2), 3, Decimal("10.00")),
    ]
    quarantined = query(tmp_path, "SELECT line, reason FROM raw.quarantine ORDER BY line")
    assert [line for line, _ in quarantined] == [5, 7]
    assert "quantity" in quarantined[0][1] and "1.5" in quarantined[0][1]
    assert quarantined[1][1].startswith("unreadable sheet row (") and "CSV" not in quarantined[1][1]

    (again,) = ingest(tmp_path, path)
    assert again.already_loaded


def test_numbers_excel_cannot_hold_exactly_are_kept_as_held_and_counted(tmp_path):
    path = _workbook(
        tmp_path / "orders.xlsx",
        HEADER,
        [2.0250301123456787e17, "2025-03-01 10:00:00", "M1", "S1", 1, 1, "paid"],
        ["202503010000000001", "2025-03-01 10:00:00", "M1", "S1", 1, 1, "paid"],  # as text
    )
    (result,) = ingest(tmp_path, path)
    assert counts(result) == (2, 2, 0, 0, 0)
    assert "1 number of 16 or more digits" in result.summary_line()
    # openpyxl wrote the double as 2.025030112345679e+17: the id is that, not a rounded other
    assert query(tmp_path, "SELECT order_id FROM raw.orders ORDER BY 1") == [
        ("2.025030112345679e+17",),
        ("202503010000000001",),
    ]


def test_a_workbook_with_data_on_two_sheets_fails_naming_them(tmp_path):
    path = _workbook(
        tmp_path / "orders.xlsx",
        HEADER,
        ["X1", "2025-03-01 10:00:00", "M1", "S1", 1, 1, "paid"],
        more_sheets=[("说明", [["exported by admin"]])],
    )
    (result,) = ingest(tmp_path, path)
    assert result.error and "'orders', '说明'" in result.error
    assert query(tmp_path, "SELECT count(*) FROM raw.orders") == [(0,)]

    blank = _workbook(
        tmp_path / "orders_blank_sheet.xlsx",
        HEADER,
        ["X1", "2025-03-01 10:00:00", "M1", "S1", 1, 1, "paid"],
        more_sheets=[("Sheet2", [])],
    )
    (loaded,) = ingest(tmp_path, blank)
    assert counts(loaded) == (1, 1, 0, 0, 0)


def test_a_gzipped_workbook_loads_and_a_broken_one_fails_in_one_line(tmp_path):
    book = _workbook(
        tmp_path / "book.xlsx", HEADER, ["X1", "2025-03-01 10:00:00", "M1", "S1", 1, 1, "paid"]
    )
    zipped = tmp_path / "orders.xlsx.gz"
    zipped.write_bytes(gzip.compress(book.read_bytes()))
    broken = tmp_path / "orders_broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    good, bad = ingest(tmp_path, zipped, broken)
    assert counts(good) == (1, 1, 0, 0, 0)
    assert bad.error.startswith("not a readable Excel workbook")


def test_a_folder_reports_table_files_it_cannot_read_instead_of_skipping_them(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write(landing / "orders_2025-02.csv", ",".join(HEADER), "A1,2025-02-01 10:00:00,M1,S1,1,1,paid")
    (landing / "orders_2025-03.xls").write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 64)
    write(landing / "orders_2025-04.sql", "INSERT INTO orders VALUES (1);")
    (landing / "orders_2025-05.zip").write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    write(landing / "orders_notes.md", "not data")  # a table's prefix, but not a data type
    write(landing / "README.txt.bak", "not a table")  # no table's prefix: not ingest's
    results = {r.path.rsplit("/", 1)[-1]: r for r in ingest(tmp_path, landing)}
    assert set(results) == {
        "orders_2025-02.csv",
        "orders_2025-03.xls",
        "orders_2025-04.sql",
        "orders_2025-05.zip",
    }
    assert counts(results["orders_2025-02.csv"]) == (1, 1, 0, 0, 0)
    assert "save the sheet as CSV" in results["orders_2025-03.xls"].error
    assert "--source" in results["orders_2025-04.sql"].error
    assert "extract it" in results["orders_2025-05.zip"].error


def test_a_json_array_loads_like_json_lines_with_elements_as_lines(tmp_path):
    good = {"created_at": "2025-03-01 10:00:00", "merchant_id": "M1", "sku_id": "S1"}
    elements = [
        {"order_id": "J1", "quantity": 1, "unit_price": 1.5, "status": "paid", **good},
        {"order_id": "J2", "quantity": "2", "unit_price": "3", "status": "paid", **good},
        5,  # element 3: not an object
        {"order_id": "J4", "quantity": 0, "unit_price": 1, "status": "paid", **good},
    ]
    path = tmp_path / "orders.json"
    path.write_text("\ufeff  " + json.dumps(elements, indent=2), encoding="utf-8")
    (result,) = ingest(tmp_path, path)
    assert counts(result) == (4, 2, 0, 0, 2)
    assert query(tmp_path, "SELECT order_id, _line, quantity FROM raw.orders ORDER BY 1") == [
        ("J1", 1, 1),
        ("J2", 2, 2),
    ]
    quarantined = query(tmp_path, "SELECT line, reason FROM raw.quarantine ORDER BY line")
    assert quarantined[0] == (3, "not a JSON object")
    assert quarantined[1][0] == 4 and "quantity" in quarantined[1][1]


def test_a_broken_json_array_fails_whole_in_one_line(tmp_path):
    path = tmp_path / "orders.json"
    path.write_text('[{"order_id": "J1", "created_at": "2025-03-01 10:00:00"}, {"order_id": ')
    (result,) = ingest(tmp_path, path)
    assert result.error and "Malformed JSON" in result.error
    assert query(tmp_path, "SELECT count(*) FROM raw.orders") == [(0,)]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (3.0, "3"),
        (0.1 + 0.2, "0.3"),
        (12.345, "12.345"),
        (202503010000000001, "202503010000000001"),  # an integer in the file keeps its digits
        (-0.0, "0"),
        (dt.datetime(2025, 3, 1, 9, 5), "2025-03-01 09:05:00"),
        (dt.date(2025, 3, 1), "2025-03-01"),
        ("  广东 ", "  广东 "),
    ],
)
def test_cell_text_is_what_a_csv_export_would_hold(value, text):
    counter = [0]
    assert cell_text(value, counter) == text
    assert counter == [0]
