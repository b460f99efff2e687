"""Deterministic writing: the same table gives the same bytes in every format.

CSV through pyarrow (strings quoted, nulls empty, timestamps `YYYY-MM-DD HH:MM:SS` in
Shanghai wall time, money with two decimals), optionally gzip'd with mtime 0; Parquet
through pyarrow (zstd, no pandas metadata); JSON Lines through DuckDB, single-threaded so
row order is kept. Every file is written to a temporary name and renamed into place, so a
crash never leaves a half-written export file behind.
"""

from __future__ import annotations

import gzip
import io
import os
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("csv", "parquet", "jsonl")
MONEY = pa.decimal128(18, 2)
TIMESTAMP = pa.timestamp("s")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def money(cents: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """CNY with two decimals from integer cents, exactly (no float rounding)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty(2 * len(cents), dtype=np.int64)
    words[0::2] = cents
    words[1::2] = np.where(cents < 0, -1, 0)
    validity = None
    null_count = 0
    if null is not None and null.any():
        validity = pa.array(~null).buffers()[1]
        null_count = int(null.sum())
    return pa.Array.from_buffers(MONEY, len(cents), [validity, pa.py_buffer(words)], null_count)


def timestamps(seconds: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    """Naive timestamps (Shanghai wall time) from local seconds since 1970-01-01."""
    return pa.array(np.asarray(seconds, dtype=np.int64), type=TIMESTAMP, mask=null)


def labels(values: np.ndarray | list, index: np.ndarray, null: np.ndarray | None = None):
    """Strings by index into a small vocabulary (merchant ids, statuses, ...)."""
    array = pa.array(np.asarray(index, dtype=np.int64), mask=null)
    return pa.DictionaryArray.from_arrays(array, pa.array(list(values), pa.string())).cast(
        pa.string()
    )


def _atomic(path: Path):
    tmp = path.with_name(f".{path.name}.tmp")
    return tmp, lambda: os.replace(tmp, path)


def csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(quoting_header="none", batch_size=65536))
    return sink.getvalue()


def write_table(
    table: pa.Table,
    out_dir: Path,
    stem: str,
    fmt: str,
    *,
    gzip_csv: bool = False,
    encoding: str = "utf-8",
    bom: bool = False,
) -> Path:
    """1. Pick the file name from the stem and format; 2. write to a temporary file; 3. rename."""
    if fmt == "csv":
        path = out_dir / f"{stem}.csv{'.gz' if gzip_csv else ''}"
        tmp, commit = _atomic(path)
        if encoding != "utf-8" or bom:
            text = csv_bytes(table).decode("utf-8")
            data = text.encode(encoding)
            tmp.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
        elif gzip_csv:
            with (
                open(tmp, "wb") as raw,
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=1
                ) as sink,
            ):
                pacsv.write_csv(
                    table, sink, pacsv.WriteOptions(quoting_header="none", batch_size=65536)
                )
        else:
            pacsv.write_csv(
                table, str(tmp), pacsv.WriteOptions(quoting_header="none", batch_size=65536)
            )
    elif fmt == "parquet":
        path = out_dir / f"{stem}.parquet"
        tmp, commit = _atomic(path)
        pq.write_table(
            table.replace_schema_metadata(None), tmp, compression="zstd", row_group_size=1_000_000
        )
    elif fmt == "jsonl":
        path = out_dir / f"{stem}.jsonl"
        tmp, commit = _atomic(path)
        _write_jsonl(table, tmp)
    else:
        raise ValueError(f"unknown format {fmt!r}")
    commit()
    return path


@cache
def _jsonl_connection():
    import duckdb

    conn = duckdb.connect()
    conn.execute("SET threads = 1")
    conn.execute("SET preserve_insertion_order = true")
    return conn


def _write_jsonl(table: pa.Table, path: Path) -> None:
    conn = _jsonl_connection()
    conn.register("export_table", table)
    try:
        target = str(path).replace("'", "''")
        conn.execute(f"COPY export_table TO '{target}' (FORMAT json)")
    finally:
        conn.unregister("export_table")
