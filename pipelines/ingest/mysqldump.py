"""MySQL exports as a 发卡 shop's admin makes them: ``mysqldump`` and ``mysqldump --tab``.

- A dump (``shop.sql``, ``shop.sql.gz``: CREATE TABLE and INSERT statements, one row or many per
  INSERT) is read statement by statement, never whole: a small scanner splits the text at ``;``
  outside quotes and comments, and sqlglot (MySQL dialect) parses each CREATE TABLE and each
  INSERT of the wanted table. Column order comes from the INSERT's column list, else the dump's
  CREATE TABLE, else the system's known layout (``SourceTable.layouts``). A row's ``_line`` is
  its number among that table's rows in the dump (an extended INSERT is one physical line).
- A CSV without header row (phpMyAdmin's default) is read with the known layout its width
  matches; ``_line`` 1 is its first record.
- ``mysqldump --tab`` writes ``table.sql`` (CREATE TABLE) beside ``table.txt``: tab-separated,
  no header, ``\\N`` for NULL, backslash escapes (``\\n \\t \\\\ \\0 \\r \\Z``; a backslash before a
  real line break or tab keeps it in the field). Columns come from ``table.sql``, else the
  known layout when the first line is not a header. ``_line`` is the line a record starts on.

Each column is read by its declared type: mysqldump writes ``timestamp`` columns in UTC (it
sets ``TIME_ZONE='+00:00'``, its default ``--tz-utc``), so they are turned into Asia/Shanghai
wall time; ``datetime`` columns are wall time already and stay as they are. A dump without that
setting (``--skip-tz-utc``, other tools) is read as wall time throughout.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipelines.ingest.reading import UnreadableFile, _read_all_chunks, quote_ident, type_suffix

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROW_BATCH = 50_000
_UTC_ZONE = re.compile(r"TIME_ZONE\s*=\s*'\+00:00'", re.I)
# A SET statement (or /*!40103 SET ... */ comment) that sets the session time zone.
_ANY_ZONE = re.compile(r"\s*(?:!\d*\s*)?SET\s[^;]{0,200}?\bTIME_ZONE\s*=", re.I)
_HEAD = re.compile(
    r"\s*(INSERT|REPLACE|CREATE)\s+(?:IGNORE\s+|INTO\s+|TABLE\s+|IF\s+NOT\s+EXISTS\s+)*"
    r"((?:`[^`]+`|\w+)(?:\.(?:`[^`]+`|\w+))?)",
    re.I,
)
# In a --tab file: \N is NULL; these escapes stand for a character; any other escaped
# character (a real tab or line break, a backslash) stands for itself.
_TAB_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_ESCAPE = re.compile(r"\\(.)", re.S)
_TAB_OR_ESCAPE = re.compile(r"\\.|\t", re.S)


@dataclass
class TableLayout:
    """A table's columns in order, with their declared MySQL types (lower case)."""

    name: str
    columns: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)


def is_sql_file(path: Path) -> bool:
    return type_suffix(path)[0] == ".sql"


def _tab_data_beside(path: Path) -> Path | None:
    """The --tab data file a table.sql describes, if it is there."""
    stem = path.name[: -len(".sql")] if path.name.lower().endswith(".sql") else None
    if stem is None:
        return None
    data = path.with_name(stem + ".txt")
    return data if data.exists() else None


# ---- statements ----------------------------------------------------------------------------


@dataclass
class DumpState:
    """What the scanner learned besides statements."""

    tz_utc: bool = False
    zone_set: bool = False


_NORMAL = re.compile(r"[;'\"`#\n]|--(?=[ \t\r\n])|/\*")
# Code with its simple strings, newlines included, up to the next ``;``, comment, backtick or a
# string not closed in this text: one match for a whole VALUES list (C speed, not a loop).
_CODE_RUN = re.compile(
    r"""(?:[^;'"`#/\-]+|'[^'\\]*(?:\\.[^'\\]*)*'|"[^"\\]*(?:\\.[^"\\]*)*"|/(?!\*)"""
    r"""|-(?!-[ \t\r\n]))+""",
    re.S,
)
_CLOSERS = {
    "'": re.compile(r"\\.|''|'|\n", re.S),
    '"': re.compile(r'\\.|""|"|\n', re.S),
    "`": re.compile(r"``|`|\n"),
    "/*": re.compile(r"\*/|\n"),
}


def statements(path: Path, state: DumpState | None = None) -> Iterator[tuple[int, str]]:
    """The SQL statements of a file, streaming: (line the statement starts on, its text without
    comments). ``state`` learns whether the dump sets ``TIME_ZONE='+00:00'``."""
    state = state if state is not None else DumpState()
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    mode = None  # None (code), a quote character, "/*" or "--"
    line = 1
    start_line = 0
    code: list[str] = []
    comment: list[str] = []
    pending = ""
    try:
        chunks = (decoder.decode(chunk) for chunk in _read_all_chunks(path, _gzipped(path)))
        for text in _with_final(chunks, decoder):
            text = pending + text
            pending = ""
            position = 0
            while position < len(text):
                if mode is None:
                    run = _CODE_RUN.match(text, position)
                    if run:
                        piece = run.group()
                        if run.end() == len(text):
                            piece, pending = _hold_back(piece, "-/")
                        if not start_line and piece.strip():
                            leading = len(piece) - len(piece.lstrip())
                            start_line = line + piece.count("\n", 0, leading)
                        line += piece.count("\n")
                        code.append(piece)
                        position += len(piece)
                        if pending:
                            break
                        continue
                    found = _NORMAL.search(text, position)
                    if found is None:
                        piece, pending = _hold_back(text[position:], "-/")
                        if piece.strip() and not start_line:
                            start_line = line
                        code.append(piece)
                        break
                    piece = text[position : found.start()]
                    if piece.strip() and not start_line:
                        start_line = line
                    code.append(piece)
                    token = found.group()
                    position = found.end()
                    if token == "\n":
                        line += 1
                        code.append("\n")
                    elif token == ";":
                        statement = "".join(code).strip()
                        if statement:
                            _note_zone(statement, state)
                            yield start_line or line, statement
                        code.clear()
                        start_line = 0
                    elif token in ("#", "--"):
                        mode = "--"
                    elif token == "/*":
                        mode = "/*"
                        comment.clear()
                    else:
                        if not start_line:
                            start_line = line
                        mode = token
                        code.append(token)
                elif mode == "--":
                    end = text.find("\n", position)
                    if end < 0:
                        break
                    position = end
                    mode = None
                else:
                    found = _CLOSERS[mode].search(text, position)
                    if found is None:
                        rest = text[position:]
                        # an escape or a comment's end cut by the chunk's end: finish it with
                        # the next chunk
                        cut = {"'": "\\", '"': "\\", "/*": "*"}.get(mode)
                        if cut and rest.endswith(cut):
                            rest, pending = rest[:-1], rest[-1]
                        (comment if mode == "/*" else code).append(rest)
                        break
                    token = found.group()
                    segment = text[position : found.end()]
                    position = found.end()
                    line += segment.count("\n")
                    if mode == "/*":
                        comment.append(segment)
                        if token == "*/":
                            _note_zone("".join(comment), state)
                            mode = None
                        continue
                    code.append(segment)
                    if token == mode:
                        # A doubled quote cut by a chunk's end closes and reopens the string:
                        # the text is the same and so is where statements end.
                        mode = None
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not UTF-8 text at byte {error.start}") from None
    if mode in ("'", '"', "`"):
        raise UnreadableFile(f"unterminated quote in the statement starting on line {start_line}")
    statement = ("".join(code) + (pending if mode is None else "")).strip()
    if statement:
        _note_zone(statement, state)
        yield start_line or line, statement


def _hold_back(piece: str, characters: str) -> tuple[str, str]:
    """Split off trailing characters that may start a comment (``--``, ``/*``) together with
    the next chunk's first ones."""
    kept = piece.rstrip(characters)
    return kept, piece[len(kept) :]


def _with_final(chunks: Iterator[str], decoder) -> Iterator[str]:
    yield from chunks
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _gzipped(path: Path) -> bool:
    return path.name.lower().endswith(".gz")


def _note_zone(text: str, state: DumpState) -> None:
    # The first setting counts: a dump's footer sets the zone back to the session's own.
    # Anchored and bounded: a big INSERT is never searched through.
    if not state.zone_set and _ANY_ZONE.match(text):
        state.zone_set = True
        state.tz_utc = bool(_UTC_ZONE.search(text[:300]))


def _head(statement: str) -> tuple[str, str] | None:
    """("INSERT" or "CREATE", table name without schema or quotes) of a statement."""
    found = _HEAD.match(statement)
    if not found:
        return None
    kind = found.group(1).upper()
    if kind == "CREATE" and not re.match(r"\s*CREATE\s+TABLE", statement, re.I):
        return None
    name = found.group(2).split(".")[-1].strip("`").lower()
    return ("CREATE" if kind == "CREATE" else "INSERT"), name


def parse_create_table(statement: str) -> TableLayout:
    """Columns and declared types of a CREATE TABLE statement (sqlglot, MySQL dialect)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(statement, read="mysql")
    except sqlglot.errors.ParseError as error:
        raise UnreadableFile(f"cannot parse CREATE TABLE: {str(error).splitlines()[0]}") from None
    schema = tree.this if isinstance(tree.this, exp.Schema) else None
    layout = TableLayout(tree.find(exp.Table).name.lower())
    for column in schema.expressions if schema else []:
        if isinstance(column, exp.ColumnDef):
            name = column.name.lower()
            kind = column.args.get("kind")
            layout.columns.append(name)
            layout.types[name] = _mysql_type(kind)
    return layout


def _mysql_type(kind) -> str:
    if kind is None:
        return "text"
    from sqlglot import exp

    if kind.this == exp.DataType.Type.TIMESTAMPTZ or kind.this == exp.DataType.Type.TIMESTAMP:
        # sqlglot reads MySQL TIMESTAMP (stored in UTC) as TIMESTAMPTZ, DATETIME as DATETIME
        return "timestamp" if kind.this == exp.DataType.Type.TIMESTAMPTZ else "datetime"
    return kind.this.name.lower()


# ---- planning --------------------------------------------------------------------------------


def plan_dump(path: Path, source: str, named: bool):
    """The tables of ``source`` a .sql file fills, in the adapter's order, and a problem (None
    when there is nothing to say)."""
    from pipelines.ingest.adapters import ADAPTERS, table_for_file_name

    if _tab_data_beside(path):
        problem = (
            "this is the table definition mysqldump --tab writes beside its data; "
            "ingest the .txt or the folder"
        )
        return [], problem if named else None
    found: dict[str, str] = {}
    for _, statement in statements(path):
        head = _head(statement)
        if head and head[0] == "INSERT":
            table = table_for_file_name(source, head[1])
            if table is not None:
                found.setdefault(table.name, head[1])
    tables = [t for t in ADAPTERS[source] if t.name in found]
    if not tables and named:
        return (
            [],
            f"no INSERT into a {source} table ({', '.join(t.name for t in ADAPTERS[source])})",
        )
    return tables, None


# ---- reading -------------------------------------------------------------------------------


def read_export(conn, path: Path, table, workdir: Path) -> list[str] | None:
    """Stage a mysqldump-shaped file of ``table`` as ``src`` + ``parse_rejects``; returns the
    column names, or None when the file is not mysqldump-shaped (a CSV with header, ...)."""
    if is_sql_file(path):
        return _read_dump(conn, path, table)
    name = path.name.lower()
    if name.endswith(".txt") or name.endswith(".txt.gz"):
        return _read_tab(conn, path, table)
    if (name.endswith(".csv") or name.endswith(".csv.gz")) and not _looks_like_header(path, table):
        return _read_headerless_csv(conn, path, table, workdir)
    return None


def _read_headerless_csv(conn, path: Path, table, workdir: Path) -> list[str] | None:
    """A CSV without header row (phpMyAdmin's default: "Put columns names in the first row"
    is off) read with the known layout its width matches; line 1 is the first record. None
    when no layout matches the first record (then it is read as a CSV with header)."""
    from pipelines.ingest.reading import (
        _DELIMITERS,
        MAX_LINE_BYTES,
        csv_records,
        prepare_text,
    )

    text = prepare_text(path, _gzipped(path), None, workdir)
    with text.path.open("r", encoding="utf-8", newline="") as handle:
        first_line = handle.readline(MAX_LINE_BYTES)
    delimiter = max(_DELIMITERS, key=first_line.count)
    layout = None
    for columns in table.layouts:
        with text.path.open("r", encoding="utf-8", newline="") as handle:
            first = next(csv_records(iter(handle), delimiter, len(columns)), None)
        if first is not None and not first.problem and len(first.fields) == len(columns):
            layout = TableLayout(table.name, [c for c, _ in columns], dict(columns))
            break
    if layout is None:
        return None  # read as a CSV with header: its columns are checked and named there
    writer = _RowWriter(conn)
    width = len(layout.columns)
    with text.path.open("r", encoding="utf-8", newline="") as handle:
        for record in csv_records(iter(handle), delimiter, width):
            if record.problem or len(record.fields) != width:
                reason = record.problem or f"expected {width} fields, found {len(record.fields)}"
                writer.reject(record.line, reason)
                continue
            values = [value if value != "" else None for value in record.fields]
            writer.add(record.line, dict(zip(layout.columns, values, strict=True)))
    return writer.finish(layout.columns)


def _known_layout(table, width: int) -> TableLayout | None:
    for columns in table.layouts:
        if len(columns) == width:
            return TableLayout(table.name, [c for c, _ in columns], dict(columns))
    return None


def _read_dump(conn, path: Path, table) -> list[str]:
    import sqlglot
    from sqlglot import exp

    from pipelines.ingest.adapters import source_of, table_for_file_name

    source = source_of(table)
    state = DumpState()
    layouts: dict[str, TableLayout] = {}
    writer = _RowWriter(conn)
    row_number = 0
    for start_line, statement in statements(path, state):
        head = _head(statement)
        named = table_for_file_name(source, head[1]) if head else None
        if named is None or named.name != table.name:
            continue
        kind, name = head
        if kind == "CREATE":
            layouts[name] = parse_create_table(statement)
            continue
        # mysqldump --replace writes REPLACE INTO, which sqlglot does not parse: same rows.
        statement = re.sub(r"^\s*REPLACE\b", "INSERT", statement, count=1, flags=re.I)
        try:
            tree = sqlglot.parse_one(statement, read="mysql")
        except sqlglot.errors.ParseError as error:
            raise UnreadableFile(
                f"cannot parse the INSERT on line {start_line}: {str(error).splitlines()[0]}"
            ) from None
        values = tree.expression if isinstance(tree, exp.Insert) else None
        if not isinstance(values, exp.Values):
            raise UnreadableFile(f"the INSERT on line {start_line} has no VALUES list")
        listed = (
            [c.name.lower() for c in tree.this.expressions]
            if isinstance(tree.this, exp.Schema)
            else None
        )
        for row in values.expressions:
            row_number += 1
            cells = row.expressions if isinstance(row, exp.Tuple) else [row]
            layout = layouts.get(name)
            columns = listed or (layout.columns if layout else None)
            if columns is None:
                known = _known_layout(table, len(cells))
                columns = known.columns if known else None
                layout = known
            types = layout.types if layout else {}
            if columns is None or len(cells) != len(columns):
                expected = f"{len(columns)} columns" if columns else "a known layout"
                writer.reject(
                    row_number,
                    f"INSERT row has {len(cells)} values, the table has {expected} "
                    "(no CREATE TABLE for it in the dump?)",
                )
                continue
            try:
                texts = [_value_text(cell, exp) for cell in cells]
            except ValueError as error:
                writer.reject(row_number, str(error))
                continue
            values_by_name = {
                column: _typed(text, types.get(column, "text"), state.tz_utc)
                for column, text in zip(columns, texts, strict=True)
            }
            writer.add(row_number, values_by_name)
    return writer.finish(_all_columns(writer, layouts))


def _all_columns(writer: _RowWriter, layouts: dict[str, TableLayout]) -> list[str]:
    seen = list(writer.columns)
    for layout in layouts.values():
        for column in layout.columns:
            if column not in seen:
                seen.append(column)
    return seen


def _value_text(cell, exp) -> str | None:
    """One INSERT value as the text a CSV export would hold (NULL as None); ``exp`` is
    sqlglot's expression module (imported once by the caller, not per value)."""
    if isinstance(cell, exp.Null):
        return None
    if isinstance(cell, exp.Literal):
        return cell.this
    if isinstance(cell, exp.Neg) and isinstance(cell.this, exp.Literal):
        return "-" + cell.this.this
    if isinstance(cell, exp.Boolean):
        return "1" if cell.this else "0"
    if isinstance(cell, exp.Introducer):  # _binary'...', _utf8mb4'...'
        return _value_text(cell.expression, exp)
    if isinstance(cell, exp.BitString):  # b'1' (bit columns)
        return str(int(cell.this or "0", 2))
    if isinstance(cell, exp.HexString):
        try:
            return bytes.fromhex(cell.this).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return "0x" + cell.this
    raise ValueError(f"unsupported value in INSERT: {cell.sql(dialect='mysql')[:60]}")


def _typed(text: str | None, mysql_type: str, tz_utc: bool) -> str | None:
    """A ``timestamp`` written in UTC becomes Asia/Shanghai wall time; anything else as is."""
    if text is None or mysql_type != "timestamp" or not tz_utc:
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # '0000-00-00 00:00:00' and the like: validation says what is wrong
    local = moment.replace(tzinfo=UTC).astimezone(SHANGHAI).replace(tzinfo=None)
    shown = local.strftime("%Y-%m-%d %H:%M:%S")
    if local.microsecond:
        shown += f".{local.microsecond:06d}"
    return shown


def _read_tab(conn, path: Path, table) -> list[str] | None:
    definition = path.with_name(re.sub(r"\.txt(\.gz)?$", ".sql", path.name, flags=re.I))
    tz_utc = True  # mysqldump --tab's default (--tz-utc)
    layout = None
    if definition.exists():
        state = DumpState()
        for _, statement in statements(definition, state):
            head = _head(statement)
            if head and head[0] == "CREATE":
                layout = parse_create_table(statement)
        if layout is None:
            raise UnreadableFile(f"{definition.name} beside it holds no CREATE TABLE")
        tz_utc = state.tz_utc or not state.zone_set
    records = _tab_records(path)
    first = next(records, None)
    if layout is None:
        if first is None:
            raise UnreadableFile("empty file")
        if _looks_like_header(path, table):
            return None  # a CSV (comma, semicolon or tab) with header, for the CSV reader
        layout = _known_layout(table, len(first[1]))
        if layout is None:
            widths = " or ".join(str(len(c)) for c in table.layouts)
            raise UnreadableFile(
                f"tab-separated without header and {len(first[1])} fields, not the "
                f"{widths} columns of {table.name}; put its .sql from mysqldump --tab beside it"
            )
    writer = _RowWriter(conn)
    width = len(layout.columns)
    for line, fields in _chain(first, records):
        if len(fields) != width:
            writer.reject(line, f"expected {width} tab-separated fields, found {len(fields)}")
            continue
        writer.add(
            line,
            {
                column: _typed(value, layout.types.get(column, "text"), tz_utc)
                for column, value in zip(layout.columns, fields, strict=True)
            },
        )
    return writer.finish(layout.columns)


def _looks_like_header(path: Path, table) -> bool:
    """Whether the file's first line names the table's required columns (any delimiter)."""
    head = b""
    for chunk in _read_all_chunks(path, _gzipped(path)):
        head += chunk
        if b"\n" in head or len(head) > 1 << 20:
            break
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace").lstrip("\ufeff")
    words = {w.strip().strip('"').strip().lower() for w in re.split(r"[,;\t|]", line)}
    return set(table.source_columns) <= words


def _chain(first, rest):
    if first is not None:
        yield first
    yield from rest


def _tab_records(path: Path) -> Iterator[tuple[int, list[str | None]]]:
    """(line the record starts on, its fields decoded) of a --tab data file, streaming."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    line = 1
    start = 1
    parts: list[str] = []
    buffer = ""
    try:
        for chunk in _read_all_chunks(path, _gzipped(path)):
            buffer += decoder.decode(chunk)
            *lines, buffer = buffer.split("\n")
            for physical in lines:
                parts.append(physical)
                # an odd number of backslashes before the line break escapes it
                trailing = len(physical) - len(physical.rstrip("\\"))
                if trailing % 2 == 1:
                    parts.append("\n")
                    line += 1
                    continue
                record = "".join(parts)
                parts.clear()
                if record.endswith("\r"):
                    record = record[:-1]
                if record:
                    yield start, _tab_fields(record)
                line += 1
                start = line
        buffer += decoder.decode(b"", final=True)
    except UnicodeDecodeError as error:
        raise UnreadableFile(f"not UTF-8 text at byte {error.start}") from None
    record = "".join(parts) + buffer
    if record.strip("\r"):
        yield start, _tab_fields(record.rstrip("\r"))


def _tab_fields(record: str) -> list[str | None]:
    fields: list[str | None] = []
    raw_start = 0
    for found in _TAB_OR_ESCAPE.finditer(record):
        if found.group() == "\t":
            fields.append(_tab_value(record[raw_start : found.start()]))
            raw_start = found.end()
    fields.append(_tab_value(record[raw_start:]))
    return fields


def _tab_value(raw: str) -> str | None:
    if raw == "\\N":
        return None
    return _ESCAPE.sub(lambda m: _TAB_ESCAPES.get(m.group(1), m.group(1)), raw)


class _RowWriter:
    """Rows (dicts of text) into the temp table ``dump_rows`` and the view ``src``; rejected
    rows into ``parse_rejects``."""

    def __init__(self, conn):
        self.conn = conn
        self.columns: list[str] = []
        self.rows: list[tuple[int, dict]] = []
        self.rejects: list[tuple[int, None, str, None]] = []
        self.created = False

    def add(self, line: int, values: dict) -> None:
        for column in values:
            if column not in self.columns:
                self.columns.append(column)
        self.rows.append((line, values))
        if len(self.rows) >= ROW_BATCH:
            self._flush()

    def reject(self, line: int, reason: str) -> None:
        self.rejects.append((line, None, f"unparseable row ({reason})", None))

    def _flush(self) -> None:
        import pyarrow as pa

        if not self.rows:
            return
        arrays = {"_line": pa.array([line for line, _ in self.rows], pa.int64())}
        for column in self.columns:
            arrays[column] = pa.array([values.get(column) for _, values in self.rows], pa.string())
        self.conn.register("dump_batch", pa.table(arrays))
        if not self.created:
            self.conn.execute("CREATE OR REPLACE TEMP TABLE dump_rows AS SELECT * FROM dump_batch")
            self.created = True
        else:
            for column in self.columns:
                self.conn.execute(
                    f"ALTER TABLE dump_rows ADD COLUMN IF NOT EXISTS {quote_ident(column)} VARCHAR"
                )
            self.conn.execute("INSERT INTO dump_rows BY NAME SELECT * FROM dump_batch")
        self.conn.unregister("dump_batch")
        self.rows.clear()

    def finish(self, columns: list[str]) -> list[str]:
        self._flush()
        for column in columns:
            if column not in self.columns:
                self.columns.append(column)
        if not self.created:
            listed = "".join(f", {quote_ident(c)} VARCHAR" for c in self.columns)
            self.conn.execute(f"CREATE OR REPLACE TEMP TABLE dump_rows (_line BIGINT{listed})")
        else:
            for column in self.columns:
                self.conn.execute(
                    f"ALTER TABLE dump_rows ADD COLUMN IF NOT EXISTS {quote_ident(column)} VARCHAR"
                )
        self.conn.execute("CREATE OR REPLACE TEMP VIEW src AS SELECT * FROM dump_rows")
        self.conn.execute(
            """CREATE OR REPLACE TEMP TABLE parse_rejects (_line BIGINT, column_name VARCHAR,
               reason VARCHAR, raw_text VARCHAR)"""
        )
        if self.rejects:
            self.conn.executemany("INSERT INTO parse_rejects VALUES (?, ?, ?, ?)", self.rejects)
        return list(self.columns)
