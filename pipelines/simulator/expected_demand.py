"""Expected demand per SKU x province x day: the ground truth the orders are drawn from.

expected_units = base x province share x trend x weekly pattern x holiday x festival
                 x school holiday x game/brand events x lifecycle
                 x (unit_price / reference_price) ** elasticity
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pipelines.simulator.catalogue import CATEGORIES, REGIONAL_ELASTICITY_SD, Catalogue
from pipelines.simulator.prices import PriceBook
from pipelines.simulator.provinces import PROVINCES, buyer_share
from pipelines.simulator.simulated_calendar import NATIONAL_DAY, SPRING_FESTIVAL, Calendar

# Monday..Sunday. Games and video peak at the weekend, software is bought on workdays.
WEEKLY = {
    "game_card": (0.92, 0.90, 0.92, 0.97, 1.08, 1.24, 1.20),
    "mobile_topup": (1.02, 1.00, 1.00, 1.00, 1.02, 0.98, 0.97),
    "data_topup": (1.00, 0.98, 0.98, 1.00, 1.04, 1.02, 0.99),
    "video_vip": (0.94, 0.93, 0.94, 0.97, 1.08, 1.12, 1.05),
    "software_license": (1.16, 1.15, 1.14, 1.12, 1.05, 0.70, 0.68),
    "gift_card": (0.95, 0.94, 0.95, 0.98, 1.05, 1.10, 1.04),
}
# Lift on public holidays (on top of the day being an off day).
HOLIDAY_LIFT = {
    SPRING_FESTIVAL: {
        "game_card": 1.6,
        "mobile_topup": 0.9,
        "data_topup": 1.1,
        "video_vip": 1.35,
        "software_license": 0.6,
        "gift_card": 1.3,
    },
    NATIONAL_DAY: {
        "game_card": 1.3,
        "mobile_topup": 1.0,
        "data_topup": 1.15,
        "video_vip": 1.2,
        "software_license": 0.7,
        "gift_card": 1.1,
    },
    "other": {
        "game_card": 1.15,
        "mobile_topup": 1.0,
        "data_topup": 1.1,
        "video_vip": 1.1,
        "software_license": 0.75,
        "gift_card": 1.05,
    },
}
# Peak-day lift of the shopping festivals; the run-up days get a fifth of it.
FESTIVAL_PEAK = {
    "618": {
        "game_card": 1.15,
        "mobile_topup": 1.15,
        "data_topup": 1.2,
        "video_vip": 1.7,
        "software_license": 1.5,
        "gift_card": 1.6,
    },
    "double11": {
        "game_card": 1.3,
        "mobile_topup": 1.3,
        "data_topup": 1.4,
        "video_vip": 2.2,
        "software_license": 1.8,
        "gift_card": 2.0,
    },
    "double12": {
        "game_card": 1.15,
        "mobile_topup": 1.15,
        "data_topup": 1.2,
        "video_vip": 1.6,
        "software_license": 1.4,
        "gift_card": 1.5,
    },
}
SCHOOL_HOLIDAY_LIFT = {"game_card": 1.3, "video_vip": 1.1}
TREND_PER_YEAR = {
    "game_card": -0.05,
    "mobile_topup": 0.0,
    "data_topup": 0.1,
    "video_vip": 0.12,
    "software_license": 0.05,
    "gift_card": 0.06,
}


@dataclass(frozen=True)
class Event:
    """A dated happening the platform knows about, exported in events.csv."""

    name: str
    start: date
    end: date
    scope: str  # all | category:<c> | brand:<b> | sku:<id>
    peak_lift: float = 0.0  # extra demand on the first day (brand events)
    decay_days: float = 0.0


def _weekly_factor(cal: Calendar) -> np.ndarray:
    """[category, day]: an off weekday behaves like a Saturday, a make-up workday like a
    Wednesday (mainland holidays move the weekend)."""
    effective_weekday = cal.weekday.astype(np.int64).copy()
    effective_weekday[cal.is_off_day & (cal.weekday < 5)] = 5
    effective_weekday[cal.is_makeup_workday] = 2
    table = np.array([WEEKLY[c] for c in CATEGORIES])
    table = table / table.mean(axis=1, keepdims=True)
    return table[:, effective_weekday]


def _holiday_factor(cal: Calendar) -> np.ndarray:
    factor = np.ones((len(CATEGORIES), cal.n_days))
    for d, name in enumerate(cal.holiday):
        if name:
            lifts = HOLIDAY_LIFT.get(name, HOLIDAY_LIFT["other"])
            factor[:, d] = [lifts[c] for c in CATEGORIES]
    return factor


def _month_day(cal: Calendar) -> list[tuple[int, int]]:
    return [(int(str(d)[5:7]), int(dm)) for d, dm in zip(cal.days, cal.day_of_month, strict=True)]


def _festival_factor(cal: Calendar) -> np.ndarray:
    windows = {"618": (6, 1, 18), "double11": (11, 1, 11), "double12": (12, 10, 12)}
    factor = np.ones((len(CATEGORIES), cal.n_days))
    for d, (month, day) in enumerate(_month_day(cal)):
        for festival, (m, first, peak) in windows.items():
            if month == m and first <= day <= peak:
                lifts = np.array([FESTIVAL_PEAK[festival][c] for c in CATEGORIES])
                factor[:, d] = lifts if day == peak else 1.0 + (lifts - 1.0) / 5.0
    return factor


def _season_factor(cal: Calendar) -> np.ndarray:
    """School holidays lift games (and a little video); phone credit peaks in the first
    three days of the month when plans renew; a gentle yearly wave for everything."""
    factor = np.ones((len(CATEGORIES), cal.n_days))
    for i, c in enumerate(CATEGORIES):
        factor[i] *= np.where(cal.is_school_holiday, SCHOOL_HOLIDAY_LIFT.get(c, 1.0), 1.0)
        factor[i] *= 1.0 + 0.05 * np.cos(2 * np.pi * (cal.day_of_year - 15 - 30 * i) / 365.25)
    mobile = CATEGORIES.index("mobile_topup")
    factor[mobile] *= np.where(cal.day_of_month <= 3, 1.25, 1.0)
    return factor


def calendar_events(cal: Calendar, rng) -> list[Event]:
    """Festivals, school holidays, Steam sales and game updates over the history and the
    future days: every event the export lists (promotions are added by the generator)."""
    first, last = cal.days[0].astype(object), cal.days[-1].astype(object)
    events: list[Event] = []
    for year in range(first.year, last.year + 1):
        events += [
            Event("618年中大促", date(year, 6, 1), date(year, 6, 18), "all"),
            Event("双十一", date(year, 11, 1), date(year, 11, 11), "all"),
            Event("双十二", date(year, 12, 10), date(year, 12, 12), "all"),
            Event("暑假", date(year, 7, 10), date(year, 8, 31), "category:game_card"),
            Event("Steam夏季特卖", date(year, 6, 26), date(year, 7, 10), "brand:Steam", 0.5, 1e9),
            Event(
                "Steam冬季特卖", date(year, 12, 19), date(year + 1, 1, 2), "brand:Steam", 0.5, 1e9
            ),
        ]
    school = cal.is_school_holiday & (np.array([m for m, _ in _month_day(cal)]) <= 3)
    winter_days = cal.days[school]
    if len(winter_days):
        breaks = np.flatnonzero(np.diff(winter_days).astype(int) > 1)
        for block in np.split(winter_days, breaks + 1):
            events.append(
                Event(
                    "寒假", block[0].astype(object), block[-1].astype(object), "category:game_card"
                )
            )
    # Game updates and launches: lift on day one, decaying over the next days.
    cadence = [
        ("原神", "原神 {n} 版本更新", date(2024, 10, 9), 42, 0.9, 4.0, 21),
        ("王者荣耀", "王者荣耀 S{n} 新赛季", date(2024, 10, 17), 91, 0.5, 6.0, 14),
        ("和平精英", "和平精英 SS{n} 赛季", date(2024, 11, 14), 63, 0.4, 5.0, 14),
    ]
    for brand, name, anchor, every, lift, decay, span in cadence:
        n, day = 0, anchor
        while day <= last:
            if day + timedelta(days=span) >= first:
                label = f"{5 + n // 9}.{n % 9}" if brand == "原神" else str(37 + n)
                events.append(
                    Event(
                        name.format(n=label),
                        day,
                        day + timedelta(days=span - 1),
                        f"brand:{brand}",
                        lift,
                        decay,
                    )
                )
            n += 1
            day += timedelta(days=every)
    launch_day = first + timedelta(days=int(rng.integers(20, 120)))
    while launch_day <= last:
        events.append(
            Event(
                "网易新游公测",
                launch_day,
                launch_day + timedelta(days=29),
                "brand:网易一卡通",
                0.6,
                10.0,
            )
        )
        launch_day += timedelta(days=int(rng.integers(150, 240)))
    return sorted(events, key=lambda e: (e.start, e.name))


def _brand_factor(cat: Catalogue, cal: Calendar, events: list[Event]) -> np.ndarray:
    """[sku, day] lift from brand events (Steam sales, game updates)."""
    factor = np.ones((len(cat), cal.n_days))
    offsets = np.arange(cal.n_days)
    for e in events:
        if not e.scope.startswith("brand:") or e.peak_lift == 0:
            continue
        skus = cat.brand == e.scope.removeprefix("brand:")
        start, end = cal.index_of(e.start), cal.index_of(e.end)
        t = offsets - start
        inside = (t >= 0) & (offsets <= end)
        lift = np.where(inside, 1.0 + e.peak_lift * np.exp(-np.maximum(t, 0) / e.decay_days), 1.0)
        factor[skus] *= lift
    return factor


def _lifecycle(cat: Catalogue, cal: Calendar) -> np.ndarray:
    """New SKUs ramp up over their first weeks; discontinued ones fade for 60 days, then stop."""
    d = np.arange(cal.n_days)[None, :]
    launch, end = cat.launch_day[:, None], cat.end_day[:, None]
    ramp = np.where(d >= launch, 1.0 - 0.7 * np.exp(-(d - launch) / 10.0), 0.0)
    discontinued = end < cal.n_days
    fade = np.where(discontinued, np.clip((end - d) / 60.0, 0.4, 1.0), 1.0)
    return np.where(d < end, ramp * fade, 0.0)


@dataclass(frozen=True)
class DemandTruth:
    baseline_units: np.ndarray  # [sku, region, day] at the reference price
    expected_units: np.ndarray  # [sku, region, day] at the price charged
    elasticity: np.ndarray  # [sku, region]
    region_share: np.ndarray  # [sku, region]


def regional_elasticity(cat: Catalogue, rng) -> np.ndarray:
    """SKU-level elasticity plus a regional deviation ~ N(0, 0.3), kept below -0.5."""
    deviation = rng.normal(0.0, REGIONAL_ELASTICITY_SD, (len(cat), len(PROVINCES)))
    return np.round(np.minimum(cat.elasticity[:, None] + deviation, -0.5), 3)


def expected_demand(
    cat: Catalogue, cal: Calendar, prices: PriceBook, events: list[Event], base_units, rng
) -> DemandTruth:
    """1. Province shares (population, spending, a little SKU-specific noise); 2. per-category
    calendar shape; 3. brand events, lifecycle, trend; 4. the price effect."""
    share = buyer_share()[None, :] * rng.lognormal(0.0, 0.2, (len(cat), len(PROVINCES)))
    share /= share.sum(axis=1, keepdims=True)
    category_shape = (
        _weekly_factor(cal) * _holiday_factor(cal) * _festival_factor(cal) * _season_factor(cal)
    )
    cat_index = np.array([CATEGORIES.index(c) for c in cat.category])
    slope = np.array([TREND_PER_YEAR[c] for c in cat.category]) + rng.normal(0, 0.12, len(cat))
    years = (np.arange(cal.n_days) - cal.history_days / 2) / 365.25
    trend = np.exp(slope[:, None] * years[None, :])
    sku_shape = (
        category_shape[cat_index] * _brand_factor(cat, cal, events) * _lifecycle(cat, cal) * trend
    )
    baseline = base_units[:, None, None] * share[:, :, None] * sku_shape[:, None, :]
    elasticity = regional_elasticity(cat, rng)
    ratio = prices.unit_cents / (prices.reference_price[:, None, None] * 100.0)
    expected = baseline * ratio ** elasticity[:, :, None]
    return DemandTruth(baseline, expected, elasticity, share)
