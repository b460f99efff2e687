"""The simulator's dirty export, ingested: every injected defect lands where its log says."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from pipelines.ingest.load import ingest_paths
from pipelines.simulator import generate


def _ingest_dirty(tmp_path: Path, fmt: str, only_defective: bool = False):
    """Generate a small dirty export and ingest it (or only skus and the files with defects)."""
    export = tmp_path / "export"
    generate(export, scale="small", seed=11, dirty=True, fmt=fmt)
    with (export / "_truth" / "dirty_rows.csv").open(encoding="utf-8") as handle:
        defects = list(csv.DictReader(handle))
    paths = [export]
    if only_defective:
        paths = sorted({export / d["file"] for d in defects} | set(export.glob("skus*")))
    results = ingest_paths(tmp_path / "warehouse.duckdb", paths)
    return export, results, defects


def _check(tmp_path: Path, export: Path, results, defects) -> None:
    assert all(r.error is None for r in results), [r.summary_line() for r in results]
    assert all(r.rows_read == r.loaded + r.updated + r.duplicate + r.quarantined for r in results)
    names = {Path(r.path).name for r in results}
    assert not any("_truth" in r.path for r in results)
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    quarantined = {
        (Path(path).name, line): reason
        for path, line, reason in conn.execute(
            "SELECT file_path, line, reason FROM raw.quarantine WHERE entity = 'orders'"
        ).fetchall()
    }
    expected_quarantine = {
        (d["file"], int(d["line"])) for d in defects if d["expected"] == "quarantine"
    }
    assert expected_quarantine, "the dirty export should contain rows to quarantine"
    # Exactly the injected bad rows are quarantined: none missed, no clean row caught.
    assert set(quarantined) == expected_quarantine
    known_skus = {sku for (sku,) in conn.execute("SELECT sku_id FROM raw.skus").fetchall()}

    checked = 0
    for defect in defects:
        where = (defect["file"], int(defect["line"]))
        if defect["expected"] in ("decode",):
            assert defect["file"] in names
            row = conn.execute(
                "SELECT rows_read, quarantined FROM raw.file_ledger WHERE file_path LIKE '%/' || ?",
                [defect["file"]],
            ).fetchone()
            assert row and row[0] > 0 and row[1] == 0
        elif defect["expected"] == "duplicate":
            assert where not in quarantined
        elif defect["expected"] == "infer":  # loaded; its SKU is an inferred member
            assert where not in quarantined
            assert defect["value"] not in known_skus
        elif defect["expected"] in ("normalise", "load_as_text"):
            assert where not in quarantined
            column = defect["column"]
            row = conn.execute(
                f"SELECT {column} FROM raw.orders o JOIN raw.file_ledger l USING (_file_id) "
                "WHERE l.file_path LIKE '%/' || ? AND o._line = ?",
                list(where),
            ).fetchone()
            if row is not None:  # else a later version of the order replaced this row
                wanted = defect["normalised_value"] or defect["value"]
                assert row[0] == wanted, defect
                checked += 1
    assert (
        checked >= len([d for d in defects if d["expected"] in ("normalise", "load_as_text")]) // 2
    )
    conn.close()
    del export


def test_dirty_csv_export_lands_as_logged(tmp_path):
    _check(tmp_path, *_ingest_dirty(tmp_path, "csv", only_defective=True))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_dirty_export_in_other_formats_lands_as_logged(tmp_path, fmt):
    _check(tmp_path, *_ingest_dirty(tmp_path, fmt))
