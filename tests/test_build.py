"""`cardpulse build` end to end on a tiny platform: real ingest, real dbt, real Dagster."""

from __future__ import annotations

import csv
import datetime as dt
import os
import random
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import duckdb
import pytest
from snapshot_reader import snapshot_reader

from pipelines.cli import main

END_DATE = dt.date(2026, 3, 31)
DAYS = 120
SKUS = [
    # sku_id, name, category, brand, face_value, delivery_type, supplier_id, price, cost
    ("SKU-STEAM-100", "Steam 100", "game_card", "Steam", "100", "card_key", "SUP-A", 98, 92),
    ("SKU-IQIYI-M", "iQIYI monthly", "video_vip", "iQIYI", "25", "card_key", "SUP-A", 19, 15),
    ("SKU-CMCC-50", "CMCC 50", "mobile_topup", "CMCC", "50", "direct_topup", "SUP-B", 49, 48),
]

# Runs in another process: holds the warehouse open for writing until stdin closes.
WAREHOUSE_HOLDER = textwrap.dedent(
    """
    import sys, duckdb
    conn = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    sys.stdin.read()
    """
)


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_tiny_platform(landing: Path, seed: int = 0) -> None:
    """Three SKUs, two suppliers, two merchants, 120 days of orders, stock and balances."""
    rng = random.Random(seed)
    start = END_DATE - dt.timedelta(days=DAYS - 1)
    write_csv(
        landing / "skus.csv",
        ["sku_id", "name", "category", "brand", "face_value", "delivery_type", "supplier_id",
         "shelf_life_days", "active"],
        [[s[0], s[1], s[2], s[3], s[4], s[5], s[6], "", "true"] for s in SKUS],
    )  # fmt: skip
    write_csv(
        landing / "suppliers.csv",
        ["supplier_id", "name", "lead_time_hours", "min_order_qty", "batch_size"],
        [["SUP-A", "Card House", "24", "10", "10"], ["SUP-B", "TopUp API", "1", "1", "1"]],
    )
    write_csv(
        landing / "merchants.csv",
        ["merchant_id", "name", "tier", "parent_merchant_id", "region_code", "joined_at"],
        [
            ["M1", "Main shop", "gold", "", "CN-GD", "2024-01-01T00:00:00"],
            ["M2", "Agent", "silver", "M1", "CN-BJ", "2024-06-01T00:00:00"],
        ],
    )
    orders, inventory, balances = [], [], []
    for offset in range(DAYS):
        day = start + dt.timedelta(days=offset)
        for sku_id, *_, delivery_type, supplier, price, cost in SKUS:
            for n in range(rng.randint(1, 4)):
                created = dt.datetime.combine(day, dt.time(9 + n * 3, rng.randint(0, 59)))
                status = rng.choices(["delivered", "refunded", "failed"], [90, 5, 5])[0]
                orders.append(
                    [
                        f"O-{offset}-{sku_id}-{n}",
                        created.isoformat(),
                        created.isoformat(),
                        created.isoformat(),
                        (created + dt.timedelta(minutes=2)).isoformat(),
                        rng.choice(["M1", "M2"]),
                        sku_id,
                        rng.randint(1, 2),
                        price,
                        cost,
                        price,
                        status,
                        rng.choice(["CN-GD", "广东", "CN-BJ"]),
                        "web",
                        supplier,
                    ]
                )
            if delivery_type == "card_key":  # stocked keys: a day-end snapshot
                inventory.append([f"{day}T23:00:00", sku_id, supplier, rng.randint(5, 40), 0, 0])
        for supplier in ("SUP-A", "SUP-B"):
            balances.append([f"{day}T23:00:00", supplier, rng.randint(500, 5000)])
    write_csv(
        landing / "orders.csv",
        ["order_id", "created_at", "updated_at", "paid_at", "delivered_at", "merchant_id",
         "sku_id", "quantity", "unit_price", "unit_cost", "list_price", "status", "region_code",
         "channel", "supplier_id"],
        orders,
    )  # fmt: skip
    write_csv(
        landing / "inventory.csv",
        ["as_of", "sku_id", "supplier_id", "on_hand", "on_order", "expiring_7d"],
        inventory,
    )
    write_csv(landing / "supplier_balances.csv", ["as_of", "supplier_id", "balance"], balances)


def late_orders(landing: Path) -> int:
    """A second export: five more orders on the last day. Returns how many."""
    rows = [
        [f"O-LATE-{n}", f"{END_DATE}T20:0{n}:00", f"{END_DATE}T20:0{n}:00",
         f"{END_DATE}T20:0{n}:00", "", "M1", SKUS[0][0], 1, 98, 92, 98, "paid", "CN-GD", "api",
         "SUP-A"]
        for n in range(5)
    ]  # fmt: skip
    write_csv(
        landing / "orders_late.csv",
        ["order_id", "created_at", "updated_at", "paid_at", "delivered_at", "merchant_id",
         "sku_id", "quantity", "unit_price", "unit_cost", "list_price", "status", "region_code",
         "channel", "supplier_id"],
        rows,
    )  # fmt: skip
    return len(rows)


def snapshot_count(snapshot: Path, sql: str):
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One installation built once: (home, exit code, stdout) shared by the tests below."""
    home = tmp_path_factory.mktemp("cardpulse_home")
    write_tiny_platform(home / "landing")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CARDPULSE_HOME", str(home))
        with _Capture() as capture:
            code = main(["build", "--as-of", str(END_DATE + dt.timedelta(days=1))])
    return home, code, capture.text


class _Capture:
    """Captures everything written to stdout, at the descriptor level (the build prints its
    progress to a duplicate of descriptor 1, its summary through ``sys.stdout``)."""

    def __enter__(self):
        sys.stdout.flush()
        self._file = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self._saved_fd, self._saved_stdout = os.dup(1), sys.stdout
        os.dup2(self._file.fileno(), 1)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stdout = self._saved_stdout
        os.dup2(self._saved_fd, 1)
        os.close(self._saved_fd)
        self._file.seek(0)
        self.text = self._file.read()
        self._file.close()


def test_build_publishes_a_snapshot_with_every_analytics_table(built):
    home, code, output = built
    assert code == 0, output
    snapshot = home / "snapshot.duckdb"
    assert snapshot.exists()
    assert not (home / "snapshot.duckdb.wal").exists()
    with duckdb.connect(str(snapshot), read_only=True) as conn:
        tables = {
            name: conn.execute(f"SELECT count(*) FROM analytics.{name}").fetchone()[0]
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'analytics'"
            ).fetchall()
        }
        ledger_files = conn.execute("SELECT count(*) FROM raw.file_ledger").fetchone()[0]
        build = conn.execute("SELECT status, as_of FROM analytics.build_info").fetchall()
        tests = conn.execute(
            "SELECT count(*) FILTER (status = 'pass'), count(*) FILTER (status <> 'pass') "
            "FROM analytics.dbt_results WHERE resource_type IN ('test', 'unit_test')"
        ).fetchone()
    for table in ("fct_orders", "fct_daily_sku_sales", "dim_skus", "demand_forecast",
                  "restock_plan", "price_recommendations"):  # fmt: skip
        assert tables.get(table, 0) > 0, f"analytics.{table} missing or empty: {tables}"
    assert ledger_files == 6  # every landing file is in the ledger
    assert build == [("success", END_DATE + dt.timedelta(days=1))]
    assert tests[0] > 0 and tests[1] == 0


def test_build_prints_progress_and_a_one_screen_summary(built):
    home, code, output = built
    lines = output.splitlines()
    assert any(line.split()[:2] == ["done", "warehouse_models"] for line in lines), output
    assert any(line.split()[:2] == ["done", "publish_snapshot"] for line in lines)
    assert f"snapshot: {home / 'snapshot.duckdb'}" in lines
    assert any(line.startswith("dbt tests: ") and ", 0 failed" in line for line in lines)
    assert any("fct_orders" in line for line in lines)
    assert "data: quarantined rows: none" in lines
    assert len(lines) < 60  # no dbt or Dagster log flood
    assert not any("START sql" in line or "DEBUG" in line for line in lines)


def test_build_run_is_recorded_in_the_dagster_home(built):
    import dagster as dg

    home, _, _ = built
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = instance.get_runs()
    assert [(run.job_name, run.status) for run in runs] == [("build", dg.DagsterRunStatus.SUCCESS)]


def test_reader_holding_the_snapshot_sees_the_next_build_after_reconnecting(built, monkeypatch):
    home, _, _ = built
    snapshot = home / "snapshot.duckdb"
    before = snapshot_count(snapshot, "SELECT count(*) FROM analytics.fct_orders")
    added = late_orders(home / "landing")
    with snapshot_reader(snapshot) as ask:
        assert ask("count") == before
        monkeypatch.setenv("CARDPULSE_HOME", str(home))
        with _Capture() as capture:
            code = main(["build", "--as-of", str(END_DATE + dt.timedelta(days=1))])
        assert code == 0, capture.text
        assert ask("count") == before  # its open connection still reads the old file
        assert ask("reconnect") == before + added


def test_empty_warehouse_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    assert main(["build"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "nothing to build" in err[0] and "cardpulse ingest" in err[0]
    assert not (tmp_path / "snapshot.duckdb").exists()


def test_locked_warehouse_is_one_clear_line(tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", WAREHOUSE_HOLDER, str(warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
        assert main(["build"]) == 1
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "locked by another process" in err[0] and f"PID {holder.pid}" in err[0]


def test_failed_build_exits_non_zero_with_one_line_and_publishes_nothing(
    tmp_path, monkeypatch, capsys
):
    # Only a file that cannot be read: ingest leaves the warehouse without orders.
    (tmp_path / "landing").mkdir()
    (tmp_path / "landing" / "orders.csv").write_bytes(b"\x00\x01\x02 not a csv \xff\xfe")
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    with _Capture() as capture:
        code = main(["build"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, capture.text
    assert len(err) == 1
    assert err[0].startswith("cardpulse build: error: build failed at ingest_landing: ")
    assert "no orders" in err[0]
    assert "FAILED" in capture.text
    assert not (tmp_path / "snapshot.duckdb").exists()


def test_as_of_must_be_a_date(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["build", "--as-of", "31/03/2026"])
    assert exit_info.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
