"""``cardpulse quarantine list|show ID|replay [--entity E]``: what ingest set aside, and
loading it once it passes."""

from __future__ import annotations

import argparse
import json

HELP = "list quarantined rows by file and reason, show one, or replay them against today's rules"

LIST_LIMIT = 200
SHOW_LIMIT = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "show", "replay"), help="what to do")
    parser.add_argument(
        "id",
        nargs="?",
        help="with show: FILE (the file id shown by list, or its first characters) or FILE:LINE",
    )
    parser.add_argument("--entity", default=None, help="only this entity (orders, skus, ...)")


def run(args: argparse.Namespace) -> int:
    from pipelines.errors import CardPulseError
    from pipelines.settings import home

    warehouse = home().ensure().warehouse
    if args.action == "replay":
        if args.id:
            raise CardPulseError("replay takes no ID: it checks every replayable row again")
        return _replay(warehouse, args.entity)
    if not warehouse.exists():
        raise CardPulseError(f"no warehouse at {warehouse}: nothing was ingested yet")
    if args.action == "list":
        if args.id:
            raise CardPulseError("list takes no ID (use: cardpulse quarantine show ID)")
        return _list(warehouse, args.entity)
    if not args.id:
        raise CardPulseError("show needs an ID: FILE or FILE:LINE, as listed by 'quarantine list'")
    return _show(warehouse, args.id, args.entity)


def _read_only(warehouse):
    import duckdb

    from pipelines.errors import CardPulseError

    try:
        return duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as error:
        message = str(error).splitlines()[0]
        if "lock" in message.lower():
            raise CardPulseError(
                f"warehouse {warehouse} is in use by another process; stop it or wait"
            ) from None
        raise CardPulseError(f"cannot open warehouse {warehouse}: {message}") from None


def _has_quarantine(conn) -> bool:
    return bool(
        conn.execute(
            """SELECT count(*) FROM information_schema.tables
               WHERE table_schema = 'raw' AND table_name = 'quarantine'"""
        ).fetchone()[0]
    )


def _list(warehouse, entity: str | None) -> int:
    from pipelines.ingest.load import REASON_SHAPE_SQL

    conn = _read_only(warehouse)
    try:
        if not _has_quarantine(conn):
            print("no quarantined rows")
            return 0
        replayable = "coalesce(q.replayable, false)" if _has_column(conn, "replayable") else "false"
        rows = conn.execute(
            f"""SELECT left(q._file_id, 12), parse_filename(any_value(q.file_path)), q.entity,
                       {REASON_SHAPE_SQL.format("q.reason")} AS shape, count(*),
                       count(*) FILTER (WHERE {replayable}), min(q.line)
                FROM raw.quarantine q WHERE q.entity = ? OR ? IS NULL
                GROUP BY q._file_id, q.entity, shape
                ORDER BY 2, 3, 5 DESC LIMIT {LIST_LIMIT}""",
            [entity, entity],
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        print("no quarantined rows")
        return 0
    table = [("FILE", "NAME (ENTITY)", "ROWS", "REPLAYABLE", "FIRST LINE", "REASON")]
    for file_id, name, kind, shape, count, replayable_count, first in rows:
        table.append((file_id, f"{name} ({kind})", count, replayable_count, first, shape))
    cells = [[str(cell) for cell in row] for row in table]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]) - 1)]
    for row in cells:  # columns aligned; the reason last, as long as it is
        print("  ".join([c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)] + [row[-1]]))
    return 0


def _has_column(conn, column: str) -> bool:
    return bool(
        conn.execute(
            """SELECT count(*) FROM information_schema.columns
               WHERE table_schema = 'raw' AND table_name = 'quarantine' AND column_name = ?""",
            [column],
        ).fetchone()[0]
    )


def _show(warehouse, identifier: str, entity: str | None) -> int:
    from pipelines.errors import CardPulseError

    file_part, _, line_part = identifier.partition(":")
    if len(file_part) < 6 or not all(c in "0123456789abcdef" for c in file_part.lower()):
        raise CardPulseError(
            f"'{identifier}' is not a quarantine ID (FILE or FILE:LINE, FILE being at least "
            "6 characters of the file id shown by 'quarantine list')"
        )
    if line_part and not line_part.isdigit():
        raise CardPulseError(f"'{line_part}' is not a line number")
    conn = _read_only(warehouse)
    try:
        if not _has_quarantine(conn):
            raise CardPulseError("no quarantined rows")
        values = "q.raw_values" if _has_column(conn, "raw_values") else "NULL"
        rows = conn.execute(
            f"""SELECT q._file_id, q.file_path, q.entity, q.line, q.column_name, q.reason,
                       q.raw_text, q.quarantined_at, {values}
                FROM raw.quarantine q
                WHERE starts_with(q._file_id, ?) AND (q.line = ? OR ? IS NULL)
                  AND (q.entity = ? OR ? IS NULL)
                ORDER BY q.file_path, q.line LIMIT {SHOW_LIMIT + 1}""",
            [file_part.lower(), line_part or None, line_part or None, entity, entity],
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        raise CardPulseError(f"no quarantined row matches '{identifier}'")
    for file_id, path, kind, line, column, reason, raw_text, at, raw_values in rows[:SHOW_LIMIT]:
        print(
            f"{file_id[:12]}:{line}  {path} ({kind}), line {line}, quarantined {at:%Y-%m-%d %H:%M}"
        )
        print(f"  reason: {reason}" + (f" (column {column})" if column else ""))
        print(f"  text:   {raw_text}")
        if raw_values:
            shown = {k: v for k, v in json.loads(raw_values).items() if v is not None}
            print(f"  values: {json.dumps(shown, ensure_ascii=False)}")
    if len(rows) > SHOW_LIMIT:
        print(f"(more rows; showing the first {SHOW_LIMIT}: add :LINE to see one)")
    return 0


def _replay(warehouse, entity: str | None) -> int:
    from pipelines.engine import load_engine_settings
    from pipelines.ingest.quarantine_replay import replay_quarantine

    results = replay_quarantine(
        warehouse,
        entity,
        on_result=lambda r: print(r.summary_line(), flush=True),
        lake_path=load_engine_settings().lake,
    )
    if not results:
        print("no replayable quarantined rows")
    else:
        healed = sum(r.replayed - r.still_quarantined for r in results)
        left = sum(r.still_quarantined for r in results)
        print(f"replay: {healed} rows now pass and were merged, {left} stay quarantined")
    return 0
