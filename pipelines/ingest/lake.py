"""The raw layer as a lake: each loaded file's rows as Hive-partitioned Parquet.

Beside the DuckDB raw tables, ingest can write ``<lake>/orders/day=YYYY-MM-DD/<file_id>.parquet``
(the business day an order was placed) and ``<lake>/<entity>/month=YYYY-MM/<file_id>.parquet``
for the smaller entities (the month of ``as_of`` for snapshots, of the load for master data),
which Spark and any other engine read without the warehouse. Per file:

1. inside the file's transaction, after the merge, the rows of ``raw.<entity>`` that the file
   put there are written to a hidden folder and moved into place under names made of the file
   id, so writing the same file again replaces its files and changes nothing;
2. after the commit, a marker ``<lake>/file_ledger/<file_id>.<entity>.parquet`` holds the ledger
   row. Readers take only rows whose file has a marker: a file whose transaction rolled back
   (or was killed) is invisible, and ``sync_lake`` removes its files.

The lake is append-only like the files: an order that a later file updates has a row in each
file's partition; the current row per natural key is the one loaded last (``_loaded_at``), as
in ``raw.<entity>`` (the dbt Spark target reads it that way, ``current_rows``).
``sync_lake`` makes the lake match the warehouse: it exports files the lake lacks (a lake
turned on for an existing warehouse, a crash between commit and marker), re-exports files
whose ledger counts moved (``quarantine replay``), and drops files the ledger does not know.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from pipelines.ingest.entities import ENTITIES
from pipelines.ingest.reading import quote_ident
from pipelines.ingest.schema import full_columns, table_columns

LEDGER = "file_ledger"
# Orders, the volume, by day; the rest by month (daily files of a few rows each would be
# mostly file-opening for the reader).
DAILY = ("orders",)
# The ledger columns a marker keeps; a change in any of them means the file's rows changed.
LEDGER_COLUMNS = (
    "_file_id",
    "entity",
    "file_path",
    "rows_read",
    "loaded",
    "updated",
    "duplicate",
    "quarantined",
    "loaded_at",
)


def partition_column(entity_name: str) -> str:
    """The column whose business day partitions an entity: its first required timestamp or
    date column, else the load time (master data)."""
    entity = ENTITIES.get(entity_name)
    if entity is not None:
        for column in entity.columns:
            if column.required and column.kind in ("timestamp", "date"):
                return column.name
    return "_loaded_at"


def partition_name(entity_name: str) -> str:
    """``day`` (YYYY-MM-DD, a DATE) for the daily entities, else ``month`` (YYYY-MM)."""
    return "day" if entity_name in DAILY else "month"


def _partition_sql(entity_name: str) -> str:
    column = quote_ident(partition_column(entity_name))
    if partition_name(entity_name) == "day":
        return f"CAST({column} AS DATE) AS day"
    return f"strftime(CAST({column} AS DATE), '%Y-%m') AS month"


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _data_files(lake: Path, entity: str, file_id: str) -> list[Path]:
    return sorted((lake / entity).glob(f"{partition_name(entity)}=*/{file_id}*.parquet"))


def export_file(conn, lake: Path, entity: str, file_id: str) -> int:
    """Write the rows ``file_id`` holds in ``raw.<entity>`` to the lake (replacing that file's
    earlier export); returns how many parquet files were written."""
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    scratch = lake / f".tmp-{file_id[:16]}-{uuid.uuid4().hex[:8]}"
    try:
        partition = partition_name(entity)
        conn.execute(
            f"""COPY (SELECT {_whole_row_sql(conn, entity)}, {_partition_sql(entity)}
                      FROM raw.{quote_ident(entity)} WHERE _file_id = '{file_id}')
                TO {_sql_path(scratch)}
                (FORMAT parquet, PARTITION_BY ({partition}), FILENAME_PATTERN 'part{{i}}',
                 OVERWRITE_OR_IGNORE true)"""
        )
        for old in _data_files(lake, entity, file_id):
            old.unlink()
        written = 0
        for part in sorted(scratch.glob(f"{partition}=*/*.parquet")):
            target_dir = lake / entity / part.parent.name
            target_dir.mkdir(parents=True, exist_ok=True)
            suffix = "" if part.stem == "part0" else "-" + part.stem.removeprefix("part")
            part.replace(target_dir / f"{file_id}{suffix}.parquet")
            written += 1
        return written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _whole_row_sql(conn, entity: str) -> str:
    """Every column of the entity's whole schema, NULL where the warehouse has not added an
    optional column yet: each lake file has the same columns."""
    have = set(table_columns(conn, entity))
    return ", ".join(
        quote_ident(name) if name in have else f"NULL::{kind} AS {quote_ident(name)}"
        for name, kind in full_columns(entity)
    )


def remove_file(lake: Path, entity: str, file_id: str) -> None:
    """Take a file's rows and marker out of the lake (its load rolled back)."""
    for path in _data_files(Path(lake), entity, file_id):
        path.unlink(missing_ok=True)
    _marker(Path(lake), entity, file_id).unlink(missing_ok=True)


def _marker(lake: Path, entity: str, file_id: str) -> Path:
    return lake / LEDGER / f"{file_id}.{entity}.parquet"


def write_marker(conn, lake: Path, entity: str, file_id: str) -> None:
    """Publish a committed file: its ledger row as the marker readers look for."""
    lake = Path(lake)
    (lake / LEDGER).mkdir(parents=True, exist_ok=True)
    marker = _marker(lake, entity, file_id)
    scratch = marker.with_name("." + marker.name)
    conn.execute(
        f"""COPY (SELECT {", ".join(LEDGER_COLUMNS)} FROM raw.file_ledger
                  WHERE _file_id = '{file_id}' AND entity = '{entity}')
            TO {_sql_path(scratch)} (FORMAT parquet)"""
    )
    scratch.replace(marker)


def sync_lake(conn, lake: Path) -> dict[str, int]:
    """Make the lake hold exactly the warehouse's loaded files; returns what it did."""
    lake = Path(lake)
    lake.mkdir(parents=True, exist_ok=True)
    columns = ", ".join(LEDGER_COLUMNS)
    ledger = {
        (row[0], row[1]): row
        for row in conn.execute(f"SELECT {columns} FROM raw.file_ledger").fetchall()
    }
    published = {}
    markers = sorted((lake / LEDGER).glob("*.parquet")) if (lake / LEDGER).is_dir() else []
    if markers:
        published = {
            (row[0], row[1]): row
            for row in conn.execute(
                f"SELECT {columns} FROM read_parquet({[str(m) for m in markers]})"
            ).fetchall()
        }
    done = {"exported": 0, "removed": 0}
    for key, row in ledger.items():
        if published.get(key) != row:
            file_id, entity = key
            export_file(conn, lake, entity, file_id)
            write_marker(conn, lake, entity, file_id)
            done["exported"] += 1
    for key in set(published) - set(ledger):
        remove_file(lake, key[1], key[0])
        done["removed"] += 1
    for entity_dir in (p for p in lake.iterdir() if p.is_dir() and p.name != LEDGER):
        if entity_dir.name.startswith("."):
            shutil.rmtree(entity_dir, ignore_errors=True)  # a killed export's scratch
            continue
        for path in entity_dir.glob("*=*/*.parquet"):
            file_id = path.stem.split("-")[0]
            if (file_id, entity_dir.name) not in ledger:
                path.unlink()
                done["removed"] += 1
    return done
