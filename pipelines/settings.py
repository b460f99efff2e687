"""Where CardPulse keeps its state: all of it under ``$CARDPULSE_HOME`` (default ``./data``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

BUSINESS_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Home:
    """The paths of one CardPulse installation."""

    root: Path

    @property
    def landing(self) -> Path:
        return self.root / "landing"

    @property
    def warehouse(self) -> Path:
        return self.root / "warehouse.duckdb"

    @property
    def snapshot(self) -> Path:
        """The read-only copy the dashboard opens, replaced atomically after each build."""
        return self.root / "snapshot.duckdb"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster"

    @property
    def users_file(self) -> Path:
        return self.root / "users.json"

    @property
    def approvals(self) -> Path:
        """Prices the pricing team approved in the dashboard (kept apart from the snapshot,
        which every build replaces)."""
        return self.root / "approvals.duckdb"

    def ensure(self) -> Home:
        for path in (self.root, self.landing, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        return self


def home() -> Home:
    """The installation named by ``$CARDPULSE_HOME``, resolved to an absolute path."""
    return Home(Path(os.environ.get("CARDPULSE_HOME", "./data")).expanduser().resolve())
