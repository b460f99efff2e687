"""The risk and reconciliation page (#19): ops and admin see every discrepancy and signal with its
evidence, in words, with a CSV; a merchant or pricing user cannot open it."""

from __future__ import annotations

import pytest
from test_dashboard_app import built_home, signed_in  # noqa: F401 (built_home: a fixture)

from dashboard.i18n import t


@pytest.fixture
def home(built_home, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CARDPULSE_HOME", str(built_home))
    return built_home


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_ops_sees_discrepancies_and_signals_in_words(home, lang):
    app = signed_in("ops", home, lang=lang)
    app.switch_page("app_pages/risk.py").run()
    assert not app.exception
    assert app.title[0].value == t("page_risk", lang)
    text = " ".join(
        str(v)
        for frame in app.dataframe
        for column in frame.value.columns
        for v in frame.value[column]
    )
    paid_twice = "重复支付" if lang == "zh" else "Paid twice"
    velocity = "买家高频下单" if lang == "zh" else "Buyer order velocity"
    assert paid_twice in text and velocity in text
    # The evidence is shown in the viewer's language (English where a row has no Chinese).
    if lang == "zh":
        assert "60 分钟内 14 笔已付款订单" in text and "14 paid orders" not in text
    else:
        assert "14 paid orders within 60 min" in text and "分钟" not in text
    assert "40 of 52 paid orders with a refund" in text
    # One table per recon check plus the summary and the signals, each with a CSV.
    assert len(app.dataframe) == 5
    assert len(app.get("download_button")) == 4


def test_pricing_and_merchant_users_are_not_offered_it(home):
    for role in ("pricing", "merchant"):
        app = signed_in(role, home)
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            app.switch_page("app_pages/risk.py")
