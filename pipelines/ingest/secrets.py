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


def protect_source(conn, table, names: list[str], home: Path | None) -> list[str]:
    """Rebuild ``src`` with only ``table.kept`` columns (as text), personal ones keyed-hashed,
    and withhold the text of ``parse_rejects``; returns the kept column names."""
    kept = [name for name in names if name in table.kept]
    personal = [name for name in kept if name in table.personal]
    nulls = ", ".join("'" + word.replace("'", "''") + "'" for word in _NULL_WORDS)
    if personal:
        import pyarrow as pa

        secret = installation_secret(home or Path(os.environ.get("CARDPULSE_HOME", "./data")))
        union = " UNION ".join(
            f"SELECT trim(CAST({quote_ident(name)} AS VARCHAR)) AS raw FROM src"
            for name in personal
        )
        raws = [
            row[0]
            for row in conn.execute(
                f"SELECT DISTINCT raw FROM ({union}) WHERE raw IS NOT NULL AND raw NOT IN ({nulls})"
            ).fetchall()
        ]
        keyed = pa.table(
            {"raw": pa.array(raws, pa.string()), "keyed": [keyed_hash(secret, r) for r in raws]}
        )
        conn.register("keyed_batch", keyed)
        conn.execute("CREATE OR REPLACE TEMP TABLE keyed_values AS SELECT * FROM keyed_batch")
        conn.unregister("keyed_batch")
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
    conn.execute(
        """UPDATE parse_rejects
           SET raw_text = '[text withheld (' || length(coalesce(raw_text, '')) ||
                          ' characters): it may hold card secrets or buyer contacts]'"""
    )
    return kept
