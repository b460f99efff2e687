"""Quarantine that heals: `cardpulse quarantine list|show|replay`, and corrected files."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time

import duckdb
import pytest
from ingest_helpers import query, write
from test_ingest_cli import CARDPULSE, _table_contents, write_orders

import pipelines.ingest.load as load
from pipelines.cli import main

ORDER_HEADER = "order_id,created_at,merchant_id,sku_id,quantity,unit_price,status"
SKU_HEADER = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active"
)
EARLY_CLOCK = dt.datetime(2025, 1, 1, 9, 0)


def order(oid: str, created: str = "2025-03-01 10:00:00", qty: str = "1") -> str:
    return f"{oid},{created},M1,S1,{qty},9.90,paid"


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _ingest_with_an_early_clock(monkeypatch, *paths) -> None:
    """An export stamped after the ingest machine's clock: its rows look 'in the future'."""
    monkeypatch.setattr(load, "ingest_clock", lambda: EARLY_CLOCK)
    assert main(["ingest", *map(str, paths)]) == 0
    monkeypatch.undo()


def test_replay_loads_the_rows_that_now_pass_and_keeps_the_counts_balanced(
    tmp_path, home, monkeypatch, capsys
):
    monkeypatch.setenv("CARDPULSE_HOME", str(home))
    orders = write(
        tmp_path / "orders.csv",
        ORDER_HEADER,
        order("O1", "2024-12-31 10:00:00"),
        order("O2"),
        order("O3", qty="0"),
        order("O4"),
    )
    _ingest_with_an_early_clock(monkeypatch, orders)
    monkeypatch.setenv("CARDPULSE_HOME", str(home))
    warehouse = tmp_path / "home" / "warehouse.duckdb"
    ledger = "SELECT rows_read, loaded, updated, duplicate, quarantined FROM raw.file_ledger"
    assert query(tmp_path / "home", ledger) == [(4, 1, 0, 0, 3)]
    capsys.readouterr()

    assert main(["quarantine", "replay"]) == 0
    out = capsys.readouterr().out
    assert "orders.csv (orders): 3 rows checked again, 2 loaded, 0 updated, 0 duplicate, " in out
    assert "1 still quarantined" in out
    assert query(tmp_path / "home", ledger) == [(4, 3, 0, 0, 1)]
    assert query(tmp_path / "home", "SELECT order_id, _line FROM raw.orders ORDER BY 1") == [
        ("O1", 2),
        ("O2", 3),
        ("O4", 5),
    ]
    assert query(tmp_path / "home", "SELECT line, reason FROM raw.quarantine") == [
        (4, "quantity '0' is below 1")
    ]
    # Lineage: the healed rows point at the file they came from.
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        files = conn.execute("SELECT count(DISTINCT _file_id) FROM raw.orders").fetchone()[0]
    finally:
        conn.close()
    assert files == 1

    # Nothing left to heal: a second replay changes nothing.
    before = _table_contents(warehouse)
    assert main(["quarantine", "replay"]) == 0
    assert "0 rows now pass" in capsys.readouterr().out
    assert _table_contents(warehouse) == before


def test_replay_of_an_order_that_another_file_updated_counts_as_duplicate(
    tmp_path, home, monkeypatch, capsys
):
    first = write(tmp_path / "orders_1.csv", ORDER_HEADER, order("O1"))
    _ingest_with_an_early_clock(monkeypatch, first)
    monkeypatch.setenv("CARDPULSE_HOME", str(home))
    later = write(
        tmp_path / "orders_2.csv",
        ORDER_HEADER + ",updated_at",
        order("O1") + ",2025-03-02 10:00:00",
    )
    assert main(["ingest", str(later)]) == 0
    assert main(["quarantine", "replay", "--entity", "orders"]) == 0
    assert "1 duplicate" in capsys.readouterr().out
    assert query(
        home,
        "SELECT parse_filename(file_path), loaded, duplicate, quarantined FROM raw.file_ledger "
        "ORDER BY 1",
    ) == [("orders_1.csv", 0, 1, 0), ("orders_2.csv", 1, 0, 0)]
    assert query(home, "SELECT strftime(updated_at, '%d') FROM raw.orders") == [("02",)]


def test_unparseable_lines_are_listed_but_not_replayable(tmp_path, home, monkeypatch, capsys):
    orders = write(tmp_path / "orders.csv", ORDER_HEADER, order("O1"), order("O2") + ",extra")
    assert main(["ingest", str(orders)]) == 0
    capsys.readouterr()
    assert main(["quarantine", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith("FILE")
    file_id, name, entity, rows, replayable, first_line = listed[1].split()[:6]
    assert (name, entity, rows, replayable, first_line) == ("orders.csv", "(orders)", "1", "0", "3")
    assert listed[1].index("unparseable") == listed[0].index("REASON")  # columns aligned
    assert main(["quarantine", "show", f"{file_id}:3"]) == 0
    shown = capsys.readouterr().out
    assert "line 3" in shown and "TOO MANY COLUMNS" in shown
    assert main(["quarantine", "replay"]) == 0
    assert "no replayable quarantined rows" in capsys.readouterr().out


def test_quarantine_command_mistakes_are_one_line(tmp_path, home, capsys):
    assert main(["quarantine", "list"]) == 1
    assert capsys.readouterr().err.strip().endswith("nothing was ingested yet")
    write(tmp_path / "orders.csv", ORDER_HEADER, order("O1", qty="0"))
    assert main(["ingest", str(tmp_path / "orders.csv")]) == 0
    capsys.readouterr()
    for args, message in [
        (["show"], "show needs an ID"),
        (["show", "xyz"], "is not a quarantine ID"),
        (["show", "abcdef:12"], "no quarantined row matches 'abcdef:12'"),
        (["show", "abcdef:x"], "'x' is not a line number"),
        (["replay", "--entity", "widgets"], "unknown entity 'widgets'"),
    ]:
        assert main(["quarantine", *args]) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and message in err, err


def test_a_corrected_file_is_a_new_version_loaded_on_its_own_merits(tmp_path, home, capsys):
    skus = tmp_path / "skus.csv"
    write(skus, SKU_HEADER, "S1,Steam 100,game_card,Steam,100,card_key,,180.5,true")
    assert main(["ingest", str(skus)]) == 0
    write(skus, SKU_HEADER, "S1,Steam 100,game_card,Steam,100,card_key,,180,true")
    assert main(["ingest", str(skus)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("1 rows read, 0 loaded, 0 updated, 0 duplicate, 1 quarantined")
    assert out[1] == (
        "skus.csv (skus, version 2): 1 rows read, 1 loaded, 0 updated, 0 duplicate, 0 quarantined"
    )
    assert query(home, "SELECT version FROM raw.file_ledger ORDER BY loaded_at") == [(1,), (2,)]
    assert query(home, "SELECT shelf_life_days FROM raw.skus") == [(180,)]


def test_a_warehouse_from_before_replay_gets_the_new_columns(tmp_path, home, capsys):
    """Warehouses made by the first release have no raw_values / version columns."""
    home.mkdir(parents=True)
    conn = duckdb.connect(str(home / "warehouse.duckdb"))
    conn.execute("CREATE SCHEMA raw")
    conn.execute(
        """CREATE TABLE raw.quarantine (_file_id VARCHAR NOT NULL, file_path VARCHAR NOT NULL,
           entity VARCHAR NOT NULL, line BIGINT NOT NULL, column_name VARCHAR,
           reason VARCHAR NOT NULL, raw_text VARCHAR, quarantined_at TIMESTAMP NOT NULL)"""
    )
    conn.execute(
        "INSERT INTO raw.quarantine VALUES ('abc123', '/old/orders.csv', 'orders', 5, "
        "'sku_id', 'sku_id ''X'' is not in skus', 'O9,...', now()::TIMESTAMP)"
    )
    conn.close()
    write(tmp_path / "orders.csv", ORDER_HEADER, order("O1"))
    assert main(["ingest", str(tmp_path / "orders.csv")]) == 0
    assert main(["quarantine", "replay"]) == 0
    assert "no replayable quarantined rows" in capsys.readouterr().out
    assert query(home, "SELECT count(*), count(raw_values) FROM raw.quarantine") == [(1, 0)]


_EARLY_INGEST = (
    "import datetime, sys\n"
    "import pipelines.ingest.load as load\n"
    "load.ingest_clock = lambda: datetime.datetime(2023, 12, 1)\n"
    "from pipelines.cli import main\n"
    "sys.exit(main(['ingest', sys.argv[1]]))\n"
)


@pytest.mark.slow
def test_sigkill_mid_replay_then_rerun_equals_an_uninterrupted_replay(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for month in range(3):
        write_orders(landing / f"orders_2024-0{month + 1}.csv", 60_000, start=month * 60_000)
    env = {**os.environ, "CARDPULSE_HOME": str(tmp_path / "clean")}
    # Every order is dated after the early clock: all quarantined, all replayable later.
    subprocess.run(
        [sys.executable, "-c", _EARLY_INGEST, str(landing)], env=env, check=True, timeout=600
    )
    shutil.copytree(tmp_path / "clean", tmp_path / "killed")

    clean = subprocess.run(
        [str(CARDPULSE), "quarantine", "replay"], env=env, capture_output=True, text=True
    )
    assert clean.returncode == 0, clean.stderr
    expected = _table_contents(tmp_path / "clean" / "warehouse.duckdb")
    assert len(expected["orders"]) == 180_000 and expected["quarantine"] == []

    env["CARDPULSE_HOME"] = str(tmp_path / "killed")
    victim = subprocess.Popen(
        [str(CARDPULSE), "quarantine", "replay"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = victim.stdout.readline()  # the first file is committed; the second is replaying
    assert "60000 rows checked again, 60000 loaded" in first_line
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    partial = _table_contents(tmp_path / "killed" / "warehouse.duckdb")
    assert 60_000 <= len(partial["orders"]) < 180_000, "the kill should land mid-replay"

    rerun = subprocess.run(
        [str(CARDPULSE), "quarantine", "replay"], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _table_contents(tmp_path / "killed" / "warehouse.duckdb") == expected


def test_rows_quarantined_before_values_were_kept_heal_from_their_file(tmp_path, home, capsys):
    """The first release quarantined orders of unknown SKUs and kept no values: replay reads
    the (unchanged) file again for those lines."""
    orders = write(tmp_path / "orders.csv", ORDER_HEADER, order("O1"), order("O2"), order("O3"))
    assert main(["ingest", str(orders)]) == 0
    conn = duckdb.connect(str(home / "warehouse.duckdb"))
    conn.execute(  # what the first release left: O2 quarantined, no values, counts moved
        """INSERT INTO raw.quarantine (_file_id, file_path, entity, line, column_name, reason,
               raw_text, quarantined_at)
           SELECT _file_id, ?, 'orders', _line, 'sku_id', 'sku_id ''S1'' is not in skus',
                  'O2,...', now()::TIMESTAMP FROM raw.orders WHERE order_id = 'O2'""",
        [str(orders)],
    )
    conn.execute("DELETE FROM raw.orders WHERE order_id = 'O2'")
    conn.execute("UPDATE raw.file_ledger SET loaded = 2, quarantined = 1")
    conn.close()
    capsys.readouterr()

    assert main(["quarantine", "replay"]) == 0
    assert "orders.csv (orders): 1 rows checked again, 1 loaded" in capsys.readouterr().out
    assert query(home, "SELECT order_id, _line FROM raw.orders ORDER BY 1") == [
        ("O1", 2),
        ("O2", 3),
        ("O3", 4),
    ]
    assert query(home, "SELECT loaded, quarantined FROM raw.file_ledger") == [(3, 0)]
    assert query(home, "SELECT count(*) FROM raw.quarantine") == [(0,)]
