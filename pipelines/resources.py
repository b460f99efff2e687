"""Dagster resources, configured from the environment (``$CARDPULSE_HOME``)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.settings import home


class BuildSettings(dg.ConfigurableResource):
    """What one build treats as "today" and how far ahead it plans.

    ``as_of`` is an ISO date; empty means the day after the last order in the warehouse.
    """

    as_of: str = ""
    horizon_days: int = 28

    def as_of_date(self, conn) -> dt.date:
        """1. The configured date, or 2. the day after the last order's business date."""
        if self.as_of:
            return dt.date.fromisoformat(self.as_of)
        row = conn.execute("SELECT max(order_date) FROM analytics.fct_orders").fetchone()
        if row is None or row[0] is None:
            return dt.date.today()
        return row[0] + dt.timedelta(days=1)


def build_resources(as_of: str = "") -> dict[str, object]:
    """The resources every CardPulse job uses, under the keys assets ask for."""
    return {
        "duckdb": DuckDBResource(database=str(home().warehouse)),
        "build_settings": BuildSettings(as_of=as_of),
    }
