"""Merging a file's good rows into its raw table, set-based, with the summary counts.

Rows are judged as if applied one by one in file order:

- orders: a version applies when its ``updated_at`` is later than both the stored version's
  and every earlier version of the same order in the file. The first applied version of an
  order not yet stored is ``loaded``, later applied ones ``updated``; a version that is not
  newer (an identical repeat, or an older row arriving late) is ``duplicate`` and changes
  nothing. A row with the same ``updated_at`` as another version but different values is a
  contradiction and is quarantined (``flag_order_conflicts``).
- other entities: upsert by natural key; a row identical to the current version is
  ``duplicate``, a new key ``loaded``, a changed value ``updated``; the last line wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.ingest.entities import Entity
from pipelines.ingest.reading import LINE_BITS, quote_ident, sql_str
from pipelines.ingest.region_codes import UNKNOWN_REGION
from pipelines.ingest.schema import table_columns


@dataclass
class MergeCounts:
    loaded: int = 0
    updated: int = 0
    duplicate: int = 0


@dataclass(frozen=True)
class Lineage:
    """The files whose rows ``staged`` holds, in load order (usually one).

    Files staged together have ``_line = file index << LINE_BITS | line in its file``, so
    ordering by ``_line`` is file order, then line order: their rows are judged as if the
    files were applied one by one.
    """

    file_ids: tuple[str, ...]

    @classmethod
    def of(cls, file_id: str | Lineage | Sequence[str]) -> Lineage:
        if isinstance(file_id, Lineage):
            return file_id
        return cls((file_id,) if isinstance(file_id, str) else tuple(file_id))

    def file_index_sql(self, line: str) -> str:
        """SQL for the index (from 0) of the file that staged line ``line`` came from."""
        return "0" if len(self.file_ids) == 1 else f"({line} >> {LINE_BITS})"

    def file_id_sql(self, line: str) -> str:
        """SQL for the file id of staged line ``line``."""
        if len(self.file_ids) == 1:
            return f"'{self.file_ids[0]}'"
        listed = ", ".join(f"'{file_id}'" for file_id in self.file_ids)
        return f"[{listed}][{self.file_index_sql(line)} + 1]"

    def line_sql(self, line: str) -> str:
        """SQL for the line number in its own file of staged line ``line``."""
        return line if len(self.file_ids) == 1 else f"({line} & {(1 << LINE_BITS) - 1})"


def _lineage(lineage: Lineage) -> str:
    return (
        f"{lineage.file_id_sql('_line')} AS _file_id, {lineage.line_sql('_line')} AS _line, "
        "now()::TIMESTAMP AS _loaded_at"
    )


def _counts(
    conn, lineage: Lineage, plain_loaded: dict[int, int] | None = None
) -> list[MergeCounts]:
    """The outcomes in ``judged`` per file, plus ``plain_loaded`` rows loaded without
    judging (per file index)."""
    counts = [MergeCounts() for _ in lineage.file_ids]
    for index, count in (plain_loaded or {}).items():
        counts[index].loaded += count
    rows = conn.execute(
        f"""SELECT {lineage.file_index_sql("_line")}, _outcome, sum(_rows) FROM judged
            GROUP BY ALL"""
    ).fetchall()
    for index, outcome, count in rows:
        setattr(counts[index], outcome, getattr(counts[index], outcome) + int(count or 0))
    return counts


def stored_columns(conn, entity: Entity) -> list[str]:
    """The entity's columns that its raw table has, in the entity's order, lineage aside (an
    optional column appears once a file carries it: ``schema.add_carried_columns``)."""
    have = set(table_columns(conn, entity.name))
    return [c.name for c in entity.columns if c.name in have]


def _staged_has(conn) -> set[str]:
    """The columns of ``staged`` (an optional column its source lacks is not there)."""
    return {d[0] for d in conn.execute("SELECT * FROM staged LIMIT 0").description}


def _order_content(columns: list[str], alias: str, has: set[str] | None = None) -> str:
    """SQL hashing an order version's values (lineage and raw region text aside); a column
    not in ``has`` (when given) is NULL."""
    parts = []
    for name in columns:
        ref = f"{alias}.{quote_ident(name)}" if has is None or name in has else "NULL"
        if name == "region_code":
            ref = f"coalesce({ref}, '{UNKNOWN_REGION}')"
        parts.append(ref)
    return "hash(" + ", ".join(parts) + ")"


def flag_order_conflicts(conn, entity: Entity) -> None:
    """Quarantine order rows that contradict another version with the same updated_at.

    Run after ``schema.add_carried_columns``: values are compared over the stored columns.
    Two rows for one order with the same ``updated_at`` but different values cannot both be
    the truth: the one seen first (stored, else the earlier line) stands; the other is
    quarantined. Identical repeats stay good and count as ``duplicate`` when merged. Also
    looks up the stored versions of the file's orders into ``stored``, and the orders it has
    more than once into ``repeated``, for ``merge_orders``.
    """
    columns = stored_columns(conn, entity)
    lowest, highest = conn.execute(
        "SELECT min(order_id), max(order_id) FROM staged WHERE _reason IS NULL"
    ).fetchone()
    # The order_id range first: where ids grow with time, zone maps skip most of the table.
    # Then only the file's ids inside the stored ones' range are looked up: where ids grow,
    # that is the late versions of older orders, not the whole file.
    first, last = conn.execute(
        "SELECT min(order_id), max(order_id) FROM raw.orders WHERE order_id BETWEEN ? AND ?",
        [lowest or "", highest or ""],
    ).fetchone()
    lookup = "false"  # no stored order in the file's range
    if first is not None:
        within = f"BETWEEN {sql_str(first)} AND {sql_str(last)}"
        lookup = f"""o.order_id {within} AND o.order_id IN (
                         SELECT order_id FROM staged WHERE _reason IS NULL AND order_id {within})"""
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE stored AS
            SELECT o.order_id, o.updated_at AS _stored_version,
                   {_order_content(columns, "o")} AS _stored_content, o.rowid AS _stored_rowid
            FROM raw.orders o WHERE {lookup}"""
    )
    # Orders seen more than once in the file: with the stored ones, the only rows to judge.
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE repeated AS
           SELECT order_id FROM staged WHERE _reason IS NULL
           GROUP BY order_id HAVING count(*) > 1"""
    )
    if not _any_to_judge(conn):
        return
    # Only an (order_id, updated_at) pair seen twice in the file, or already stored, can clash.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE conflicts AS
            WITH pairs AS (
                SELECT order_id, updated_at FROM staged
                WHERE _reason IS NULL AND order_id IN (SELECT order_id FROM repeated)
                GROUP BY order_id, updated_at HAVING count(*) > 1
                UNION
                SELECT order_id, _stored_version FROM stored
            ), versions AS (
                SELECT st._line, st.order_id, st.updated_at,
                       {_order_content(columns, "st", _staged_has(conn))} AS _content,
                       s._stored_version, s._stored_content
                FROM staged st
                SEMI JOIN pairs p ON p.order_id = st.order_id AND p.updated_at = st.updated_at
                LEFT JOIN stored s ON s.order_id = st.order_id
                WHERE st._reason IS NULL
            ), referenced AS (
                SELECT *, CASE WHEN _stored_version = updated_at THEN _stored_content
                               ELSE first_value(_content) OVER (
                                   PARTITION BY order_id, updated_at ORDER BY _line) END
                          AS _reference
                FROM versions
            )
            SELECT _line FROM referenced WHERE _content <> _reference"""
    )
    conn.execute(
        """UPDATE staged SET _reason_column = 'updated_at', _reason = 'order ' || order_id ||
                  ' has another row with the same updated_at and different values'
           WHERE _line IN (SELECT _line FROM conflicts)"""
    )


def _any_to_judge(conn) -> bool:
    """Whether ``staged`` names a key (an order) already stored or one it has twice: the only
    rows that need judging (a file of new keys, each once, has none)."""
    return conn.execute("SELECT EXISTS (FROM stored) OR EXISTS (FROM repeated)").fetchone()[0]


def merge_orders(conn, entity: Entity, file_id: str | Lineage) -> list[MergeCounts]:
    """Upsert ``staged`` good rows into raw.orders by order_id, newest updated_at wins; the
    counts per file of ``file_id`` (a file id, or the files staged together).

    Needs ``stored`` and ``repeated`` from ``flag_order_conflicts`` (run before the
    quarantine is written; an order it quarantined a row of may stay in ``repeated``, which
    only means it is judged).
    """
    lineage = Lineage.of(file_id)
    judging = _any_to_judge(conn)
    # Only orders seen twice in the file or already stored need judging (narrow: keys and
    # times); every other good row is the first version of a new order: ``loaded``. The rows
    # that do not survive are few, so the insert is the good rows minus those.
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE judged AS
           WITH good AS (
               SELECT _line, order_id, updated_at, _rows FROM staged
               WHERE _reason IS NULL AND {"true" if judging else "false"}
           ), special AS (
               SELECT g.*, s._stored_version
               FROM good g LEFT JOIN stored s USING (order_id)
               WHERE g.order_id IN (SELECT order_id FROM stored
                                    UNION ALL SELECT order_id FROM repeated)
           ), ranked AS (
               SELECT *,
                      max(updated_at) OVER (PARTITION BY order_id ORDER BY _line
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _best_before,
                      max(updated_at) OVER (PARTITION BY order_id) AS _best_in_file
               FROM special
           )
           SELECT _line, order_id, _rows, _stored_version,
                  CASE WHEN updated_at <= _stored_version OR updated_at <= _best_before
                           THEN 'duplicate'
                       WHEN _stored_version IS NULL AND _best_before IS NULL THEN 'loaded'
                       ELSE 'updated' END AS _outcome,
                  updated_at = _best_in_file AS _latest
           FROM ranked"""
    )
    # The surviving version of each order replaces the stored one (found by row id: a scan
    # of raw.orders by order_id would grow with the table).
    conn.execute(
        """DELETE FROM raw.orders WHERE rowid IN
           (SELECT s._stored_rowid FROM judged j JOIN stored s USING (order_id)
            WHERE j._latest AND j._outcome <> 'duplicate')"""
    )
    columns = stored_columns(conn, entity)
    staged = _staged_has(conn)
    values = ", ".join(
        f"coalesce(st.region_code, '{UNKNOWN_REGION}')"
        if c == "region_code"
        else f"st.{quote_ident(c)}"
        if c in staged
        else "NULL"
        for c in columns
    )
    # Versions judged older than another, or repeats, are not inserted.
    passed_over = (
        """ANTI JOIN (SELECT _line FROM judged WHERE NOT _latest OR _outcome = 'duplicate') l
           USING (_line)"""
        if judging
        else ""
    )
    conn.execute(
        f"""INSERT INTO raw.orders ({", ".join(quote_ident(c) for c in columns)}, region_raw,
                                   _file_id, _line, _loaded_at)
            SELECT {values}, {_region_raw_sql("st")}, {lineage.file_id_sql("st._line")},
                   {lineage.line_sql("st._line")}, now()::TIMESTAMP
            FROM staged st {passed_over}
            WHERE st._reason IS NULL"""
    )
    return _counts(conn, lineage, _plain_loaded(conn, lineage))


def _region_raw_sql(alias: str) -> str:
    """The region as exported, NULL when it is its stored ISO code already (most exports):
    a second copy of the code costs the write of a whole column. dbt reads NULL beside a
    known code as that code."""
    return (
        f"CASE WHEN {alias}.region_code__raw = {alias}.region_code "
        f"AND {alias}.region_code <> '{UNKNOWN_REGION}' THEN NULL "
        f"ELSE {alias}.region_code__raw END"
    )


def _key_match(key: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(
        f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}" for k in key
    )


def merge_by_key(
    conn, entity: Entity, file_id: str | Lineage, table_columns: list[str]
) -> list[MergeCounts]:
    """Upsert ``staged`` good rows into raw.<entity> by its natural key; the last line wins.
    The counts per file of ``file_id`` (a file id, or the files staged together).

    Only keys already stored or given more than once in the file need judging (narrow:
    keys, line and a hash of the values); every other good row is a new key: ``loaded``,
    inserted straight from ``staged``, as are the judged rows that win.
    """
    lineage = Lineage.of(file_id)
    table = f"raw.{entity.name}"
    values = [c for c in table_columns if c not in entity.key]
    content = "hash(" + ", ".join(f"{{t}}.{quote_ident(c)}" for c in values) + ")"
    keys = ", ".join(quote_ident(k) for k in entity.key)

    def keys_of(alias: str) -> str:
        return ", ".join(f"{alias}.{quote_ident(k)}" for k in entity.key)

    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE stored AS
            SELECT {keys_of("t")}, {content.format(t="t")} AS _stored_content
            FROM {table} t
            SEMI JOIN (SELECT {keys} FROM staged WHERE _reason IS NULL) b
                ON {_key_match(entity.key, "t", "b")}"""
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE repeated AS
            SELECT {keys} FROM staged WHERE _reason IS NULL GROUP BY ALL HAVING count(*) > 1"""
    )
    judging = _any_to_judge(conn)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE judged AS
            WITH special AS (
                SELECT b._line, b._rows, {keys_of("b")}, {content.format(t="b")} AS _content
                FROM staged b
                SEMI JOIN (SELECT {keys} FROM stored UNION ALL SELECT {keys} FROM repeated) x
                    ON {_key_match(entity.key, "b", "x")}
                WHERE b._reason IS NULL AND {"true" if judging else "false"}
            ), ordered AS (
                SELECT b.*, s._stored_content,
                       lag(b._content) OVER (PARTITION BY {keys_of("b")} ORDER BY b._line)
                           AS _previous_content,
                       row_number() OVER (PARTITION BY {keys_of("b")} ORDER BY b._line DESC)
                           AS _from_last
                FROM special b LEFT JOIN stored s ON {_key_match(entity.key, "b", "s")}
            )
            SELECT *,
                   CASE WHEN _previous_content IS NULL AND _stored_content IS NULL THEN 'loaded'
                        WHEN coalesce(_previous_content, _stored_content) = _content
                            THEN 'duplicate'
                        ELSE 'updated' END AS _outcome,
                   _from_last = 1 AND _stored_content IS DISTINCT FROM _content AS _wins
            FROM ordered"""
    )
    conn.execute(
        f"""DELETE FROM {table} t USING judged w
            WHERE w._wins AND w._stored_content IS NOT NULL
              AND {_key_match(entity.key, "t", "w")}"""
    )
    inserted = ", ".join(quote_ident(c) for c in table_columns)
    passed_over = (
        "ANTI JOIN (SELECT _line FROM judged WHERE NOT _wins) l USING (_line)" if judging else ""
    )
    conn.execute(
        f"""INSERT INTO {table} ({inserted}, _file_id, _line, _loaded_at)
            SELECT {", ".join("st." + quote_ident(c) for c in table_columns)},
                   {_lineage(lineage)}
            FROM staged st {passed_over}
            WHERE st._reason IS NULL"""
    )
    return _counts(conn, lineage, _plain_loaded(conn, lineage))


def _plain_loaded(conn, lineage: Lineage) -> dict[int, int]:
    """Good rows per file index that were loaded without judging (not in ``judged``)."""
    index = lineage.file_index_sql("_line")
    plain = conn.execute(
        f"""SELECT {index}, sum(_rows) FROM (
                SELECT _line, _rows FROM staged WHERE _reason IS NULL
                UNION ALL SELECT _line, -_rows FROM judged)
            GROUP BY ALL"""
    ).fetchall()
    return {int(i): int(n or 0) for i, n in plain}
