"""How the Python assets write their tables: one typed writer, all or nothing.

Each output declares its schema once, as ``{column: DuckDB type}`` beside its asset; the writer
casts every column to it, so an empty frame still leaves the table with its schema, and a frame
lacking a declared column is an error rather than a column of NULLs.

    with transaction(conn):
        replace_table(conn, "analytics.restock_plan", plan, PLAN_TYPES)
        insert_rows(conn, "ops.risk_state", state, STATE_SCHEMA)
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pandas as pd

_views = itertools.count()


@contextmanager
def transaction(conn) -> Iterator[None]:
    """``BEGIN`` ... ``COMMIT``; any exception (Ctrl-C too) rolls back and is raised again."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def replace_table(conn, table: str, frame: pd.DataFrame, types: Mapping[str, str]) -> None:
    """``CREATE OR REPLACE TABLE table`` (schema-qualified) from ``frame``, each column cast to
    its declared type. The caller owns the transaction."""
    with _typed_view(conn, table, frame, types) as select:
        conn.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")


def insert_rows(conn, table: str, frame: pd.DataFrame, types: Mapping[str, str]) -> None:
    """``INSERT INTO table (declared columns)`` the rows of ``frame``, cast like
    :func:`replace_table`. The caller owns the transaction."""
    with _typed_view(conn, table, frame, types) as select:
        conn.execute(f"INSERT INTO {table} ({', '.join(types)}) {select}")


@contextmanager
def _typed_view(conn, table: str, frame: pd.DataFrame, types: Mapping[str, str]):
    missing = [name for name in types if name not in frame.columns]
    if missing and len(frame.columns):
        raise ValueError(f"{table}: the frame lacks declared column(s) {', '.join(missing)}")
    view = f"_cardpulse_frame_{next(_views)}"
    conn.register(view, frame.reindex(columns=list(types)))
    try:
        casts = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in types.items())
        yield f"SELECT {casts} FROM {view}"
    finally:
        conn.unregister(view)
