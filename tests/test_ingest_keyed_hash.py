"""Buyer contacts are keyed in DuckDB where it gives Python's keyed hash, else in Python:
the keyed column of ``src`` equals ``keyed_hash`` for every kind of value."""

from __future__ import annotations

import json

import duckdb
import pytest
from ingest_helpers import ingest, query, write

from pipelines.ingest import load
from pipelines.ingest.secrets import installation_secret, keyed_hash, protect_canonical

VALUES = [
    "buyer@example.com",
    "Buyer@Example.COM",  # lower-cased the same way in both
    "13800138000",
    "1.2.3.4",
    "a b",  # a space inside
    "QQ:12345\t",  # a tab at the end: Python's strip removes it, DuckDB's trim does not
    "\x1fzero",  # a control character Python counts as whitespace
    "用户@例子.中国",  # not ASCII
    "ÄÖÜ@web.de",
    "İstanbul",  # a letter whose lower case differs between libraries
    "x" * 300,
    "'quoted'",
    "NULL",  # a null word: not keyed
    " NULL ",  # a null word once trimmed
    "",
    " padded@example.com ",  # plain once trimmed
]
NULL_WORDS = ("", "NULL", "\\N")


def test_keyed_values_equal_pythons_keyed_hash_for_every_kind_of_value(tmp_path):
    secret = installation_secret(tmp_path)
    with duckdb.connect() as conn:
        conn.execute(
            "CREATE TABLE read AS SELECT i AS _line, (?::VARCHAR[])[i] AS buyer_contact "
            "FROM range(1, ? + 1) t(i)",
            [VALUES, len(VALUES)],
        )
        conn.execute("CREATE TEMP VIEW src AS SELECT _line, buyer_contact FROM read")
        conn.execute("CREATE TEMP TABLE parse_rejects (_line BIGINT, raw_text VARCHAR)")
        names = protect_canonical(conn, "parquet", ["buyer_contact"], tmp_path)
        keyed = conn.execute(
            "SELECT r.buyer_contact, s.buyer_key FROM src s JOIN read r USING (_line) "
            "ORDER BY _line"
        ).fetchall()
    assert names == ["buyer_key"]
    # DuckDB's trim takes spaces only; keyed_hash strips every kind of whitespace
    trimmed = [raw.strip(" ") for raw in VALUES]
    expected = [
        (raw, None if t in NULL_WORDS else keyed_hash(secret, t))
        for raw, t in zip(VALUES, trimmed, strict=True)
    ]
    assert keyed == expected
    assert sum(key is not None for _, key in keyed) == len(VALUES) - 3


@pytest.mark.parametrize("listed", [True, False])
def test_quarantined_rows_of_a_keyed_file_are_the_same_read_by_listed_lines_or_joined(
    tmp_path, monkeypatch, listed
):
    """The quarantine reads a few broken rows out of ``src`` by their listed lines (only
    those rows keyed), many by a join: both give the same rows, with keys and no contact."""
    if not listed:
        monkeypatch.setattr(load, "LISTED_BAD_LINES", 0)
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    header = "order_id,created_at,merchant_id,sku_id,quantity,unit_price,status,buyer_contact"
    lines = [
        f"O{i},2024-01-0{1 + i % 5} 10:00:00,M1,S1,{0 if i % 3 == 0 else 1},9.90,paid,"
        f"buyer{i}@example.com"
        for i in range(1, 10)
    ]
    source = write(tmp_path / "orders_2024-01.csv", header, *lines)
    [result] = ingest(tmp_path, source)
    assert (result.loaded, result.quarantined) == (6, 3)
    secret = installation_secret(tmp_path)
    rows = query(tmp_path, "SELECT line, raw_text, raw_values FROM raw.quarantine ORDER BY line")
    assert [line for line, *_ in rows] == [4, 7, 10]
    for line, raw_text, raw_values in rows:
        key = keyed_hash(secret, f"buyer{line - 1}@example.com")
        assert raw_text.startswith(f"O{line - 1},") and raw_text.endswith("," + key)
        assert json.loads(raw_values)["buyer_key"] == key
        assert "@" not in raw_text + raw_values
