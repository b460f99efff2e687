"""The simulated days: mainland public holidays, make-up workdays, festivals, school holidays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache

import numpy as np

HISTORY_DAYS = 730  # two years of history end at the export's end date
FUTURE_DAYS = 56  # the ground truth continues 8 weeks past the export

# Holiday names as chinese_calendar spells them; the `holidays` fallback is mapped onto them.
SPRING_FESTIVAL = "Spring Festival"
NATIONAL_DAY = "National Day"
_FALLBACK_NAMES = {
    "Chinese New Year": SPRING_FESTIVAL,
    "National Day": NATIONAL_DAY,
    "New Year's Day": "New Year's Day",
    "Tomb-Sweeping Day": "Tomb-sweeping Day",
    "Labor Day": "Labour Day",
    "Dragon Boat Festival": "Dragon Boat Festival",
    "Mid-Autumn Festival": "Mid-autumn Festival",
}


@dataclass(frozen=True)
class Calendar:
    """One entry per simulated day, history first, then the future days of the ground truth."""

    days: np.ndarray  # datetime64[D]
    history_days: int
    weekday: np.ndarray  # 0 = Monday
    is_off_day: np.ndarray  # weekend or public holiday, unless a make-up workday
    is_makeup_workday: np.ndarray
    holiday: np.ndarray  # object array: holiday name or "" (weekends are not holidays)
    is_school_holiday: np.ndarray
    day_of_month: np.ndarray
    day_of_year: np.ndarray

    @property
    def n_days(self) -> int:
        return len(self.days)

    @property
    def start(self) -> date:
        return self.days[0].astype(object)

    @property
    def end(self) -> date:
        return self.days[self.history_days - 1].astype(object)

    def index_of(self, day: date) -> int:
        return (np.datetime64(day, "D") - self.days[0]).astype(int)


@cache
def _fallback_holidays(year: int) -> dict[date, str]:
    import holidays

    names = {}
    for day, name in holidays.country_holidays("CN", years=year).items():
        for prefix, canonical in _FALLBACK_NAMES.items():
            if name.startswith(prefix) or prefix in name:
                names[day] = canonical
                break
        else:
            names[day] = name
    return names


def _day_kind(day: date) -> tuple[bool, bool, str]:
    """(is_off_day, is_makeup_workday, holiday name) from chinese_calendar, else `holidays`."""
    import chinese_calendar

    try:
        is_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        # Beyond chinese_calendar's range: official holidays only, make-up workdays unknown.
        name = _fallback_holidays(day.year).get(day)
        is_weekend = day.weekday() >= 5
        return (is_weekend or name is not None), False, name or ""
    is_weekend = day.weekday() >= 5
    is_makeup = is_weekend and not is_holiday
    return is_holiday, is_makeup, name or ""


def _spring_festival(year: int) -> date:
    for day in (date(year, 1, 20) + timedelta(days=i) for i in range(40)):
        if _day_kind(day)[2] == SPRING_FESTIVAL:
            return day
    return date(year, 2, 1)


def build_calendar(end_date: date) -> Calendar:
    """1. Lay out the 730 history days ending at `end_date` and 56 future days; 2. mark each
    day's kind (off day, make-up workday, holiday name); 3. mark school holidays (summer
    10 Jul-31 Aug; winter from three weeks before to two and a half weeks after Spring Festival)."""
    start = end_date - timedelta(days=HISTORY_DAYS - 1)
    n_days = HISTORY_DAYS + FUTURE_DAYS
    days = np.arange(np.datetime64(start, "D"), np.datetime64(start, "D") + n_days)
    py_days = [start + timedelta(days=i) for i in range(n_days)]
    kinds = [_day_kind(day) for day in py_days]
    winter = [
        (sf - timedelta(days=21), sf + timedelta(days=17))
        for sf in (_spring_festival(y) for y in range(start.year, py_days[-1].year + 2))
    ]
    school = np.array(
        [
            (date(d.year, 7, 10) <= d <= date(d.year, 8, 31))
            or any(lo <= d <= hi for lo, hi in winter)
            for d in py_days
        ]
    )
    return Calendar(
        days=days,
        history_days=HISTORY_DAYS,
        weekday=np.array([d.weekday() for d in py_days], dtype=np.int8),
        is_off_day=np.array([k[0] for k in kinds]),
        is_makeup_workday=np.array([k[1] for k in kinds]),
        holiday=np.array([k[2] for k in kinds], dtype=object),
        is_school_holiday=school,
        day_of_month=np.array([d.day for d in py_days], dtype=np.int8),
        day_of_year=np.array([d.timetuple().tm_yday for d in py_days], dtype=np.int16),
    )
