"""Risk signals (#19): the [risk] settings, fire-once / re-arm state, and the rules on a small
warehouse made by the test."""

import datetime as dt
import re

import duckdb
import pandas as pd
import pytest

from cardpulse.settings import Home, RiskSection, SettingsError, load_settings
from pipelines.risk.signal_state import advance_signals
from pipelines.risk.signals import SIGNAL_COLUMNS, find_signals

DAY1, DAY2, DAY3 = dt.date(2026, 3, 1), dt.date(2026, 3, 2), dt.date(2026, 3, 3)


def test_settings_default_without_a_file(tmp_path):
    assert load_settings(Home(tmp_path), environ={}).risk == RiskSection()


def test_settings_read_the_risk_section(tmp_path):
    (tmp_path / "cardpulse.toml").write_text("[risk]\nvelocity_orders = 4\nbuyer_z = 3\n")
    settings = load_settings(Home(tmp_path), environ={}).risk
    assert settings.velocity_orders == 4 and settings.buyer_z == 3.0
    assert settings.alert_budget == RiskSection().alert_budget


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[risk]\nvelocity_order = 4\n", "[risk] unknown key 'velocity_order'"),
        ("[risk]\nvelocity_orders = 'many'\n", "velocity_orders = 'many' must be a whole number"),
        ("[risk]\nvelocity_orders = 4.5\n", "velocity_orders = 4.5 must be a whole number"),
        ("[risk]\nalert_budget = 0\n", "alert_budget = 0 must be at least 1"),
        ("[risk]\nbuyer_z = 0\n", "buyer_z = 0.0 must be above 0"),
        ("[risk\n", "not valid TOML"),
    ],
)
def test_settings_refuse_bad_values_in_one_line(tmp_path, text, message):
    (tmp_path / "cardpulse.toml").write_text(text)
    with pytest.raises(SettingsError) as error:
        load_settings(Home(tmp_path), environ={})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def _found(*pairs) -> pd.DataFrame:
    rows = [dict.fromkeys(SIGNAL_COLUMNS) | {"signal_id": s, "score": score} for s, score in pairs]
    return pd.DataFrame(rows, columns=SIGNAL_COLUMNS)


def test_a_signal_fires_once_resolves_and_re_arms():
    empty = advance_signals(
        pd.DataFrame(columns=["signal_id", "status", "first_seen"]), _found(), DAY1, 10
    )
    assert empty.empty
    day1 = advance_signals(empty, _found(("a", 2.0), ("b", 1.5)), DAY1, 10)
    assert day1.set_index("signal_id")["is_new"].to_dict() == {"a": True, "b": True}
    # Still there the next day: open, not fired again, first_seen kept.
    day2 = advance_signals(day1, _found(("a", 2.5)), DAY2, 10).set_index("signal_id")
    assert day2.loc["a", "status"] == "open" and not day2.loc["a", "is_new"]
    assert day2.loc["a", "first_seen"] == DAY1
    assert day2.loc["b", "status"] == "resolved"
    # b comes back after resolving: it fires again, first seen anew.
    day3 = advance_signals(day2.reset_index(), _found(("a", 2.5), ("b", 1.2)), DAY3, 10)
    b = day3.set_index("signal_id").loc["b"]
    assert b["status"] == "open" and b["is_new"] and b["first_seen"] == DAY3


def test_the_alert_budget_keeps_the_highest_scores():
    state = advance_signals(
        pd.DataFrame(columns=["signal_id", "status", "first_seen"]),
        _found(("low", 1.1), ("high", 3.0), ("mid", 2.0)),
        DAY1,
        2,
    )
    assert list(state["signal_id"]) == ["high", "mid"]


def _warehouse(path) -> duckdb.DuckDBPyConnection:
    """The columns of the marts the rules read, with one velocity buyer, one card tester, one
    refund abuser among 40 ordinary buyers, one buyer holding stock, and quiet merchants."""
    conn = duckdb.connect(str(path))
    conn.execute("CREATE SCHEMA analytics")
    conn.execute("""CREATE TABLE analytics.fct_orders (order_id VARCHAR, created_at TIMESTAMP,
        order_date DATE, buyer_key VARCHAR, buyer_ip_key VARCHAR, merchant_id VARCHAR,
        sku_id VARCHAR, quantity INTEGER, unit_price DECIMAL(18,2), status VARCHAR,
        is_demand BOOLEAN, is_refunded BOOLEAN, is_failed BOOLEAN,
        gross_revenue DECIMAL(18,2))""")
    conn.execute(
        "CREATE TABLE analytics.fct_payments (payment_id VARCHAR, order_id VARCHAR, "
        "created_at TIMESTAMP, is_success BOOLEAN)"
    )
    conn.execute(
        "CREATE TABLE analytics.dim_skus AS SELECT * FROM (VALUES ('K', 'card_key'), "
        "('T', 'direct_topup')) t(sku_id, delivery_type)"
    )
    rows, payments = [], []
    start = dt.datetime(2026, 2, 1, 9)

    def add(oid, at, buyer, ip, status="delivered", sku="T", merchant="M1", qty=1, fails=0):
        demand = status in ("delivered", "refunded", "failed", "paid")
        rows.append(
            (
                oid,
                at,
                at.date(),
                buyer,
                ip,
                merchant,
                sku,
                qty,
                10,
                status,
                demand,
                status == "refunded",
                status == "failed",
                10 * qty if demand else 0,
            )
        )
        for i in range(fails):
            payments.append((f"{oid}-f{i}", oid, at + dt.timedelta(seconds=i), False))
        if demand:
            payments.append((f"{oid}-s", oid, at + dt.timedelta(seconds=fails + 1), True))

    for b in range(40):  # ordinary buyers: 6 orders a few days apart, one refund for some
        for k in range(6):
            status = "refunded" if (b % 8 == 0 and k == 0) else "delivered"
            add(
                f"N{b}-{k}",
                start + dt.timedelta(days=3 * k, hours=b % 10),
                f"buyer{b}",
                f"ip{b}",
                status,
                merchant=f"M{b % 4}",
            )
    for k in range(12):  # velocity: 12 orders in 22 minutes
        add(f"V{k}", start + dt.timedelta(days=10, minutes=2 * k), "thief", "ipT")
    add("C1", start + dt.timedelta(days=12), "tester", "ipC", fails=7)
    for k in range(6):  # refund abuse: 5 of 6 refunded
        add(
            f"R{k}",
            start + dt.timedelta(days=2 * k),
            "abuser",
            "ipR",
            "refunded" if k else "delivered",
        )
    for k in range(9):  # nine never-paid card-key orders in 40 minutes
        add(
            f"U{k}",
            start + dt.timedelta(days=14, minutes=5 * k),
            "holder",
            "ipU",
            "cancelled",
            sku="K",
            qty=5,
        )
    conn.executemany(
        "INSERT INTO analytics.fct_orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
    )
    conn.executemany("INSERT INTO analytics.fct_payments VALUES (?, ?, ?, ?)", payments)
    return conn


def test_a_failed_attempt_split_over_a_multi_item_order_is_one_failure(tmp_path):
    """A dujiao-next attempt for a 4-item order is four fct_payments rows (one per item row,
    the same attempt_id): two failed attempts are two failures, not eight."""
    conn = _warehouse(tmp_path / "w.duckdb")
    conn.execute("ALTER TABLE analytics.fct_payments ADD COLUMN attempt_id VARCHAR")
    conn.execute("UPDATE analytics.fct_payments SET attempt_id = payment_id")
    at = dt.datetime(2026, 2, 20, 9)
    items = [f"DN9/{i}" for i in range(4)]
    conn.executemany(
        "INSERT INTO analytics.fct_orders VALUES (?, ?, ?, 'multi', 'ipM', 'M1', 'T', 1, 10, "
        "'delivered', true, false, false, 10)",
        [(item, at, at.date()) for item in items],
    )
    for n, (attempt, ok) in enumerate((("A1", False), ("A2", False), ("A3", True))):
        conn.executemany(
            "INSERT INTO analytics.fct_payments VALUES (?, ?, ?, ?, ?)",
            [
                (f"{attempt}:{item}", item, at + dt.timedelta(seconds=n), ok, attempt)
                for item in items
            ],
        )
    found = find_signals(conn, RiskSection(), dt.date(2026, 3, 1))
    testers = set(found.loc[found["kind"] == "card_testing", "subject"])
    assert testers == {"tester"}


def test_rules_name_each_planted_subject_and_no_ordinary_buyer(tmp_path):
    conn = _warehouse(tmp_path / "w.duckdb")
    found = find_signals(conn, RiskSection(), dt.date(2026, 3, 1))
    by_kind = found.groupby("kind")["subject"].apply(set).to_dict()
    assert by_kind == {
        "buyer_velocity": {"thief"},
        "card_testing": {"tester"},
        "buyer_refund_abuse": {"abuser"},
        "unpaid_holding_stock": {"holder"},
    }
    velocity = found[found["kind"] == "buyer_velocity"].iloc[0]
    assert velocity["orders"] == 12 and velocity["amount"] == 120.0
    assert "12 paid orders within 60 min" in velocity["evidence"]
    assert "60 分钟内 12 笔已付款订单" in velocity["evidence_zh"]
    # Every signal's evidence in Chinese too, with the same figures as the English.
    for english, chinese in zip(found["evidence"], found["evidence_zh"], strict=True):
        assert re.search("[\u4e00-\u9fff]", chinese), chinese
        assert sorted(re.findall(r"\d+(?:\.\d+)?%?", english)) == sorted(
            re.findall(r"\d+(?:\.\d+)?%?", chinese)
        ), (english, chinese)
    assert velocity["order_ids"].split(",")[0] == "V0"
    assert (found["score"] > 1).all()
    # A stricter threshold from the settings silences the rule.
    stricter = find_signals(conn, RiskSection(velocity_orders=13), dt.date(2026, 3, 1))
    assert "buyer_velocity" not in set(stricter["kind"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_the_asset_upgrades_an_older_state_and_writes_both_languages(tmp_path, monkeypatch):
    """A state table from before evidence_zh gains the column; the thief's signal, open in
    it, keeps its first_seen; today's signals carry Chinese evidence; a rerun changes nothing."""
    import dagster as dg
    from dagster_duckdb import DuckDBResource

    from pipelines.assets.reconciliation import risk_signals
    from pipelines.resources import BuildSettings
    from pipelines.risk.signal_state import STATE_SCHEMA

    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    path = tmp_path / "w.duckdb"
    conn = _warehouse(path)
    conn.execute("CREATE SCHEMA ops")
    old = ", ".join(f"{c} {t}" for c, t in STATE_SCHEMA.items() if c != "evidence_zh")
    conn.execute(f"CREATE TABLE ops.risk_state ({old})")
    conn.execute(
        "INSERT INTO ops.risk_state (signal_id, kind, subject, evidence, score, first_seen, "
        "status, is_new, as_of) VALUES ('buyer_velocity:thief', 'buyer_velocity', 'thief', "
        "'12 paid orders', 1.2, DATE '2026-02-20', 'open', true, DATE '2026-02-28')"
    )
    conn.close()

    def build():
        result = dg.materialize(
            [risk_signals],
            resources={
                "duckdb": DuckDBResource(database=str(path)),
                "build_settings": BuildSettings(as_of="2026-03-01"),
            },
        )
        assert result.success
        with duckdb.connect(str(path), read_only=True) as c:
            return c.execute(
                "SELECT kind, subject, first_seen, status, evidence_zh FROM analytics.risk_signals "
                "ORDER BY kind"
            ).fetchall()

    rows = build()
    assert {(k, s) for k, s, *_ in rows} == {
        ("buyer_velocity", "thief"),
        ("card_testing", "tester"),
        ("buyer_refund_abuse", "abuser"),
        ("unpaid_holding_stock", "holder"),
    }
    thief = next(r for r in rows if r[1] == "thief")
    assert thief[2:4] == (dt.date(2026, 2, 20), "open")
    assert all(r[4] and ("分钟" in r[4] or "稳健" in r[4]) for r in rows)
    assert build() == rows
