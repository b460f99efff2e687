"""Merging a file's good rows into its raw table, set-based, with the summary counts.

Rows are judged as if applied one by one in file order:

- orders: a version applies when it is newer than both the stored version and every earlier
  version of the same order in the file (newer = later ``updated_at``; on equal ``updated_at``,
  a later step of the order's life, see ``STATUS_RANK``). The first applied version of an
  order not yet stored is ``loaded``, later applied ones ``updated``; a version that is not
  newer (a repeat, or an older row arriving late) is ``duplicate`` and changes nothing.
- other entities: upsert by natural key; a row identical to the current version is
  ``duplicate``, a new key ``loaded``, a changed value ``updated``; the last line wins.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.ingest.entities import STATUS_RANK, Entity
from pipelines.ingest.reading import quote_ident
from pipelines.ingest.regions import UNKNOWN_REGION


@dataclass
class MergeCounts:
    loaded: int = 0
    updated: int = 0
    duplicate: int = 0


def _lineage(file_id: str) -> str:
    return f"'{file_id}' AS _file_id, _line, now()::TIMESTAMP AS _loaded_at"


def _counts(conn) -> MergeCounts:
    rows = dict(
        conn.execute("SELECT _outcome, sum(_rows) FROM judged GROUP BY _outcome").fetchall()
    )
    return MergeCounts(
        loaded=int(rows.get("loaded", 0) or 0),
        updated=int(rows.get("updated", 0) or 0),
        duplicate=int(rows.get("duplicate", 0) or 0),
    )


def merge_orders(conn, entity: Entity, file_id: str) -> MergeCounts:
    """Upsert ``staged`` good rows into raw.orders by order_id, newest version wins.

    The stored versions looked up are only those whose order_id is in the file, and the scan
    is first narrowed to the file's order_id range, so zone maps skip what cannot match.
    """
    rank = " ".join(f"WHEN '{status}' THEN {value}" for status, value in STATUS_RANK.items())
    version = f"(epoch_us({{t}}.updated_at) * 8 + CASE {{t}}.status {rank} ELSE 0 END)"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE batch AS
            SELECT *, {version.format(t='staged')} AS _version
            FROM staged WHERE _reason IS NULL"""
    )
    lowest, highest = conn.execute("SELECT min(order_id), max(order_id) FROM batch").fetchone()
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE stored AS
            SELECT o.order_id, max({version.format(t='o')}) AS _stored_version
            FROM raw.orders o
            WHERE o.order_id BETWEEN ? AND ?
              AND o.order_id IN (SELECT order_id FROM batch)
            GROUP BY o.order_id""",
        [lowest or "", highest or ""],
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE judged AS
           WITH ranked AS (
               SELECT b.*, s._stored_version,
                      max(b._version) OVER (PARTITION BY b.order_id ORDER BY b._line
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS _best_before,
                      max(b._version) OVER (PARTITION BY b.order_id) AS _best_in_file
               FROM batch b LEFT JOIN stored s USING (order_id)
           )
           SELECT *,
                  CASE WHEN _version <= greatest(coalesce(_stored_version, -1),
                                                 coalesce(_best_before, -1)) THEN 'duplicate'
                       WHEN _stored_version IS NULL AND _best_before IS NULL THEN 'loaded'
                       ELSE 'updated' END AS _outcome
           FROM ranked"""
    )
    # The surviving version of each order: the applied row with the highest version.
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE winners AS
           SELECT * FROM judged
           WHERE _outcome <> 'duplicate' AND _version = _best_in_file"""
    )
    conn.execute(
        """DELETE FROM raw.orders WHERE order_id IN
           (SELECT order_id FROM winners WHERE _stored_version IS NOT NULL)"""
    )
    columns = [c.name for c in entity.columns]
    values = ", ".join(
        f"coalesce(region_code, '{UNKNOWN_REGION}') AS region_code" if c == "region_code"
        else quote_ident(c)
        for c in columns
    )
    conn.execute(
        f"""INSERT INTO raw.orders ({', '.join(quote_ident(c) for c in columns)}, region_raw,
                                   _file_id, _line, _loaded_at)
            SELECT {values}, region_code__raw, {_lineage(file_id)} FROM winners ORDER BY _line"""
    )
    return _counts(conn)


def _key_match(key: tuple[str, ...], left: str, right: str) -> str:
    return " AND ".join(
        f"{left}.{quote_ident(k)} IS NOT DISTINCT FROM {right}.{quote_ident(k)}" for k in key
    )


def merge_by_key(conn, entity: Entity, file_id: str, table_columns: list[str]) -> MergeCounts:
    """Upsert ``staged`` good rows into raw.<entity> by its natural key; the last line wins."""
    table = f"raw.{entity.name}"
    values = [c for c in table_columns if c not in entity.key]
    content = "hash(" + ", ".join(f"{{t}}.{quote_ident(c)}" for c in values) + ")"
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE batch AS
            SELECT *, {content.format(t='staged')} AS _content
            FROM staged WHERE _reason IS NULL"""
    )
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE stored AS
            SELECT {', '.join('t.' + quote_ident(k) for k in entity.key)},
                   {content.format(t='t')} AS _stored_content
            FROM {table} t
            WHERE EXISTS (SELECT 1 FROM batch b WHERE {_key_match(entity.key, 't', 'b')})"""
    )
    partition = ", ".join("b." + quote_ident(k) for k in entity.key)
    conn.execute(
        f"""CREATE OR REPLACE TEMP TABLE judged AS
            WITH ordered AS (
                SELECT b.*, s._stored_content,
                       lag(b._content) OVER (PARTITION BY {partition} ORDER BY b._line)
                           AS _previous_content,
                       row_number() OVER (PARTITION BY {partition} ORDER BY b._line DESC)
                           AS _from_last
                FROM batch b LEFT JOIN stored s ON {_key_match(entity.key, 'b', 's')}
            )
            SELECT *,
                   CASE WHEN _previous_content IS NULL AND _stored_content IS NULL THEN 'loaded'
                        WHEN coalesce(_previous_content, _stored_content) = _content
                            THEN 'duplicate'
                        ELSE 'updated' END AS _outcome
            FROM ordered"""
    )
    conn.execute(
        """CREATE OR REPLACE TEMP TABLE winners AS
           SELECT * FROM judged
           WHERE _from_last = 1
             AND (_stored_content IS NULL OR _stored_content <> _content)"""
    )
    conn.execute(
        f"""DELETE FROM {table} t USING winners w
            WHERE w._stored_content IS NOT NULL AND {_key_match(entity.key, 't', 'w')}"""
    )
    inserted = ", ".join(quote_ident(c) for c in table_columns)
    conn.execute(
        f"""INSERT INTO {table} ({inserted}, _file_id, _line, _loaded_at)
            SELECT {inserted}, {_lineage(file_id)} FROM winners ORDER BY _line"""
    )
    return _counts(conn)
