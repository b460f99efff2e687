"""The trading calendar: public holidays, make-up workdays, shopping festivals, events."""

import datetime as dt

import pandas as pd

from forecasting import trading_calendar


def _day(frame: pd.DataFrame, iso: str) -> pd.Series:
    return frame.set_index("ds").loc[pd.Timestamp(iso)]


def test_make_up_workdays_of_2025_are_flagged_and_are_not_holidays():
    days = trading_calendar.trading_calendar(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    for iso in ("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"):
        row = _day(days, iso)
        assert row["is_makeup_workday"], iso
        assert row["is_weekend"] and not row["is_public_holiday"], iso
    # An ordinary weekend is neither.
    ordinary = _day(days, "2025-03-08")
    assert not ordinary["is_makeup_workday"] and not ordinary["is_public_holiday"]


def test_national_day_2025_runs_from_the_1st_to_the_8th():
    days = trading_calendar.trading_calendar(dt.date(2025, 9, 25), dt.date(2025, 10, 15))
    off = days[days["is_public_holiday"]]["ds"].dt.strftime("%Y-%m-%d").tolist()
    assert off == [f"2025-10-0{d}" for d in range(1, 9)]
    assert _day(days, "2025-10-02")["holiday_name"] == "national_day"
    assert not _day(days, "2025-10-09")["is_public_holiday"]


def test_spring_festival_2025_break_is_named():
    hols = trading_calendar.public_holidays(dt.date(2025, 1, 20), dt.date(2025, 2, 10))
    spring = hols[hols["holiday"] == "spring_festival"]["ds"]
    assert spring.min() == pd.Timestamp("2025-01-28")
    assert spring.max() == pd.Timestamp("2025-02-04")
    assert len(spring) == 8


def test_years_beyond_the_announced_schedule_fall_back_to_the_rule_based_estimate():
    hols = trading_calendar.public_holidays(dt.date(2027, 9, 25), dt.date(2027, 10, 10))
    national = hols[hols["holiday"] == "national_day"]["ds"]
    assert pd.Timestamp("2027-10-01") in set(national)


def test_shopping_festivals_mark_618_double_11_and_12_12():
    fest = trading_calendar.shopping_festivals(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    named = dict(zip(fest["ds"].dt.strftime("%m-%d"), fest["holiday"], strict=True))
    assert named["06-18"] == "festival_618"
    assert named["11-11"] == "double_11"
    assert named["12-12"] == "double_12"
    assert named["11-05"] == "double_11_campaign"
    assert "07-01" not in named


def test_events_apply_by_scope():
    events = pd.DataFrame({
        "name": ["Genshin 5.0", "Platform sale", "Tencent week", "One SKU promo", "Other cat"],
        "start_date": [dt.date(2025, 8, 28)] * 5,
        "end_date": [dt.date(2025, 8, 30)] * 5,
        "scope": ["category:game_card", "all", "brand:Tencent", "sku:QB-10", "category:video_vip"],
    })  # fmt: skip
    days = trading_calendar.event_days(events, "QB-10", "game_card", "tencent")
    labels = {name.rsplit("_day", 1)[0] for name in days["holiday"]}
    assert labels == {
        "event_genshin_#", "event_platform_sale", "event_tencent_week", "event_one_sku_promo",
    }  # fmt: skip
    assert len(days) == 4 * 3
    # One effect per event, every day of it.
    assert set(days.loc[days["ds"] == pd.Timestamp("2025-08-29"), "holiday"]) == {
        "event_genshin_#", "event_platform_sale", "event_tencent_week", "event_one_sku_promo",
    }  # fmt: skip
    other = trading_calendar.event_days(events, "IQY-M", "video_vip", "iQIYI")
    assert {n.rsplit("_day", 1)[0] for n in other["holiday"]} == {
        "event_platform_sale", "event_other_cat",
    }  # fmt: skip


def test_recurring_events_share_one_effect():
    assert trading_calendar.event_label("原神 5.3 版本更新") == trading_calendar.event_label(
        "原神 5.4 版本更新"
    )
    assert trading_calendar.event_label("限时特惠 9.5折") == trading_calendar.event_label(
        "限时特惠 8折"
    )
    assert trading_calendar.event_label("618年中大促") != trading_calendar.event_label("双十一")


def test_month_starts_are_marked():
    days = trading_calendar.month_start_days(dt.date(2025, 1, 30), dt.date(2025, 2, 5))
    assert days["ds"].dt.day.tolist() == [1, 2, 3]


def test_prophet_holidays_give_make_up_workdays_their_own_effect():
    frame = trading_calendar.prophet_holidays(dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    assert list(frame.columns) == ["holiday", "ds", "lower_window", "upper_window"]
    makeup = set(frame.loc[frame["holiday"] == trading_calendar.MAKEUP_WORKDAY, "ds"])
    assert pd.Timestamp("2025-01-26") in makeup and pd.Timestamp("2025-02-08") in makeup
    assert not frame.duplicated(["holiday", "ds"]).any()
