"""Reading one landing file into DuckDB as a relation of raw values with line numbers.

Every reader produces a temp relation ``src`` with ``_line`` (the file's line number: 1 is the
CSV header; for Parquet the row number) and one column per input column, named by its header
in lower case. Rows the reader itself cannot parse (a CSV line with the wrong number of fields,
a JSON line that is not an object) land in ``parse_rejects`` (``_line``, ``column_name``,
``reason``, ``raw_text``). Text is decoded in Python, streaming, because DuckDB reads only
UTF-8 without extensions: GB18030/GBK and BOM files are transcoded to a temporary UTF-8 copy.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20

FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_DELIMITERS = (",", "\t", ";", "|")


class UnreadableFile(Exception):
    """This file cannot be read at all; the message is the one line the user sees."""


@dataclass(frozen=True)
class FileFormat:
    fmt: str  # csv, parquet, jsonl
    gzipped: bool


def file_format(path: Path) -> FileFormat | None:
    """1. ``.gz`` is stripped and remembered, 2. the remaining suffix names the format."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    if not suffixes or suffixes[-1] not in FORMATS:
        return None
    return FileFormat(FORMATS[suffixes[-1]], gzipped)


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes as stored (the ledger key: same bytes, same file)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _open_bytes(path: Path, gzipped: bool):
    return gzip.open(path, "rb") if gzipped else path.open("rb")


def _read_all_chunks(path: Path, gzipped: bool):
    """Yield the (decompressed) bytes; a broken gzip becomes one clear line."""
    try:
        with _open_bytes(path, gzipped) as handle:
            while chunk := handle.read(CHUNK_BYTES):
                yield chunk
    except EOFError as error:
        raise UnreadableFile("truncated gzip file (compressed data ends early)") from error
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        if gzipped:
            raise UnreadableFile(f"not a valid gzip file ({error})") from error
        raise


@dataclass(frozen=True)
class TextFile:
    """A UTF-8 copy (or the original) of a text file, with what was learned reading it."""

    path: Path
    encoding: str
    physical_lines: int


def prepare_text(path: Path, gzipped: bool, encoding: str | None, workdir: Path) -> TextFile:
    """Make a plain UTF-8 file DuckDB can read, streaming.

    1. Empty files and files with NUL bytes (binary, UTF-16) are refused.
    2. The encoding is the one named, else UTF-8 (BOM allowed) if the whole file decodes, else
       GB18030 (a superset of GBK and GB2312).
    3. The original is used as is when it is uncompressed UTF-8 without BOM; otherwise a
       transcoded copy is written to ``workdir``.
    """
    first = b""
    for chunk in _read_all_chunks(path, gzipped):
        first = chunk
        break
    if not first.strip():
        raise UnreadableFile("empty file: no header row")
    if b"\x00" in first[:65536]:
        raise UnreadableFile("binary data, not a text file (NUL bytes found; UTF-16 is not read)")
    has_bom = first.startswith(codecs.BOM_UTF8)

    candidates = [encoding] if encoding else ["utf-8", "gb18030"]
    for candidate in candidates:
        is_utf8 = candidate.replace("_", "-").lower() in ("utf-8", "utf8")
        codec = "utf-8-sig" if is_utf8 else candidate
        copy_needed = gzipped or has_bom or codec != "utf-8-sig"
        target = workdir / "decoded.txt"
        try:
            lines = _transcode(path, gzipped, codec, target if copy_needed else None)
        except UnicodeDecodeError as error:
            if encoding:
                raise UnreadableFile(
                    f"cannot decode as {encoding} at byte {error.start} of the text"
                ) from error
            continue
        return TextFile(target if copy_needed else path, candidate, lines)
    raise UnreadableFile("not UTF-8 or GB18030 text (binary data?); name it with --encoding")


def _transcode(path: Path, gzipped: bool, codec: str, target: Path | None) -> int:
    """Decode the whole stream with ``codec``; write UTF-8 to ``target`` when given.

    Returns the number of physical lines (a last line without newline counts).
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    newlines = 0
    last = ""
    out = target.open("w", encoding="utf-8", newline="") if target else None
    try:
        for chunk in _read_all_chunks(path, gzipped):
            text = decoder.decode(chunk)
            if "\x00" in text:
                raise UnreadableFile("binary data, not a text file (NUL bytes found)")
            newlines += text.count("\n")
            if text:
                last = text[-1]
            if out:
                out.write(text)
        tail = decoder.decode(b"", final=True)
        if out and tail:
            out.write(tail)
            last = tail[-1]
    finally:
        if out:
            out.close()
    return newlines + (1 if last and last != "\n" else 0)


def read_header(path: Path) -> tuple[list[str], str]:
    """The header's column names (stripped, lower case) and the delimiter it uses."""
    with path.open("r", encoding="utf-8", newline="") as handle:
        line = handle.readline(MAX_LINE_BYTES)
    delimiter = max(_DELIMITERS, key=line.count) if any(d in line for d in _DELIMITERS) else ","
    fields = next(csv.reader(io.StringIO(line), delimiter=delimiter), [])
    names = [f.strip().strip("\ufeff").strip().lower() for f in fields]
    if not any(names):
        raise UnreadableFile("empty file: no header row")
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise UnreadableFile(f"column '{name}' appears twice in the header")
        seen.add(name)
    return names, delimiter


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_csv(conn, text: TextFile) -> list[str]:
    """Stage a CSV file as ``src`` (+ ``parse_rejects``); returns the header's column names.

    DuckDB parses it (strict: a line with too few or too many fields is rejected, with its
    line and raw text, in the rejects table). Good rows keep file order, so the n-th good row
    is the n-th data line that was not rejected; when records span lines or blank lines exist,
    the line map is rebuilt from the raw lines' quote parity.
    """
    names, delimiter = read_header(text.path)
    positional = [f"c{i}" for i in range(len(names))]
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in positional) + "}"
    conn.execute("DROP TABLE IF EXISTS csv_rejects")
    conn.execute("DROP TABLE IF EXISTS csv_reject_scans")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE csv_rows AS SELECT * FROM read_csv(
            {_sql_str(str(text.path))}, header = true, auto_detect = false,
            delim = {_sql_str(delimiter)}, quote = '"', escape = '"', columns = {columns},
            strict_mode = true, store_rejects = true, rejects_table = 'csv_rejects',
            rejects_scan = 'csv_reject_scans', max_line_size = {MAX_LINE_BYTES},
            null_padding = false)"""
    )
    good = conn.execute("SELECT count(*) FROM csv_rows").fetchone()[0]
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_bad AS
           SELECT line AS record, min(column_name) AS column_name,
                  arg_min(error_type || ': ' || error_message, column_idx) AS reason,
                  min(csv_line) AS raw_text
           FROM csv_rejects GROUP BY line"""
    )
    rejected = conn.execute("SELECT count(*) FROM csv_bad").fetchone()[0]

    renamed = ", ".join(
        f"r.{p} AS {quote_ident(n)}" for p, n in zip(positional, names, strict=True) if n
    )
    # Row ids of a table created inside a transaction start at an offset: count from it.
    base = conn.execute("SELECT coalesce(min(rowid), 0) FROM csv_rows").fetchone()[0]
    if text.physical_lines == 1 + good + rejected:
        # One record per physical line: record number == line number.
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE csv_record_lines AS "
            "SELECT record, record AS line FROM csv_bad"
        )
        if rejected == 0:
            conn.execute(
                f"CREATE OR REPLACE TEMP VIEW src AS SELECT r.rowid - {base} + 2 "
                f"AS _line, {renamed} FROM csv_rows r"
            )
        else:
            conn.execute(
                f"""CREATE OR REPLACE TEMP TABLE csv_lines AS
                    SELECT row_number() OVER (ORDER BY line) - 1 AS k, line
                    FROM range(2, {text.physical_lines + 1}) t(line)
                    WHERE line NOT IN (SELECT record FROM csv_bad)"""
            )
    else:
        _map_multiline_records(conn, text.path)
    if not (text.physical_lines == 1 + good + rejected and rejected == 0):
        conn.execute(
            f"""CREATE OR REPLACE TEMP VIEW src AS
                SELECT l.line AS _line, {renamed}
                FROM (SELECT rowid - {base} AS k, * FROM csv_rows) r JOIN csv_lines l USING (k)"""
        )
    name_of = dict(zip(positional, names, strict=True))
    column_case = " ".join(
        f"WHEN b.column_name = {_sql_str(p)} THEN {_sql_str(n)}" for p, n in name_of.items()
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE parse_rejects AS
            SELECT m.line AS _line, CASE {column_case or "WHEN false THEN NULL"}
                   ELSE b.column_name END AS column_name,
                   'unparseable CSV line (' || b.reason || ')' AS reason, b.raw_text
            FROM csv_bad b JOIN csv_record_lines m USING (record)"""
    )
    return [n for n in names if n]


def _map_multiline_records(conn, path: Path) -> None:
    """Line numbers when records span lines or blank lines exist.

    A physical line starts a record when the quotes before it are balanced; DuckDB numbers
    records counting blank lines, so record n is the n-th line that starts a record.
    """
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE csv_physical AS
            SELECT raw FROM read_csv({_sql_str(str(path))}, header = false, auto_detect = false,
                          delim = '\x1e', quote = '', escape = '', strict_mode = false,
                          columns = {{'raw': 'VARCHAR'}}, max_line_size = {MAX_LINE_BYTES})"""
    )
    # Row ids of a table created inside a transaction start at an offset: count from it.
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_physical AS
           SELECT rowid - (SELECT min(rowid) FROM csv_physical) + 1 AS line,
                  coalesce(length(raw) - length(replace(raw, '"', '')), 0) AS quotes,
                  raw IS NULL OR trim(raw) = '' AS blank
           FROM csv_physical"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_records AS
           SELECT row_number() OVER (ORDER BY line) AS record, line, blank
           FROM (SELECT line, blank, coalesce(sum(quotes) OVER (ORDER BY line ROWS BETWEEN
                        UNBOUNDED PRECEDING AND 1 PRECEDING), 0) % 2 = 0 AS starts
                 FROM csv_physical)
           WHERE starts"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_lines AS
           SELECT row_number() OVER (ORDER BY line) - 1 AS k, line FROM csv_records
           WHERE record >= 2 AND NOT blank AND record NOT IN (SELECT record FROM csv_bad)"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_record_lines AS
           SELECT b.record, coalesce(r.line, b.record) AS line
           FROM csv_bad b LEFT JOIN csv_records r USING (record)"""
    )


def load_jsonl(conn, text: TextFile) -> list[str]:
    """Stage a JSON Lines file as ``src``: one object per line, line numbers exact."""
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE json_lines AS
            SELECT raw FROM read_csv(
                {_sql_str(str(text.path))}, header = false, auto_detect = false,
                delim = '\x1e', quote = '', escape = '', strict_mode = false,
                columns = {{'raw': 'VARCHAR'}}, max_line_size = {MAX_LINE_BYTES})"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE json_lines AS
           SELECT * FROM (
               SELECT rowid - (SELECT min(rowid) FROM json_lines) + 1 AS _line, raw,
                      CASE WHEN json_valid(raw) THEN json_type(raw) = 'OBJECT' ELSE false END
                          AS is_object
               FROM json_lines)
           WHERE raw IS NOT NULL AND trim(raw) <> ''"""
    )
    keys = [
        row[0]
        for row in conn.execute(
            """SELECT DISTINCT unnest(json_keys(raw::JSON)) FROM json_lines
               WHERE is_object ORDER BY 1"""
        ).fetchall()
    ]
    chosen: dict[str, str] = {}
    for key in keys:
        chosen.setdefault(key.strip().lower(), key)
    extracted = "".join(
        f", raw::JSON ->> {_sql_str('$.' + _json_path_key(key))} AS {quote_ident(name)}"
        for name, key in chosen.items()
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP VIEW src AS
            SELECT _line, raw AS _raw_json{extracted} FROM json_lines WHERE is_object"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE parse_rejects AS
           SELECT _line, NULL::VARCHAR AS column_name,
                  'not a JSON object on one line' AS reason, raw AS raw_text
           FROM json_lines WHERE NOT is_object"""
    )
    return list(chosen)


def _json_path_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_parquet(conn, path: Path) -> list[str]:
    """Stage a Parquet file as the view ``src`` (typed columns; line = row number from 1)."""
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(0, 2)
        size = handle.tell()
        if size >= 8:
            handle.seek(-4, 2)
            tail = handle.read(4)
        else:
            tail = b""
    if size == 0:
        raise UnreadableFile("empty file")
    if head != b"PAR1" or tail != b"PAR1":
        raise UnreadableFile("not a Parquet file (PAR1 markers missing; truncated or mislabelled)")
    described = conn.execute(
        f"DESCRIBE SELECT * FROM read_parquet({_sql_str(str(path))})"
    ).fetchall()
    names = [row[0] for row in described]
    lowered = [n.strip().lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise UnreadableFile("two columns have the same name (ignoring case)")
    renamed = ", ".join(
        f"{quote_ident(n)} AS {quote_ident(low)}" for n, low in zip(names, lowered, strict=True)
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP VIEW src AS
            SELECT file_row_number + 1 AS _line, {renamed}
            FROM read_parquet({_sql_str(str(path))}, file_row_number = true)"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE parse_rejects (_line BIGINT, column_name VARCHAR,
           reason VARCHAR, raw_text VARCHAR)"""
    )
    return lowered


def raw_text_sql(fmt: str, names: list[str]) -> str:
    """SQL rebuilding a row's raw text from ``src`` (alias ``s``) for the quarantine.

    CSV rows are rebuilt comma-separated, quoting fields that need it; rows the CSV reader
    rejected keep their exact text (``parse_rejects``).
    """
    if fmt == "jsonl":
        return "s._raw_json"
    if fmt == "parquet":
        pairs = ", ".join(f"{_sql_str(n)}, s.{quote_ident(n)}" for n in names)
        return f"json_object({pairs})::VARCHAR" if pairs else "''"
    # CSV: quote a field when it holds the delimiter, a quote or a line break.
    fields = []
    for name in names:
        col = f"s.{quote_ident(name)}"
        fields.append(
            f"""CASE WHEN {col} IS NULL THEN '' WHEN regexp_matches({col}, '[",\\r\\n]')
                THEN '"' || replace({col}, '"', '""') || '"' ELSE {col} END"""
        )
    return "concat_ws(',', " + ", ".join(fields) + ")" if fields else "''"
