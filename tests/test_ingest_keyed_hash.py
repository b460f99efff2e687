"""Buyer contacts are keyed in DuckDB where it gives Python's keyed hash, else in Python."""

from __future__ import annotations

import duckdb

from pipelines.ingest.secrets import _key_values, installation_secret, keyed_hash

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
]


def test_keyed_values_equal_pythons_keyed_hash_for_every_kind_of_value(tmp_path):
    secret = installation_secret(tmp_path)
    with duckdb.connect() as conn:
        conn.execute("CREATE TABLE src AS SELECT unnest(?::VARCHAR[]) AS buyer_contact", [VALUES])
        _key_values(conn, ["buyer_contact"], tmp_path)
        keyed = dict(conn.execute("SELECT raw, keyed FROM keyed_values").fetchall())
        trimmed = [row[0] for row in conn.execute("SELECT trim(buyer_contact) FROM src").fetchall()]
    expected = {raw: keyed_hash(secret, raw) for raw in trimmed if raw != "NULL"}
    assert keyed == expected
    assert len(keyed) == len(VALUES) - 1
