"""The raw lake: each loaded file's rows as Hive-partitioned Parquet beside the warehouse."""

from __future__ import annotations

import duckdb
from ingest_helpers import counts, ingest, query, write
from test_ingest import ORDER_HEADER, order_line

from pipelines.ingest import lake as lake_module
from pipelines.ingest.load import connect_warehouse
from pipelines.ingest.quarantine_replay import replay_quarantine
from pipelines.ingest.schema import full_columns

SKU_HEADER = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"
)


def lake_files(lake) -> list[str]:
    return sorted(str(p.relative_to(lake)) for p in lake.rglob("*.parquet"))


def current_from_lake(lake, entity: str, key: str) -> list[tuple]:
    """What a lake reader sees: rows of published files, the last load per key (as dbt's
    Spark target reads it), without lineage times."""
    conn = duckdb.connect()
    try:
        return conn.execute(
            f"""SELECT * EXCLUDE (_partition, _loaded_at, _rank) FROM (
                    SELECT * RENAME ({"day" if entity == "orders" else "month"} AS _partition),
                           row_number() OVER (PARTITION BY {key}
                                                 ORDER BY _loaded_at DESC) AS _rank
                    FROM read_parquet('{lake}/{entity}/*/*.parquet', hive_partitioning = true)
                    WHERE _file_id IN (SELECT _file_id
                                       FROM read_parquet('{lake}/file_ledger/*.parquet')))
                WHERE _rank = 1 ORDER BY {key}"""
        ).fetchall()
    finally:
        conn.close()


def raw_rows(tmp_path, entity: str, key: str) -> list[tuple]:
    """The warehouse's rows in the lake's columns: the whole schema, an optional column the
    warehouse has not added yet read as NULL."""
    have = {
        name for (name,) in query(tmp_path, f"SELECT name FROM pragma_table_info('raw.{entity}')")
    }
    columns = ", ".join(
        name if name in have else f"NULL AS {name}"
        for name, _ in full_columns(entity)
        if name != "_loaded_at"
    )
    return query(tmp_path, f"SELECT {columns} FROM raw.{entity} ORDER BY {key}")


def test_orders_land_partitioned_by_business_day_named_by_file(tmp_path):
    lake = tmp_path / "lake"
    source = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order_line("O1", created="2024-01-01 10:00:00"),
        order_line("O2", created="2024-01-02 23:30:00"),
        order_line("O3", created="2024-01-02T16:30:00Z"),  # 00:30 on the 3rd in Shanghai
        order_line("O4", status="nonsense"),
    )
    [result] = ingest(tmp_path, source, lake_path=lake)
    assert counts(result) == (4, 3, 0, 0, 1)
    fid = result.file_id
    assert lake_files(lake) == [
        f"file_ledger/{fid}.orders.parquet",
        f"orders/day=2024-01-01/{fid}.parquet",
        f"orders/day=2024-01-02/{fid}.parquet",
        f"orders/day=2024-01-03/{fid}.parquet",
    ]
    # The lake holds the loaded rows exactly; the quarantine stays in the warehouse alone.
    assert current_from_lake(lake, "orders", "order_id") == raw_rows(tmp_path, "orders", "order_id")
    assert query(tmp_path, "SELECT count(*) FROM raw.quarantine") == [(1,)]
    marker = duckdb.sql(
        f"SELECT rows_read, loaded, quarantined FROM read_parquet('{lake}/file_ledger/*.parquet')"
    )
    assert marker.fetchall() == [(4, 3, 1)]


def test_a_rerun_changes_nothing_and_a_later_version_wins(tmp_path):
    lake = tmp_path / "lake"
    paid = write(tmp_path / "orders_a.csv", ORDER_HEADER, order_line("O1", updated="2024-01-01"))
    refund = write(
        tmp_path / "orders_b.csv",
        ORDER_HEADER,
        order_line("O1", updated="2024-01-05 09:00:00", status="refunded"),
        order_line("O2"),
    )
    ingest(tmp_path, paid, lake_path=lake)
    before = {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")}
    [again] = ingest(tmp_path, paid, lake_path=lake)
    assert again.already_loaded
    assert {p: p.stat().st_mtime_ns for p in lake.rglob("*.parquet")} == before

    [later] = ingest(tmp_path, refund, lake_path=lake)
    assert len(lake_files(lake)) == 4  # two files' rows for the same day, two markers
    lake_rows = current_from_lake(lake, "orders", "order_id")
    assert lake_rows == raw_rows(tmp_path, "orders", "order_id")
    assert [(r[0], r[11]) for r in lake_rows] == [("O1", "refunded"), ("O2", "paid")]

    # Exporting a loaded file again writes the same files under the same names.
    names = lake_files(lake)
    conn = connect_warehouse(tmp_path / "warehouse.duckdb")
    try:
        lake_module.export_file(conn, lake, "orders", later.file_id)
        assert lake_module.sync_lake(conn, lake) == {"exported": 0, "removed": 0}
    finally:
        conn.close()
    assert lake_files(lake) == names


def test_a_failed_file_leaves_nothing_in_the_lake(tmp_path):
    lake = tmp_path / "lake"
    bad = write(
        tmp_path / "orders.csv", ORDER_HEADER, order_line("O1"), order_line("O2", quantity="0")
    )
    [result] = ingest(tmp_path, bad, lake_path=lake, max_quarantine_pct=10)
    assert result.error and "quarantined" in result.error
    assert lake_files(lake) == []


def test_sync_backfills_an_existing_warehouse_and_drops_unknown_files(tmp_path):
    lake = tmp_path / "lake"
    skus = write(
        tmp_path / "skus.csv",
        SKU_HEADER,
        "S1,Card,game_card,B,10,card_key,SUP1,30,true",
        "S2,Top-up,mobile_topup,B,50,direct_topup,SUP1,,true",
    )
    orders = write(tmp_path / "orders.csv", ORDER_HEADER, order_line("O1"))
    ingest(tmp_path, skus, orders)  # no lake yet
    # A file whose load was killed between export and commit: in the lake, not in the ledger.
    orphan = lake / "orders" / "day=2024-01-01" / ("f" * 64 + ".parquet")
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"not a parquet file")

    conn = connect_warehouse(tmp_path / "warehouse.duckdb")
    try:
        assert lake_module.sync_lake(conn, lake) == {"exported": 2, "removed": 1}
        assert lake_module.sync_lake(conn, lake) == {"exported": 0, "removed": 0}
    finally:
        conn.close()
    assert not orphan.exists()
    assert current_from_lake(lake, "skus", "sku_id") == raw_rows(tmp_path, "skus", "sku_id")
    assert current_from_lake(lake, "orders", "order_id") == raw_rows(tmp_path, "orders", "order_id")
    # Master data has no business day of its own: it lands in the month it was loaded.
    [month] = {p.parent.name for p in (lake / "skus").rglob("*.parquet")}
    assert month.startswith("month=20") and len(month) == len("month=2026-12")


def test_replayed_rows_reach_the_lake(tmp_path):
    lake = tmp_path / "lake"
    source = write(
        tmp_path / "orders.csv", ORDER_HEADER, order_line("O1"), order_line("O2", quantity="1.5")
    )
    [result] = ingest(tmp_path, source, lake_path=lake)
    assert result.quarantined == 1
    # Heal the row the way an operator would after a fix upstream: its stored value changes.
    conn = connect_warehouse(tmp_path / "warehouse.duckdb")
    conn.execute("""UPDATE raw.quarantine SET raw_values = replace(raw_values, '"1.5"', '"2"')""")
    conn.close()
    [replayed] = replay_quarantine(tmp_path / "warehouse.duckdb", lake_path=lake)
    assert replayed.loaded == 1
    assert current_from_lake(lake, "orders", "order_id") == raw_rows(tmp_path, "orders", "order_id")
