"""Date presets and comparison periods for the overview (plain dates; no Streamlit).

"Today" is the last business day the snapshot holds (the build's as-of day): a preset
never asks for days the data cannot have yet.
"""

from __future__ import annotations

from datetime import date, timedelta

PRESETS = ("custom", "today", "last_7", "last_30", "last_90", "this_month", "last_year_30")
COMPARISONS = ("previous", "year")
# What the overview shows before anyone picks dates.
DEFAULT_PRESET = "last_30"


def year_earlier(day: date) -> date:
    """The same day a year before; 29 February becomes the 28th."""
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


def preset_range(preset: str, first_day: date, last_day: date) -> tuple[date, date] | None:
    """The (start, end) a preset stands for, cut to the data's days; None for ``custom`` or
    when the data holds none of those days."""
    if preset == "today":
        start, end = last_day, last_day
    elif preset in ("last_7", "last_30", "last_90"):
        start, end = last_day - timedelta(days=int(preset.split("_")[1]) - 1), last_day
    elif preset == "this_month":
        start, end = last_day.replace(day=1), last_day
    elif preset == "last_year_30":
        start, end = year_earlier(last_day - timedelta(days=29)), year_earlier(last_day)
    else:
        return None
    if end < first_day:  # the data does not reach back that far
        return None
    return max(start, first_day), min(end, last_day)


def comparison_range(start: date, end: date, compare: str) -> tuple[date, date]:
    """The period the headline numbers are compared with: the equally long one just before,
    or the same days a year earlier (year on year)."""
    if compare == "year":
        return year_earlier(start), year_earlier(end)
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)
