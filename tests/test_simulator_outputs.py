"""The simulator as a command: same seed same bytes, formats, `--dirty`, bad flags."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from test_simulator import ORDER_COLUMNS  # the contract's order columns, written once

from pipelines.simulator import TRUTH_DIR, generate


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _cardpulse(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARDPULSE_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def seed0(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seed0")
    generate(out, scale="small", seed=0)
    return out


@pytest.fixture(scope="module")
def dirty(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dirty")
    generate(out, scale="small", seed=0, dirty=True)
    return out


def test_cli_same_seed_gives_the_same_bytes(seed0, tmp_path):
    out = tmp_path / "again"
    result = _cardpulse("generate", "--out", str(out), "--seed", "0", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip().splitlines()) == 1 and "orders" in result.stdout
    assert _digests(out) == _digests(seed0)
    assert len(_digests(out)) >= 31 + 3  # 24 order months + 7 other files + truth


def test_a_different_seed_gives_a_different_platform(seed0, tmp_path):
    # A rerun into a folder holding an earlier generated export replaces it entirely.
    (tmp_path / TRUTH_DIR).mkdir()
    (tmp_path / TRUTH_DIR / "settings.json").write_text("{}")
    (tmp_path / "orders_2019-01.csv").write_text("stale")
    generate(tmp_path, scale="small", seed=1)
    assert not (tmp_path / "orders_2019-01.csv").exists()
    assert not (tmp_path / ".generate-tmp").exists()
    first, second = _digests(seed0), _digests(tmp_path)
    assert first.keys() == second.keys()
    assert first["orders_2025-06.csv"] != second["orders_2025-06.csv"]
    assert (
        first[f"{TRUTH_DIR}/expected_demand.parquet"]
        != second[f"{TRUTH_DIR}/expected_demand.parquet"]
    )


def test_parquet_holds_the_same_rows_with_real_types(seed0, tmp_path):
    generate(tmp_path, scale="small", seed=0, fmt="parquet")
    assert {p.name for p in tmp_path.glob("*.parquet")} == {
        p.name.replace(".csv", ".parquet") for p in seed0.glob("*.csv")
    }
    schema = pq.read_schema(tmp_path / "orders_2025-06.parquet")
    created = schema.field("created_at").type
    assert pa.types.is_timestamp(created) and created.tz is None  # Shanghai wall time
    assert schema.field("unit_price").type == pa.decimal128(18, 2)
    columns = ["quantity", "unit_price"]
    from_csv = pa.concat_tables(
        pacsv.read_csv(p, convert_options=pacsv.ConvertOptions(include_columns=columns))
        for p in sorted(seed0.glob("orders_*.csv"))
    )
    from_parquet = pa.concat_tables(
        pq.read_table(p, columns=columns) for p in sorted(tmp_path.glob("orders_*.parquet"))
    )
    assert from_csv.num_rows == from_parquet.num_rows
    assert pc.sum(from_csv["quantity"]).as_py() == pc.sum(from_parquet["quantity"]).as_py()
    assert (
        abs(
            pc.sum(from_csv["unit_price"]).as_py()
            - float(pc.sum(from_parquet["unit_price"]).as_py())
        )
        < 0.01
    )


def test_jsonl_lines_are_records(tmp_path):
    generate(tmp_path, scale="small", seed=2, fmt="jsonl")
    lines = (tmp_path / "orders_2025-06.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) > 1000
    assert set(records[0]) == set(ORDER_COLUMNS)
    assert {r["status"] for r in records} >= {"delivered", "cancelled", "refunded"}
    first = json.loads((tmp_path / "skus.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert isinstance(first["face_value"], float) and isinstance(first["active"], bool)


def _line(path: Path, line: int) -> dict:
    """The record on a 1-based physical line of a CSV file (header = line 1)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        for number, record in enumerate(reader, start=2):
            if number == line:
                return dict(zip(header, record, strict=True))
    raise AssertionError(f"{path.name} has no line {line}")


def test_dirty_mode_produces_and_logs_every_defect(dirty):
    with (dirty / TRUTH_DIR / "dirty_rows.csv").open(encoding="utf-8") as handle:
        log = list(csv.DictReader(handle))
    defects = {row["defect"] for row in log}
    assert defects == {
        "exact_duplicate",
        "duplicate_order_same_updated_at",
        "bad_date",
        "zero_quantity",
        "negative_quantity",
        "unknown_sku",
        "unknown_status",
        "region_spelling",
        "unknown_region",
        "formula_like",
        "gb18030_file",
        "utf8_bom_file",
    }
    spellings = {row["value"] for row in log if row["defect"] == "region_spelling"}
    assert {"广东", "广东省", "Guangdong", "44", "内蒙古自治区"} <= spellings
    for row in log:
        if not row["file"].startswith("orders_"):
            continue
        record = _line(dirty / row["file"], int(row["line"]))
        if row["column"]:
            assert record[row["column"]] == row["value"], row
        if row["defect"] == "exact_duplicate":
            assert _line(dirty / row["file"], int(row["line"]) - 1) == record
        if row["defect"] == "duplicate_order_same_updated_at":
            previous = _line(dirty / row["file"], int(row["line"]) - 1)
            assert previous["order_id"] == record["order_id"]
            assert previous["updated_at"] == record["updated_at"]
            assert previous["status"] != record["status"]


def test_dirty_files_use_a_bom_and_gb18030(dirty):
    assert (dirty / "merchants.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    raw = (dirty / "skus.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert "腾讯Q币卡" in raw.decode("gb18030")


def test_dirty_leaves_the_clean_rows_alone(seed0, dirty):
    """Defects are added rows and edited fields: every clean order is still there."""

    def data_lines(folder):
        return sum(len(p.read_bytes().splitlines()) - 1 for p in folder.glob("orders_*.csv"))

    with (dirty / TRUTH_DIR / "dirty_rows.csv").open(encoding="utf-8") as handle:
        added = sum(
            row["expected"] in ("duplicate", "quarantine", "infer")
            for row in csv.DictReader(handle)
        )
    assert added > 0
    assert data_lines(dirty) == data_lines(seed0) + added


def test_bad_flags_give_one_line_and_no_traceback(tmp_path):
    result = _cardpulse("generate", "--out", str(tmp_path / "x"), "--scale", "huge", home=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("cardpulse generate: error:")

    foreign = tmp_path / "theirs"
    foreign.mkdir()
    (foreign / "orders.csv").write_text("order_id\n1\n")
    result = _cardpulse("generate", "--out", str(foreign), home=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "choose an empty folder" in result.stderr
    assert sorted(p.name for p in foreign.iterdir()) == ["orders.csv"]

    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    result = _cardpulse("generate", "--out", str(not_a_folder), home=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"cardpulse generate: error: --out {not_a_folder} exists and is not a folder"
    ]


@pytest.mark.slow
def test_medium_scale_is_about_two_million_orders(tmp_path):
    summary = generate(tmp_path, scale="medium", seed=0)
    assert 1_700_000 <= summary.orders <= 2_300_000
    assert summary.skus > 60 and summary.merchants > 200
    assert len(list(tmp_path.glob("orders_*.csv.gz"))) == 24
    assert 0.01 <= summary.card_key_stockout_share <= 0.10
