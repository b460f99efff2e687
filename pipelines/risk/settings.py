"""The ``[risk]`` section of ``$CARDPULSE_HOME/cardpulse.toml``: one typed object, one load.

Kept small and separate so the project's single settings object can fold it in later.
A missing file or section means the defaults; an unknown key or a wrong type is a one-line error.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

from pipelines.errors import CardPulseError


@dataclasses.dataclass(frozen=True)
class RiskSettings:
    lookback_days: int = 90  # buyer signals look this far back from the build date
    merchant_window_days: int = 14  # merchant refund / failure rates over this window
    velocity_window_minutes: int = 60
    velocity_orders: int = 10  # one buyer key: paid orders within the window
    velocity_accounts: int = 8  # one IP key: distinct buyer keys within the window
    card_testing_window_minutes: int = 30
    card_testing_failures: int = 5  # failed attempts before a success, same buyer, in the window
    unpaid_window_minutes: int = 120
    unpaid_orders: int = 8  # never-paid card-key orders by one buyer within the window
    min_orders: int = 5  # buyers need this many paid orders for a refund / failure rate
    min_events: int = 3  # ... and this many refunds (or failures)
    buyer_z: float = 4.0  # robust z of a buyer's rate against its peers
    merchant_min_orders: int = 30
    merchant_min_events: int = 10
    merchant_z: float = 6.0
    alert_budget: int = 100  # at most this many signals open per build, highest score first


def load_risk_settings(path: Path | None = None) -> RiskSettings:
    """1. Read ``path`` (default ``$CARDPULSE_HOME/cardpulse.toml``); 2. check ``[risk]``'s
    keys and types against RiskSettings; 3. return it (defaults for whatever is not set)."""
    if path is None:
        from pipelines.settings import home

        path = home().root / "cardpulse.toml"
    if not path.exists():
        return RiskSettings()
    try:
        section = tomllib.loads(path.read_text(encoding="utf-8")).get("risk", {})
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise CardPulseError(f"{path}: not valid TOML ({error})") from None
    fields = {f.name: f for f in dataclasses.fields(RiskSettings)}
    values = {}
    for key, value in section.items():
        if key not in fields:
            raise CardPulseError(f"{path}: [risk] has no setting {key!r}")
        default = getattr(RiskSettings, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CardPulseError(f"{path}: [risk] {key} must be a number, not {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise CardPulseError(f"{path}: [risk] {key} must be a whole number, not {value!r}")
        if value <= 0:
            raise CardPulseError(f"{path}: [risk] {key} must be positive, not {value!r}")
        values[key] = type(default)(value)
    return RiskSettings(**values)
