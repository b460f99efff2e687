"""Date presets and comparison periods (pure dates)."""

from __future__ import annotations

from datetime import date

import pytest

from dashboard import periods

FIRST, LAST = date(2024, 1, 1), date(2025, 3, 15)


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("today", (LAST, LAST)),
        ("last_7", (date(2025, 3, 9), LAST)),
        ("last_30", (date(2025, 2, 14), LAST)),
        ("last_90", (date(2024, 12, 16), LAST)),
        ("this_month", (date(2025, 3, 1), LAST)),
        ("last_year_30", (date(2024, 2, 14), date(2024, 3, 15))),  # 2024 is a leap year
        ("custom", None),
    ],
)
def test_presets_end_on_the_last_day_the_data_holds(preset, expected):
    assert periods.preset_range(preset, FIRST, LAST) == expected


def test_presets_are_cut_to_the_data_and_none_when_it_holds_no_such_day():
    assert periods.preset_range("last_90", date(2025, 3, 1), LAST) == (date(2025, 3, 1), LAST)
    assert periods.preset_range("last_year_30", date(2024, 6, 1), LAST) is None


def test_comparison_is_the_period_before_or_the_same_days_a_year_earlier():
    assert periods.comparison_range(date(2025, 3, 9), LAST, "previous") == (
        date(2025, 3, 2),
        date(2025, 3, 8),
    )
    assert periods.comparison_range(date(2025, 3, 9), LAST, "year") == (
        date(2024, 3, 9),
        date(2024, 3, 15),
    )
    # 29 February has no day a year earlier: the 28th stands in.
    assert periods.comparison_range(date(2024, 2, 29), date(2024, 2, 29), "year") == (
        date(2023, 2, 28),
        date(2023, 2, 28),
    )
