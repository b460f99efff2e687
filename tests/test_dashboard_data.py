"""The dashboard's data-access module on a real snapshot file: scoping, bound parameters,
platform-only tables, empty and missing tables, snapshot replacement, formats."""

from __future__ import annotations

import io
import os
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import dashboard_fixtures as fx
import pandas as pd
import pytest

from dashboard import approvals, data
from dashboard.i18n import business_time, money, percent, t

INJECTIONS = [
    "' OR 1=1 --",
    "M001' OR '1'='1",
    "M004'); DROP TABLE analytics.dim_skus; --",
    "%' UNION SELECT merchant_id FROM analytics.dim_merchants --",
    "SKU-SECRET' OR sku_id LIKE '%",
]
MERCHANT_QUERIES = ["kpis", "daily_sales", "top_skus", "provinces", "channels", "shown_sales"]


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return fx.build_snapshot(tmp_path_factory.mktemp("snap") / "snapshot.duckdb")


@pytest.fixture
def conn(snapshot):
    connection = data.connect(snapshot)
    yield connection
    connection.close()


def full_period(**narrowing) -> data.Filters:
    return data.Filters(fx.FIRST_DAY, fx.LAST_DAY, **narrowing)


def test_scope_for_binds_merchants_and_rejects_unknown_roles():
    assert data.scope_for("merchant", "M001") == data.Scope("merchant", "M001")
    assert data.scope_for("admin", "M001") == data.Scope("admin", None)
    with pytest.raises(PermissionError):
        data.scope_for("merchant", None)
    with pytest.raises(PermissionError):
        data.scope_for("superuser", None)


@pytest.mark.parametrize("merchant", ["M001", "M002", "M004"])
def test_merchant_sees_exactly_its_own_tree(conn, merchant):
    scope = data.scope_for("merchant", merchant)
    figures = data.kpis(conn, scope, full_period())
    assert figures["current"]["gmv"] == pytest.approx(fx.expected_gmv(merchant))
    shown = data.shown_sales(conn, scope, full_period())
    assert shown["gmv"].sum() == pytest.approx(fx.expected_gmv(merchant))
    options = data.filter_options(conn, scope)
    assert sorted(options["merchants"]["merchant_id"]) == sorted(fx.TREES[merchant])


def test_only_the_other_tree_sells_the_secret_sku(conn):
    mine = data.scope_for("merchant", "M001")
    theirs = data.scope_for("merchant", "M004")
    for query in MERCHANT_QUERIES[1:]:
        text = data.QUERIES[query](conn, mine, full_period()).to_csv()
        assert "SKU-SECRET" not in text
    assert "SKU-SECRET" in data.top_skus(conn, theirs, full_period()).to_csv()
    assert "SKU-SECRET" not in set(data.filter_options(conn, mine)["skus"]["sku_id"])


@pytest.mark.parametrize(
    "narrowing",
    [
        {"merchant": "M004"},
        {"merchant": "M005"},
        {"skus": ("SKU-SECRET",)},
        {"categories": ("gift_card",)},
    ],
)
def test_filters_only_narrow_a_merchant_scope(conn, narrowing):
    scope = data.scope_for("merchant", "M001")
    for query in MERCHANT_QUERIES:
        result = data.QUERIES[query](conn, scope, full_period(**narrowing))
        if query == "kpis":
            assert result["current"]["gmv"] == 0
        else:
            assert result.empty, query


@pytest.mark.parametrize("attack", INJECTIONS)
def test_injection_strings_are_plain_values(conn, attack):
    scope = data.scope_for("merchant", "M001")
    for narrowing in ({"merchant": attack}, {"skus": (attack,)}, {"categories": (attack,)}):
        assert data.kpis(conn, scope, full_period(**narrowing))["current"]["gmv"] == 0
        assert data.shown_sales(conn, scope, full_period(**narrowing)).empty
    # A scope built from a hostile merchant id sees nothing rather than everything.
    hostile = data.scope_for("merchant", attack)
    assert data.kpis(conn, hostile, full_period())["current"]["gmv"] == 0
    assert data.filter_options(conn, hostile)["min_date"] is None
    assert conn.execute("SELECT count(*) FROM analytics.dim_skus").fetchone()[0] == len(fx.SKUS)


def test_platform_tables_refuse_a_merchant_scope(conn):
    scope = data.scope_for("merchant", "M001")
    for query in (
        "restock",
        "purchase_orders",
        "funding",
        "supplier_performance",
        "low_stock_alerts",
        "recommendations",
        "freshness",
        "quarantine_summary",
        "inferred_members",
        "quarantine_rows",
        "dbt_results",
        "backtest_accuracy",
    ):
        with pytest.raises(data.PlatformOnly):
            data.QUERIES[query](conn, scope)
    with pytest.raises(PermissionError):
        approvals.history(Path("approvals.duckdb"), scope)


def test_merchant_forecast_is_its_own_tree_total(conn):
    mine = data.forecast(conn, data.scope_for("merchant", "M002"), full_period())
    assert len(mine) == 28 and set(mine["source"]) == {"merchant"}
    assert mine["yhat"].tolist() == pytest.approx([20.0 + 30.0] * 28)  # M002 and M003
    picked = data.forecast(conn, data.Scope("ops"), full_period(merchant="M004"))
    assert picked["yhat"].tolist() == pytest.approx([40.0 + 50.0] * 28)
    # Another tree picked by a merchant user narrows to nothing: no forecast of theirs.
    other = data.forecast(conn, data.scope_for("merchant", "M001"), full_period(merchant="M004"))
    assert other.empty or other["yhat"].sum() == 0


def test_merchant_forecast_for_chosen_skus_is_scaled_by_its_share(conn):
    platform = data.forecast(conn, data.Scope("admin"), full_period(skus=("SKU-QQ100",)))
    mine = data.forecast(conn, data.scope_for("merchant", "M001"), full_period(skus=("SKU-QQ100",)))
    assert len(platform) == 28 and len(mine) == 28 and set(mine["source"]) == {"share"}
    share = mine["yhat"].sum() / platform["yhat"].sum()
    assert 0 < share < 0.1  # the M004 tree sells 50x more, so M001's share is small
    assert (mine["yhat_lower"] <= mine["yhat"]).all()
    assert (mine["yhat"] <= mine["yhat_upper"]).all()


def test_without_merchant_forecasts_the_share_is_used(tmp_path):
    path = fx.build_snapshot(tmp_path / "s.duckdb", missing=("merchant_demand_forecast",))
    connection = data.connect(path)
    try:
        mine = data.forecast(connection, data.scope_for("merchant", "M001"), full_period())
        assert len(mine) == 28 and set(mine["source"]) == {"share"}
    finally:
        connection.close()


def test_the_share_is_read_from_the_dbt_mart_not_recomputed(tmp_path):
    """The scaling is the M001 tree's units over everyone's in fct_merchant_sku_share; zeroing
    the tree's rows there (and nowhere else) takes the merchant's scaled forecast to zero."""
    import duckdb

    path = fx.build_snapshot(tmp_path / "s.duckdb")
    tree = (
        "SELECT merchant_id FROM analytics.dim_merchant_hierarchy "
        "WHERE ancestor_merchant_id = 'M001'"
    )
    with duckdb.connect(str(path)) as c:
        expected = c.execute(
            f"SELECT sum(units) FILTER (WHERE merchant_id IN ({tree})) / sum(units) "
            "FROM analytics.fct_merchant_sku_share WHERE sku_id = 'SKU-QQ100'"
        ).fetchone()[0]
    picked = full_period(skus=("SKU-QQ100",))
    connection = data.connect(path)
    try:
        platform = data.forecast(connection, data.Scope("admin"), picked)
        mine = data.forecast(connection, data.scope_for("merchant", "M001"), picked)
    finally:
        connection.close()
    assert 0 < expected < 1
    assert mine["yhat"].sum() / platform["yhat"].sum() == pytest.approx(expected)
    with duckdb.connect(str(path)) as c:
        c.execute(
            f"UPDATE analytics.fct_merchant_sku_share SET units = 0 WHERE merchant_id IN ({tree})"
        )
    connection = data.connect(path)
    try:
        zeroed = data.forecast(connection, data.scope_for("merchant", "M001"), picked)
    finally:
        connection.close()
    assert set(zeroed["source"]) == {"share"} and zeroed["yhat"].sum() == 0


def test_restock_risk_and_purchase_orders(conn):
    plan = data.restock(conn, data.Scope("ops")).set_index("sku_id")
    assert plan.loc["SKU-QQ100", "risk"] == "out_now"
    assert plan.loc["SKU-WOW60", "risk"] == "before_arrival"  # 1.5 d cover < 48 h lead time
    assert plan.loc["SKU-IQY-M", "risk"] == "fine"
    orders = data.purchase_orders(conn, data.Scope("ops"))
    assert set(orders["sku_id"]) == {"SKU-QQ100", "SKU-WOW60", "SKU-WIN11"}
    assert (orders["amount"] > 0).all()
    workbook = pd.read_excel(io.BytesIO(data.to_xlsx({"SUP-A": orders})), sheet_name="SUP-A")
    assert list(workbook["sku_id"]) == list(orders["sku_id"])


def test_xlsx_keeps_numbers_as_numbers_with_money_formats_and_widths(conn):
    from openpyxl import load_workbook

    orders = data.purchase_orders(conn, data.Scope("ops"))
    sheet = load_workbook(
        io.BytesIO(data.to_xlsx({"SUP-A": orders}, money=("unit_cost", "amount")))
    )["SUP-A"]
    header = [cell.value for cell in sheet[1]]
    amount = sheet.cell(row=2, column=header.index("amount") + 1)
    assert isinstance(amount.value, int | float) and amount.number_format == data.XLSX_MONEY
    assert amount.value == pytest.approx(float(orders["amount"].iloc[0]))
    quantity = sheet.cell(row=2, column=header.index("order_qty") + 1)
    assert quantity.number_format == data.XLSX_INTEGER
    name_column = sheet.cell(row=1, column=header.index("sku_name") + 1).column_letter
    longest = max(len(str(n)) for n in orders["sku_name"])
    # Chinese names count twice: the column is wider than the plain character count.
    assert sheet.column_dimensions[name_column].width > longest + 2
    assert sheet.freeze_panes == "A2"


def test_what_if_is_the_pricing_stage_s_per_day_with_its_interval():
    row = {
        "current_price": 100.0, "unit_cost": 90.0, "elasticity": -2.0, "elasticity_low": -3.0,
        "elasticity_high": -1.0, "horizon_units": 280.0, "horizon_units_low": 210.0,
        "horizon_units_high": 350.0, "horizon_days": 28,
    }  # fmt: skip
    same = data.what_if(row, 100.0)
    assert same["units"] == pytest.approx(10.0)
    assert (same["units_low"], same["units_high"]) == pytest.approx((7.5, 12.5))
    assert same["profit"] == pytest.approx(100.0)
    dearer = data.what_if(row, 110.0)
    assert dearer["units"] == pytest.approx(10.0 * 1.1**-2)
    assert dearer["units_low"] == pytest.approx(7.5 * 1.1**-3)  # the worse elasticity end
    assert dearer["profit"] == pytest.approx(dearer["units"] * 20.0)
    assert dearer["profit_low"] <= dearer["profit"] <= dearer["profit_high"]
    # A snapshot with only the contract's columns: the last 28 days' average stands in.
    contract_only = {k: row[k] for k in ("current_price", "unit_cost", "elasticity",
                                         "elasticity_low", "elasticity_high")}  # fmt: skip
    fallback = data.what_if(contract_only, 110.0, baseline_daily_units=10.0)
    assert fallback["units"] == pytest.approx(dearer["units"])
    assert fallback["units_low"] == pytest.approx(10.0 * 1.1**-3)


def test_missing_and_empty_tables_give_empty_results(tmp_path):
    path = fx.build_snapshot(
        tmp_path / "partial.duckdb",
        empty=("restock_plan", "fct_daily_merchant_sales"),
        missing=("price_recommendations", "build_info", "demand_forecast"),
    )
    connection = data.connect(path)
    try:
        scope = data.Scope("admin")
        assert data.restock(connection, scope).empty
        assert data.purchase_orders(connection, scope).empty
        assert data.recommendations(connection, scope).empty
        assert data.build_info(connection, scope).empty
        assert data.forecast(connection, scope, full_period()).empty
        assert data.filter_options(connection, scope)["min_date"] is None
        fresh = data.freshness(connection, scope).set_index("table")
        assert not fresh.loc["analytics.price_recommendations", "built"]
        assert fresh.loc["analytics.restock_plan", "rows"] == 0
    finally:
        connection.close()


def test_load_rereads_a_replaced_snapshot(tmp_path):
    path = tmp_path / "snapshot.duckdb"
    fx.build_snapshot(path, empty=("fct_daily_merchant_sales",))
    scope = data.Scope("admin")
    before = data.load("kpis", data.snapshot_ref(path), scope, full_period())
    assert before["current"]["gmv"] == 0
    fresh = fx.build_snapshot(tmp_path / "next" / "snapshot.duckdb")
    os.replace(fresh, path)  # what publishing a build does
    after = data.load("kpis", data.snapshot_ref(path), scope, full_period())
    assert after["current"]["gmv"] == pytest.approx(fx.merchant_sales()["gross_revenue"].sum())
    shutil.rmtree(tmp_path / "next")
    with pytest.raises(FileNotFoundError):
        data.load("kpis", data.snapshot_ref(tmp_path / "none.duckdb"), scope, full_period())


def test_snapshot_is_opened_read_only(snapshot):
    connection = data.connect(snapshot)
    try:
        with pytest.raises(Exception, match="read-only"):
            connection.execute("DELETE FROM analytics.dim_skus")
    finally:
        connection.close()


def test_formats_money_percent_time_and_language():
    assert money(1234567.891) == "¥1,234,567.89"
    assert money(-5, 0) == "-¥5"
    assert percent(0.0345) == "3.5%"
    from zoneinfo import ZoneInfo

    utc_midnight = datetime(2025, 11, 1, 0, 0, tzinfo=ZoneInfo("UTC"))
    assert business_time(utc_midnight) == "2025-11-01 08:00"  # shown in Asia/Shanghai
    assert business_time(datetime(2025, 11, 1, 8, 0)) == "2025-11-01 08:00"
    assert t("gmv") == "交易额 (GMV)" and t("gmv", "en") == "GMV"
    assert data.Filters(date(2025, 1, 1), date(2025, 1, 1) + timedelta(days=1)).merchant is None


def test_restock_stage_tables_are_used_when_built(tmp_path):
    import duckdb

    path = fx.build_snapshot(tmp_path / "s.duckdb")
    writer = duckdb.connect(str(path))
    writer.execute(
        "CREATE TABLE analytics.purchase_orders AS SELECT 'PO-1' AS po_id, 'SUP-C' AS supplier_id, "
        "DATE '2025-11-01' AS as_of, 'SKU-WIN11' AS sku_id, 'Windows 11' AS sku_name, "
        "30::BIGINT AS order_qty, 26970.00::DECIMAL(18, 2) AS line_cost, "
        "DATE '2025-11-02' AS order_by, '补货' AS reason_zh, 'restock' AS reason_en"
    )
    writer.execute(
        "CREATE TABLE analytics.low_stock_alerts AS SELECT 'SKU-IQY-M' AS sku_id, "
        "'SUP-C' AS supplier_id, DATE '2025-10-30' AS fired_on, 5::BIGINT AS on_hand, "
        "true AS is_open, 20::BIGINT AS order_qty, DATE '2025-11-01' AS order_by, "
        "'below reorder point' AS reason, '低于再订货点' AS reason_zh, "
        "'below reorder point' AS reason_en"
    )
    writer.close()
    connection = data.connect(path)
    try:
        orders = data.purchase_orders(connection, data.Scope("ops"))
        assert orders[["po_id", "sku_id", "order_qty"]].values.tolist() == [
            ["PO-1", "SKU-WIN11", 30]
        ]
        assert float(orders["amount"].iloc[0]) == 26970.0
        alerts = data.low_stock_alerts(connection, data.Scope("ops"))
        kinds = alerts.groupby("sku_id")["alert"].apply(set).to_dict()
        assert kinds["SKU-IQY-M"] == {"low_stock", "expiring"}
        assert kinds["SKU-QQ100"] == {"out_now"}  # at risk, not fired yet: still shown
        assert isinstance(orders["order_by"].iloc[0], date)  # dates stay dates
    finally:
        connection.close()


def test_province_tiles_place_every_province_once_and_shade_by_value():
    from dashboard import figures

    frame = pd.DataFrame(
        {"region_code": ["CN-GD", "CN-BJ", "CN-GD", "UNKNOWN"], "gmv": [60.0, 25.0, 40.0, 9.0]}
    )
    figure = figures.province_tiles(frame, "gmv", "provinces")
    tiles = figure.data[0]
    positions = list(zip(tiles.x, tiles.y, strict=True))
    assert len(positions) == len(set(positions)) == 34  # 31 mainland + HK, MO, TW
    by_name = dict(zip(tiles.text, tiles.customdata, strict=True))
    assert by_name["广东"] == 100.0 and by_name["北京"] == 25.0 and by_name["西藏"] == 0.0
    # Colours come from a scale over the amounts, which the colour bar labels in ¥:
    # grey for no sales, darkest for the largest.
    assert list(tiles.marker.color) == list(tiles.customdata)
    assert (tiles.marker.cmin, tiles.marker.cmax) == (0.0, 100.0)
    scale = [tuple(stop) for stop in tiles.marker.colorscale]
    assert scale[0] == (0.0, "#eeeeee") and scale[-1] == (1.0, "rgb(33, 113, 181)")
    assert tiles.marker.showscale and tiles.marker.colorbar.tickprefix == "¥"
    assert sum(tiles.customdata) == 125.0  # UNKNOWN has no tile (the ranked bar shows it)
    english = figures.province_tiles(frame, "gmv", "provinces", lang="en").data[0]
    assert "GD" in english.text and "广东" not in english.text


def test_recommendations_put_the_biggest_gain_in_yuan_first(conn):
    shown = data.recommendations(conn, data.Scope("pricing"))
    # By % the 18.5 % of a small SKU would lead; by yuan the ¥300 gain does.
    assert shown["sku_id"].tolist() == ["SKU-QQ100", "SKU-WOW60", "SKU-IQY-M", "SKU-CM50"]


def test_every_column_the_operations_page_can_show_reads_as_words_in_both_languages():
    """The purchase-order table shows every column the build writes, so each needs a label;
    reasons are shown as one ``reason`` column in the page's language."""
    from dashboard.i18n import column_label
    from pipelines.assets.restock import FUNDING_TYPES, PLAN_TYPES, PO_TYPES

    shown = set(PO_TYPES) | set(PLAN_TYPES) | set(FUNDING_TYPES)
    shown -= {"reason_zh", "reason_en"}
    for lang in ("zh", "en"):
        unlabelled = sorted(c for c in shown if column_label(c, lang) == c)
        assert unlabelled == [], f"{lang}: {unlabelled}"


def test_price_limits_are_the_guardrails_the_recommendation_obeys():
    from forecasting.pricing.guardrails import load_pricing_config

    config = load_pricing_config(None)
    topup = {
        "current_price": 100.0,
        "unit_cost": 97.0,
        "category": "mobile_topup",
        "face_value": 100.0,
        "national_price": float("nan"),
        "days_of_cover": None,
        "has_expiring_surplus": False,
    }
    limits = data.price_limits(topup, config)
    assert limits.high == 100.0 and "face_value_cap" in limits.high_rules  # not ¥130
    assert limits.low >= 97.0  # never below cost
    card = {**topup, "category": "game_card", "face_value": None, "unit_cost": 50.0}
    wide = data.price_limits(card, config)
    assert (wide.low, wide.high) == (90.0, 110.0)  # the 10 % step each way
    assert wide.high_rules == ("max_change",)


def test_elasticity_chart_names_every_row_and_grows_with_them():
    from dashboard import figures

    rows = 25
    frame = pd.DataFrame(
        {
            "sku_id": [f"SKU-{i}" for i in range(rows)],
            "sku_name": [f"商品 {i}" for i in range(rows)],
            "region_code": ["CN-GD"] * rows,
            "elasticity": [-2.0] * rows,
            "elasticity_low": [-3.0] * rows,
            "elasticity_high": [-1.0] * rows,
        }
    )
    figure = figures.elasticities(frame, "elasticity", frame["region_code"].map({"CN-GD": "广东"}))
    assert list(figure.layout.yaxis.ticktext) == [f"商品 {i} · 广东" for i in range(rows)]
    assert figure.layout.height >= 28 * rows  # room for every label, not the shared 380 px


def test_health_counts_quarantine_by_rule_and_lists_inferred_members():
    import duckdb

    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA raw")
    conn.execute("CREATE SCHEMA analytics")
    conn.execute(
        """CREATE TABLE raw.quarantine AS SELECT * FROM (VALUES
           ('orders', 'quantity ''0'' is below 1'), ('orders', 'quantity ''-2'' is below 1'),
           ('skus', 'active ''maybe'' is not true or false')) t(entity, reason)"""
    )
    conn.execute(
        "CREATE TABLE analytics.dim_skus AS SELECT * FROM (VALUES ('S1', false), ('S9', true)) "
        "t(sku_id, is_inferred)"
    )
    conn.execute(
        "CREATE TABLE analytics.dim_merchants AS SELECT 'M7' AS merchant_id, true AS is_inferred"
    )
    admin = data.Scope("admin")
    summary = data.quarantine_summary(conn, admin)
    assert summary[["entity", "rows"]].values.tolist() == [["orders", 2], ["skus", 1]]
    inferred = data.inferred_members(conn, admin)
    assert inferred.values.tolist() == [["merchants", "M7"], ["skus", "S9"]]
