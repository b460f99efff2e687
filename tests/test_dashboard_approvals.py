"""Approved prices: stored in $CARDPULSE_HOME/approvals.duckdb, written only by the pricing and
admin roles (checked in the data layer), read back as a history by every platform role."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import dashboard_fixtures as fx
import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import approvals, auth, data, ui
from dashboard.data import exports
from dashboard.i18n import column_label, t

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
PRICING_PAGE = "app_pages/pricing.py"
SHANGHAI = ZoneInfo("Asia/Shanghai")
NOON = datetime(2025, 11, 1, 12, 0, tzinfo=SHANGHAI)
ACCOUNTS = {"pricing": "pat", "admin": "ada", "ops": "oz"}
PASSWORD = "correct-horse-battery"


def recommendation(sku_id: str, price: float, region: str = "ALL") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sku_id": [sku_id], "region_code": [region], "as_of": [pd.Timestamp("2025-11-02")],
            "current_price": [98.0], "recommended_price": [price], "unit_cost": [92.0],
            "action": ["raise"], "guardrails_hit": ["max_step"],
        }
    )  # fmt: skip


def stored(path: Path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT * FROM approved_prices ORDER BY sku_id").df()


def test_approving_stores_one_row_per_recommendation_and_a_rerun_changes_nothing(tmp_path):
    path = tmp_path / "approvals.duckdb"
    pricing = data.Scope("pricing")
    assert approvals.history(path, pricing).empty  # before the first approval: no file
    assert not path.exists()
    assert approvals.approve(path, pricing, "pat", recommendation("QQ100", 99.5), NOON) == 1
    assert approvals.approve(path, pricing, "pat", recommendation("QQ100", 99.5), NOON) == 0
    first = stored(path)
    assert len(first) == 1 and float(first.loc[0, "approved_price"]) == 99.5
    # The same recommendation approved again at a new price replaces the row, who and when.
    later = datetime(2025, 11, 1, 15, 30, tzinfo=SHANGHAI)
    assert approvals.approve(path, data.Scope("admin"), "ada", recommendation("QQ100", 97.9), later)
    again = stored(path)
    assert len(again) == 1
    assert (float(again.loc[0, "approved_price"]), again.loc[0, "approved_by"]) == (97.9, "ada")
    assert again.loc[0, "approved_at"].astimezone(SHANGHAI).hour == 15
    history = approvals.history(path, data.Scope("ops"))
    assert history["sku_id"].tolist() == ["QQ100"]
    assert history.loc[0, "guardrails_hit"] == "max_step"


@pytest.mark.parametrize("role", ["merchant", "ops"])
def test_only_pricing_and_admin_can_write(tmp_path, role):
    path = tmp_path / "approvals.duckdb"
    scope = data.scope_for(role, "M001") if role == "merchant" else data.Scope(role)
    with pytest.raises(PermissionError):
        approvals.approve(path, scope, "someone", recommendation("QQ100", 99.5), NOON)
    assert not path.exists()
    if role == "merchant":
        with pytest.raises(PermissionError):
            approvals.history(path, scope)


def test_injection_looking_values_are_stored_verbatim(tmp_path):
    path = tmp_path / "approvals.duckdb"
    crafted = "X'); DROP TABLE approved_prices; --"
    rows = pd.concat([recommendation(crafted, 10.0), recommendation("QQ100", 99.5, "CN-GD")])
    assert approvals.approve(path, data.Scope("pricing"), "pat", rows, NOON) == 2
    assert sorted(stored(path)["sku_id"]) == sorted([crafted, "QQ100"])


def test_a_row_without_a_price_is_refused_and_nothing_is_written(tmp_path):
    path = tmp_path / "approvals.duckdb"
    rows = pd.concat([recommendation("QQ100", 99.5), recommendation("WOW60", float("nan"))])
    with pytest.raises(ValueError, match="WOW60"):
        approvals.approve(path, data.Scope("pricing"), "pat", rows, NOON)
    assert approvals.history(path, data.Scope("pricing")).empty


# --- the pricing page ----------------------------------------------------------------------


@pytest.fixture
def home(tmp_path, monkeypatch):
    fx.build_snapshot(tmp_path / "snapshot.duckdb")
    store = auth.UserStore(tmp_path / "users.json")
    for role, name in ACCOUNTS.items():
        store.add(name, role, PASSWORD)
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    return tmp_path


def pricing_page(role: str, home: Path) -> AppTest:
    app = AppTest.from_file(str(APP), default_timeout=30)
    user = auth.UserStore(home / "users.json").get(ACCOUNTS[role])
    app.session_state[ui.SESSION_KEY] = auth.start_session(user)
    app.run()
    app.switch_page(PRICING_PAGE).run()
    assert not app.exception
    return app


def tick_and_approve(app: AppTest, rows: list[int]) -> AppTest:
    app.session_state["approve_editor"] = {
        "edited_rows": {row: {"approve": True} for row in rows},
        "added_rows": [],
        "deleted_rows": [],
    }
    app.run()
    app.button(key="approve_selected").click().run()
    assert not app.exception
    return app


@pytest.mark.parametrize("role", ["pricing", "admin"])
def test_approvers_approve_on_the_page_and_see_the_history(home, role):
    app = tick_and_approve(pricing_page(role, home), [0, 1])
    assert [s.value for s in app.success] == [t("approvals_stored", stored=2, ticked=2)]
    history = next(frame.value for frame in app.dataframe if "approved_by" in frame.value)
    assert len(history) == 2 and set(history["approved_by"]) == {ACCOUNTS[role]}
    assert set(history["action"]) <= {t(f"action_{a}") for a in ("raise", "lower", "hold", "test")}
    assert "export_approved" in {button.key for button in app.get("download_button")}
    # The same two again: nothing new is recorded.
    app = tick_and_approve(pricing_page(role, home), [0, 1])
    assert [s.value for s in app.success] == [t("approvals_stored", stored=0, ticked=2)]
    assert len(approvals.history(home / "approvals.duckdb", data.Scope(role))) == 2


def test_ops_reads_the_history_but_has_no_approve_button(home):
    tick_and_approve(pricing_page("pricing", home), [0])
    app = pricing_page("ops", home)
    assert not [b for b in app.button if b.key == "approve_selected"]
    assert t("approve_not_allowed") in [i.value for i in app.info]
    history = next(frame.value for frame in app.dataframe if "approved_by" in frame.value)
    assert history["approved_by"].tolist() == ["pat"]


def test_a_corrupt_approvals_file_is_a_clear_warning_not_busy_nor_a_traceback(home):
    (home / "approvals.duckdb").write_bytes(b"not a database " * 100)
    with pytest.raises(approvals.ApprovalsError, match="not a valid DuckDB") as raised:
        approvals.history(home / "approvals.duckdb", data.Scope("ops"))
    assert not isinstance(raised.value, approvals.ApprovalsBusy)
    app = pricing_page("pricing", home)  # asserts no exception
    warnings = [w.value for w in app.warning]
    assert len(warnings) == 1 and "approvals.duckdb" in warnings[0]
    app = tick_and_approve(app, [0])
    assert not app.success and len(app.warning) == 2  # the write refused with the same reason


def test_select_all_approves_every_row_and_bulk_revoke_withdraws_them(home):
    app = pricing_page("pricing", home)
    app.checkbox(key="approve_all").check().run()
    rows = len(next(f.value for f in app.dataframe if "approve" in f.value))
    app.button(key="approve_selected").click().run()
    assert [s.value for s in app.success] == [t("approvals_stored", stored=rows, ticked=rows)]
    assert len(stored(home / "approvals.duckdb")) == rows > 1
    # Revoke two by ticking them, then the rest with "select all".
    app = pricing_page("pricing", home)
    app.session_state["revoke_editor"] = {
        "edited_rows": {0: {"revoke": True}, 1: {"revoke": True}},
        "added_rows": [],
        "deleted_rows": [],
    }
    app.run()
    app.button(key="revoke_selected").click().run()
    assert not app.exception
    assert [s.value for s in app.success] == [t("approvals_revoked", count=2)]
    assert len(stored(home / "approvals.duckdb")) == rows - 2
    app.checkbox(key="revoke_all").check().run()
    app.button(key="revoke_selected").click().run()
    assert [s.value for s in app.success] == [t("approvals_revoked", count=rows - 2)]
    assert stored(home / "approvals.duckdb").empty
    assert t("no_approvals_yet") in [c.value for c in app.caption]
    # Who withdrew what, and when, is kept.
    with duckdb.connect(str(home / "approvals.duckdb"), read_only=True) as conn:
        revoked = conn.execute(
            "SELECT revoked_by, count(*) FROM revoked_prices GROUP BY 1"
        ).fetchall()
    assert revoked == [("pat", rows)]


def test_ops_cannot_revoke(home):
    tick_and_approve(pricing_page("pricing", home), [0])
    key = tuple(stored(home / "approvals.duckdb")[["sku_id", "region_code", "as_of"]].iloc[0])
    with pytest.raises(PermissionError):
        approvals.revoke(home / "approvals.duckdb", data.Scope("ops"), "oz", [key], NOON)
    assert not [b for b in pricing_page("ops", home).button if b.key == "revoke_selected"]
    assert len(stored(home / "approvals.duckdb")) == 1


def test_the_approval_export_has_names_and_words_not_codes(home, monkeypatch):
    tick_and_approve(pricing_page("pricing", home), [0])
    exported = []
    original = exports.to_csv
    monkeypatch.setattr(exports, "to_csv", lambda frame: exported.append(frame) or original(frame))
    app = pricing_page("pricing", home)
    (frame,) = [f for f in exported if column_label("approved_by", "zh") in f.columns]
    assert "export_approved_xlsx" in {b.key for b in app.get("download_button")}
    # Headers in the page language; the SKU's name beside its id; words for codes.
    assert not {"sku_id", "approved_by", "action", "region_code"} & set(frame.columns)
    row = frame.iloc[0]
    name = row[column_label("sku_name", "zh")]
    assert name and not str(name).startswith("SKU-")
    assert str(row[column_label("sku_id", "zh")]).startswith("SKU-")
    assert row[column_label("action", "zh")] in {
        t(f"action_{a}") for a in ("raise", "lower", "hold", "test")
    }
    assert row[column_label("region_code", "zh")] == "全国"  # the region as a word, not ALL
