"""Loading landing files into the raw layer: one file, one transaction, one summary.

``ingest_paths`` is the entry point for the command and for Dagster. For each file:

1. its SHA-256 is looked up in ``raw.file_ledger``: the same bytes again change nothing;
2. it is decoded and staged in DuckDB (``reading``), mapped from a 发卡 system's schema when
   ``source`` says so (``adapters``), typed and checked (``validation``);
3. broken rows go to ``raw.quarantine`` with file, line, column, reason and raw text, good
   rows are merged (``upsert``), and the ledger row is written, all in one transaction, so a
   crash (even SIGKILL) mid-file leaves nothing of it and the rerun loads it whole.

A file that cannot be read fails alone (its ``FileResult.error`` is one line); the others load.
"""

from __future__ import annotations

import codecs
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines.errors import CardPulseError
from pipelines.ingest import adapters, lake, mysqldump, partner, reading, secrets, spreadsheet
from pipelines.ingest.entities import ENTITIES, ENTITY_ORDER, entity_for_file_name
from pipelines.ingest.reading import LINE_BITS, UnreadableFile, quote_ident
from pipelines.ingest.references import InferredMembers, inferred_in_files, inferred_members
from pipelines.ingest.region_codes import UNKNOWN_REGION, region_aliases
from pipelines.ingest.schema import add_carried_columns, create_raw_tables
from pipelines.ingest.upsert import (
    Lineage,
    flag_order_conflicts,
    merge_by_key,
    merge_orders,
    stored_columns,
)
from pipelines.ingest.validation import VALUE_PLACEHOLDER, region_map_sql, stage_sql

SOURCES = ("canonical", "dujiaoka", "acg-faka", "dujiao-next")
DEFAULT_MERCHANT_ID = "dujiaoka"
# The merchant id of a single-shop source's orders when --merchant-id is not given.
DEFAULT_MERCHANT_IDS = {"dujiao-next": "dujiao-next"}

# Quarantined raw text is cut here: the reason and line are what matter, not a 1 MB field.
MAX_RAW_TEXT = 2000

# DuckDB may use this much memory (plus spill to disk): ingest stays well under 6 GiB.
MEMORY_LIMIT = "3GB"
# Up to this many rows of a file broken by a rule, the quarantine reads them out of ``src``
# by their lines, listed (``_write_quarantine``).
LISTED_BAD_LINES = 20_000

CHECKPOINT_THRESHOLD = "8GB"

# Consecutive canonical orders files staged together (``_batches``): at most this many
# files, and Parquet rows (their typed rows, about 0.5 KB each, are held in memory while they
# load) or CSV text (held as text, then typed: about three times its size in memory).
BATCH_FILES = 8
BATCH_ROWS = 3_000_000
BATCH_TEXT_BYTES = 256 << 20

# A file quarantining more than this share of its rows gets a warning line.
WARN_QUARANTINE_PCT = 5.0


class TooManyQuarantined(UnreadableFile):
    """More of the file's rows were quarantined than ``--max-quarantine-pct`` allows."""


@dataclass
class FileResult:
    """What happened to one file. rows_read = loaded + updated + duplicate + quarantined."""

    path: str
    entity: str | None
    rows_read: int = 0
    loaded: int = 0
    updated: int = 0
    duplicate: int = 0
    quarantined: int = 0
    error: str | None = None
    already_loaded: bool = False
    unknown_region: int = 0
    source_table: str | None = None
    file_id: str | None = None
    normalised: int = 0
    encoding: str | None = None
    version: int = 1
    inferred: list[InferredMembers] = field(default_factory=list)
    warning: str | None = None
    # What reading the file found worth saying (a workbook's sheet, digits Excel lost).
    read_notes: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        """The one line the command prints for this file."""
        name = Path(self.path).name
        what = self.entity or "?"
        if self.source_table and self.source_table != self.entity:
            what = f"{self.source_table} -> {self.entity}"
        if self.error:
            return f"{name} ({what}): FAILED: {self.error}"
        if self.already_loaded:
            return f"{name} ({what}): already loaded (same content), nothing changed"
        if self.version > 1:
            what += f", version {self.version}"
        line = (
            f"{name} ({what}): {self.rows_read} rows read, {self.loaded} loaded, "
            f"{self.updated} updated, {self.duplicate} duplicate, "
            f"{self.quarantined} quarantined"
        )
        notes = []
        if self.unknown_region:
            notes.append(f"{self.unknown_region} with region UNKNOWN")
        if self.normalised:
            notes.append(f"{self.normalised} value{'s' if self.normalised > 1 else ''} normalised")
        if self.encoding and self.encoding.replace("_", "-").lower() not in ("utf-8", "utf8"):
            notes.append(f"read as {self.encoding.upper()}")
        notes.extend(self.read_notes)
        notes.extend(members.note() for members in self.inferred)
        if notes:
            line += " (" + "; ".join(notes) + ")"
        return line


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    table: adapters.SourceTable | None
    problem: str | None = None
    # The files holding the rows its table reads with it (``partner.py``), per partner table.
    partners: tuple[tuple[str, Path], ...] = ()
    # Named on the command line (not found in a folder or a dump).
    named: bool = False


def _source_tables(source: str) -> list[adapters.SourceTable]:
    if source == "canonical":
        return [adapters.canonical_table(name) for name in ENTITY_ORDER]
    return adapters.ADAPTERS[source]


def _tables_for(path: Path, source: str) -> list[adapters.SourceTable]:
    """The tables a file holds: one, or none; a card-key table feeds two entities."""
    if source == "canonical":
        entity = entity_for_file_name(path.name)
        return [adapters.canonical_table(entity)] if entity else []
    return adapters.tables_for_file_name(source, path.name)


def plan_files(paths: Iterable[str | Path], source: str) -> list[PlannedFile]:
    """The files to load, in load order.

    1. A missing path is fatal (CardPulseError) before anything is loaded.
    2. A folder contributes its top-level files with a known prefix and format (sub-folders
       such as ``_truth/`` are not read); a file named explicitly must have both.
    """
    planned: list[PlannedFile] = []
    for given in paths:
        path = Path(given).expanduser()
        if not path.exists():
            raise CardPulseError(f"no such file or folder: {given}")
        if path.is_dir():
            found = []
            for child in sorted(path.iterdir()):
                if not child.is_file() or child.name.startswith((".", "_")):
                    continue
                if source != "canonical" and mysqldump.is_sql_file(child):
                    found.extend(_dump_tables(child, source, named=False))
                    continue
                tables = _tables_for(child, source)
                if reading.file_format(child):
                    found.extend(PlannedFile(child.resolve(), table) for table in tables)
                elif tables and reading.holds_unread_data(child):
                    # A table's data in a form ingest does not read (orders_2025-03.xls, a
                    # .zip) is reported, never skipped: skipping it would lose its rows unseen.
                    message = reading.unknown_type_message(child)
                    found.append(PlannedFile(child.resolve(), tables[0], message))
            planned.extend(found)
            continue
        if source != "canonical" and mysqldump.is_sql_file(path):
            planned.extend(_dump_tables(path, source, named=True))
            continue
        tables = _tables_for(path, source)
        if reading.file_format(path) is None:
            planned.append(
                PlannedFile(
                    path.resolve(),
                    tables[0] if tables else None,
                    reading.unknown_type_message(path),
                )
            )
        elif not tables:
            names = ", ".join(t.name for t in _source_tables(source))
            planned.append(
                PlannedFile(
                    path.resolve(),
                    None,
                    "cannot tell the table from the "
                    f"file name (it should start with one of: {names})",
                )
            )
        else:
            planned.extend(PlannedFile(path.resolve(), t, named=True) for t in tables)
    planned = _pair_partners(planned, source)
    order = {t.name: i for i, t in enumerate(_source_tables(source))}
    planned.sort(key=lambda p: (order.get(p.table.name, 99) if p.table else 99, p.path.name))
    return planned


def _pair_partners(planned: list[PlannedFile], source: str) -> list[PlannedFile]:
    """Give each file whose table reads partner tables their files (a required one missing:
    the file fails with one line); a partner-only file is dropped when some file reads it,
    else it fails with one line saying what it needs (a lookup table found in a folder or a
    dump with nothing to look up is left alone, as other tables of the system are)."""
    if source == "canonical":
        return planned
    tables = {t.name: t for t in adapters.ADAPTERS[source]}
    paired: list[PlannedFile] = []
    used: set[Path] = set()
    for item in planned:
        specs = item.table.partners if item.table and not item.problem else ()
        found_files: list[tuple[str, Path]] = []
        problem = None
        for spec in specs:
            found = partner.partner_file(item.path, item.table, tables[spec.table])
            if found is not None:
                found_files.append((spec.table, found.resolve()))
            elif not spec.optional:
                problem = partner.missing_partner_problem(item.path, item.table, tables[spec.table])
                break
        if problem:
            paired.append(PlannedFile(item.path, item.table, problem))
            continue
        used.update(path for _, path in found_files)
        paired.append(
            PlannedFile(item.path, item.table, item.problem, tuple(found_files), item.named)
        )
    kept = []
    for item in paired:
        if item.table is None or not item.table.partner_only or item.problem:
            kept.append(item)
        elif item.path not in used:
            specs = [(t, s) for t in tables.values() for s in t.partners]
            readers = [t.name for t, s in specs if s.table == item.table.name]
            lookup = all(s.optional for _, s in specs if s.table == item.table.name)
            if lookup and not item.named:
                continue  # a lookup table in a folder or dump, nothing to look up: left alone
            problem = (
                f"{source} {item.table.name} load only through the rows that need them: "
                f"ingest the {' / '.join(readers)} file (this file is found beside it) "
                "or the folder"
            )
            kept.append(PlannedFile(item.path, item.table, problem))
    return kept


def _dump_tables(path: Path, source: str, named: bool) -> list[PlannedFile]:
    """A .sql file: one planned file per table of ``source`` its INSERTs fill (a ``--tab``
    table definition beside its .txt is read with the .txt, not on its own)."""
    try:
        tables, problem = mysqldump.plan_dump(path, source, named)
    except UnreadableFile as error:
        tables, problem = [], str(error)
    if problem:
        return [PlannedFile(path.resolve(), None, problem)]
    return [PlannedFile(path.resolve(), table) for table in tables]


def connect_warehouse(warehouse_path: str | Path):
    """Open the warehouse for writing; another process holding it is one clear line."""
    import duckdb

    path = Path(warehouse_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path))
    except duckdb.IOException as error:
        message = str(error)
        if "lock" in message.lower():
            pid = re.search(r"PID (\d+)", message)
            holder = f" (pid {pid.group(1)})" if pid else ""
            raise CardPulseError(
                f"warehouse {path} is in use by another process{holder}; stop it or wait"
            ) from None
        raise CardPulseError(f"cannot open warehouse {path}: {message.splitlines()[0]}") from None
    conn.execute("SET enable_progress_bar = false")
    conn.execute("SET TimeZone = 'Asia/Shanghai'")
    conn.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    # One checkpoint at the end of the run, not one each time the log passes 16 MB: with
    # DuckDB's default every few files' commits rewrote the table (18 of 39 s on the medium
    # export). A kill mid-run still leaves only whole files (the log is replayed on open).
    conn.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
    return conn


def _create_region_alias(conn) -> None:
    rows = list(region_aliases().items())
    conn.execute("CREATE OR REPLACE TEMP TABLE region_alias (alias_key VARCHAR, code VARCHAR)")
    conn.executemany("INSERT INTO region_alias VALUES (?, ?)", rows)


def ingest_paths(
    warehouse_path: str | Path,
    paths: Iterable[str | Path],
    source: str = "canonical",
    encoding: str | None = None,
    merchant_id: str | None = None,
    on_result: Callable[[FileResult], None] | None = None,
    max_quarantine_pct: float | None = None,
    extended_checks: bool = True,
    lake_path: str | Path | None = None,
) -> list[FileResult]:
    """Load files and folders into the warehouse's raw tables; one FileResult per file.

    1. Arguments are checked first (unknown source or encoding, missing path, a bad
       ``max_quarantine_pct``: CardPulseError).
    2. The warehouse is opened for writing (held by another process: CardPulseError).
    3. Each file loads in its own transaction (consecutive orders files may load together,
       ``_batches``, with the results of loading them one by one); a file that fails has
       ``error`` set and leaves nothing behind, and the next file still loads. A file
       quarantining more than ``max_quarantine_pct`` percent of its rows fails the same way.
       ``on_result`` (if given) hears about each file as soon as it is done.

    4. With ``lake_path`` (``engine.lake``), each loaded file's rows are also written there as
       Hive-partitioned Parquet (``lake.py``), and the lake is synced with the ledger at the end.

    ``extended_checks=False`` is for ``bench/ingest.py`` alone: it leaves out the checks
    against hostile exports to measure what they cost.
    """
    if max_quarantine_pct is not None and not 0 <= max_quarantine_pct <= 100:
        raise CardPulseError(
            f"--max-quarantine-pct must be between 0 and 100, not {max_quarantine_pct:g}"
        )
    if source not in SOURCES:
        raise CardPulseError(f"unknown source '{source}' (choose from: {', '.join(SOURCES)})")
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise CardPulseError(f"unknown encoding '{encoding}'") from None
    planned = plan_files(paths, source)
    conn = connect_warehouse(warehouse_path)
    try:
        create_raw_tables(conn)
        _create_region_alias(conn)
        options = adapters.AdapterOptions(
            merchant_id=merchant_id or DEFAULT_MERCHANT_IDS.get(source, DEFAULT_MERCHANT_ID),
            home=Path(warehouse_path).parent,
        )
        run = IngestRun(
            source,
            encoding,
            options,
            ingest_clock(),
            max_quarantine_pct,
            extended_checks,
            Path(lake_path) if lake_path else None,
        )
        results = []
        for group in _batches(conn, planned):
            if len(group) > 1:
                done = _ingest_batch(conn, group, run)
            elif group[0].problem:
                item = group[0]
                done = [
                    FileResult(
                        str(item.path),
                        item.table.entity if item.table else None,
                        error=item.problem,
                    )
                ]
            else:
                item = group[0]
                done = [_ingest_file(conn, item.path, item.table, run, item.partners)]
            for result in done:
                results.append(result)
                if on_result:
                    on_result(result)
        if run.lake is not None:
            lake.sync_lake(conn, run.lake)
        conn.execute("CHECKPOINT")
        return results
    finally:
        conn.close()


@dataclass(frozen=True)
class IngestRun:
    """What every file of one ingest run shares."""

    source: str
    encoding: str | None
    options: adapters.AdapterOptions
    clock: datetime
    max_quarantine_pct: float | None = None
    extended_checks: bool = True
    lake: Path | None = None

    @property
    def clock_sql(self) -> str:
        return f"TIMESTAMP '{self.clock:%Y-%m-%d %H:%M:%S}'"


def ingest_clock() -> datetime:
    """The ingest run's clock: now, as Shanghai wall time (how timestamps are stored)."""
    return datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)


def _ingest_file(
    conn,
    path: Path,
    table: adapters.SourceTable,
    run: IngestRun,
    partners: tuple[tuple[str, Path], ...] = (),
) -> FileResult:
    import duckdb

    result = FileResult(str(path), table.entity, source_table=table.name)
    if not _identify(conn, result, path, partners):
        return result
    with tempfile.TemporaryDirectory(prefix="cardpulse-ingest-") as workdir:
        # Read before the transaction: a parser that gives up (and is retried another way)
        # must not abort it. Reading writes only this connection's temp tables.
        try:
            source = _read_source(
                conn, path, run.encoding, Path(workdir), result, table, run, partners
            )
        except (UnreadableFile, duckdb.Error) as error:
            _drop_staging(conn)
            _clear_counts(result)
            result.error = (
                str(error) if isinstance(error, UnreadableFile) else _one_line(str(error))
            )
            return result
        conn.execute("BEGIN TRANSACTION")
        try:
            _load_in_transaction(conn, [(path, result)], table, run, source)
            if run.lake is not None:
                lake.export_file(conn, run.lake, table.entity, result.file_id)
            conn.execute("COMMIT")
            _drop_staging(conn)
        except UnreadableFile as error:
            _roll_back(conn, run, table.entity, result.file_id)
            _clear_counts(result)
            result.error = str(error)
        except duckdb.Error as error:
            _roll_back(conn, run, table.entity, result.file_id)
            _clear_counts(result)
            result.error = _one_line(str(error))
        except BaseException:
            conn.execute("ROLLBACK")
            if run.lake is not None:
                lake.remove_file(run.lake, table.entity, result.file_id)
            raise
    if run.lake is not None and not result.error:
        lake.write_marker(conn, run.lake, table.entity, result.file_id)
    return result


def _batches(conn, planned: list[PlannedFile]) -> Iterator[list[PlannedFile]]:
    """The planned files in load order, in groups: consecutive canonical orders files of one
    format, Parquet or CSV, are staged together (up to ``BATCH_FILES`` files and about
    ``BATCH_ROWS`` Parquet rows or ``BATCH_TEXT_BYTES`` of CSV text), every other file alone.

    DuckDB runs a statement on one thread per row group (122,880 rows of a table, one group of
    a Parquet file): a monthly export of 80 k rows staged alone keeps one core busy, several
    staged together keep all of them busy. A Parquet group passes ``BATCH_ROWS`` (never twice
    it) to hold a multiple of the threads' count of row groups: three one-group files on two
    threads leave one thread idle for a third of the read (measured in docs/ingest.md).
    """
    threads = max(1, int(conn.execute("SELECT current_setting('threads')").fetchone()[0]))
    group: list[PlannedFile] = []
    kind = None
    size = row_groups = 0
    for item in planned:
        item_kind = _batch_kind(item)
        if group and item_kind != kind:
            yield group
            group, size, row_groups = [], 0, 0
        if item_kind is None:
            yield [item]
            continue
        if item_kind == "parquet":
            item_size, item_groups = reading.parquet_size(conn, item.path)
            full = size + item_size > BATCH_ROWS and (
                row_groups % threads == 0 or size + item_size > 2 * BATCH_ROWS
            )
        else:
            item_size, item_groups = reading.text_size(item.path), 0
            full = size + item_size > BATCH_TEXT_BYTES
        if group and (len(group) >= BATCH_FILES or full):
            yield group
            group, size, row_groups = [], 0, 0
        group.append(item)
        kind = item_kind
        size += item_size
        row_groups += item_groups
    if group:
        yield group


def _batch_kind(item: PlannedFile) -> str | None:
    """``parquet`` or ``csv`` for a canonical orders file that may be staged with others of
    its format, else None."""
    if item.problem or item.table is None or item.partners or item.table.mapping is not None:
        return None
    if item.table.entity != "orders":
        return None
    found = reading.file_format(item.path)
    if found and found.fmt == "parquet" and not found.gzipped:
        return "parquet"
    return "csv" if found and found.fmt == "csv" else None


def _ingest_batch(conn, items: list[PlannedFile], run: IngestRun) -> list[FileResult]:
    """Load orders files of one format and layout in one transaction, staged together; the
    results are those of loading them one by one. When anything goes wrong (a file unlike the
    others, a read or load error, too much quarantined), the batch is rolled back and each of
    its files loads alone, so each failure is its own file's, with its own message."""
    with tempfile.TemporaryDirectory(prefix="cardpulse-ingest-") as workdir:
        return _ingest_batch_in(conn, items, run, Path(workdir))


def _ingest_batch_in(
    conn, items: list[PlannedFile], run: IngestRun, workdir: Path
) -> list[FileResult]:
    import duckdb

    table = items[0].table
    results = [FileResult(str(i.path), table.entity, source_table=table.name) for i in items]
    pending: list[tuple[Path, FileResult]] = []
    for item, result in zip(items, results, strict=True):
        if _identify(conn, result, item.path):
            pending.append((item.path, result))
    file_ids = [result.file_id for _, result in pending]
    if len(pending) < 2 or len(set(file_ids)) < len(file_ids):
        return _one_by_one(conn, items, results, pending, run)
    fmt = _batch_kind(items[0])
    try:
        if fmt == "parquet":
            names = reading.load_parquet(conn, [path for path, _ in pending])
        else:
            names = _read_text_batch(conn, pending, run, workdir)
        names = secrets.protect_canonical(conn, fmt, names, run.options.home)
    except (UnreadableFile, duckdb.Error):
        _drop_staging(conn)
        return _one_by_one(conn, items, results, pending, run)
    conn.execute("BEGIN TRANSACTION")
    try:
        _load_in_transaction(conn, pending, table, run, (fmt, names))
        if run.lake is not None:
            for _, result in pending:
                lake.export_file(conn, run.lake, table.entity, result.file_id)
        conn.execute("COMMIT")
        _drop_staging(conn)
    except (UnreadableFile, duckdb.Error):
        conn.execute("ROLLBACK")
        _drop_staging(conn)
        if run.lake is not None:
            for _, result in pending:
                lake.remove_file(run.lake, table.entity, result.file_id)
        # Each pending file's result is replaced by the one of loading it alone.
        return _one_by_one(conn, items, results, pending, run)
    except BaseException:
        conn.execute("ROLLBACK")
        if run.lake is not None:
            for _, result in pending:
                lake.remove_file(run.lake, table.entity, result.file_id)
        raise
    if run.lake is not None:
        for _, result in pending:
            lake.write_marker(conn, run.lake, table.entity, result.file_id)
    return results


def _read_text_batch(
    conn, pending: list[tuple[Path, FileResult]], run: IngestRun, workdir: Path
) -> list[str]:
    """Read each CSV file of a batch as it is read alone (encoding, every record a row or a
    rejected line), then stage them together as ``src`` + ``parse_rejects``: a row's
    ``_line`` is ``file index << LINE_BITS | line``, as for Parquet batches. Files with other
    columns than the first raise UnreadableFile (the batch then loads one by one)."""
    names: list[str] | None = None
    for index, (path, result) in enumerate(pending):
        folder = workdir / str(index)
        folder.mkdir()
        fmt, read = _read_file(conn, path, run.encoding, folder, result)
        if fmt != "csv" or (names is not None and read != names):
            raise UnreadableFile("the files staged together have different columns")
        names = read
        line = f"_line::BIGINT + ({index}::BIGINT << {LINE_BITS})"
        for source, target in (("src", "batch_rows"), ("parse_rejects", "batch_rejects")):
            rows = f"SELECT * REPLACE ({line} AS _line) FROM {source}"
            conn.execute(
                f"CREATE OR REPLACE TEMP TABLE {target} AS {rows}"
                if index == 0
                else f"INSERT INTO {target} {rows}"
            )
        # The next file is read as if alone: its reader creates its tables and views anew.
        _drop_staging(conn, keep=("batch_rows", "batch_rejects"))
    conn.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM batch_rows")
    conn.execute("CREATE OR REPLACE TEMP TABLE parse_rejects AS SELECT * FROM batch_rejects")
    return names


def _one_by_one(
    conn,
    items: list[PlannedFile],
    results: list[FileResult],
    pending: list[tuple[Path, FileResult]],
    run: IngestRun,
) -> list[FileResult]:
    """Load a batch's pending files alone, each in its own transaction, in order."""
    waiting = {id(result) for _, result in pending}
    return [
        _ingest_file(conn, item.path, item.table, run) if id(result) in waiting else result
        for item, result in zip(items, results, strict=True)
    ]


def _identify(
    conn, result: FileResult, path: Path, partners: tuple[tuple[str, Path], ...] = ()
) -> bool:
    """Set the file's id (the hash of its bytes and its partners'); False when it is done
    already: unreadable (``error``) or in the ledger (``already_loaded``)."""
    try:
        result.file_id = partner.combined_file_id(path, [p for _, p in partners])
    except OSError as error:
        result.error = f"cannot read file: {error.strerror or error}"
        return False
    seen = conn.execute(
        "SELECT 1 FROM raw.file_ledger WHERE _file_id = ? AND entity = ?",
        [result.file_id, result.entity],
    ).fetchone()
    result.already_loaded = bool(seen)
    return not seen


def _roll_back(conn, run: IngestRun, entity: str, file_id: str) -> None:
    """Undo a file: its transaction, its temp tables and whatever it wrote to the lake."""
    conn.execute("ROLLBACK")
    _drop_staging(conn)
    if run.lake is not None:
        lake.remove_file(run.lake, entity, file_id)


def _drop_staging(conn, keep: tuple[str, ...] = ()) -> None:
    """Drop this file's temp tables and views (a rollback drops them by itself), but for the
    tables named in ``keep`` (partner rows read before the file itself)."""
    for (name,) in conn.execute(
        "SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal"
    ).fetchall():
        conn.execute(f"DROP VIEW IF EXISTS temp.main.{quote_ident(name)}")
    for (name,) in conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND table_name <> 'region_alias'"
    ).fetchall():
        if name not in keep:
            conn.execute(f"DROP TABLE IF EXISTS temp.main.{quote_ident(name)}")


def _clear_counts(result: FileResult) -> None:
    result.rows_read = result.loaded = result.updated = result.duplicate = 0
    result.quarantined = result.unknown_region = 0


def _one_line(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    return first[:300]


def _read_source(
    conn,
    path: Path,
    encoding: str | None,
    workdir: Path,
    result: FileResult,
    table: adapters.SourceTable | None = None,
    run: IngestRun | None = None,
    partners: tuple[tuple[str, Path], ...] = (),
) -> tuple[str, list[str]]:
    """Stage the file as ``src`` + ``parse_rejects``; returns (format, column names).

    A 发卡 system's table may also come as mysqldump output (``mysqldump.py``); it keeps only
    the columns its mapping reads, personal ones as keyed hashes (``secrets.py``). A table
    read with a partner table has that table's rows joined in (``partner.py``).
    """
    if table is not None and table.mapping is not None:
        home = run.options.home if run else None
        files = dict(partners)
        read: list[tuple[adapters.Partner, list[str]]] = []
        for spec in table.partners:
            if spec.table not in files:
                continue  # an optional lookup without its file
            partner_table = next(t for t in adapters.ADAPTERS[run.source] if t.name == spec.table)
            partner_names = _read_source_table(
                conn, files[spec.table], partner_table, encoding, workdir, result, home
            )
            stashed = partner.stash_partner(conn, partner_table, partner_names, spec)
            if stashed is not None:
                read.append((spec, stashed))
            # the next read starts clean: readers create their temp tables and views anew
            _drop_staging(conn, keep=tuple(partner.stash_name(s) for s, _ in read))
        names = _read_source_table(conn, path, table, encoding, workdir, result, home)
        for spec, partner_names in read:
            names = partner.join_partner(conn, names, partner_names, spec)
        return "csv", names
    fmt, names = _read_file(conn, path, encoding, workdir, result)
    if table is not None and table.entity == "orders":
        home = run.options.home if run else None
        names = secrets.protect_canonical(conn, fmt, names, home)
    return fmt, names


def _read_source_table(
    conn, path: Path, table, encoding: str | None, workdir: Path, result: FileResult, home
) -> list[str]:
    """One table of a source system as ``src``: only its kept columns, personal ones keyed."""
    names = mysqldump.read_export(conn, path, table, workdir)
    if names is None:
        names = _read_file(conn, path, encoding, workdir, result)[1]
    return secrets.protect_source(conn, table, names, home)


def _read_file(
    conn, path: Path, encoding: str | None, workdir: Path, result: FileResult
) -> tuple[str, list[str]]:
    found = reading.file_format(path)
    if found.fmt in ("parquet", "xlsx") and found.gzipped:
        plain = workdir / f"decompressed.{found.fmt}"
        with plain.open("wb") as out:
            for chunk in reading._read_all_chunks(path, True):
                out.write(chunk)
        path = plain
    if found.fmt == "parquet":
        return "parquet", reading.load_parquet(conn, path)
    if found.fmt == "xlsx":
        converted = spreadsheet.xlsx_to_csv(path, workdir)
        result.read_notes = converted.notes()
        text = reading.prepare_text(converted.path, False, "utf-8", workdir)
        return "csv", reading.load_csv(conn, text, rejected_as="unreadable sheet row")
    text = reading.prepare_text(path, found.gzipped, encoding, workdir)
    result.encoding = text.encoding
    if found.fmt == "jsonl":
        return "jsonl", reading.load_jsonl(conn, text)
    return "csv", reading.load_csv(conn, text)


def _load_in_transaction(
    conn,
    files: list[tuple[Path, FileResult]],
    table: adapters.SourceTable,
    run: IngestRun,
    source: tuple[str, list[str]],
) -> None:
    """1. Check the read file (or the files staged together), 2. write its quarantine,
    3. merge its good rows, 4. record it in the ledger (the caller commits)."""
    entity = ENTITIES[table.entity]
    lineage = Lineage.of([result.file_id for _, result in files])
    fmt, names, relation, source_types = _stage_file(conn, table, entity, run, source)
    _write_quarantine(
        conn,
        lineage,
        [path for path, _ in files],
        entity,
        fmt,
        names,
        relation,
        source_types,
        table,
    )
    index = lineage.file_index_sql("_line")
    rejected = dict(
        conn.execute(f"SELECT {index}, count(*) FROM parse_rejects GROUP BY ALL").fetchall()
    )
    staged = {
        row[0]: row[1:]
        for row in conn.execute(
            f"""SELECT {index},
                       coalesce(sum(_rows) FILTER (WHERE _reason IS NOT NULL), 0),
                       coalesce(sum(_rows) FILTER (WHERE _reason IS NULL), 0),
                       {_unknown_region_sql(entity)},
                       coalesce(sum(_normalised) FILTER (WHERE _reason IS NULL), 0)
                FROM staged GROUP BY ALL"""
        ).fetchall()
    }
    inferred = (
        inferred_in_files(conn, entity.name, index, len(files)) if run.extended_checks else None
    )
    for i, (_, result) in enumerate(files):
        bad, good, unknown, normalised = staged.get(i, (0, 0, 0, 0))
        result.quarantined = int(rejected.get(i, 0) + bad)
        result.rows_read = int(rejected.get(i, 0) + bad + good)
        result.unknown_region = int(unknown)
        result.normalised = int(normalised)
        _judge_quarantine_share(conn, result, run.max_quarantine_pct)
        if inferred is not None:
            result.inferred = inferred[i]

    if entity.name == "orders":
        counts = merge_orders(conn, entity, lineage)
    else:
        counts = merge_by_key(conn, entity, lineage, stored_columns(conn, entity))

    for (path, result), merged in zip(files, counts, strict=True):
        result.loaded, result.updated = merged.loaded, merged.updated
        result.duplicate = merged.duplicate
        _record_in_ledger(conn, path, entity, run, result)


def _record_in_ledger(conn, path: Path, entity, run: IngestRun, result: FileResult) -> None:
    """The file's ledger row: its counts, and its version (files of this name before it)."""
    result.version = (
        1
        + conn.execute(
            """SELECT count(*) FROM raw.file_ledger
           WHERE entity = ? AND parse_filename(file_path) = ?""",
            [entity.name, path.name],
        ).fetchone()[0]
    )
    conn.execute(
        """INSERT INTO raw.file_ledger (_file_id, file_path, entity, source, rows_read, loaded,
               updated, duplicate, quarantined, loaded_at, version)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, now()::TIMESTAMP, ?)""",
        [
            result.file_id,
            str(path),
            entity.name,
            run.source,
            result.rows_read,
            result.loaded,
            result.updated,
            result.duplicate,
            result.quarantined,
            result.version,
        ],
    )


def _judge_quarantine_share(conn, result: FileResult, max_pct: float | None) -> None:
    """A warning above ``WARN_QUARANTINE_PCT``; above ``max_pct``, the file fails."""
    if not result.rows_read or not result.quarantined:
        return
    share = 100.0 * result.quarantined / result.rows_read
    if share <= min(WARN_QUARANTINE_PCT, max_pct if max_pct is not None else 100.0):
        return
    reason, count = top_quarantine_reason(conn, result.file_id)
    message = (
        f"{result.quarantined} of {result.rows_read} rows ({share:.1f}%) quarantined; "
        f"most often ({count}): {reason}"
    )
    if max_pct is not None and share > max_pct:
        raise TooManyQuarantined(f"{message}; above --max-quarantine-pct {max_pct:g}")
    result.warning = message


# A reason without the value it quotes: rows quarantined by one rule share it.
REASON_SHAPE_SQL = "regexp_replace({}, $$'[^']*'$$, $$'...'$$, 'g')"


def top_quarantine_reason(conn, file_id: str) -> tuple[str, int]:
    """The most common reason among a file's quarantined rows (reasons that differ only by the
    value they quote count as one), with one example."""
    return conn.execute(
        f"""SELECT any_value(reason), count(*) AS n FROM raw.quarantine WHERE _file_id = ?
            GROUP BY {REASON_SHAPE_SQL.format("reason")} ORDER BY n DESC, 1 LIMIT 1""",
        [file_id],
    ).fetchone()


def _stage_file(
    conn, table: adapters.SourceTable, entity, run: IngestRun, source: tuple[str, list[str]]
):
    """Build ``staged`` (typed rows with their first broken rule) from the read file.

    Returns (format, column names, relation staged from, that relation's column types).
    """
    fmt, names = source
    missing = [c for c in table.required_columns(entity) if c not in names]
    if missing:
        shown = ", ".join(n for n in names if n)[:200]
        raise UnreadableFile(
            f"missing required column(s): {', '.join(missing)} (header has: {shown})"
        )
    relation = "src"
    problems: list[tuple[str, str, str]] = []
    if table.mapping is not None:
        mapped = table.mapping(names, run.options)
        conn.execute(f"CREATE OR REPLACE TEMP VIEW mapped AS {mapped.view_sql()}")
        relation = "mapped"
        problems = mapped.staged_problems()
    described = conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    source_types = {
        name: kind
        for name, kind, *_ in described
        if name != "_line" and not name.startswith("_problem_")
    }
    for statement in region_map_sql(entity, relation, source_types):
        conn.execute(statement)
    conn.execute(
        stage_sql(entity, relation, source_types, problems, run.clock_sql, run.extended_checks)
    )
    if table.aggregate_sums:
        _aggregate_staged(conn, entity, table.aggregate_sums)
    if entity.name == "orders":
        add_carried_columns(conn, entity.name, "staged", source_types)
        flag_order_conflicts(conn, entity)
    return fmt, names, relation, source_types


def _write_quarantine(
    conn,
    lineage: Lineage,
    paths: list[Path],
    entity,
    fmt: str,
    names: list[str],
    relation: str,
    source_types: dict[str, str],
    table: adapters.SourceTable,
) -> None:
    """Insert the rows the reader rejected and the staged rows that broke a rule.

    A staged row keeps its values under the contract's column names (``raw_values``, JSON),
    so ``cardpulse quarantine replay`` can check them again once the rules or the reference
    data change; rows whose reason is a fact of the source system (an adapter's problem) or
    that were folded into a snapshot are not replayable.
    """
    raw_text = reading.raw_text_sql(fmt, names)
    # Rebuilding raw text re-reads the source: only when some row broke a rule.
    has_bad = conn.execute("SELECT count(*) FROM staged WHERE _reason IS NOT NULL").fetchone()[0]
    bad_rows = "" if has_bad else "AND false"
    if 0 < has_bad <= LISTED_BAD_LINES:
        # Listed as constants, the lines reach below the views: only these rows are read
        # out of ``src`` (a protected file's keyed columns are computed row by row there),
        # where a join would compute every row's first.
        lines = conn.execute("SELECT _line FROM staged WHERE _reason IS NOT NULL").fetchall()
        listed_lines = ", ".join(str(int(line)) for (line,) in lines)
        bad_rows = f"AND s._line IN ({listed_lines}) AND v._line IN ({listed_lines})"
    values = ", ".join(
        f"'{c.name}', CAST(v.{quote_ident(c.name)} AS VARCHAR)"
        for c in entity.columns
        if c.name in source_types
    )
    replayable = "false" if table.aggregate_sums else "NOT st._from_adapter"
    listed = ", ".join(reading.sql_str(str(path)) for path in paths)

    def lineage_of(line: str) -> str:
        path = f"[{listed}][{lineage.file_index_sql(line)} + 1]"
        return f"{lineage.file_id_sql(line)}, {path}, ?, {lineage.line_sql(line)}"

    conn.execute(
        f"""INSERT INTO raw.quarantine (_file_id, file_path, entity, line, column_name, reason,
                raw_text, quarantined_at, raw_values, replayable)
            SELECT {lineage_of("_line")}, column_name, coalesce(reason, 'unparseable line'),
                   left(raw_text, {MAX_RAW_TEXT}), now()::TIMESTAMP, NULL, false
            FROM parse_rejects
            UNION ALL
            SELECT {lineage_of("st._line")}, st._reason_column,
                   replace(st._reason, '{VALUE_PLACEHOLDER}',
                           '''' || left({_value_sql(entity, source_types)}, 60) || ''''),
                   left({raw_text}, {MAX_RAW_TEXT}), now()::TIMESTAMP,
                   json_object({values})::VARCHAR, {replayable}
            FROM staged st JOIN src s ON s._line = st._line
                JOIN {relation} v ON v._line = st._line
            WHERE st._reason IS NOT NULL {bad_rows}""",
        [entity.name] * 2,
    )


def _value_sql(entity, source_types: dict[str, str]) -> str:
    """SQL for the raw value (as text) of the column a staged row was quarantined for."""
    cases = " ".join(
        f"WHEN '{c.name}' THEN CAST(v.{quote_ident(c.name)} AS VARCHAR)"
        for c in entity.columns
        if c.name in source_types
    )
    return f"coalesce(CASE st._reason_column {cases or 'WHEN NULL THEN NULL'} END, '')"


def _unknown_region_sql(entity) -> str:
    regions = [c.name for c in entity.columns if c.kind == "region"]
    if not regions:
        return "0"
    column = quote_ident(regions[0])
    unknown = f"{column} = '{UNKNOWN_REGION}'"
    if entity.name == "orders":  # an order without a region is stored as UNKNOWN too
        unknown = f"({column} IS NULL OR {unknown})"
    return f"coalesce(sum(_rows) FILTER (WHERE _reason IS NULL AND {unknown}), 0)"


def _aggregate_staged(conn, entity, sums: tuple[str, ...]) -> None:
    """Fold per-row snapshots (one row per card key) into one row per natural key."""
    key = ", ".join(quote_ident(k) for k in entity.key)
    names = [c.name for c in entity.columns]
    picked = ", ".join(
        f"sum({quote_ident(n)})::INTEGER AS {quote_ident(n)}" if n in sums else quote_ident(n)
        for n in names
    )
    plain = ", ".join(quote_ident(n) for n in names)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE staged AS
            SELECT min(_line) AS _line, {picked}, NULL::VARCHAR AS _reason,
                   NULL::VARCHAR AS _reason_column, sum(_rows)::BIGINT AS _rows,
                   sum(_normalised)::INTEGER AS _normalised, false AS _from_adapter
            FROM staged WHERE _reason IS NULL GROUP BY {key}
            UNION ALL
            SELECT _line, {plain}, _reason, _reason_column, _rows, _normalised, _from_adapter
            FROM staged WHERE _reason IS NOT NULL"""
    )


def pending_inferred_members(warehouse_path: str | Path) -> list[InferredMembers]:
    """Master ids the warehouse's rows name without their master row, per master entity."""
    conn = connect_warehouse(warehouse_path)
    try:
        create_raw_tables(conn)
        return inferred_members(conn)
    finally:
        conn.close()
