"""The guarded trim of staging gives what DuckDB's trim() gives, for every character."""

from __future__ import annotations

import duckdb

from pipelines.ingest.validation import trim_sql


def test_guarded_trim_equals_trim_for_every_code_point_at_either_end():
    with duckdb.connect() as conn:
        rows = conn.execute(
            f"""WITH chars AS (
                    SELECT chr(cp::INTEGER) AS c FROM range(1, 1114112) t(cp)
                    WHERE cp NOT BETWEEN 55296 AND 57343
                ), values AS (
                    SELECT unnest([c || 'ab', 'ab' || c, c || 'a b' || c, c, 'a' || c || 'b'])
                           AS v
                    FROM chars
                )
                SELECT count(*), count(*) FILTER (WHERE v <> trim(v)),
                       list(v) FILTER (WHERE {trim_sql("v")} IS DISTINCT FROM trim(v))[1:5]
                FROM values"""
        ).fetchone()
    values, trimmed, different = rows
    assert values == 5 * (1114111 - 2048)
    assert trimmed >= 17 * 4  # the 17 Unicode space separators, four ways each
    assert different is None  # no value where they differ


def test_guarded_trim_of_everyday_values():
    values = ["abc", " abc", "abc ", "\u3000广东\u3000", "广东", "", " ", "\u00a0x", "a b", None]
    with duckdb.connect() as conn:
        for value in values:
            guarded, plain = conn.execute(
                f"SELECT {trim_sql('$1')}, trim($1::VARCHAR)", [value]
            ).fetchone()
            assert guarded == plain, value
