"""The Chinese trading calendar demand reacts to: public holidays, make-up workdays, shopping
festivals, and the user's own events.

Mainland public holidays and the make-up workdays (调休: a weekend day that becomes a working
day to bridge a holiday) come from ``chinese_calendar``, which has the State Council's
announced schedule; for years it does not know yet (announced each November) the
``holidays`` package's rule-based estimate of the days off is used, without make-up days.

Every function returns plain frames keyed by ``ds`` (a pandas Timestamp at midnight), so they
join straight onto a daily series.
"""

from __future__ import annotations

import datetime as dt
import re

import chinese_calendar
import holidays
import pandas as pd

# One name per festival, so each gets its own effect in the models whatever the source spells.
_HOLIDAY_NAMES = {
    "new year's day": "new_year",
    "spring festival": "spring_festival",
    "chinese new year": "spring_festival",
    "tomb-sweeping day": "qingming",
    "labour day": "labour_day",
    "labor day": "labour_day",
    "dragon boat festival": "dragon_boat",
    "mid-autumn festival": "mid_autumn",
    "national day": "national_day",
}
MAKEUP_WORKDAY = "makeup_workday"
MONTH_START = "month_start"
MONTH_START_DAYS = 3
EVENT_OPENING_DAYS = 0  # >0: an event's first days get their own effects (see event_days)
_SUBSTITUTED_FROM = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")

# Shopping festivals of Chinese e-commerce: (name, month, first day, last day). 618 runs as a
# campaign from 1 June to its peak on the 18th; Double 11 pre-sales open around 20 October.
SHOPPING_FESTIVALS = (
    ("festival_618_campaign", 6, 1, 17),
    ("festival_618", 6, 18, 18),
    ("double_11_presale", 10, 20, 31),
    ("double_11_campaign", 11, 1, 10),
    ("double_11", 11, 11, 11),
    ("double_12", 12, 12, 12),
)


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def _normalised_holiday_name(name: str) -> str:
    key = name.lower()
    for prefix, normalised in _HOLIDAY_NAMES.items():
        if key.startswith(prefix):
            return normalised
    return "other_holiday"


def _known_years() -> range:
    """The years ``chinese_calendar`` has the announced schedule for."""
    years = sorted({day.year for day in chinese_calendar.holidays})
    return range(years[0], years[-1] + 1)


def public_holidays(start: dt.date, end: dt.date) -> pd.DataFrame:
    """Days off for mainland public holidays between ``start`` and ``end`` (inclusive).

    1. Announced years from ``chinese_calendar``: a holiday day is one it lists with a
       festival name (weekends inside the break count, plain weekends do not);
    2. later years from the ``holidays`` package's estimate, incl. its substituted days off;
    3. one row per day: ``ds``, ``holiday`` (normalised festival name).
    """
    known = _known_years()
    rows: list[tuple[dt.date, str]] = []
    for day in _days(start, end):
        if day.year in known:
            is_day_off, name = chinese_calendar.get_holiday_detail(day)
            if is_day_off and name:
                rows.append((day, _normalised_holiday_name(str(name))))
    unknown_years = sorted({d.year for d in _days(start, end)} - set(known))
    if unknown_years:
        estimate = holidays.China(years=unknown_years)
        for day, name in sorted(estimate.items()):
            if start <= day <= end:
                label = name.split(";")[0]
                if label.lower().startswith("day off"):
                    label = _nearest_festival(estimate, day)
                rows.append((day, _normalised_holiday_name(label)))
    frame = pd.DataFrame(rows, columns=["ds", "holiday"])
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame.drop_duplicates("ds").sort_values("ds", ignore_index=True)


def _nearest_festival(estimate: holidays.HolidayBase, day: dt.date) -> str:
    """The festival a substituted day off bridges: the closest named holiday day."""
    named = [(abs((d - day).days), n) for d, n in estimate.items() if "day off" not in n.lower()]
    return min(named)[1] if named else "other_holiday"


def makeup_workdays(start: dt.date, end: dt.date) -> pd.DataFrame:
    """Weekend days that are working days (调休) between ``start`` and ``end``: ``ds``, ``holiday``.

    1. Announced years: weekend days ``chinese_calendar`` marks as workdays;
    2. later years: the dates the ``holidays`` estimate names as "substituted from".
    """
    known = _known_years()
    days = [
        day
        for day in _days(start, end)
        if day.year in known and day.weekday() >= 5 and chinese_calendar.is_workday(day)
    ]
    unknown_years = sorted({d.year for d in _days(start, end)} - set(known))
    if unknown_years:
        for name in holidays.China(years=unknown_years).values():
            for month, mday, year in _SUBSTITUTED_FROM.findall(name):
                day = dt.date(int(year), int(month), int(mday))
                if start <= day <= end and day.year not in known:
                    days.append(day)
    frame = pd.DataFrame({"ds": pd.to_datetime(sorted(set(days)))})
    frame["holiday"] = MAKEUP_WORKDAY
    return frame


def shopping_festivals(start: dt.date, end: dt.date) -> pd.DataFrame:
    """618, Double 11 (with its pre-sale and campaign) and 12.12 days: ``ds``, ``holiday``."""
    rows = []
    for year in range(start.year, end.year + 1):
        for name, month, first, last in SHOPPING_FESTIVALS:
            for mday in range(first, last + 1):
                day = dt.date(year, month, mday)
                if start <= day <= end:
                    rows.append((day, name))
    frame = pd.DataFrame(rows, columns=["ds", "holiday"])
    frame["ds"] = pd.to_datetime(frame["ds"])
    return frame.sort_values(["ds", "holiday"], ignore_index=True)


def event_applies(scope: str, sku_id: str, category: str | None, brand: str | None) -> bool:
    """Whether an event's scope covers a SKU.

    Scopes: ``all``, ``category:<c>``, ``brand:<b>``, ``sku:<id>``.

    Matching is case-insensitive on the value; an unknown scope kind covers nothing.
    """
    kind, _, value = (scope or "").strip().partition(":")
    kind, value = kind.strip().lower(), value.strip().lower()
    if kind == "all":
        return True
    targets = {"category": category, "brand": brand, "sku": sku_id}
    target = targets.get(kind)
    return target is not None and str(target).strip().lower() == value


def event_label(name: str) -> str:
    """The effect name of an event: ``event_`` + its name with numbers blanked, so recurring
    events (``原神 5.3 版本更新``, ``王者荣耀 S41 新赛季``, ``限时特惠 9.5折``) share one effect
    and a past occurrence informs the next one."""
    text = re.sub(r"\d+(?:\.\d+)?", "#", str(name).strip().lower())
    return "event_" + re.sub(r"[^\w#]+", "_", text).strip("_")


def event_days(
    events: pd.DataFrame, sku_id: str, category: str | None, brand: str | None
) -> pd.DataFrame:
    """The user's events that cover one SKU, one row per day: ``ds``, ``holiday``.

    ``events`` has name, start_date, end_date, scope (``dim_events``). Each of an event's
    first ``EVENT_OPENING_DAYS`` days can be its own effect (``<label>_day<k>``), the rest
    shares ``<label>``; off by default: with two yearly occurrences the extra effects
    could not be told apart from the festival and month-start effects on the same days.
    """
    rows = []
    for event in events.itertuples(index=False):
        if not event_applies(event.scope, sku_id, category, brand):
            continue
        start, end = pd.Timestamp(event.start_date), pd.Timestamp(event.end_date)
        label = event_label(event.name)
        for offset, day in enumerate(pd.date_range(start, max(start, end), freq="D")):
            name = f"{label}_day{offset}" if offset < EVENT_OPENING_DAYS else label
            rows.append((day, name))
    return pd.DataFrame(rows, columns=["ds", "holiday"]).astype({"ds": "datetime64[ns]"})


def month_start_days(start: dt.date, end: dt.date) -> pd.DataFrame:
    """The first three days of every month: phone plans renew and top-ups cluster (月初充值)."""
    days = pd.date_range(start, end, freq="D")
    return pd.DataFrame({"ds": days[days.day <= MONTH_START_DAYS], "holiday": MONTH_START})


def trading_calendar(start: dt.date, end: dt.date) -> pd.DataFrame:
    """Every day between ``start`` and ``end`` with its calendar flags.

    Columns: ``ds``, ``is_public_holiday``, ``holiday_name`` (None on ordinary days),
    ``is_makeup_workday``, ``shopping_festival`` (None outside festivals), ``is_weekend``.
    """
    frame = pd.DataFrame({"ds": pd.date_range(start, end, freq="D")})
    hols = public_holidays(start, end).rename(columns={"holiday": "holiday_name"})
    festivals = (
        shopping_festivals(start, end)
        .groupby("ds", as_index=False)["holiday"]
        .first()
        .rename(columns={"holiday": "shopping_festival"})
    )
    makeup = set(makeup_workdays(start, end)["ds"])
    frame = frame.merge(hols, on="ds", how="left").merge(festivals, on="ds", how="left")
    frame["is_public_holiday"] = frame["holiday_name"].notna()
    frame["is_makeup_workday"] = frame["ds"].isin(makeup)
    frame["is_weekend"] = frame["ds"].dt.weekday >= 5
    frame = frame.astype({"holiday_name": object, "shopping_festival": object})
    frame = frame.where(frame.notna(), None)
    return frame[
        [
            "ds",
            "is_public_holiday",
            "holiday_name",
            "is_makeup_workday",
            "shopping_festival",
            "is_weekend",
        ]
    ]


def prophet_holidays(
    start: dt.date,
    end: dt.date,
    events: pd.DataFrame | None = None,
    sku_id: str = "",
    category: str | None = None,
    brand: str | None = None,
) -> pd.DataFrame:
    """Prophet's ``holidays`` frame for one SKU: public holidays, make-up workdays (their own
    effect: a workday on a weekend moves demand too), shopping festivals, month starts and
    covering events.

    Each day is one row with a zero window, so every name is one effect shared by its days.
    """
    parts = [
        public_holidays(start, end),
        makeup_workdays(start, end),
        shopping_festivals(start, end),
        month_start_days(start, end),
    ]
    if events is not None and len(events):
        parts.append(event_days(events, sku_id, category, brand))
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(
            {
                "holiday": pd.Series(dtype=object),
                "ds": pd.Series(dtype="datetime64[ns]"),
                "lower_window": pd.Series(dtype=int),
                "upper_window": pd.Series(dtype=int),
            }
        )
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[(frame["ds"] >= pd.Timestamp(start)) & (frame["ds"] <= pd.Timestamp(end))]
    frame = frame.drop_duplicates(["holiday", "ds"]).sort_values(["holiday", "ds"])
    frame["lower_window"] = 0
    frame["upper_window"] = 0
    return frame[["holiday", "ds", "lower_window", "upper_window"]].reset_index(drop=True)
