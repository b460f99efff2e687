"""Signing in starts the overview's queries in the background (dashboard/prefetch.py, issue #15):
the overview then finds every query it runs already cached, for the signed-in scope only."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dashboard_fixtures as fx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, prefetch, sessions, ui
from dashboard.data import access, queries
from dashboard.data.snapshot import snapshot_ref
from dashboard.i18n import t

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PASSWORD = "correct-horse-9"


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    fx.build_snapshot(root / "snapshot.duckdb")
    store = auth.UserStore(root / "users.json")
    store.add("shop", "merchant", PASSWORD, "M001")
    store.add("root", "admin", PASSWORD)
    return root


@pytest.fixture
def home(built_home, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(built_home))
    queries._cached.clear()
    yield built_home
    queries._cached.clear()


@pytest.fixture
def computed(monkeypatch) -> Counter:
    """How often each query function really ran (a cache hit does not call it)."""
    runs: Counter = Counter()

    def counting(name, query):
        def run(*args):
            runs[name] += 1
            return query(*args)

        return run

    for name, query in list(queries.QUERIES.items()):
        monkeypatch.setitem(queries.QUERIES, name, counting(name, query))
    return runs


def overview_as(name: str, home: Path) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.session_state[ui.SESSION_KEY] = auth.start_session(
        auth.UserStore(home / "users.json").get(name)
    )
    return app.run()


def prefetched(home: Path, scope: access.Scope) -> None:
    threads = prefetch.overview(snapshot_ref(home / "snapshot.duckdb"), scope)
    assert threads
    for thread in threads:
        thread.join(timeout=60)


def test_after_the_prefetch_the_overview_runs_no_query_of_its_own(home, computed):
    prefetched(home, access.scope_for("merchant", "M001"))
    ran_in_background = sum(computed.values())
    assert ran_in_background >= 9  # build_info, options, kpis, daily, forecast, events, ...
    app = overview_as("shop", home)
    assert not app.exception and app.title[0].value == t("page_overview")
    assert sum(computed.values()) == ran_in_background, computed


def test_a_merchants_prefetch_serves_nobody_else(home, computed):
    prefetched(home, access.scope_for("merchant", "M001"))
    before = Counter(computed)
    app = overview_as("root", home)
    assert not app.exception and app.title[0].value == t("page_overview")
    # The platform's overview computed its own figures: kpis, daily sales, top SKUs, ...
    for name in ("filter_options", "kpis", "daily_sales", "top_skus", "provinces", "channels"):
        assert computed[name] == before[name] + 1, name


def test_signing_in_through_the_form_prefetches_and_draws_the_overview(home, computed):
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert sum(computed.values()) == 0  # the sign-in form queries nothing
    app.text_input(key="sign_in_name").input("shop")
    app.text_input(key="sign_in_password").input(PASSWORD)
    app.button[0].click().run()
    assert not app.exception and app.title[0].value == t("page_overview")
    assert computed["kpis"] == 1  # once, by the prefetch or the page, never both


def test_a_refused_password_queries_nothing(home, computed):
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    app.text_input(key="sign_in_name").input("shop")
    app.text_input(key="sign_in_password").input("wrong-password")
    app.button[0].click().run()
    assert [e.value for e in app.error] == [t("bad_credentials")]
    assert ui.SESSION_KEY not in app.session_state
    assert sum(computed.values()) == 0


@pytest.mark.parametrize("token", ["_starts-with-one", "has__two-in-a-row"])
def test_the_cookie_step_draws_whatever_letters_its_token_holds(home, token):
    """A URL-safe token may hold ``_``: the component's key must still be one Streamlit takes
    (``__`` in it once crashed about one sign-in in sixty)."""
    user = auth.UserStore(home / "users.json").get("root")
    record, _token = sessions.BOOK.open(user)
    sessions.BOOK._handoffs[token] = (record.session_id, record.signed_in_at)
    app = AppTest.from_file(str(APP), default_timeout=30)
    app.session_state[ui.SESSION_KEY] = auth.start_session(user)
    app.session_state[ui.COOKIE_STEP_KEY] = ("POST", token)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    assert app.title[0].value == t("page_overview")
    assert "__" not in ui.cookie_component_key("POST", token)
