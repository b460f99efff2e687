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


def keyed_hash_sql(secret: bytes, text: str) -> str:
    """SQL for ``keyed_hash`` of ``text``: HMAC-SHA256 written out (``sha256((K ^ opad) ||
    sha256((K ^ ipad) || message))``) so DuckDB hashes on every core, the key pads inline as
    constants (the SQL goes into this connection's temp views only, never into the
    warehouse). Equal to ``keyed_hash`` where ``text`` is plain (``PLAIN_SQL``)."""
    block = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    block = block.ljust(64, b"\0")
    inner = bytes(b ^ 0x36 for b in block).hex()
    outer = bytes(b ^ 0x5C for b in block).hex()
    return f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(lower({text})))))"


# ASCII (bytes = characters) with a printable character at either end: there DuckDB's
# ``lower`` and Python's ``strip().lower()`` agree.
PLAIN_SQL = "(strlen({v}) = length({v}) AND ascii({v}[1]) > 32 AND ascii({v}[-1]) > 32)"
_NULLS_SQL = ", ".join("'" + word.replace("'", "''") + "'" for word in _NULL_WORDS)


def _text(column: str) -> str:
    return f"CAST(s.{quote_ident(column)} AS VARCHAR)"


def _key_others(conn, personal: list[str], secret: bytes) -> bool:
    """Temp table ``keyed_others`` (raw, keyed): the distinct trimmed values of ``src``'s
    ``personal`` columns that are not plain (not ASCII, or whitespace at an end: rare),
    keyed by Python, whose trimming and lower-casing define the key. Plain values (e-mails,
    phone numbers, IPs) are keyed row by row in DuckDB (``keyed_hash_sql``). Returns whether
    there were any."""
    import pyarrow as pa

    # A value plain as it is needs no trimming: only the others are trimmed and looked at.
    union = " UNION ALL ".join(
        f"SELECT trim({_text(name)}) AS raw FROM src s WHERE NOT {PLAIN_SQL.format(v=_text(name))}"
        for name in personal
    )
    plain = PLAIN_SQL.format(v="raw")
    others = conn.execute(
        f"""SELECT DISTINCT raw FROM ({union})
            WHERE raw IS NOT NULL AND raw NOT IN ({_NULLS_SQL}) AND NOT {plain}"""
    ).fetchall()
    if not others:
        return False
    raws = [row[0] for row in others]
    keyed = pa.table(
        {"raw": pa.array(raws, pa.string()), "keyed": [keyed_hash(secret, r) for r in raws]}
    )
    conn.register("keyed_batch", keyed)
    conn.execute("CREATE OR REPLACE TEMP TABLE keyed_others AS SELECT * FROM keyed_batch")
    conn.unregister("keyed_batch")
    return True


def _keyed_value_sql(column: str, secret: bytes, other: str) -> str:
    """SQL for the keyed hash of ``src_read``'s ``column`` (alias ``s``): NULL when empty or
    a null word; DuckDB's HMAC when plain (as it is, or once trimmed); else ``other`` (the
    key Python gave it)."""
    value, trimmed = _text(column), f"trim({_text(column)})"
    return f"""CASE WHEN {value} IS NULL THEN NULL
                    WHEN {PLAIN_SQL.format(v=value)}
                        THEN CASE WHEN {value} IN ({_NULLS_SQL}) THEN NULL
                                  ELSE {keyed_hash_sql(secret, value)} END
                    WHEN {trimmed} IN ({_NULLS_SQL}) THEN NULL
                    WHEN {PLAIN_SQL.format(v=trimmed)} THEN {keyed_hash_sql(secret, trimmed)}
                    ELSE {other} END"""


def _withhold_rejected_text() -> str:
    return """UPDATE parse_rejects
           SET raw_text = '[text withheld (' || length(coalesce(raw_text, '')) ||
                          ' characters): it may hold card secrets or buyer contacts]'"""


def protect_canonical(conn, fmt: str, names: list[str], home: Path | None) -> list[str]:
    """A canonical orders file: ``buyer_contact`` / ``buyer_ip`` become ``buyer_key`` /
    ``buyer_ip_key`` (keyed hashes) in ``src`` before anything is checked or quarantined.

    1. Nothing changes when the file has none of them (returns ``names``).
    2. ``src`` becomes a view with the keyed columns (other columns keep their types); a JSON
       Lines row's raw text is rebuilt from the kept values; lines the reader could not
       parse keep only their length. Returns the new column names.
    """
    personal = [name for name in names if name in CANONICAL_PERSONAL]
    if not personal:
        return names
    columns, kept = [], []
    for name in names:
        if name in CANONICAL_PERSONAL:
            target = CANONICAL_PERSONAL[name]
            # buyer_contact wins over a buyer_key column given beside it.
            if target in kept or (name == target and _source_of(target) in personal):
                continue
            columns.append((target, name, True))
            kept.append(target)
        else:
            columns.append((name, name, False))
            kept.append(name)
    _protected_view(conn, columns, home, raw_json=fmt == "jsonl")
    conn.execute(_withhold_rejected_text())
    return kept


def _source_of(target: str) -> str:
    return next(n for n, t in CANONICAL_PERSONAL.items() if t == target and n != target)


def protect_source(conn, table, names: list[str], home: Path | None) -> list[str]:
    """Make ``src`` a view of only ``table.kept`` columns (as text), personal ones keyed-hashed,
    and withhold the text of ``parse_rejects``; returns the kept column names."""
    kept = [name for name in names if name in table.kept]
    personal = [name for name in kept if name in table.personal]
    _protected_view(conn, [(name, name, name in personal) for name in kept], home, text=True)
    conn.execute(_withhold_rejected_text())
    return kept


def _protected_view(
    conn,
    columns: list[tuple[str, str, bool]],
    home: Path | None,
    text: bool = False,
    raw_json: bool = False,
) -> None:
    """Make ``src`` a view over the file as read (renamed ``src_read``) of ``(name, source
    column, keyed)`` columns: keyed ones hold the keyed hash of the trimmed source value
    (NULL for an empty one or a null word). No copy of the file is written: values are keyed
    as the file is staged, and only the columns a statement reads. ``text`` casts every other
    column to VARCHAR; ``raw_json`` rebuilds a JSON Lines row's raw text (for the quarantine)
    from the kept values."""
    personal = [source for _, source, keyed in columns if keyed]
    secret = b""
    others = False
    if personal:
        secret = installation_secret(home or Path(os.environ.get("CARDPULSE_HOME", "./data")))
        others = _key_others(conn, personal, secret)
    conn.execute("ALTER VIEW src RENAME TO src_read")
    selected, joins = [], []
    for name, source, keyed in columns:
        value = f"s.{quote_ident(source)}"
        if keyed:
            other = "NULL"  # no value of the file needs Python's key
            if others:
                alias = f"k{len(joins)}"
                joins.append(
                    f"LEFT JOIN keyed_others {alias} ON {alias}.raw = trim({_text(source)})"
                )
                other = f"{alias}.keyed"
            value = _keyed_value_sql(source, secret, other)
        elif text:
            value = f"CAST({value} AS VARCHAR)"
        selected.append(f"{value} AS {quote_ident(name)}")
    conn.execute(
        f"CREATE TEMP VIEW src AS SELECT s._line, {', '.join(selected)} "
        f"FROM src_read s {' '.join(joins)}"
    )
    if raw_json:
        conn.execute("ALTER VIEW src RENAME TO src_kept")
        pairs = ", ".join(f"'{name}', {quote_ident(name)}" for name, *_ in columns)
        conn.execute(
            f"CREATE TEMP VIEW src AS SELECT *, json_object({pairs})::VARCHAR AS _raw_json "
            "FROM src_kept"
        )
