"""``cardpulse ingest`` as a user runs it: exit codes, one-line errors, locks, SIGKILL + rerun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[1]
CARDPULSE = ROOT / ".venv" / "bin" / "cardpulse"

ORDER_HEADER = (
    "order_id,created_at,updated_at,paid_at,delivered_at,merchant_id,sku_id,quantity,"
    "unit_price,unit_cost,list_price,status,region_code,channel,supplier_id,buyer_id,"
    "payment_method"
)


def run_cli(home: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARDPULSE_HOME": str(home)}
    return subprocess.run(
        [str(CARDPULSE), "ingest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def write_orders(path: Path, n: int, start: int = 0, bad_every: int = 0) -> Path:
    """``n`` orders; every ``bad_every``-th one has quantity 0 (quarantined)."""
    lines = [ORDER_HEADER]
    for i in range(start, start + n):
        quantity = 0 if bad_every and i % bad_every == 0 else 1 + i % 3
        region = ("广东", "CN-BJ", "44", "Guangdong", "火星")[i % 5]
        lines.append(
            f"O{i:09d},2024-01-{1 + i % 28:02d} 10:{i % 60:02d}:00,,,,M{i % 7},"
            f"S{i % 11},{quantity},{9 + i % 5}.90,,,paid,{region},web,,B{i},alipay"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_cli_loads_a_folder_and_prints_one_line_per_file(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    write_orders(landing / "orders_2024-01.csv", 20, bad_every=10)
    (landing / "skus.csv").write_text(
        "sku_id,category,delivery_type\n"
        + "".join(f"S{i},game_card,card_key\n" for i in range(11)),
        encoding="utf-8",
    )
    done = run_cli(tmp_path / "home", str(landing))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "skus.csv (skus): 11 rows read, 11 loaded, 0 updated, 0 duplicate, 0 quarantined",
        "orders_2024-01.csv (orders): 20 rows read, 18 loaded, 0 updated, 0 duplicate, "
        "2 quarantined (4 with region UNKNOWN)",
    ]
    again = run_cli(tmp_path / "home", str(landing))
    assert again.returncode == 0
    assert all("already loaded" in line for line in again.stdout.splitlines())


def test_cli_user_mistakes_are_one_line_without_traceback(tmp_path):
    good = write_orders(tmp_path / "orders.csv", 3)
    for args, expected in [
        ((str(tmp_path / "missing.csv"),), "no such file or folder"),
        ((str(good), "--source", "shopify"), "unknown source 'shopify'"),
        ((str(good), "--encoding", "klingon"), "unknown encoding"),
    ]:
        done = run_cli(tmp_path / "home", *args)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr


def test_cli_unreadable_file_fails_alone_with_exit_1(tmp_path):
    good = write_orders(tmp_path / "orders_1.csv", 3)
    empty = tmp_path / "orders_2.csv"
    empty.write_text("")
    done = run_cli(tmp_path / "home", str(good), str(empty))
    assert done.returncode == 1
    assert "3 loaded" in done.stdout
    assert done.stderr.strip() == (
        "cardpulse ingest: error: orders_2.csv (orders): FAILED: empty file: no header row"
    )


_HOLD_LOCK = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


def test_cli_warehouse_locked_by_another_process(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(home / "warehouse.duckdb")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        done = run_cli(home, str(write_orders(tmp_path / "orders.csv", 3)))
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        f"cardpulse ingest: error: warehouse {home / 'warehouse.duckdb'}"
        f" is in use by another process (pid {holder.pid}); "
        "stop it or wait"
    )


def _table_contents(warehouse: Path) -> dict[str, list[tuple]]:
    conn = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            "orders": conn.execute(
                "SELECT * EXCLUDE (_loaded_at) FROM raw.orders ORDER BY order_id"
            ).fetchall(),
            "quarantine": conn.execute(
                "SELECT * EXCLUDE (quarantined_at) FROM raw.quarantine ORDER BY file_path, line"
            ).fetchall(),
            "ledger": conn.execute(
                "SELECT * EXCLUDE (loaded_at, file_path) FROM raw.file_ledger ORDER BY _file_id"
            ).fetchall(),
        }
    finally:
        conn.close()


@pytest.mark.slow
def test_sigkill_mid_file_then_rerun_equals_an_uninterrupted_run(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    for month in range(3):
        write_orders(
            landing / f"orders_2024-0{month + 1}.csv", 80_000, start=month * 50_000, bad_every=997
        )

    clean = run_cli(tmp_path / "clean", str(landing))
    assert clean.returncode == 0, clean.stderr
    expected = _table_contents(tmp_path / "clean" / "warehouse.duckdb")

    env = {**os.environ, "CARDPULSE_HOME": str(tmp_path / "killed")}
    victim = subprocess.Popen(
        [str(CARDPULSE), "ingest", str(landing)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = victim.stdout.readline()  # the first file is committed; the second is loading
    assert "80000 rows read" in first_line
    time.sleep(0.3)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    partial = _table_contents(tmp_path / "killed" / "warehouse.duckdb")
    assert 1 <= len(partial["ledger"]) < 3, "the kill should land before the last file commits"

    rerun = run_cli(tmp_path / "killed", str(landing))
    assert rerun.returncode == 0, rerun.stderr
    assert _table_contents(tmp_path / "killed" / "warehouse.duckdb") == expected
