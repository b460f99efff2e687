"""The profit page (issue #18) with AppTest: waterfall, coupons, channels, agents and exports,
in both languages without raw codes; a merchant sees its tree, a merchant user bound to an
agent sees only that agent's orders (scoped in the SQL, not by widgets)."""

from __future__ import annotations

import dashboard_fixtures as fx
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP, PASSWORD, assert_clean, leaks, rendered_text

from dashboard import auth, data, ui
from dashboard.data import profit as profit_data
from dashboard.i18n import t

PAGE = "app_pages/profit.py"
ACCOUNTS = {
    "admin": ("root", "admin", None, None),
    "merchant": ("shop", "merchant", "M001", None),
    "agent": ("star1", "merchant", "M001", "A-STAR1"),
}


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    fx.build_snapshot(root / "snapshot.duckdb")
    store = auth.UserStore(root / "users.json")
    for name, role, merchant, agent in ACCOUNTS.values():
        store.add(name, role, PASSWORD, merchant, agent_id=agent)
    return root


@pytest.fixture
def home(built_home, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(built_home))
    return built_home


def profit_page(home, account: str, lang: str = "zh") -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=60)
    user = auth.UserStore(home / "users.json").get(ACCOUNTS[account][0])
    app.session_state[ui.SESSION_KEY] = auth.start_session(user)
    app.query_params["lang"] = lang
    app.run()
    return app.switch_page(PAGE).run()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_draws_every_part_in_words(home, lang):
    app = profit_page(home, "admin", lang)
    assert_clean(app)
    assert app.title[0].value == t("page_profit", lang)
    assert not app.warning, [w.value for w in app.warning]
    assert not leaks(app, lang), leaks(app, lang)
    labels = [m.label for m in app.metric]
    assert labels[0] == t("wf_gmv", lang) and labels[-1] == t("wf_profit", lang)
    assert len(app.dataframe) == 3  # coupons, channels, agents
    assert {b.proto.label for b in app.get("download_button")} == {
        t("download_csv", lang),
        t("download_xlsx", lang),
    }


def test_the_waterfall_adds_up_for_the_period(home):
    conn = data.connect(home / "snapshot.duckdb")
    try:
        profit = conn.execute(
            """SELECT max(order_date) FROM analytics.fct_order_profit"""
        ).fetchone()[0]
        filters = profit_data.ProfitFilters(profit - fx.timedelta(days=29), profit)
        sums = profit_data.waterfall(conn, data.Scope("admin"), filters)["current"]
        expected = conn.execute(
            "SELECT sum(net_profit)::DOUBLE FROM analytics.fct_order_profit "
            "WHERE order_date BETWEEN ? AND ?",
            [filters.start, filters.end],
        ).fetchone()[0]
    finally:
        conn.close()
    steps = sums["gmv"] - sum(sums[s] for s in profit_data.STEPS[1:])
    assert steps == pytest.approx(sums["net_profit"], abs=0.005)
    assert sums["net_profit"] == pytest.approx(expected)
    assert sums["discount_amount"] > 0  # the coupon runs in the last 30 days


def test_a_merchant_sees_only_its_tree(home):
    app = profit_page(home, "merchant")
    assert_clean(app)
    text = rendered_text(app)
    for marker in ("SKU-SECRET", "M004", "M005", "A-RIVAL"):
        assert marker not in text, marker
    assert "A-STAR1" in text and "A-STAR2" in text


def test_an_agent_user_sees_only_its_agents_orders(home):
    app = profit_page(home, "agent")
    assert_clean(app)
    text = rendered_text(app)
    for marker in ("A-STAR2", "A-RIVAL", "M004", "SKU-SECRET"):
        assert marker not in text, marker
    assert "A-STAR1" in text
    # Its agent filter cannot be changed, and the other pages are not offered to it.
    assert app.multiselect(key="pf_agents").disabled
    with pytest.raises(ValueError, match="navigation page"):
        app.switch_page("app_pages/overview.py")


def test_the_agent_scope_is_applied_in_the_queries_whatever_the_filters():
    conn = data.connect(fx.build_snapshot(fx.Path(pytest_tmp()) / "s.duckdb"))
    try:
        agent = data.scope_for("merchant", "M001", "A-STAR1")
        filters = profit_data.ProfitFilters(fx.FIRST_DAY, fx.LAST_DAY, agents=("A-RIVAL",))
        assert profit_data.agent_ranking(conn, agent, filters).empty
        every = profit_data.ProfitFilters(fx.FIRST_DAY, fx.LAST_DAY)
        ranked = profit_data.agent_ranking(conn, agent, every)
        assert list(ranked["agent_id"]) == ["A-STAR1"]
        expected = conn.execute(
            "SELECT sum(revenue)::DOUBLE FROM analytics.fct_order_profit WHERE agent_id = ?",
            ["A-STAR1"],
        ).fetchone()[0]
        assert ranked["revenue"].iloc[0] == pytest.approx(expected)
        # Queries that cannot tell agents apart refuse an agent scope (fail closed).
        with pytest.raises(data.PlatformOnly):
            data.kpis(conn, agent, data.Filters(fx.FIRST_DAY, fx.LAST_DAY))
        with pytest.raises(PermissionError):
            data.scope_for("ops", None, "A-STAR1")
    finally:
        conn.close()


def pytest_tmp():
    import tempfile

    return tempfile.mkdtemp(prefix="cardpulse-profit-")


def test_users_add_binds_an_agent_only_to_a_merchant_user(tmp_path):
    from pipelines.errors import CardPulseError

    store = auth.UserStore(tmp_path / "users.json")
    user = store.add("star", "merchant", PASSWORD, "M001", agent_id="A-STAR1")
    assert auth.start_session(user).agent_id == "A-STAR1"
    with pytest.raises(CardPulseError, match="--agent applies only to the merchant role"):
        store.add("ops", "ops", PASSWORD, agent_id="A-STAR1")
