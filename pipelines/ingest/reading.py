"""Reading one landing file into DuckDB as a relation of raw values with line numbers.

Every reader produces a temp relation ``src`` with ``_line`` (the file's line number: 1 is the
CSV header; for Parquet the row number) and one column per input column, named by its header
in lower case. Rows the reader itself cannot parse (a CSV line with the wrong number of fields,
a JSON line that is not an object) land in ``parse_rejects`` (``_line``, ``column_name``,
``reason``, ``raw_text``). Text is decoded in Python, streaming, because DuckDB reads only
UTF-8 without extensions: GB18030/GBK, Big5, UTF-16 and BOM files are transcoded to a temporary
UTF-8 copy.

A CSV file is parsed by DuckDB when its rows account for every physical line of the file;
otherwise (blank lines, records spanning lines, stray quotes, mixed line endings, anything
DuckDB's parser stops on) it is parsed again record by record in Python, so that no record is
lost: each becomes a row or a rejected line with its reason.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Several Parquet files of one layout staged together (``load_parquet``) number their rows
# ``file index << LINE_BITS | row number``: 2^40 rows per file is far beyond any export.
LINE_BITS = 40

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 64 << 20
# Enough text for charset detection to tell GB18030 from Big5.
DETECTION_BYTES = 1 << 20
# Rows handed from the record-by-record CSV parser to DuckDB at a time.
RECORD_BATCH = 50_000
# A rejected record keeps this much of its text (the quarantine keeps 2000 characters).
REJECT_TEXT = 4000

# Without --encoding: UTF-8 if the whole file decodes, else whichever of these charset
# detection prefers (GB18030 on a tie: the mainland's exports are the common case).
LEGACY_CHINESE = ("gb18030", "big5")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

_DELIMITERS = (",", "\t", ";", "|")


class UnreadableFile(Exception):
    """This file cannot be read at all; the message is the one line the user sees."""


@dataclass(frozen=True)
class FileFormat:
    fmt: str  # csv, parquet, jsonl
    gzipped: bool


# Spreadsheets that are not read (.xlsx and .xlsm are: ``spreadsheet.py``).
_SPREADSHEETS = (".xls", ".et", ".ods", ".numbers")
# Archives and compressions other than gzip.
_ARCHIVES = (".zip", ".rar", ".7z", ".tar", ".tgz", ".bz2", ".xz", ".zst", ".lz4")


def type_suffix(path: Path) -> tuple[str, bool]:
    """The suffix that names a file's type, lower case ("" when none), with ``.gz`` stripped
    first, and whether it was there: ``orders.CSV.gz`` -> (".csv", True)."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    return (suffixes[-1] if suffixes else ""), gzipped


def holds_unread_data(path: Path) -> bool:
    """Whether a file's type says it holds table data that ingest does not read (a sheet, a
    SQL dump, an archive): in a folder such a file is reported, not skipped. Other unknown
    types (``orders_readme.md``) are not data and are left alone."""
    return type_suffix(path)[0] in _SPREADSHEETS + _ARCHIVES + (".sql",)


def unknown_type_message(path: Path) -> str:
    """Why ``path`` (no known format) is not read, and what to do instead."""
    suffix = type_suffix(path)[0]
    if suffix in _SPREADSHEETS:
        return (
            f"a spreadsheet ({suffix}) is not read: save the sheet as CSV (UTF-8) and ingest "
            "that file"
        )
    if suffix in _ARCHIVES:
        return (
            f"an archive or compression ({suffix}) is not read: extract it and ingest the "
            "files inside (gzip, .gz, is read as it is)"
        )
    if suffix == ".sql":
        return (
            "a SQL dump is read with --source naming the system it comes from (dujiaoka, "
            "acg-faka, dujiao-next)"
        )
    named = f"unknown file type {suffix!r}" if suffix else "no file type in the name"
    return f"{named} (expected .csv, .tsv, .txt, .parquet, .jsonl, .json or .xlsx, optionally .gz)"


def file_format(path: Path) -> FileFormat | None:
    """1. ``.gz`` is stripped and remembered, 2. the remaining suffix names the format."""
    suffix, gzipped = type_suffix(path)
    if suffix not in FORMATS:
        return None
    return FileFormat(FORMATS[suffix], gzipped)


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

    1. Empty files are refused; so are files with NUL bytes (binary) unless a UTF-16/32 byte
       order mark or ``--encoding`` says how to read them.
    2. The encoding is the one named, else the one a BOM names, else UTF-8 (BOM allowed) if
       the whole file decodes, else GB18030 or Big5, whichever charset detection prefers.
    3. The original is used as is when it is uncompressed UTF-8 without BOM; otherwise a
       transcoded copy is written to ``workdir``.
    """
    first = b""
    for chunk in _read_all_chunks(path, gzipped):
        first = chunk
        break
    bom_codec = next((name for bom, name in _BOMS if first.startswith(bom)), None)
    if not first.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise UnreadableFile("empty file: no header row")
    if encoding is None and bom_codec is None and b"\x00" in first[:65536]:
        raise UnreadableFile(
            "binary data, not a text file (NUL bytes found; for UTF-16 text without a byte "
            "order mark name it with --encoding utf-16-le)"
        )
    has_bom = first.startswith(codecs.BOM_UTF8)

    if encoding:
        candidates = [encoding]
    elif bom_codec:
        candidates = [bom_codec]
    else:
        candidates = ["utf-8"]
    target = workdir / "decoded.txt"
    tried_detection = False
    while candidates:
        candidate = candidates.pop(0)
        is_utf8 = candidate.replace("_", "-").lower() in ("utf-8", "utf8")
        codec = "utf-8-sig" if is_utf8 else candidate
        copy_needed = gzipped or has_bom or codec != "utf-8-sig"
        try:
            lines = _transcode(path, gzipped, codec, target if copy_needed else None)
        except UnicodeDecodeError as error:
            if encoding or bom_codec:
                raise UnreadableFile(
                    f"cannot decode as {encoding or bom_codec} at byte {error.start} of the text"
                ) from error
            if not tried_detection:
                tried_detection = True
                candidates = detect_legacy_chinese(path, gzipped)
            continue
        return TextFile(target if copy_needed else path, candidate, lines)
    raise UnreadableFile("not UTF-8, GB18030 or Big5 text (binary data?); name it with --encoding")


def detect_legacy_chinese(path: Path, gzipped: bool) -> list[str]:
    """GB18030 and Big5 in the order charset detection prefers them for this file.

    Both decode most of each other's bytes, so the choice is charset-normalizer's (how
    plausible the text reads in each); a tie goes to GB18030.
    """
    from charset_normalizer import from_bytes

    sample = b""
    for chunk in _read_all_chunks(path, gzipped):
        sample += chunk
        if len(sample) >= DETECTION_BYTES:
            break
    # Cut at a line end, so that no character is cut in two.
    sample = sample[:DETECTION_BYTES]
    sample = sample[: sample.rfind(b"\n") + 1] or sample
    matches = from_bytes(sample, cp_isolation=list(LEGACY_CHINESE))
    ranked = sorted(
        (m for m in matches if m.encoding in LEGACY_CHINESE),
        key=lambda m: (m.chaos, -m.coherence, LEGACY_CHINESE.index(m.encoding)),
    )
    chosen = [m.encoding for m in ranked]
    return chosen + [c for c in LEGACY_CHINESE if c not in chosen]


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


def sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def load_csv(conn, text: TextFile, rejected_as: str = "unparseable CSV line") -> list[str]:
    """Stage a CSV file as ``src`` (+ ``parse_rejects``); returns the header's column names.
    A rejected record's reason starts with ``rejected_as`` (a workbook's says it is a row of
    the sheet: the user never saw the CSV it became).

    1. DuckDB parses it (strict: a line with too few or too many fields is rejected, with its
       line and raw text). When its rows and rejects account for every physical line, each
       record is one line and line numbers follow.
    2. Otherwise (blank lines, quoted line breaks, a stray quote, mixed line endings, or a
       parser error) the file is read again record by record (``csv_records``), so every
       record becomes a row or a rejected line: none is lost and none is counted twice.
    """
    names, delimiter = read_header(text.path)
    positional = [f"c{i}" for i in range(len(names))]
    if not _parse_csv_with_duckdb(conn, text, positional, delimiter, rejected_as):
        _parse_csv_by_record(conn, text, positional, delimiter, rejected_as)
    renamed = ", ".join(
        f"r.{p} AS {quote_ident(n)}" for p, n in zip(positional, names, strict=True) if n
    )
    conn.execute(f"CREATE OR REPLACE TEMP VIEW src AS SELECT r._line, {renamed} FROM csv_rows r")
    column_case = " ".join(
        f"WHEN column_name = {sql_str(p)} THEN {sql_str(n)}"
        for p, n in zip(positional, names, strict=True)
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE parse_rejects AS
            SELECT _line, CASE {column_case or "WHEN false THEN NULL"} ELSE column_name END
                       AS column_name, reason, raw_text
            FROM csv_bad"""
    )
    return [n for n in names if n]


def _parse_csv_with_duckdb(
    conn, text: TextFile, positional: list[str], delimiter: str, rejected_as: str
) -> bool:
    """DuckDB's parse into ``csv_rows`` + ``csv_bad``; False when it does not account for
    every physical line (then nothing of it is kept)."""
    import duckdb

    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in positional) + "}"
    conn.execute("DROP TABLE IF EXISTS csv_rejects")
    conn.execute("DROP TABLE IF EXISTS csv_reject_scans")
    try:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE csv_parsed AS SELECT * FROM read_csv(
                {sql_str(str(text.path))}, header = true, auto_detect = false,
                delim = {sql_str(delimiter)}, quote = '"', escape = '"', columns = {columns},
                strict_mode = true, store_rejects = true, rejects_table = 'csv_rejects',
                rejects_scan = 'csv_reject_scans', max_line_size = {MAX_LINE_BYTES},
                null_padding = false)"""
        )
    except duckdb.InvalidInputException:
        return False
    good = conn.execute("SELECT count(*) FROM csv_parsed").fetchone()[0]
    rejected = conn.execute("SELECT count(DISTINCT line) FROM csv_rejects").fetchone()[0]
    if text.physical_lines != 1 + good + rejected:
        conn.execute("DROP TABLE csv_parsed")
        return False
    # One record per physical line: the n-th good row is the n-th line not rejected.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE csv_bad AS
           SELECT line AS _line, min(column_name) AS column_name,
                  {sql_str(rejected_as + " (")} || arg_min(CASE
                      WHEN error_type = 'LINE SIZE OVER MAXIMUM'
                          THEN 'record longer than {MAX_LINE_BYTES >> 20} MiB'
                      ELSE error_type || coalesce(': ' || error_message, '') END,
                      coalesce(column_idx, 0)) || ')' AS reason,
                  min(csv_line) AS raw_text
           FROM csv_rejects GROUP BY line"""
    )
    # Row ids of a table created inside a transaction start at an offset: count from it.
    base = conn.execute("SELECT coalesce(min(rowid), 0) FROM csv_parsed").fetchone()[0]
    if rejected == 0:
        conn.execute(
            f"""CREATE OR REPLACE TEMP VIEW csv_rows AS
                SELECT rowid - {base} + 2 AS _line, * FROM csv_parsed"""
        )
        return True
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE csv_lines AS
            SELECT row_number() OVER (ORDER BY line) - 1 AS k, line
            FROM range(2, {text.physical_lines + 1}) t(line)
            WHERE line NOT IN (SELECT _line FROM csv_bad)"""
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP VIEW csv_rows AS
            SELECT l.line AS _line, r.* EXCLUDE (k)
            FROM (SELECT rowid - {base} AS k, * FROM csv_parsed) r JOIN csv_lines l USING (k)"""
    )
    return True


@dataclass(frozen=True)
class CsvRecord:
    """One record of a CSV file: the line it starts on, its fields and text, or a problem."""

    line: int
    fields: list[str]
    text: str
    problem: str | None = None


class _PhysicalLines:
    """An iterator of physical lines that lines can be pushed back onto."""

    def __init__(self, lines: Iterator[str]):
        self._lines = lines
        self._back: list[str] = []

    def __iter__(self) -> _PhysicalLines:
        return self

    def __next__(self) -> str:
        return self._back.pop() if self._back else next(self._lines)

    def push_back(self, lines: list[str]) -> None:
        self._back.extend(reversed(lines))


def csv_records(
    lines: Iterator[str], delimiter: str, width: int, first_line: int = 1
) -> Iterator[CsvRecord]:
    """The records of CSV text given as physical lines (line ends kept), in order.

    1. A quote opens a quoted field only at the start of a field, as in RFC 4180; elsewhere
       it is a character (``iPad 10.9" 64GB``). A quoted field may span lines.
    2. Blank lines are not records.
    3. A record that breaks the quoting rules (a quoted field closed before more text, or
       still open at the end of the file), or that spans lines without coming out as
       ``width`` fields, was most likely opened by a stray quote: its first line is a record
       with that problem, and reading starts again on the next line, so the lines the quote
       swallowed are read as the records they are.
    4. A record longer than ``MAX_LINE_BYTES`` is a record with a problem.
    """
    source = _PhysicalLines(lines)
    taken: list[str] = []

    def feed() -> Iterator[str]:
        for physical in source:
            taken.append(physical)
            yield physical

    line = first_line
    reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', strict=True)
    while True:
        problem = None
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            problem, fields = _quote_problem(str(error)), []
        record_lines = list(taken)
        taken.clear()
        if not record_lines:
            return
        if problem is None and len(record_lines) > 1 and len(fields) != width:
            problem = (
                f"a quote opened here spans {len(record_lines)} lines and the record has "
                f"{len(fields)} fields, expected {width}"
            )
        if problem is not None:
            yield CsvRecord(line, [], record_lines[0][:REJECT_TEXT], problem)
            source.push_back(record_lines[1:])
            line += 1
            # A reader that failed mid-record is in an unknown state: start a new one.
            reader = csv.reader(feed(), delimiter=delimiter, quotechar='"', strict=True)
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            line += len(record_lines)
            continue
        text = "".join(record_lines)
        if len(text) > MAX_LINE_BYTES:
            size = len(text.encode("utf-8")) / (1 << 20)
            problem = f"record of {size:.0f} MiB is longer than {MAX_LINE_BYTES >> 20} MiB"
            yield CsvRecord(line, [], text[:REJECT_TEXT], problem)
        else:
            yield CsvRecord(line, fields, text)
        line += len(record_lines)


def _quote_problem(message: str) -> str:
    if "unexpected end of data" in message:
        return "unterminated quote"
    return f"broken quoting ({message})"


def _parse_csv_by_record(
    conn, text: TextFile, positional: list[str], delimiter: str, rejected_as: str
) -> None:
    """Parse ``text`` record by record into ``csv_rows`` (``_line`` + fields as VARCHAR) and
    ``csv_bad`` (records that cannot be rows, with their reason and text)."""
    import pyarrow as pa

    width = len(positional)
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE csv_rows (_line BIGINT, "
        + ", ".join(f"{p} VARCHAR" for p in positional)
        + ")"
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE csv_bad (_line BIGINT, column_name VARCHAR,
           reason VARCHAR, raw_text VARCHAR)"""
    )
    schema = pa.schema([("_line", pa.int64())] + [(p, pa.string()) for p in positional])
    batch: list[list] = [[] for _ in range(width + 1)]
    bad: list[tuple] = []

    def flush() -> None:
        if batch[0]:
            conn.register("csv_batch", pa.Table.from_arrays(batch, schema=schema))
            conn.execute("INSERT INTO csv_rows SELECT * FROM csv_batch")
            conn.unregister("csv_batch")
            for column in batch:
                column.clear()
        if bad:
            conn.executemany("INSERT INTO csv_bad VALUES (?, ?, ?, ?)", bad)
            bad.clear()

    csv.field_size_limit(2**31 - 1)
    with text.path.open("r", encoding="utf-8", newline="") as handle:
        handle.readline(MAX_LINE_BYTES)  # the header, read by read_header
        for record in csv_records(iter(handle), delimiter, width, first_line=2):
            if record.problem or len(record.fields) != width:
                reason = record.problem or (f"expected {width} fields, found {len(record.fields)}")
                bad.append((record.line, None, f"{rejected_as} ({reason})", record.text.rstrip()))
                continue
            batch[0].append(record.line)
            for index, value in enumerate(record.fields, start=1):
                batch[index].append(value if value != "" else None)
            if len(batch[0]) >= RECORD_BATCH:
                flush()
    flush()


def load_jsonl(conn, text: TextFile) -> list[str]:
    """Stage a JSON Lines file as ``src``: one object per line, line numbers exact.

    A file that starts with ``[`` is one JSON array of objects (what a "JSON" export button
    often writes): its ``_line`` is the element's position in the array, from 1. DuckDB
    parses it whole or not at all: a broken array fails the file, nothing half-read."""
    array = _starts_with_bracket(text.path)
    if array:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE json_lines AS
                SELECT json::VARCHAR AS raw
                FROM read_json({sql_str(str(text.path))}, format = 'array', records = false,
                               auto_detect = false, columns = {{'json': 'JSON'}},
                               maximum_object_size = {MAX_LINE_BYTES})"""
        )
    else:
        conn.execute(
            f"""CREATE OR REPLACE TEMP TABLE json_lines AS
                SELECT raw FROM read_csv(
                    {sql_str(str(text.path))}, header = false, auto_detect = false,
                    delim = '\x1e', quote = '', escape = '', strict_mode = false,
                    columns = {{'raw': 'VARCHAR'}}, max_line_size = {MAX_LINE_BYTES})"""
        )
    # Row ids follow the file's order: a line's (an element's) number, from 1.
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
        f", raw::JSON ->> {sql_str('$.' + _json_path_key(key))} AS {quote_ident(name)}"
        for name, key in chosen.items()
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP VIEW src AS
            SELECT _line, raw AS _raw_json{extracted} FROM json_lines WHERE is_object"""
    )
    reason = "not a JSON object" if array else "not a JSON object on one line"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE parse_rejects AS
           SELECT _line, NULL::VARCHAR AS column_name, {sql_str(reason)} AS reason,
                  raw AS raw_text
           FROM json_lines WHERE NOT is_object"""
    )
    return list(chosen)


def _starts_with_bracket(path: Path) -> bool:
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    return head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n").startswith(b"[")


def _json_path_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def load_parquet(conn, path: Path | list[Path]) -> list[str]:
    """Stage a Parquet file as the view ``src`` (typed columns; line = row number from 1).

    Several files of one layout (the same columns and types, else UnreadableFile) are staged
    together: a row's ``_line`` is then ``file index << LINE_BITS | row number``.
    """
    paths = path if isinstance(path, list) else [path]
    layouts = [_parquet_layout(conn, one) for one in paths]
    if any(layout != layouts[0] for layout in layouts[1:]):
        raise UnreadableFile("the files staged together have different columns")
    names = [name for name, _ in layouts[0]]
    lowered = [n.strip().lower() for n in names]
    if len(set(lowered)) != len(lowered):
        raise UnreadableFile("two columns have the same name (ignoring case)")
    renamed = ", ".join(
        f"{quote_ident(n)} AS {quote_ident(low)}" for n, low in zip(names, lowered, strict=True)
    )
    listed = ", ".join(sql_str(str(one)) for one in paths)
    conn.execute(
        f"""CREATE OR REPLACE TEMP VIEW src AS
            SELECT (file_index::BIGINT << {LINE_BITS}) + file_row_number + 1 AS _line, {renamed}
            FROM read_parquet([{listed}], file_row_number = true)"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE parse_rejects (_line BIGINT, column_name VARCHAR,
           reason VARCHAR, raw_text VARCHAR)"""
    )
    return lowered


def text_size(path: Path) -> int:
    """A text file's size once decompressed: a gzip file's last four bytes hold it (modulo
    4 GiB, of its last member: enough to size a batch), else its size on disk."""
    try:
        size = path.stat().st_size
        if not type_suffix(path)[1] or size < 18:
            return size
        with path.open("rb") as handle:
            handle.seek(-4, 2)
            return int.from_bytes(handle.read(4), "little")
    except OSError:
        return 0


def parquet_size(conn, path: Path) -> tuple[int, int]:
    """The rows and row groups a Parquet file's footer counts ((0, 0) when it cannot be
    read: loading it alone says why)."""
    import duckdb

    try:
        found = conn.execute(
            "SELECT sum(num_rows), sum(num_row_groups) "
            f"FROM parquet_file_metadata({sql_str(str(path))})"
        ).fetchone()
    except duckdb.Error:
        return 0, 0
    return int(found[0] or 0), int(found[1] or 0)


def _parquet_layout(conn, path: Path) -> list[tuple[str, str]]:
    """A Parquet file's (column, type) list, after checking it is one (UnreadableFile)."""
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
        f"DESCRIBE SELECT * FROM read_parquet({sql_str(str(path))})"
    ).fetchall()
    return [(row[0], row[1]) for row in described]


def raw_text_sql(fmt: str, names: list[str]) -> str:
    """SQL rebuilding a row's raw text from ``src`` (alias ``s``) for the quarantine.

    CSV rows are rebuilt comma-separated, quoting fields that need it; rows the CSV reader
    rejected keep their exact text (``parse_rejects``).
    """
    if fmt == "jsonl":
        return "s._raw_json"
    if fmt == "parquet":
        pairs = ", ".join(f"{sql_str(n)}, s.{quote_ident(n)}" for n in names)
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
