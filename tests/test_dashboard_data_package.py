"""The shape of ``dashboard/data/``: every page's queries are registered once, under one name."""

import inspect
import types

import pytest

from dashboard import data
from dashboard.data import queries


def _query_functions(module) -> dict[str, object]:
    """Public functions of a page module called as ``fn(conn, scope, ...)``."""
    found = {}
    for name, value in vars(module).items():
        if name.startswith("_") or not inspect.isfunction(value):
            continue
        if value.__module__ != module.__name__:
            continue
        params = list(inspect.signature(value).parameters)
        if params[:2] == ["conn", "scope"]:
            found[name] = value
    return found


@pytest.mark.parametrize("module", queries.PAGE_MODULES, ids=lambda m: m.__name__)
def test_every_page_query_is_registered_under_its_own_name(module):
    defined = _query_functions(module)
    assert defined, f"{module.__name__} defines no query"
    for name, function in defined.items():
        assert queries.QUERIES.get(name) is function, name


def test_the_package_offers_the_same_queries_load_runs():
    assert data.QUERIES is queries.QUERIES
    assert data.load is queries.load
    for name in ("kpis", "restock", "recommendations", "freshness", "waterfall", "risk_rows"):
        assert name in data.QUERIES


def test_two_pages_with_one_query_name_are_refused():
    first = types.SimpleNamespace(__name__="first", QUERIES={"kpis": len})
    second = types.SimpleNamespace(__name__="second", QUERIES={"kpis": str, "other": str})
    with pytest.raises(ValueError, match="second: query name\\(s\\) already taken: kpis"):
        queries.registry((first, second))
    assert set(queries.registry((first,))) == {"kpis"}
