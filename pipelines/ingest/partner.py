"""Tables read together: a source table whose rows need another table's (dujiao-next
``order_items`` and ``payments`` need their ``orders`` row).

- Where the partner comes from: a mysqldump ``.sql`` of the database holds both tables, so the
  partner is read from the same file; a table export (CSV, JSON Lines, Parquet, ``--tab``) has
  it in a sibling file whose name has the partner's table name in place of this one's
  (``order_items.csv`` -> ``orders.csv``, ``shop_payments_0501.csv.gz`` ->
  ``shop_orders_0501.csv.gz``). No such file: the whole file fails with one line.
- How: the partner is read first (its own kept / personal columns, so a buyer's e-mail is keyed
  before anything else sees it), one row per key (the last one in the file), and joined in
  with a LEFT JOIN as ``<partner>.<column>`` columns; a row without its partner row is
  quarantined by the mapping with its reason.
- The ledger's file id covers both files' bytes, so a changed ``orders.csv`` (a refund) is a
  new version of its ``order_items.csv`` even when the items did not change.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipelines.ingest import mysqldump, reading
from pipelines.ingest.reading import UnreadableFile, quote_ident


def partner_file(path: Path, table, partner_table) -> Path | None:
    """The file holding ``partner_table``'s rows for ``path`` (``table``'s file), or None:
    the same dump; else a sibling named like ``path`` with the partner's table name in place
    of this one's, the same suffix first (``shop_orders_0501.csv`` -> ``shop_pays_0501.csv``),
    then any readable suffix, then without the suffix (``shop_pays.csv``)."""
    if mysqldump.is_sql_file(path) and not _is_tab_definition(path):
        return path
    stem = path.name.split(".")[0]
    at = stem.lower().find(table.name)
    if at < 0:
        return None
    partner_stem = stem[:at] + partner_table.name + stem[at + len(table.name) :]
    same_suffix = path.with_name(partner_stem + path.name[len(stem) :])
    if same_suffix.is_file():
        return same_suffix
    for wanted in dict.fromkeys((partner_stem, stem[:at] + partner_table.name)):
        for sibling in sorted(path.parent.iterdir()):
            readable = reading.file_format(sibling) or mysqldump.is_sql_file(sibling)
            if sibling.is_file() and sibling.name.split(".")[0] == wanted and readable:
                return sibling
    return None


def _is_tab_definition(path: Path) -> bool:
    return path.with_name(path.name[: -len(".sql")] + ".txt").exists()


def missing_partner_problem(path: Path, table, partner_table) -> str:
    stem = path.name.split(".")[0]
    at = stem.lower().find(table.name)
    expected = stem[:at] + partner_table.name + stem[at + len(table.name) :] if at >= 0 else None
    where = f" ({expected}.* beside it)" if expected else ""
    return (
        f"no {partner_table.name} file found{where}: {table.name} rows are read with their "
        f"{partner_table.name} rows; export both tables, or give a mysqldump .sql holding both"
    )


def combined_file_id(path: Path, partners: list[Path]) -> str:
    """The ledger key: the file's bytes, and its partner files' when they are other files."""
    own = reading.content_hash(path)
    others = [p for p in partners if p != path]
    if not others:
        return own
    hashes = ":".join([own, *(reading.content_hash(p) for p in others)])
    return hashlib.sha256(hashes.encode()).hexdigest()


def stash_name(spec) -> str:
    """The temp table holding a partner's rows until they are joined in."""
    return "partner_" + spec.table


def stash_partner(conn, partner_table, names: list[str], spec) -> list[str] | None:
    """Keep the just-read ``src`` (the partner's rows) as the temp table ``partner_<table>``:
    one row per key, the last in the file, but ``spec.lists`` columns gather every row's value
    (comma-separated, in file order); or ``spec.collapse``'s rows. Returns its columns. A
    partner lacking required columns is an error, an optional one is left out (None: a dump
    without that table)."""
    missing = [c for c in spec.required if c not in names]
    if missing and spec.optional:
        return None
    if missing:
        raise UnreadableFile(
            f"the {partner_table.name} table read with it lacks column(s) {', '.join(missing)}"
        )
    key = quote_ident(spec.partner_key)
    stash = quote_ident(stash_name(spec))
    if spec.collapse is not None:
        conn.execute(f"CREATE OR REPLACE TEMP TABLE {stash} AS {spec.collapse(names)}")
        columns = conn.execute(f"SELECT column_name FROM (DESCRIBE {stash})").fetchall()
        return [name for (name,) in columns]
    every_row = (
        f"PARTITION BY trim({key}) ORDER BY _line "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING"
    )
    gathered = ", ".join(
        f"array_to_string(list(trim({quote_ident(c)})) OVER ({every_row}), ',') AS {quote_ident(c)}"
        for c in spec.lists
        if c in names
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {stash} AS
            SELECT *{f" REPLACE ({gathered})" if gathered else ""} FROM src
            WHERE {key} IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY trim({key}) ORDER BY _line DESC) = 1"""
    )
    return names


def join_partner(conn, names: list[str], partner_names: list[str], spec) -> list[str]:
    """Rebuild ``src`` as this file's rows with the partner's columns joined in as
    ``<partner>.<column>``; returns the new column names."""
    joined = [f"{spec.table}.{name}" for name in partner_names]
    joined_table = quote_ident("src_with_" + spec.table)
    columns = "".join(
        f", p.{quote_ident(name)} AS {quote_ident(alias)}"
        for name, alias in zip(partner_names, joined, strict=True)
    )
    # A file without the joining column (an export that left out acg-faka ``order.id``) gets
    # the partner's columns empty, as if its file were not there.
    own = f"trim(CAST(s.{quote_ident(spec.key)} AS VARCHAR))"
    if spec.key_first is not None and spec.key_first in names:
        first = f"trim(CAST(s.{quote_ident(spec.key_first)} AS VARCHAR))"
        own = f"coalesce(CASE WHEN {first} NOT IN ('', 'NULL', '\\N', '0') THEN {first} END, {own})"
    matches = f"trim(p.{quote_ident(spec.partner_key)}) = {own}" if spec.key in names else "false"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE {joined_table} AS
            SELECT s.*{columns} FROM src s
            LEFT JOIN {quote_ident(stash_name(spec))} p ON {matches}"""
    )
    conn.execute("DROP VIEW IF EXISTS src")
    conn.execute(f"CREATE TEMP VIEW src AS SELECT * FROM {joined_table}")
    conn.execute(f"DROP TABLE IF EXISTS {quote_ident(stash_name(spec))}")
    return names + joined
