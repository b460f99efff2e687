"""Demand controls for elasticity: trend, week, year, China holidays, shopping festivals, events.

Price effects are measured after these are accounted for, so a Double 11 promotion (price
down, demand up for reasons of its own) is not read as elasticity.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

YEARLY_FOURIER_ORDER = 4

# Online shopping festivals: the day itself and its run-up, when platforms promote.
SHOPPING_FESTIVALS: dict[str, tuple[int, int, int]] = {
    # name: (month, day, run-up days before)
    "618": (6, 18, 17),
    "double_11": (11, 11, 10),
    "double_12": (12, 12, 4),
}


@lru_cache(maxsize=4096)
def _holiday_name(day: dt.date) -> str | None:
    """The public holiday a day belongs to (mainland China, make-up workdays excluded)."""
    try:
        import chinese_calendar

        on_holiday, name = chinese_calendar.get_holiday_detail(day)
        if on_holiday and name:
            return str(name)
        return None
    except (NotImplementedError, ImportError):
        import holidays

        return holidays.China(years=day.year).get(day)


@lru_cache(maxsize=4096)
def _is_makeup_workday(day: dt.date) -> bool:
    try:
        import chinese_calendar

        return day.weekday() >= 5 and chinese_calendar.is_workday(day)
    except (NotImplementedError, ImportError):
        return False


def calendar_controls(days: pd.DatetimeIndex) -> pd.DataFrame:
    """One row per day: trend, weekday, yearly Fourier, holiday and festival columns.

    1. Trend: days since the first day (in years) and its square.
    2. Weekday dummies (Monday is the base).
    3. Yearly Fourier terms.
    4. A dummy per public holiday name, plus the day before a holiday and make-up workdays.
    5. The first three days of a month; school summer and winter holidays.
    6. Each shopping festival's day and its run-up window.
    Columns that are constant over ``days`` are dropped: they cannot be estimated.
    """
    days = pd.DatetimeIndex(days)
    years = (days - days[0]).days.to_numpy() / 365.25
    controls: dict[str, np.ndarray] = {"trend": years, "trend_sq": years**2}
    for weekday in range(1, 7):
        controls[f"weekday_{weekday}"] = (days.weekday == weekday).astype(float)
    day_of_year = days.dayofyear.to_numpy() / 365.25
    for order in range(1, YEARLY_FOURIER_ORDER + 1):
        controls[f"year_sin_{order}"] = np.sin(2 * np.pi * order * day_of_year)
        controls[f"year_cos_{order}"] = np.cos(2 * np.pi * order * day_of_year)
    dates = [d.date() for d in days]
    names = [_holiday_name(d) for d in dates]
    for name in sorted({n for n in names if n}):
        controls[f"holiday_{name}"] = np.array([n == name for n in names], dtype=float)
    controls["holiday_eve"] = np.array(
        [
            n is None and _holiday_name(d + dt.timedelta(days=1)) is not None
            for d, n in zip(dates, names, strict=True)
        ],
        dtype=float,
    )
    controls["makeup_workday"] = np.array([_is_makeup_workday(d) for d in dates], dtype=float)
    # Top-ups cluster in the first days of a month (salaries, monthly plans).
    controls["month_start"] = (days.day <= 3).astype(float)
    controls["school_summer"] = _school_summer(days)
    controls["school_winter"] = _school_winter(days)
    for name, (month, day, run_up) in SHOPPING_FESTIVALS.items():
        on_day = (days.month == month) & (days.day == day)
        in_run_up = (days.month == month) & (days.day >= day - run_up) & (days.day < day)
        controls[f"festival_{name}"] = on_day.astype(float)
        controls[f"festival_{name}_run_up"] = np.asarray(in_run_up, dtype=float)
    frame = pd.DataFrame(controls, index=days)
    return frame.loc[:, frame.std() > 0]


def _school_summer(days: pd.DatetimeIndex) -> np.ndarray:
    """Mainland school summer holidays, roughly 10 July to 31 August."""
    month_day = days.month * 100 + days.day
    return ((month_day >= 710) & (month_day <= 831)).astype(float)


def _school_winter(days: pd.DatetimeIndex) -> np.ndarray:
    """Winter holidays: about three weeks before to two and a half weeks after Spring Festival."""
    active = np.zeros(len(days), dtype=bool)
    for year in sorted(set(days.year)):
        festival = _spring_festival(year)
        if festival is not None:
            start = pd.Timestamp(festival - dt.timedelta(days=21))
            end = pd.Timestamp(festival + dt.timedelta(days=17))
            active |= (days >= start) & (days <= end)
    return active.astype(float)


@lru_cache(maxsize=64)
def _spring_festival(year: int) -> dt.date | None:
    """Lunar new year's day (the ``holidays`` package computes it for any year)."""
    import holidays

    for day, name in sorted(holidays.China(years=year).items()):
        if "Spring Festival" in name or "春节" in name:
            return day
    return None


def event_controls(
    days: pd.DatetimeIndex,
    events: pd.DataFrame | None,
    sku_id: str,
    category: str | None,
    brand: str | None,
    log_price_index: np.ndarray | None = None,
    min_price_cut: float = 0.02,
) -> pd.DataFrame:
    """A dummy per event name that applies to this SKU (scope all / category / brand / sku).

    An event during which the SKU's price sat at least ``min_price_cut`` below usual is a
    price promotion: its effect on demand is the price's, so it is left out of the controls
    (a dummy would absorb exactly the variation elasticity is measured from). Holidays and
    shopping festivals stay controls whatever the price did.
    """
    days = pd.DatetimeIndex(days)
    frame = pd.DataFrame(index=days)
    if events is None or events.empty:
        return frame
    applies = {"all", f"category:{category}", f"brand:{brand}", f"sku:{sku_id}"}
    mine = events[events["scope"].astype(str).str.strip().isin(applies)]
    for name, rows in mine.groupby("name", sort=True):
        active = np.zeros(len(days), dtype=bool)
        for start, end in zip(rows["start_date"], rows["end_date"], strict=True):
            active |= (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))
        on_promotion = (
            log_price_index is not None
            and active.any()
            and log_price_index[active].mean() <= np.log1p(-min_price_cut)
        )
        if on_promotion:
            continue
        if active.any() and not active.all():
            frame[f"event_{name}"] = active.astype(float)
            # Launches and sales peak on their first day, then fade.
            first = active & ~np.r_[False, active[:-1]]
            if first.any() and not (first == active).all():
                frame[f"event_{name}_first_day"] = first.astype(float)
    return frame
