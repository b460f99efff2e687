"""The Streamlit app run headless with AppTest: every page under every role, sign-in,
language, empty states, approvals, and merchant isolation through widgets and query params."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dashboard_fixtures as fx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, ui
from dashboard.i18n import CODE_LABELS, code_label, message_label, money, t

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PAGES = {
    "overview": "app_pages/overview.py",
    "operations": "app_pages/operations.py",
    "pricing": "app_pages/pricing.py",
    "health": "app_pages/health.py",
    "risk": "app_pages/risk.py",
}
TITLES = {
    "overview": "page_overview",
    "operations": "page_operations",
    "pricing": "page_pricing",
    "health": "page_health",
    "risk": "page_risk",
}
ACCOUNTS = {
    "merchant": ("shop", "M001"),
    "ops": ("olivia", None),
    "pricing": ("peng", None),
    "admin": ("root", None),
}
PASSWORD = "correct-horse-9"
LEAK_MARKERS = ("SKU-SECRET", "M004", "M005")


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("home")
    fx.build_snapshot(root / "snapshot.duckdb")
    store = auth.UserStore(root / "users.json")
    for role, (name, merchant) in ACCOUNTS.items():
        store.add(name, role, PASSWORD, merchant)
    return root


@pytest.fixture
def home(built_home, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(built_home))
    return built_home


def signed_in(role: str, home: Path, **query) -> AppTest:
    """An app whose session is already signed in as ``role`` (the form is tested separately)."""
    app = AppTest.from_file(str(APP), default_timeout=30)
    user = auth.UserStore(home / "users.json").get(ACCOUNTS[role][0])
    app.session_state[ui.SESSION_KEY] = auth.start_session(user)
    for key, value in query.items():
        app.query_params[key] = value
    return app.run()


def rendered_text(app: AppTest) -> str:
    """Every element's protobuf as text: titles, metrics, tables (Arrow bytes), chart specs."""
    parts = []

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(app._tree)
    return "\n".join(parts)


def assert_clean(app: AppTest) -> None:
    assert not app.exception, [e.value for e in app.exception]
    assert not app.error, [e.value for e in app.error]


@pytest.mark.parametrize("role", list(ACCOUNTS))
def test_every_page_under_every_role(home, role):
    app = signed_in(role, home)
    assert_clean(app)
    assert app.title[0].value == t("page_overview")
    for page, path in PAGES.items():
        # The risk page is for operations and admin only.
        if (role == "merchant" and page != "overview") or (role == "pricing" and page == "risk"):
            # The page is not registered for a merchant: there is no way to navigate to it.
            with pytest.raises(ValueError, match="navigation page"):
                app.switch_page(path)
            continue
        app.switch_page(path).run()
        assert_clean(app)
        assert app.title[0].value == t(TITLES[page])
        assert not app.warning, [w.value for w in app.warning]


def test_no_download_button_reruns_the_page(home):
    # A click on a rerunning download button sends the rerun and the request for its file
    # together; Streamlit clears the unsent answer when the rerun starts, and the browser then
    # waits minutes with the button disabled (seen in CI). Every page's downloads must not rerun.
    app = signed_in("admin", home)
    buttons = {}
    for path in [*PAGES.values(), "app_pages/profit.py"]:
        app.switch_page(path).run()
        assert_clean(app)
        buttons.update({button.key: button.proto for button in app.get("download_button")})
    assert {"download_overview", "po_csv", "po_xlsx", "download_profit_csv", "risk_csv"} <= set(
        buttons
    )
    assert {key for key, proto in buttons.items() if not proto.ignore_rerun} == set()


def test_a_page_file_run_directly_still_checks_the_role(home):
    page = AppTest.from_file(str(APP.parent / PAGES["operations"]), default_timeout=30)
    user = auth.UserStore(home / "users.json").get("shop")
    page.session_state[ui.SESSION_KEY] = auth.start_session(user)
    page.run()
    assert [w.value for w in page.warning] == [t("not_allowed")]
    assert "SKU-QQ100" not in rendered_text(page)
    anonymous = AppTest.from_file(str(APP.parent / PAGES["overview"]), default_timeout=30).run()
    assert [w.value for w in anonymous.warning] == [t("session_expired")]


def test_sign_in_form_and_sign_out(home):
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert app.title[0].value == t("sign_in_title")
    app.text_input(key="sign_in_name").input("olivia")
    app.text_input(key="sign_in_password").input(PASSWORD)
    app.button[0].click().run()
    assert_clean(app)
    assert app.title[0].value == t("page_overview")
    app.button(key="sign_out").click().run()
    assert app.title[0].value == t("sign_in_title")


def test_wrong_password_is_refused(home, monkeypatch):
    # A long back-off, so a slow machine cannot outwait it between the two attempts.
    monkeypatch.setattr(auth._Failures, "backoff_seconds", lambda failures: 60)
    store = auth.UserStore(home / "users.json")
    store.add("victim", "ops", PASSWORD)
    app = AppTest.from_file(str(APP), default_timeout=30).run()
    app.text_input(key="sign_in_name").input("victim")
    app.text_input(key="sign_in_password").input("not-the-password")
    app.button[0].click().run()
    assert [e.value for e in app.error] == [t("bad_credentials")]
    assert app.title[0].value == t("sign_in_title")
    # Retrying at once is refused before the password is even checked.
    app.text_input(key="sign_in_password").input(PASSWORD)
    app.button[0].click().run()
    # (59 when the loaded machine took over a second between the two attempts)
    assert app.error[0].value in (t("slow_down", seconds=60), t("slow_down", seconds=59))
    assert ui.SESSION_KEY not in app.session_state
    store.remove("victim")


def test_expired_session_returns_to_sign_in(home):
    app = AppTest.from_file(str(APP), default_timeout=30)
    user = auth.UserStore(home / "users.json").get("root")
    long_ago = datetime.now(UTC) - timedelta(minutes=auth.IDLE_MINUTES + 1)
    app.session_state[ui.SESSION_KEY] = auth.start_session(user, now=long_ago)
    app.run()
    assert app.title[0].value == t("sign_in_title")
    assert t("session_expired") in [i.value for i in app.info]


def test_english_toggle_and_query_parameter(home):
    app = signed_in("admin", home, lang="en")
    assert app.title[0].value == "Merchant overview"
    assert any(m.label == "GMV" for m in app.metric)
    app.segmented_control(key="lang").set_value("zh").run()
    assert app.title[0].value == t("page_overview")


def test_no_snapshot_yet_is_a_clear_page(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    auth.UserStore(tmp_path / "users.json").add("root", "admin", PASSWORD)
    app = signed_in("admin", tmp_path)
    for path in PAGES.values():
        app.switch_page(path).run()
        assert_clean(app)
        assert [i.value for i in app.info] == [t("no_snapshot")]


def empty_note(table: str, title: str, built: bool, lang: str = "zh") -> str:
    named = f"{t(title, lang)}（{table}）" if lang == "zh" else f"{t(title, lang)} ({table})"
    return t("empty_built_table" if built else "empty_table", lang, table=named)


def test_empty_tables_show_notes_not_tracebacks(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    fx.build_snapshot(
        tmp_path / "snapshot.duckdb",
        empty=("restock_plan", "price_recommendations", "fct_daily_merchant_sales"),
        missing=("funding_plan", "forecast_backtest", "dbt_results"),
    )
    auth.UserStore(tmp_path / "users.json").add("root", "admin", PASSWORD)
    app = signed_in("admin", tmp_path)
    assert_clean(app)
    # A table the build wrote without rows is not called "not built".
    assert [i.value for i in app.info] == [
        empty_note("fct_daily_merchant_sales", "daily_trend", built=True)
    ]
    app.switch_page(PAGES["operations"]).run()
    assert_clean(app)
    notes = [i.value for i in app.info]
    assert empty_note("restock_plan", "restock_plan", built=True) in notes
    assert empty_note("funding_plan", "funding_plan", built=False) in notes
    app.switch_page(PAGES["pricing"]).run()
    assert_clean(app)
    assert [i.value for i in app.info] == [
        empty_note("price_recommendations", "recommendations", built=True)
    ]
    app.switch_page(PAGES["health"]).run()
    assert_clean(app)
    notes = [i.value for i in app.info]
    assert empty_note("dbt_results", "dbt_tests", built=False) in notes
    assert empty_note("forecast_backtest", "forecast_accuracy", built=False) in notes


def test_merchant_overview_shows_only_its_tree(home):
    app = signed_in("merchant", home)
    assert_clean(app)
    start = fx.LAST_DAY - timedelta(days=29)
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    assert gmv.value == money(fx.expected_gmv("M001", start, fx.LAST_DAY), 0)
    merchants = app.selectbox(key="ov_merchant").options
    assert [m for m in merchants if "(" in m] == [
        f"{name} ({mid})"
        for mid, name in zip(fx.MERCHANTS["merchant_id"][:3], fx.MERCHANTS["name"][:3], strict=True)
    ]
    text = rendered_text(app)
    assert "SKU-QQ100" in text
    assert not [marker for marker in LEAK_MARKERS if marker in text]
    # Provinces as a tile map (and the ranked bar in the next tab)
    tiles = [c for c in app.get("plotly_chart") if '"symbol":"square"' in c.proto.spec]
    assert len(tiles) == 1 and "广东" in tiles[0].proto.spec


@pytest.mark.parametrize(
    "query",
    [
        {"merchant": "M004"},
        {"sku": "SKU-SECRET", "category": "gift_card"},
        {"merchant": "M001' OR '1'='1"},
        {"sku": "x' OR 1=1 --,SKU-SECRET", "category": "') OR TRUE --"},
        {"start": "2000-01-01' OR 1=1 --", "end": "2099-01-01"},
    ],
)
def test_query_parameters_cannot_widen_a_merchant(home, query):
    app = signed_in("merchant", home, **query)
    assert_clean(app)
    text = rendered_text(app)
    assert not [marker for marker in LEAK_MARKERS if marker in text]
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    own_total = fx.expected_gmv("M001")
    shown = float(gmv.value.replace("¥", "").replace(",", ""))
    assert 0 < shown <= own_total + 1


def test_widgets_cannot_widen_a_merchant(home):
    app = signed_in("merchant", home)
    app.multiselect(key="ov_skus").set_value(["SKU-SECRET"]).run()
    app.multiselect(key="ov_categories").set_value(["gift_card", "' OR 1=1 --"]).run()
    assert_clean(app)
    with pytest.raises(ValueError):  # not an option for this merchant
        app.selectbox(key="ov_merchant").set_value("M004").run()
    app = signed_in("merchant", home)
    app.selectbox(key="ov_merchant").set_value("M002").run()  # a sub-agent: allowed, narrows
    assert_clean(app)
    text = rendered_text(app)
    assert not [marker for marker in LEAK_MARKERS if marker in text]
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    start = fx.LAST_DAY - timedelta(days=29)
    assert gmv.value == money(fx.expected_gmv("M002", start, fx.LAST_DAY), 0)


def test_ops_can_see_every_merchant(home):
    app = signed_in("ops", home, merchant="M004")
    assert_clean(app)
    assert app.selectbox(key="ov_merchant").value == "M004"
    start = fx.LAST_DAY - timedelta(days=29)
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    assert gmv.value == money(fx.expected_gmv("M004", start, fx.LAST_DAY), 0)


@pytest.mark.parametrize("role", ["ops", "pricing", "admin"])
def test_only_pricing_and_admin_can_approve(home, role):
    app = signed_in(role, home)
    app.switch_page(PAGES["pricing"]).run()
    assert_clean(app)
    approve = [button for button in app.button if button.key == "approve_selected"]
    if role == "ops":
        assert not approve
        assert [i.value for i in app.info] == [t("approve_not_allowed")]
    else:
        assert approve and approve[0].disabled  # nothing ticked yet
        assert not [i.value for i in app.info]


def test_operations_offers_purchase_orders_as_csv_and_xlsx(home):
    app = signed_in("ops", home)
    app.switch_page(PAGES["operations"]).run()
    assert_clean(app)
    keys = {button.key for button in app.get("download_button")}
    assert {"po_csv", "po_xlsx"} <= keys
    assert app.selectbox(key="po_supplier").options == ["SUP-A", "SUP-C"]
    risks = [m for m in app.metric if m.label == t("risk_out_now")]
    assert risks and risks[0].value == "1"


def test_funding_plan_says_when_no_top_up_is_needed(home):
    app = signed_in("ops", home)
    app.switch_page(PAGES["operations"]).run()
    assert_clean(app)
    (funding,) = [frame.value for frame in app.dataframe if "topup_by" in frame.value.columns]
    by_supplier = funding.set_index("supplier_id")["topup_by"]
    assert by_supplier["SUP-A"] == by_supplier["SUP-C"] == t("no_topup_needed") == "无需充值"
    assert by_supplier["SUP-B"] == (fx.LAST_DAY + timedelta(days=1)).isoformat()  # a real date


def test_what_if_moves_with_the_price(home):
    app = signed_in("pricing", home)
    app.switch_page(PAGES["pricing"]).run()
    units_at = {}
    for end in ("min", "max"):
        slider = app.slider(key="what_if_price_0")
        slider.set_value(getattr(slider, end)).run()
        assert_clean(app)
        assert app.slider(key="what_if_price_0").value == getattr(slider, end)
        metric = next(m for m in app.metric if m.label == t("expected_units"))
        units_at[end] = float(metric.value.replace(",", ""))
        ranges = [c.value for c in app.caption if c.value.startswith(t("what_if_range")[:2])]
        assert len(ranges) == 3  # units, revenue and profit each show their interval
    assert units_at["min"] > units_at["max"] > 0  # negative elasticity: dearer sells less


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_clicking_the_chosen_language_again_keeps_it(home, lang):
    # In the browser, clicking the selected segment sends "nothing selected" for the toggle.
    app = signed_in("admin", home, lang=lang)
    app.segmented_control(key="lang").set_value(None).run()
    assert_clean(app)
    assert app.title[0].value == t("page_overview", lang)
    assert app.segmented_control(key="lang").value == lang
    app.segmented_control(key="lang").set_value(lang).run()  # and choosing it again is fine
    assert_clean(app)
    assert app.title[0].value == t("page_overview", lang)


# --- what a reader sees: words, not the warehouse's codes

# Codes the data carries that must never reach the screen as they are.
RAW_CODES = frozenset(
    code
    for kind in ("category", "channel", "status", "guardrail", "resource_type", "model")
    for code in CODE_LABELS[kind]
    if code not in ("prophet",)  # a model's proper name, the same in both languages
) | {"ALL", "UNKNOWN", "max_step"}
# Columns whose values are names a user looks up elsewhere, not codes to translate: the
# warehouse table, the dbt test, the landing file, the input file's column and its raw text.
VERBATIM_COLUMNS = {"table", "name", "file_path", "column_name", "raw_text", "sku_id"}
SNAKE = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")


def visible_strings(app: AppTest) -> list[tuple[str, str]]:
    """(where, text) for every string a reader sees: element texts, table cells and headers,
    widget labels and options, and the chart texts Plotly draws."""
    seen: list[tuple[str, str]] = []
    for kind in ("title", "subheader", "caption", "info", "warning", "success", "markdown"):
        seen += [(kind, str(e.value)) for e in app.get(kind)]
    for metric in app.metric:
        seen += [("metric", metric.label), ("metric", metric.value), ("metric", metric.proto.delta)]
    for widget in (*app.selectbox, *app.multiselect):
        seen += [("widget", widget.label)] + [("option", str(o)) for o in widget.options]
    for frame in app.dataframe:
        headers = json.loads(frame.proto.columns or "{}")
        seen += [
            ("header", str(c.get("label", name))) for name, c in headers.items() if name != "_index"
        ]
        value = frame.value.data if hasattr(frame.value, "data") else frame.value
        for column in value.columns:
            if column in VERBATIM_COLUMNS:
                continue
            seen += [(f"cell {column}", str(v)) for v in value[column] if isinstance(v, str)]
    for chart in app.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        for trace in spec["data"]:
            for field in ("name", "labels", "text"):
                values = trace.get(field)
                values = values if isinstance(values, list) else [values]
                seen += [(f"chart {field}", v) for v in values if isinstance(v, str)]
            if trace.get("orientation") == "h" or trace.get("type") == "pie":
                seen += [("chart axis", v) for v in trace.get("y") or [] if isinstance(v, str)]
            else:
                seen += [
                    ("chart axis", v)
                    for v in trace.get("x") or []
                    if isinstance(v, str) and not v[:1].isdigit()
                ]
        layout = spec["layout"]
        seen += [("chart note", a.get("text", "")) for a in layout.get("annotations", [])]
        for axis in ("xaxis", "yaxis", "yaxis2"):
            seen += [("chart axis", t) for t in layout.get(axis, {}).get("ticktext", [])]
            seen += [("chart axis", str(layout.get(axis, {}).get("title", {}).get("text", "")))]
    return [(where, text) for where, text in seen if text]


def leaks(app: AppTest, lang: str) -> list[tuple[str, str]]:
    found = []
    for where, text in visible_strings(app):
        words = set(re.findall(r"[A-Za-z_]+", text))
        # Any snake_case word is a code (mobile_topup, face_value_cap, top_down_28d, ...).
        raw = text.strip() in RAW_CODES or SNAKE.search(text) or {"None", "nan", "NaN"} & words
        english = lang == "zh" and ({"pp", "Select"} & words or "dbt tests" in text)
        if raw or english:
            found.append((where, text))
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_shows_raw_codes_or_none(home, lang):
    app = signed_in("admin", home, lang=lang)
    for page in PAGES:
        app.switch_page(PAGES[page]).run()
        assert_clean(app)
        assert app.title[0].value == t(TITLES[page], lang)
        assert not leaks(app, lang), (page, leaks(app, lang))
        # Missing cells read "—", and no multiselect offers Streamlit's English "Select all".
        assert all(frame.proto.placeholder == ui.MISSING for frame in app.dataframe), page
        assert all(not m.proto.select_all for m in app.multiselect), page
    # The scan does find what it looks for: the same codes in a page it cannot clean.
    assert leaks_in_raw_text(lang)


def leaks_in_raw_text(lang: str) -> bool:
    """The checker itself, on strings holding codes (a test that cannot fail proves nothing)."""

    class Fake:
        def get(self, kind):
            return (
                [type("E", (), {"value": "mobile_topup · face_value_cap"})()]
                if kind == "caption"
                else []
            )

        metric = selectbox = multiselect = dataframe = ()

    return bool(leaks(Fake(), lang))  # type: ignore[arg-type]


def test_codes_have_words_in_both_languages():
    for kind, labels in CODE_LABELS.items():
        for code, (zh, en) in labels.items():
            assert zh and en, (kind, code)
    assert code_label("category", "mobile_topup") == "话费充值"
    assert code_label("channel", "mini_program", "en") == "Mini program"
    assert code_label("guardrail", "face_value_cap,min_margin") == "面值上限、最低毛利率"
    assert code_label("category", "a_shop_word") == "a_shop_word"  # unknown: shown as it is
    assert message_label("dbt tests: 41 of 41 passed") == "dbt 测试：41 项中 41 项通过"
    assert code_label("model", "top_down_91d") == "自上而下（按近 91 天占比）"
    assert code_label("model", "top_down_28d", "en") == "Top-down (28-day shares)"


def test_what_if_stays_within_the_guardrails(home):
    app = signed_in("pricing", home)
    app.switch_page(PAGES["pricing"]).run()
    rows = app.selectbox(key="what_if_row")
    topup = next(i for i, label in enumerate(rows.options) if "SKU-CM50" in label)
    rows.set_value(topup).run()
    assert_clean(app)
    slider = app.slider(key=f"what_if_price_{topup}")
    # A ¥50 mobile top-up: never above its face value (the old slider offered ¥64.35, +30%),
    # never below its ¥48.80 unit cost (the old one offered ¥34.65).
    assert slider.max == 50.0 and 48.8 <= slider.min < 49.5
    limits = [c.value for c in app.caption if c.value.startswith("约束允许的价格")]
    assert limits and "面值上限" in limits[0] and money(50.0) in limits[0]
    # The profit curve covers the allowed prices only, so its axis is about them.
    curve = next(
        c for c in app.get("plotly_chart") if "what_if" in c.proto.id or "利润区间" in c.proto.spec
    )
    prices = [x for trace in json.loads(curve.proto.spec)["data"] for x in trace["x"]]
    assert min(prices) >= slider.min - 0.005 and max(prices) <= slider.max + 0.005


def test_numbers_and_times_read_as_people_write_them(home):
    app = signed_in("admin", home)
    app.switch_page(PAGES["operations"]).run()
    assert_clean(app)
    restock = next(f for f in app.dataframe if "safety_stock" in f.proto.columns)
    formats = {
        name: column.get("type_config", {}).get("format")
        for name, column in json.loads(restock.proto.columns).items()
    }
    # Keys and units are whole numbers with separators, not "50.00"; days keep one decimal.
    assert formats["on_hand"] == formats["order_qty"] == formats["safety_stock"] == "%,d"
    assert formats["days_of_cover"] == "%,.1f"
    supplier = next(c for c in app.get("plotly_chart") if "yaxis2" in c.proto.spec)
    assert json.loads(supplier.proto.spec)["layout"]["yaxis2"]["title"]["text"] == t("latency_p95")
    app.switch_page(PAGES["health"]).run()
    (rows,) = [f for f in app.dataframe if "quarantined_at" in f.value.columns]
    assert set(rows.value["quarantined_at"]) == {"2025-11-01 00:30"}  # to the minute


def test_health_page_shows_the_outbox_and_what_failed(tmp_path, monkeypatch):
    import duckdb

    fx.build_snapshot(tmp_path / "snapshot.duckdb")
    with duckdb.connect(str(tmp_path / "snapshot.duckdb")) as conn:
        conn.execute(
            "UPDATE ops.notify_outbox SET status = 'failed', attempts = 5, next_attempt_at = NULL "
            "WHERE kind = 'build_failed'"
        )
    store = auth.UserStore(tmp_path / "users.json")
    store.add(ACCOUNTS["ops"][0], "ops", PASSWORD, None)
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    app = signed_in("ops", tmp_path)
    app.switch_page(PAGES["health"]).run()
    assert not app.exception
    assert [e.value for e in app.error] == [t("notify_failed", count=1)]
    (messages,) = [f for f in app.dataframe if "last_answer" in f.value.columns]
    first = messages.value.iloc[0]  # what needs a person comes first
    assert first["notify_channel"] == "pager"
    assert first["status"] == code_label("status", "failed") == "失败"
    assert first["alert_kind"] == code_label("alert_kind", "build_failed") == "构建失败"
    assert "HTTP 502" in first["last_answer"]


def test_every_model_the_forecasting_stage_can_name_has_words():
    """A model the forecast writes into forecast_backtest / demand_forecast must not reach the
    page as its code (auto_theta, median_intermittent... once did, on the health page)."""
    from forecasting.demand.models import STATSFORECAST_MODELS
    from forecasting.demand.selection import BLENDS, CLASS_CANDIDATES

    names = set(STATSFORECAST_MODELS) | set(BLENDS) | {"zero"}
    names |= {name for candidates in CLASS_CANDIDATES.values() for name in candidates}
    unlabelled = sorted(n for n in names if code_label("model", n) == n)
    assert unlabelled == []


def test_date_presets_and_year_on_year(home):
    app = signed_in("merchant", home)
    assert app.selectbox(key="ov_preset").value == "last_30"
    app.selectbox(key="ov_preset").set_value("last_7").run()
    assert_clean(app)
    start = fx.LAST_DAY - timedelta(days=6)
    assert app.date_input(key="ov_dates").value == (start, fx.LAST_DAY)
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    now = fx.expected_gmv("M001", start, fx.LAST_DAY)
    before = fx.expected_gmv("M001", start - timedelta(days=7), start - timedelta(days=1))
    assert gmv.value == money(now, 0)
    assert gmv.delta == f"{(now - before) / before:+.1%}"
    # Year on year: the same seven days of 2024, which the data does not hold (the 110 days
    # between the two periods do not count), so no change is claimed.
    app.segmented_control(key="ov_compare").set_value("year").run()
    assert_clean(app)
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    assert gmv.value == money(now, 0) and not gmv.delta
    assert any(
        c.value.startswith(t("vs_year")) and "2024-10-25 – 2024-10-31" in c.value
        for c in app.caption
    )
    app.selectbox(key="ov_preset").set_value("this_month").run()
    assert app.date_input(key="ov_dates").value == (fx.LAST_DAY.replace(day=1), fx.LAST_DAY)
    # A year back holds no data: said so, and the range stays.
    app.selectbox(key="ov_preset").set_value("last_year_30").run()
    assert_clean(app)
    assert app.date_input(key="ov_dates").value == (fx.LAST_DAY.replace(day=1), fx.LAST_DAY)
    assert [i.value for i in app.info] == [t("preset_no_data", first=fx.FIRST_DAY.isoformat())]
    # Picking dates by hand makes the preset "custom".
    app.date_input(key="ov_dates").set_value((fx.LAST_DAY - timedelta(days=3), fx.LAST_DAY)).run()
    assert app.selectbox(key="ov_preset").value == "custom"


def test_operations_filters_narrow_every_table_by_supplier_and_category(home):
    app = signed_in("ops", home)
    app.switch_page(PAGES["operations"]).run()
    app.multiselect(key="ops_suppliers").set_value(["SUP-C"]).run()
    assert_clean(app)
    tables = {
        frozenset(frame.value.columns): frame.value
        for frame in app.dataframe
        if "supplier_id" in frame.value.columns
    }
    assert tables and all(set(f["supplier_id"]) == {"SUP-C"} for f in tables.values())
    assert app.selectbox(key="po_supplier").options == ["SUP-C"]
    app.multiselect(key="ops_suppliers").set_value([]).run()
    category = fx.SKUS.set_index("sku_id").at["SKU-QQ100", "category"]
    app.multiselect(key="ops_categories").set_value([category]).run()
    assert_clean(app)
    wanted = set(fx.SKUS.loc[fx.SKUS["category"] == category, "sku_id"])
    shown = [set(f.value["sku_id"]) for f in app.dataframe if "sku_id" in f.value.columns]
    assert shown and all(skus and skus <= wanted for skus in shown)


def test_a_province_narrows_the_overview_and_the_charts_carry_its_code(home):
    """The province filter (set by a click on a tile or bar, or by ``?region=``) narrows the
    headline numbers to that province's orders; the forecast, which covers all provinces,
    steps aside and says why."""
    app = signed_in("merchant", home, region="CN-ZJ,NOT-A-CODE")
    assert_clean(app)
    assert app.multiselect(key="ov_regions").value == ["CN-ZJ"]
    start = fx.LAST_DAY - timedelta(days=29)
    sales = fx.merchant_sales()
    mask = (
        sales["merchant_id"].isin(fx.TREES["M001"])
        & sales["order_date"].between(start, fx.LAST_DAY)
        & (sales["region_code"] == "CN-ZJ")
    )
    expected = float(sales.loc[mask, "gross_revenue"].sum())
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    assert 0 < expected < fx.expected_gmv("M001", start, fx.LAST_DAY)
    assert gmv.value == money(expected, 0)
    assert t("forecast_all_provinces") in [c.value for c in app.caption]
    # Each tile carries its code first, which the click callback reads.
    tiles = next(c for c in app.get("plotly_chart") if '"symbol":"square"' in c.proto.spec)
    spec = json.loads(tiles.proto.spec)
    amounts = dict(spec["data"][0]["customdata"])
    assert amounts["CN-ZJ"] == pytest.approx(expected) and amounts["CN-GD"] == 0
    # Cleared: all provinces again, and the forecast is back.
    app.multiselect(key="ov_regions").set_value([]).run()
    gmv = next(m for m in app.metric if m.label == t("gmv"))
    assert gmv.value == money(fx.expected_gmv("M001", start, fx.LAST_DAY), 0)
    assert t("forecast_all_provinces") not in [c.value for c in app.caption]
