"""Parquet orders files staged together load exactly as they do one by one.

Consecutive Parquet orders files of a folder are staged and merged in one transaction
(``load._batches``). Every outcome must be the one of loading them one at a time: the rows
and their lineage, the quarantine, the ledger, each file's summary line; and a batch that
cannot load whole falls back to its files alone, each failing with its own message.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from ingest_helpers import counts, ingest, query, write

from pipelines.ingest import load, reading

COLUMNS = (
    "order_id, created_at, updated_at, merchant_id, sku_id, quantity, unit_price, status, "
    "region_code"
)


def _parquet(path: Path, rows: list[tuple]) -> Path:
    """An orders Parquet file (one row group, as pandas writes a small export)."""
    conn = duckdb.connect()
    conn.execute(
        """CREATE TABLE t (order_id VARCHAR, created_at TIMESTAMP, updated_at TIMESTAMP,
                merchant_id VARCHAR, sku_id VARCHAR, quantity BIGINT, unit_price DOUBLE,
                status VARCHAR, region_code VARCHAR)"""
    )
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute(f"COPY t TO '{path}' (FORMAT parquet)")
    conn.close()
    return path


def _row(order_id, updated="2024-01-01 10:00:00", status="paid", quantity=1, sku="S1"):
    return (order_id, "2024-01-01 10:00:00", updated, "M1", sku, quantity, 9.9, status, "广东")


def _landing(tmp_path: Path) -> Path:
    """Three files whose orders meet across files: an update, a repeat, a contradiction,
    an older version arriving late, a bad row and an unknown SKU."""
    landing = tmp_path / "landing"
    landing.mkdir()
    write(
        landing / "skus.csv",
        "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active",
        "S1,Q币 10元,game_card,Q币,10,card_key,,,true",
    )
    _parquet(
        landing / "orders_2024-01.parquet",
        [_row("O1"), _row("O2"), _row("O3", quantity=0), _row("O4", "2024-01-02 10:00:00")],
    )
    _parquet(
        landing / "orders_2024-02.parquet",
        [
            _row("O1", "2024-01-03 10:00:00", "refunded"),  # updates O1 from the first file
            _row("O2"),  # an identical repeat: duplicate
            _row("O4", "2024-01-01 12:00:00", "refunded"),  # older than stored: duplicate
            _row("O5", sku="S404"),  # an unknown SKU: loads, named as inferred
        ],
    )
    _parquet(
        landing / "orders_2024-03.parquet",
        [
            _row("O2", status="refunded"),  # same updated_at, other values: quarantined
            _row("O1", "2024-01-04 10:00:00", "paid"),  # updated again
            _row("O6"),
            _row("O6", "2024-01-05 10:00:00", "refunded"),  # two versions in one file
        ],
    )
    return landing


def _warehouse(folder: Path) -> dict[str, list[tuple]]:
    conn = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
    try:
        return {
            "orders": conn.execute(
                f"""SELECT {COLUMNS}, o._line, parse_filename(l.file_path)
                    FROM raw.orders o JOIN raw.file_ledger l USING (_file_id) ORDER BY ALL"""
            ).fetchall(),
            "quarantine": conn.execute(
                """SELECT parse_filename(file_path), line, column_name, reason, raw_text,
                          raw_values, replayable, _file_id = (SELECT _file_id FROM
                          raw.file_ledger l WHERE l.file_path = q.file_path)
                   FROM raw.quarantine q ORDER BY ALL"""
            ).fetchall(),
            "ledger": conn.execute(
                """SELECT parse_filename(file_path), rows_read, loaded, updated, duplicate,
                          quarantined, version FROM raw.file_ledger ORDER BY ALL"""
            ).fetchall(),
        }
    finally:
        conn.close()


def _load(tmp_path: Path, name: str, batch_files: int, monkeypatch, landing=_landing, **kwargs):
    folder = tmp_path / name
    folder.mkdir()
    monkeypatch.setattr(load, "BATCH_FILES", batch_files)
    results = ingest(folder, landing(folder), **kwargs)
    return [r.summary_line() for r in results], _warehouse(folder)


def _staged_together(monkeypatch) -> list[int]:
    """How many files each transaction of the ingests that follow staged together."""
    staged: list[int] = []
    real = load._load_in_transaction
    monkeypatch.setattr(
        load,
        "_load_in_transaction",
        lambda conn, files, *a: staged.append(len(files)) or real(conn, files, *a),
    )
    return staged


def test_files_staged_together_load_as_one_by_one(tmp_path, monkeypatch):
    staged_together = _staged_together(monkeypatch)
    alone_lines, alone = _load(tmp_path, "alone", 1, monkeypatch)
    assert staged_together == [1, 1, 1, 1]
    staged_together.clear()
    batch_lines, batched = _load(tmp_path, "batched", 8, monkeypatch)
    assert staged_together == [1, 3]  # skus.csv alone, then the three orders files
    assert batch_lines == alone_lines
    assert batched == alone
    assert alone_lines[1:] == [
        "orders_2024-01.parquet (orders): 4 rows read, 3 loaded, 0 updated, 0 duplicate, "
        "1 quarantined",
        "orders_2024-02.parquet (orders): 4 rows read, 1 loaded, 1 updated, 2 duplicate, "
        "0 quarantined (1 SKU not in skus yet, inferred: S404)",
        "orders_2024-03.parquet (orders): 4 rows read, 1 loaded, 2 updated, 0 duplicate, "
        "1 quarantined",
    ]
    # Lineage names each row's own file and line.
    assert ("O1", "orders_2024-03.parquet", 2) in {(r[0], r[-1], r[-2]) for r in batched["orders"]}
    assert [(q[0], q[1], q[2], q[-1]) for q in batched["quarantine"]] == [
        ("orders_2024-01.parquet", 3, "quantity", True),
        ("orders_2024-03.parquet", 1, "updated_at", True),
    ]


def test_a_file_unlike_the_others_makes_the_batch_load_one_by_one(tmp_path, monkeypatch):
    landing = _landing(tmp_path)
    # The second file's quantity is a 32-bit integer: the files are staged alone; all load.
    conn = duckdb.connect()
    second = landing / "orders_2024-02.parquet"
    conn.execute(
        f"COPY (SELECT * REPLACE (quantity::INTEGER AS quantity) FROM read_parquet('{second}')) "
        f"TO '{landing / 'wide.parquet'}' (FORMAT parquet)"
    )
    conn.close()
    (landing / "wide.parquet").replace(second)
    results = ingest(tmp_path, landing)
    assert [(r.rows_read, r.loaded, r.updated, r.duplicate, r.quarantined) for r in results] == [
        (1, 1, 0, 0, 0),
        (4, 3, 0, 0, 1),
        (4, 1, 1, 2, 0),
        (4, 1, 2, 0, 1),
    ]
    assert query(tmp_path, "SELECT count(*) FROM raw.file_ledger") == [(4,)]


def test_a_broken_file_in_a_batch_fails_alone(tmp_path):
    landing = _landing(tmp_path)
    broken = landing / "orders_2024-02.parquet"
    broken.write_bytes(broken.read_bytes()[:-20])  # truncated: no closing PAR1
    results = ingest(tmp_path, landing)
    assert [r.error is not None for r in results] == [False, False, True, False]
    assert "PAR1" in results[2].error
    assert [r.loaded for r in results] == [1, 3, 0, 1]
    assert query(tmp_path, "SELECT count(*) FROM raw.file_ledger") == [(3,)]


def test_too_much_quarantined_fails_that_file_alone(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    _parquet(landing / "orders_a.parquet", [_row("A1"), _row("A2")])
    _parquet(landing / "orders_b.parquet", [_row("B1", quantity=0), _row("B2", quantity=0)])
    _parquet(landing / "orders_c.parquet", [_row("C1"), _row("C2")])
    results = ingest(tmp_path, landing, max_quarantine_pct=50)
    assert [r.error is not None for r in results] == [False, True, False]
    assert "above --max-quarantine-pct 50" in results[1].error
    assert query(tmp_path, "SELECT order_id FROM raw.orders ORDER BY 1") == [
        ("A1",),
        ("A2",),
        ("C1",),
        ("C2",),
    ]
    assert query(tmp_path, "SELECT DISTINCT parse_filename(file_path) FROM raw.quarantine") == []


def test_a_batch_rerun_changes_nothing_and_a_new_file_joins(tmp_path):
    landing = _landing(tmp_path)
    ingest(tmp_path, landing)
    before = query(tmp_path, "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY ALL")
    _parquet(landing / "orders_2024-04.parquet", [_row("O7")])
    results = ingest(tmp_path, landing)
    assert [r.already_loaded for r in results] == [True, True, True, True, False]
    assert results[-1].loaded == 1
    after = query(
        tmp_path,
        "SELECT * EXCLUDE (_loaded_at) FROM raw.orders WHERE order_id <> 'O7' ORDER BY ALL",
    )
    assert after == before


def _batch_sizes(tmp_path, files: int, threads: int) -> list[int]:
    """How many of ``files`` one-row-group Parquet files of 2 rows each batch holds, loaded
    on ``threads`` threads (``BATCH_FILES`` / ``BATCH_ROWS`` as the test set them)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for i in range(files):
        _parquet(landing / f"orders_{i}.parquet", [_row(f"O{i}"), _row(f"P{i}")])
    planned = load.plan_files([landing], "canonical")
    with duckdb.connect() as conn:
        conn.execute(f"SET threads = {threads}")
        return [len(group) for group in load._batches(conn, planned)]


@pytest.mark.parametrize("limit", ["files", "rows"])
def test_batches_are_bounded(tmp_path, monkeypatch, limit):
    if limit == "files":
        monkeypatch.setattr(load, "BATCH_FILES", 2)
    else:
        monkeypatch.setattr(load, "BATCH_ROWS", 5)
    assert _batch_sizes(tmp_path, files=5, threads=2) == [2, 2, 1]


@pytest.mark.parametrize(("threads", "sizes"), [(2, [4, 1]), (1, [3, 2]), (3, [3, 2])])
def test_a_batch_holds_a_multiple_of_the_threads_in_row_groups(
    tmp_path, monkeypatch, threads, sizes
):
    # Five one-row-group files of 2 rows, 7 rows a batch: three files (6 rows) leave one of
    # two threads idle on the third, so the batch takes the fourth (8 rows, under twice 7).
    monkeypatch.setattr(load, "BATCH_ROWS", 7)
    assert _batch_sizes(tmp_path, files=5, threads=threads) == sizes


def test_a_batch_never_passes_twice_its_rows_to_even_the_row_groups(tmp_path, monkeypatch):
    # 3 rows a batch on 4 threads: three files (6 rows, twice 3) are as far as it goes.
    monkeypatch.setattr(load, "BATCH_ROWS", 3)
    assert _batch_sizes(tmp_path, files=4, threads=4) == [3, 1]


def test_an_interrupted_batch_leaves_nothing_and_the_rerun_loads_it_whole(tmp_path, monkeypatch):
    clean = tmp_path / "clean"
    clean.mkdir()
    ingest(clean, _landing(clean))
    expected = _warehouse(clean)

    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    landing = _landing(interrupted)
    real = load._record_in_ledger
    recorded = []

    def stop_at_the_second_file(conn, path, *args):
        recorded.append(path.name)
        if len(recorded) == 3:  # skus.csv, then the batch's first orders file, then Ctrl-C
            raise KeyboardInterrupt
        return real(conn, path, *args)

    monkeypatch.setattr(load, "_record_in_ledger", stop_at_the_second_file)
    with pytest.raises(KeyboardInterrupt):
        ingest(interrupted, landing)
    assert query(interrupted, "SELECT count(*) FROM raw.orders") == [(0,)]
    assert query(interrupted, "SELECT parse_filename(file_path) FROM raw.file_ledger") == [
        ("skus.csv",)
    ]
    monkeypatch.setattr(load, "_record_in_ledger", real)
    ingest(interrupted, landing)
    assert _warehouse(interrupted) == expected


# ---- CSV files: read one by one (encoding, records), staged together ----------------------


def _csv(path: Path, rows: list[tuple], encoding: str = "utf-8", extra: str = "") -> Path:
    lines = [COLUMNS.replace(" ", "")] + [",".join(str(v) for v in row) for row in rows]
    text = "\n".join(lines) + "\n" + extra
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode(encoding)))
    else:
        path.write_text(text, encoding=encoding)
    return path


def _csv_landing(tmp_path: Path) -> Path:
    """The three files of ``_landing`` as CSV: the second gzipped and in GB18030 (its region
    is 广东), the third with a stray quote, a blank line and a line of too many fields (read
    record by record)."""
    landing = _landing(tmp_path)
    for parquet in sorted(landing.glob("orders_*.parquet")):
        rows = duckdb.sql(f"SELECT * FROM read_parquet('{parquet}')").fetchall()
        parquet.unlink()
        name = parquet.with_suffix(".csv")
        if name.stem.endswith("02"):
            _csv(name.with_name(name.name + ".gz"), rows, "gb18030")
        elif name.stem.endswith("03"):
            stray = (*rows[0][:4], 'iPad 10.9" 64GB', *rows[0][5:])
            _csv(name, [*rows[1:], stray], extra="\nO9,x,y,M1,S1,1,9.9,paid,广东,too,many\n")
        else:
            _csv(name, rows)
    return landing


def test_csv_files_staged_together_load_as_one_by_one(tmp_path, monkeypatch):
    staged_together = _staged_together(monkeypatch)
    alone_lines, alone = _load(tmp_path, "alone", 1, monkeypatch, _csv_landing)
    assert staged_together == [1, 1, 1, 1]
    staged_together.clear()
    batch_lines, batched = _load(tmp_path, "batched", 8, monkeypatch, _csv_landing)
    assert staged_together == [1, 3]  # skus.csv alone, then the three orders files
    assert batch_lines == alone_lines
    assert batched == alone
    assert batch_lines[1:] == [
        "orders_2024-01.csv (orders): 4 rows read, 3 loaded, 0 updated, 0 duplicate, 1 quarantined",
        "orders_2024-02.csv.gz (orders): 4 rows read, 1 loaded, 1 updated, 2 duplicate, "
        "0 quarantined (read as GB18030; 1 SKU not in skus yet, inferred: S404)",
        "orders_2024-03.csv (orders): 5 rows read, 1 loaded, 2 updated, 0 duplicate, 2 quarantined",
    ]
    # Each row names its own file; the GB18030 file's 广东 was read as 广东 (mojibake would be
    # UNKNOWN); the line of too many fields is quarantined with its own file's line number.
    assert ("O5", "CN-GD", "orders_2024-02.csv.gz") in {
        (r[0], r[8], r[-1]) for r in batched["orders"]
    }
    assert [(q[0], q[1], q[2]) for q in batched["quarantine"]] == [
        ("orders_2024-01.csv", 4, "quantity"),
        ("orders_2024-03.csv", 5, "updated_at"),  # the stray quote's row: O2 again
        ("orders_2024-03.csv", 7, None),
    ]


@pytest.mark.parametrize("unlike", ["other_columns", "broken"])
def test_a_csv_file_with_other_columns_or_broken_makes_the_batch_load_alone(tmp_path, unlike):
    landing = _csv_landing(tmp_path)
    if unlike == "other_columns":
        third = landing / "orders_2024-03.csv"
        third.write_text(third.read_text().replace("region_code", "region_code,note", 1))
    else:
        (landing / "orders_2024-02.csv.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    results = ingest(tmp_path, landing)
    if unlike == "other_columns":
        # Every row of the third file has a field too few for its header: quarantined.
        assert [counts(r) for r in results[1:]] == [
            (4, 3, 0, 0, 1),
            (4, 1, 1, 2, 0),
            (5, 0, 0, 0, 5),
        ]
    else:
        assert [r.error is not None for r in results] == [False, False, True, False]
        assert [counts(r) for r in results[3:]] == [(5, 1, 2, 0, 2)]


def test_csv_batches_hold_one_format_and_are_bounded_by_text(tmp_path, monkeypatch):
    landing = tmp_path / "landing"
    landing.mkdir()
    for i in range(5):
        _csv(landing / f"orders_{i}a.csv", [_row(f"O{i}")])  # 156 bytes each
    gzipped = _csv(landing / "orders_4b.csv.gz", [_row("O8"), _row("O9")])
    assert reading.text_size(gzipped) == len(gzip.decompress(gzipped.read_bytes())) == 223
    assert gzipped.stat().st_size < 194  # would fit beside orders_4a.csv; its text does not
    _parquet(landing / "orders_5.parquet", [_row("P1")])
    _parquet(landing / "orders_6.parquet", [_row("P2")])
    planned = load.plan_files([landing], "canonical")
    monkeypatch.setattr(load, "BATCH_TEXT_BYTES", 350)
    with duckdb.connect() as conn:
        groups = [[p.path.name for p in group] for group in load._batches(conn, planned)]
    assert groups == [
        ["orders_0a.csv", "orders_1a.csv"],
        ["orders_2a.csv", "orders_3a.csv"],
        ["orders_4a.csv"],
        ["orders_4b.csv.gz"],
        ["orders_5.parquet", "orders_6.parquet"],
    ]
