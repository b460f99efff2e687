"""Upcoming events that explain a plan: the platform's own (``dim_events``), mainland China
public holidays, and the shopping festivals every 卡盟 feels (618, Double 11, Double 12)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import holidays
import pandas as pd

# (month, day, English name, Chinese name)
SHOPPING_FESTIVALS = (
    (6, 18, "618", "618 大促"),
    (11, 11, "Double 11", "双11"),
    (12, 12, "Double 12", "双12"),
)


@dataclass(frozen=True)
class Event:
    name_en: str
    name_zh: str
    start_date: dt.date
    end_date: dt.date
    scope: str = "all"

    def applies_to(self, sku: dict) -> bool:
        """``all``, ``category:<c>``, ``brand:<b>`` or ``sku:<id>`` matched against the SKU."""
        scope = (self.scope or "all").strip()
        if scope == "all":
            return True
        kind, _, value = scope.partition(":")
        field = {"category": "category", "brand": "brand", "sku": "sku_id"}.get(kind.strip())
        return field is not None and str(sku.get(field) or "") == value.strip()


def china_festivals(first: dt.date, last: dt.date) -> list[Event]:
    """Public holidays (first day of each run, make-up days off skipped) and shopping days."""
    years = list(range(first.year, last.year + 1))
    names_en = holidays.country_holidays("CN", years=years, language="en_US")
    names_zh = holidays.country_holidays("CN", years=years, language="zh_CN")
    runs: dict[str, Event] = {}
    for day in sorted(names_en):
        name = re.sub(r"\s*\(observed\)$", "", names_en[day])
        if name.startswith("Day off"):
            continue
        name_zh = re.sub(r"（补假）$", "", names_zh.get(day, name))
        key = f"{name}-{day.year}"
        if key in runs and (day - runs[key].end_date).days <= 3:
            runs[key] = Event(name, name_zh, runs[key].start_date, day)
        elif key not in runs:
            runs[key] = Event(name, name_zh, day, day)
    events = list(runs.values())
    for year in years:
        for month, day, name_en, name_zh in SHOPPING_FESTIVALS:
            date = dt.date(year, month, day)
            events.append(Event(name_en, name_zh, date, date))
    return [event for event in events if event.end_date >= first and event.start_date <= last]


def upcoming_events(
    as_of: dt.date, horizon_days: int, dim_events: pd.DataFrame | None = None
) -> list[Event]:
    """Events under way or starting within the horizon, soonest first.

    1. The platform's events, 2. festivals, dropping a festival when a platform event already
    covers its first day (the platform's own name for it wins).
    """
    last = as_of + dt.timedelta(days=horizon_days)
    platform: list[Event] = []
    if dim_events is not None and not dim_events.empty:
        for row in dim_events.itertuples(index=False):
            start, end = pd.Timestamp(row.start_date).date(), pd.Timestamp(row.end_date).date()
            if end >= as_of and start <= last:
                platform.append(Event(str(row.name), str(row.name), start, end, str(row.scope)))
    covered = {
        event.start_date + dt.timedelta(days=offset)
        for event in platform
        if event.scope == "all"
        for offset in range((event.end_date - event.start_date).days + 1)
    }
    festivals = [e for e in china_festivals(as_of, last) if e.start_date not in covered]
    return sorted(platform + festivals, key=lambda e: (max(e.start_date, as_of), e.name_en))
