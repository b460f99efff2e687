"""Every named query the pages run, and ``load``: one run through ``st.cache_data`` keyed by
the snapshot file's version, the scope and the arguments, so a replaced snapshot (``os.replace``
after a build) is read afresh on the next rerun.

Query functions are plain ``fn(conn, scope, *args) -> DataFrame | dict``, one module per page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit import runtime

from dashboard.data import health, operations, overview, pricing, profit, risk
from dashboard.data.access import Scope
from dashboard.data.snapshot import SnapshotRef, cursor_on

if not runtime.exists():
    # The CLI and tests import this module outside a server: plain in-memory caching is right
    # there, so Streamlit's warning about it is noise.
    logging.getLogger("streamlit.runtime.caching.cache_data_api").setLevel(logging.ERROR)

QUERY_TTL_SECONDS = 600

PAGE_MODULES = (overview, operations, pricing, health, profit, risk)


def registry(modules=PAGE_MODULES) -> dict[str, Callable[..., Any]]:
    """Every page module's ``QUERIES`` in one table; two pages naming a query alike is an
    error at import, not one page silently running the other's."""
    merged: dict[str, Callable[..., Any]] = {}
    for module in modules:
        clash = sorted(merged.keys() & module.QUERIES.keys())
        if clash:
            raise ValueError(f"{module.__name__}: query name(s) already taken: {', '.join(clash)}")
        merged.update(module.QUERIES)
    return merged


QUERIES = registry()


@st.cache_data(ttl=QUERY_TTL_SECONDS, max_entries=1024, show_spinner=False)
def _cached(query: str, snapshot: SnapshotRef, scope: Scope, args: tuple) -> Any:
    cursor = cursor_on(snapshot)
    try:
        return QUERIES[query](cursor, scope, *args)
    finally:
        cursor.close()


def load(query: str, snapshot: SnapshotRef, scope: Scope, *args: Any) -> Any:
    """Run a named query on the snapshot, cached by snapshot version, scope and arguments."""
    if snapshot.version is None:
        raise FileNotFoundError(snapshot.path)
    if not isinstance(scope, Scope):
        raise PermissionError("queries need a Scope")
    return _cached(query, snapshot, scope, tuple(args))
