"""Quarantine that heals: check quarantined rows again and load those that now pass.

A quarantined row keeps its values under the contract's column names (``raw_values``). Once a
rule is relaxed (``180.0`` is now a whole number) or reference data arrives, ``replay`` stages
those values again with today's rules, merges the rows that pass exactly as ingest would (same
file id and line as lineage), removes them from the quarantine, and moves their counts in the
file's ledger row from ``quarantined`` to ``loaded`` / ``updated`` / ``duplicate``: rows read
still equals the sum for every file. One file per transaction, so a kill mid-replay leaves
every file either replayed or as it was.

Rows quarantined by a warehouse from before ``raw_values`` existed have no stored values: when
their file is still where it was loaded from, with the same bytes (canonical layout), it is read
again and those lines are checked with today's rules the same way.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pipelines.ingest import adapters, reading
from pipelines.ingest.entities import ENTITIES, ENTITY_ORDER
from pipelines.ingest.lake import sync_lake
from pipelines.ingest.load import (
    FileResult,
    IngestRun,
    _create_region_alias,
    _drop_staging,
    _read_source,
    _stage_file,
    connect_warehouse,
    ingest_clock,
)
from pipelines.ingest.reading import UnreadableFile, quote_ident
from pipelines.ingest.schema import add_carried_columns, create_raw_tables
from pipelines.ingest.upsert import (
    flag_order_conflicts,
    merge_by_key,
    merge_orders,
    stored_columns,
)
from pipelines.ingest.validation import VALUE_PLACEHOLDER, region_map_sql, stage_sql


@dataclass
class ReplayResult:
    """What a replay did to one file's quarantined rows."""

    file_path: str
    entity: str
    replayed: int = 0
    loaded: int = 0
    updated: int = 0
    duplicate: int = 0
    still_quarantined: int = 0

    def summary_line(self) -> str:
        return (
            f"{Path(self.file_path).name} ({self.entity}): {self.replayed} rows checked again, "
            f"{self.loaded} loaded, {self.updated} updated, {self.duplicate} duplicate, "
            f"{self.still_quarantined} still quarantined"
        )


def replay_quarantine(
    warehouse_path: str | Path,
    entity: str | None = None,
    on_result: Callable[[ReplayResult], None] | None = None,
    lake_path: str | Path | None = None,
) -> list[ReplayResult]:
    """Check every replayable quarantined row again; one ReplayResult per file.

    1. Files are taken in the ingest's entity order (SKUs before orders), then by path.
    2. Each file's rows are staged from their stored values with today's rules and clock,
       merged, and its quarantine and ledger rows updated, in one transaction.
    3. With ``lake_path``, the lake is synced: files whose rows moved are exported again.
    """
    if entity is not None and entity not in ENTITIES:
        from pipelines.errors import CardPulseError

        raise CardPulseError(f"unknown entity '{entity}' (choose from: {', '.join(ENTITIES)})")
    conn = connect_warehouse(warehouse_path)
    try:
        create_raw_tables(conn)
        _create_region_alias(conn)
        clock = f"TIMESTAMP '{ingest_clock():%Y-%m-%d %H:%M:%S}'"
        files = conn.execute(
            """SELECT _file_id, entity, any_value(file_path) FROM raw.quarantine
               WHERE replayable AND raw_values IS NOT NULL AND (entity = ? OR ? IS NULL)
               GROUP BY _file_id, entity""",
            [entity, entity],
        ).fetchall()
        files.sort(key=lambda f: (ENTITY_ORDER.index(f[1]), f[2], f[0]))
        results = []
        for file_id, name, path in files:
            result = ReplayResult(path, name)
            with _transaction(conn):
                _replay_file(conn, file_id, ENTITIES[name], clock, result)
            results.append(result)
            if on_result:
                on_result(result)
        for file_id, name, path in _files_without_values(conn, entity):
            result = ReplayResult(path, name)
            if _replay_from_file(conn, file_id, ENTITIES[name], Path(path), result):
                results.append(result)
                if on_result:
                    on_result(result)
        if lake_path is not None:
            sync_lake(conn, Path(lake_path))
        conn.execute("CHECKPOINT")
        return results
    finally:
        conn.close()


def _replay_file(conn, file_id: str, entity, clock: str, result: ReplayResult) -> None:
    names = [c.name for c in entity.columns]
    values = ", ".join(
        f"json_extract_string(raw_values, {_path(n)}) AS {quote_ident(n)}" for n in names
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE src AS
            SELECT line AS _line, {values} FROM raw.quarantine
            WHERE _file_id = ? AND entity = ? AND replayable AND raw_values IS NOT NULL""",
        [file_id, entity.name],
    )
    source_types = dict.fromkeys(names, "VARCHAR")
    for statement in region_map_sql(entity, "src", source_types):
        conn.execute(statement)
    conn.execute(stage_sql(entity, "src", source_types, (), clock))
    if entity.name == "orders":
        add_carried_columns(conn, entity.name, "staged", source_types)
        flag_order_conflicts(conn, entity)
    # Rows still broken keep today's reason for being there.
    conn.execute(
        f"""UPDATE raw.quarantine q
            SET column_name = st._reason_column,
                reason = replace(st._reason, '{VALUE_PLACEHOLDER}', '''' || left(coalesce(
                    json_extract_string(q.raw_values, '$.' || st._reason_column), ''), 60)
                    || '''')
            FROM staged st
            WHERE q._file_id = ? AND q.entity = ? AND q.replayable AND q.line = st._line
              AND st._reason IS NOT NULL""",
        [file_id, entity.name],
    )
    _merge_healed(conn, entity, file_id, "replayable", result)


@contextlib.contextmanager
def _transaction(conn) -> Iterator[None]:
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _merge_healed(conn, entity, file_id: str, rows: str, result: ReplayResult) -> None:
    """Merge ``staged``'s good rows as ingest does, take them out of the quarantine (its rows
    matching the SQL condition ``rows``), and move their counts in the file's ledger row."""
    if entity.name == "orders":
        [counts] = merge_orders(conn, entity, file_id)
    else:
        [counts] = merge_by_key(conn, entity, file_id, stored_columns(conn, entity))
    passed = conn.execute("SELECT count(*) FROM staged WHERE _reason IS NULL").fetchone()[0]
    conn.execute(
        f"""DELETE FROM raw.quarantine
            WHERE _file_id = ? AND entity = ? AND {rows}
              AND line IN (SELECT _line FROM staged WHERE _reason IS NULL)""",
        [file_id, entity.name],
    )
    conn.execute(
        """UPDATE raw.file_ledger
           SET quarantined = quarantined - ?, loaded = loaded + ?, updated = updated + ?,
               duplicate = duplicate + ?
           WHERE _file_id = ? AND entity = ?""",
        [passed, counts.loaded, counts.updated, counts.duplicate, file_id, entity.name],
    )
    result.replayed = conn.execute("SELECT count(*) FROM staged").fetchone()[0]
    result.loaded, result.updated, result.duplicate = (
        counts.loaded,
        counts.updated,
        counts.duplicate,
    )
    result.still_quarantined = result.replayed - passed


def _files_without_values(conn, entity: str | None) -> list[tuple[str, str, str]]:
    """Canonical files with rows quarantined before values were kept (``replayable`` is NULL
    only for those: this version writes it for every row)."""
    files = conn.execute(
        """SELECT q._file_id, q.entity, any_value(q.file_path) FROM raw.quarantine q
           JOIN raw.file_ledger l ON l._file_id = q._file_id AND l.entity = q.entity
           WHERE q.replayable IS NULL AND l.source = 'canonical' AND (q.entity = ? OR ? IS NULL)
           GROUP BY q._file_id, q.entity""",
        [entity, entity],
    ).fetchall()
    return sorted(files, key=lambda f: (ENTITY_ORDER.index(f[1]), f[2], f[0]))


def _replay_from_file(conn, file_id: str, entity, path: Path, result: ReplayResult) -> bool:
    """Read a file again (same bytes only) and replay its quarantined lines that have no
    stored values; False when the file is gone or changed."""
    try:
        if not path.is_file() or reading.content_hash(path) != file_id:
            return False
    except OSError:
        return False
    table = adapters.canonical_table(entity.name)
    # The warehouse's folder holds the secret that keys buyer contacts (secrets.py).
    (database,) = conn.execute(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    ).fetchone()
    options = adapters.AdapterOptions("-", home=Path(database).parent if database else None)
    run = IngestRun("canonical", None, options, ingest_clock())
    with tempfile.TemporaryDirectory(prefix="cardpulse-replay-") as workdir:
        try:
            source = _read_source(
                conn, path, None, Path(workdir), FileResult(str(path), None), table, run
            )
        except UnreadableFile:
            _drop_staging(conn)
            return False
        try:
            with _transaction(conn):
                _stage_file(conn, table, entity, run, source)
                conn.execute(
                    """DELETE FROM staged WHERE _line NOT IN (SELECT line FROM raw.quarantine
                       WHERE _file_id = ? AND entity = ? AND replayable IS NULL)""",
                    [file_id, entity.name],
                )
                _merge_healed(conn, entity, file_id, "replayable IS NULL", result)
        finally:
            _drop_staging(conn)
    return True


def _path(name: str) -> str:
    return "'$.\"" + name.replace("'", "''") + "\"'"
