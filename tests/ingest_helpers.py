"""Helpers the ingestion tests share: write a file, ingest it, read the warehouse back."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipelines.ingest.load import FileResult, ingest_paths


def write(path: Path, *lines: str, encoding: str = "utf-8") -> Path:
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def ingest(tmp_path: Path, *paths, **kwargs) -> list[FileResult]:
    """Ingest into ``tmp_path/warehouse.duckdb``, checking what every result promises: rows
    read = loaded + updated + duplicate + quarantined, and a failed file is one line that
    loaded nothing."""
    results = ingest_paths(tmp_path / "warehouse.duckdb", list(paths), **kwargs)
    for result in results:
        assert result.rows_read == (
            result.loaded + result.updated + result.duplicate + result.quarantined
        ), result
        if result.error:
            assert "\n" not in result.error and result.rows_read == 0, result
    return results


def query(tmp_path: Path, sql: str, params=()) -> list[tuple]:
    conn = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        return conn.execute(sql, list(params)).fetchall()
    finally:
        conn.close()


def counts(result: FileResult) -> tuple[int, int, int, int, int]:
    return (result.rows_read, result.loaded, result.updated, result.duplicate, result.quarantined)
