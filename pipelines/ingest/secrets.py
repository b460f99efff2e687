"""Personal values replaced by keyed hashes, secrets dropped, before anything is checked or kept.

A 发卡 system's tables hold card secrets (卡密: money), buyer e-mails / phones / QQ numbers, IP
addresses and gateway trade numbers. ``protect_source`` runs right after a source table is read:

1. only the columns the mapping reads are kept (``SourceTable.kept``); every other column,
   card secrets and delivered-order details included, is gone from ``src``;
2. personal columns (``SourceTable.personal``) become HMAC-SHA256 of the trimmed, lower-cased
   value, in hex, keyed with this installation's secret, so the same buyer gets the same key
   but nobody can test a guessed e-mail address without the secret;
3. text of lines the reader could not parse is withheld (only its length is kept), since it
   may hold any of the above.

The secret is 32 random bytes in ``$CARDPULSE_HOME/buyer_key.secret`` (hex), created on first
use with mode 0600. Losing it changes every buyer key from then on; keep it with the warehouse.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from pipelines.ingest.reading import UnreadableFile, quote_ident

SECRET_FILE = "buyer_key.secret"
_NULL_WORDS = ("", "NULL", "\\N")


def installation_secret(home: Path) -> bytes:
    """This installation's secret: read it, or create it (mode 0600) the first time."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / SECRET_FILE
    if not path.exists():
        # Written under a temporary name and linked into place: two ingests starting at once
        # both end up with the one secret that won.
        temporary = home / f".{SECRET_FILE}.{os.getpid()}"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(os.urandom(32).hex() + "\n")
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    text = path.read_text().strip()
    try:
        secret = bytes.fromhex(text)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        raise UnreadableFile(f"{path} is not a CardPulse secret (expected 64 hex digits)")
    return secret


def keyed_hash(secret: bytes, value: str) -> str:
    """HMAC-SHA256 of the trimmed, lower-cased value, as 64 hex digits."""
    normalised = value.strip().lower().encode("utf-8")
    return hmac.new(secret, normalised, hashlib.sha256).hexdigest()


# A canonical orders file's personal columns and the keyed column each becomes. A file that
# already names buyer_key / buyer_ip_key is keyed too: whatever it holds, no raw value is kept.
CANONICAL_PERSONAL = {
    "buyer_contact": "buyer_key",
    "buyer_ip": "buyer_ip_key",
    "buyer_key": "buyer_key",
    "buyer_ip_key": "buyer_ip_key",
}


def keyed_hash_sql(secret: bytes, text: str) -> tuple[str, list[bytes]]:
    """SQL for ``keyed_hash`` of ``text``, and its two parameters: HMAC-SHA256 written out
    (``sha256((K ^ opad) || sha256((K ^ ipad) || message))``) so DuckDB hashes on every core.
    Equal to ``keyed_hash`` where the value is ASCII and does not start or end with
    whitespace: there DuckDB's ``lower`` and Python's ``strip().lower()`` agree."""
    block = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    block = block.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block)
    outer = bytes(b ^ 0x5C for b in block)
    return f"sha256(?::BLOB || unhex(sha256(?::BLOB || encode(lower({text})))))", [outer, inner]


def _key_values(conn, personal: list[str], home: Path | None) -> None:
    """Temp table ``keyed_values`` (raw, keyed): each distinct non-empty value of ``src``'s
    ``personal`` columns with its keyed hash. DuckDB hashes the plain ASCII values (nearly
    all: e-mails, phone numbers, IPs) in parallel; Python hashes the others, whose trimming
    and lower-casing only Python defines (``keyed_hash``)."""
    import pyarrow as pa

    nulls = ", ".join("'" + word.replace("'", "''") + "'" for word in _NULL_WORDS)
    secret = installation_secret(home or Path(os.environ.get("CARDPULSE_HOME", "./data")))
    union = " UNION ".join(
        f"SELECT trim(CAST({quote_ident(name)} AS VARCHAR)) AS raw FROM src" for name in personal
    )
    # ASCII (bytes = characters) with a printable character at either end.
    plain = "strlen(raw) = length(raw) AND ascii(raw[1]) > 32 AND ascii(raw[-1]) > 32"
    hashed, parameters = keyed_hash_sql(secret, "raw")
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE distinct_personal AS
            SELECT DISTINCT raw FROM ({union}) WHERE raw IS NOT NULL AND raw NOT IN ({nulls})"""
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE keyed_values AS
            SELECT raw, {hashed} AS keyed FROM distinct_personal WHERE {plain}""",
        parameters,
    )
    others = [
        row[0]
        for row in conn.execute(f"SELECT raw FROM distinct_personal WHERE NOT ({plain})").fetchall()
    ]
    conn.execute("DROP TABLE distinct_personal")
    if others:
        keyed = pa.table(
            {
                "raw": pa.array(others, pa.string()),
                "keyed": [keyed_hash(secret, r) for r in others],
            }
        )
        conn.register("keyed_batch", keyed)
        conn.execute("INSERT INTO keyed_values SELECT * FROM keyed_batch")
        conn.unregister("keyed_batch")


def _withhold_rejected_text() -> str:
    return """UPDATE parse_rejects
           SET raw_text = '[text withheld (' || length(coalesce(raw_text, '')) ||
                          ' characters): it may hold card secrets or buyer contacts]'"""


def protect_canonical(conn, fmt: str, names: list[str], home: Path | None) -> list[str]:
    """A canonical orders file: ``buyer_contact`` / ``buyer_ip`` become ``buyer_key`` /
    ``buyer_ip_key`` (keyed hashes) in ``src`` before anything is checked or quarantined.

    1. Nothing changes when the file has none of them (returns ``names``).
    2. ``src`` is rebuilt with the keyed columns (other columns keep their types); a JSON
       Lines row's raw text is rebuilt from the kept values; lines the reader could not
       parse keep only their length. Returns the new column names.
    """
    personal = [name for name in names if name in CANONICAL_PERSONAL]
    if not personal:
        return names
    _key_values(conn, personal, home)
    columns, kept = [], []
    for name in names:
        if name in CANONICAL_PERSONAL:
            target = CANONICAL_PERSONAL[name]
            # buyer_contact wins over a buyer_key column given beside it.
            if target in kept or (name == target and _source_of(target) in personal):
                continue
            value = f"trim(CAST(s.{quote_ident(name)} AS VARCHAR))"
            columns.append(
                f"(SELECT k.keyed FROM keyed_values k WHERE k.raw = {value}) AS "
                + quote_ident(target)
            )
            kept.append(target)
        else:
            columns.append(f"s.{quote_ident(name)}")
            kept.append(name)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE src_protected AS
            SELECT s._line, {", ".join(columns)} FROM src s"""
    )
    if fmt == "jsonl":  # the quarantine's raw text of a JSON line: rebuilt from kept values
        pairs = ", ".join(f"'{n}', {quote_ident(n)}" for n in kept)
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE src_protected AS "
            f"SELECT *, json_object({pairs})::VARCHAR AS _raw_json FROM src_protected"
        )
    conn.execute("DROP VIEW IF EXISTS src")
    conn.execute("CREATE TEMP VIEW src AS SELECT * FROM src_protected")
    conn.execute("DROP TABLE IF EXISTS keyed_values")
    conn.execute(_withhold_rejected_text())
    return kept


def _source_of(target: str) -> str:
    return next(n for n, t in CANONICAL_PERSONAL.items() if t == target and n != target)


def protect_source(conn, table, names: list[str], home: Path | None) -> list[str]:
    """Rebuild ``src`` with only ``table.kept`` columns (as text), personal ones keyed-hashed,
    and withhold the text of ``parse_rejects``; returns the kept column names."""
    kept = [name for name in names if name in table.kept]
    personal = [name for name in kept if name in table.personal]
    if personal:
        _key_values(conn, personal, home)
    columns = []
    for name in kept:
        value = f"CAST(s.{quote_ident(name)} AS VARCHAR)"
        if name in personal:
            value = f"(SELECT k.keyed FROM keyed_values k WHERE k.raw = trim({value}))"
        columns.append(f"{value} AS {quote_ident(name)}")
    selected = "".join(", " + c for c in columns)
    conn.execute(
        f"CREATE OR REPLACE TEMP TABLE src_protected AS SELECT s._line{selected} FROM src s"
    )
    conn.execute("DROP VIEW IF EXISTS src")
    conn.execute("CREATE TEMP VIEW src AS SELECT * FROM src_protected")
    conn.execute("DROP TABLE IF EXISTS keyed_values")
    conn.execute(_withhold_rejected_text())
    return kept
