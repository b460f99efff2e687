"""Pricing guardrails: the rules a recommended price must obey, read from a TOML file.

The shipped defaults live in ``guardrails.toml`` beside this module; the pricing team
overrides any key in ``$CARDPULSE_HOME/pricing.toml``. A price is bounded by a list of named
constraints, applied in priority order: the hard ones (unit cost, face value) first, then the
business ones. When a lower-priority constraint cannot be met together with the ones before it,
it is set aside and named as a conflict rather than silently producing an impossible price.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cardpulse.errors import CardPulseError

DEFAULT_CONFIG_PATH = Path(__file__).with_name("guardrails.toml")

# Names used in `guardrails_hit`, with the words the reason uses (en, zh).
GUARDRAIL_LABELS: dict[str, tuple[str, str]] = {
    "unit_cost": ("never below unit cost", "不低于进货成本"),
    "face_value_cap": ("face value cap", "面值上限"),
    "stockout_risk": ("no discount while stock runs low", "库存将尽，不打折"),
    "max_change": ("maximum change per step", "单次调价幅度上限"),
    "min_margin": ("minimum margin", "最低毛利率"),
    "regional_spread": ("regional spread around the national price", "地区价差上限"),
    "price_ending": ("price ending", "价格尾数规则"),
    "expiring_stock": ("room to discount keys about to expire", "临期卡密可让利"),
    "no_variation": ("not enough price variation", "价格变动不足"),
    "elasticity_interval": (
        "only as far as the whole elasticity interval supports",
        "仅在整个弹性区间内都有利的范围内调价",
    ),
}


class PricingConfigError(CardPulseError):
    """The pricing config file is unreadable or holds a value that makes no sense."""


@dataclass(frozen=True)
class Guardrails:
    """The rules for one category (percentages in percent, money in CNY)."""

    min_margin_pct: float = 5.0
    max_change_pct: float = 10.0
    topup_categories: tuple[str, ...] = ("mobile_topup", "data_topup")
    topup_max_pct_of_face: float = 100.0
    max_pct_of_face: float = 130.0
    price_endings: tuple[float, ...] = (0.9, 0.99)
    whole_yuan_above: float = 100.0
    regional_spread_pct: float = 15.0
    stockout_days_of_cover: float = 7.0
    expiring_max_discount_pct: float = 30.0
    expiring_min_margin_pct: float = 0.0

    def __post_init__(self) -> None:
        problems = []
        if not 0 <= self.min_margin_pct < 100:
            problems.append("min_margin_pct must be in [0, 100)")
        if not 0 <= self.expiring_min_margin_pct < 100:
            problems.append("expiring_min_margin_pct must be in [0, 100)")
        if not 0 < self.max_change_pct < 100:
            problems.append("max_change_pct must be in (0, 100)")
        if not 0 <= self.expiring_max_discount_pct < 100:
            problems.append("expiring_max_discount_pct must be in [0, 100)")
        if self.topup_max_pct_of_face <= 0 or self.max_pct_of_face <= 0:
            problems.append("face value caps must be positive")
        if self.regional_spread_pct <= 0:
            problems.append("regional_spread_pct must be positive")
        if self.whole_yuan_above < 0 or self.stockout_days_of_cover < 0:
            problems.append("whole_yuan_above and stockout_days_of_cover must be >= 0")
        if any(not 0 <= ending < 1 for ending in self.price_endings):
            problems.append("price_endings must be fractions in [0, 1), e.g. 0.9 or 0.99")
        if problems:
            raise PricingConfigError("pricing guardrails: " + "; ".join(problems))

    def is_topup(self, category: str | None) -> bool:
        return category in self.topup_categories


@dataclass(frozen=True)
class ElasticitySettings:
    """When a SKU x region counts as having price variation, and the interval reported."""

    min_price_move_pct: float = 2.0
    min_days_moved: int = 10
    interval_level: float = 0.9
    max_interval_width: float = 4.0
    price_test_pct: float = 5.0
    price_test_days: int = 14
    # Error no amount of data removes (the log-log model is an approximation), added to every
    # estimate's variance so intervals keep their nominal coverage on heavy sellers too.
    model_error_sd: float = 0.35

    def __post_init__(self) -> None:
        if not 0 < self.interval_level < 1:
            raise PricingConfigError("pricing elasticity: interval_level must be in (0, 1)")
        if self.model_error_sd < 0:
            raise PricingConfigError("pricing elasticity: model_error_sd must be >= 0")
        if self.min_days_moved < 1 or self.min_price_move_pct <= 0:
            raise PricingConfigError(
                "pricing elasticity: min_days_moved and min_price_move_pct must be positive"
            )


@dataclass(frozen=True)
class PricingConfig:
    """Default guardrails, per-category overrides and the elasticity settings."""

    guardrails: Guardrails = field(default_factory=Guardrails)
    category_overrides: Mapping[str, Guardrails] = field(default_factory=dict)
    elasticity: ElasticitySettings = field(default_factory=ElasticitySettings)

    def guardrails_for(self, category: str | None) -> Guardrails:
        return self.category_overrides.get(category or "", self.guardrails)


def load_pricing_config(
    override_path: Path | None = None,
    overrides: Mapping | None = None,
    where: str = "pricing config [{}]",
) -> PricingConfig:
    """The pricing config: shipped defaults, then the team's overrides.

    1. Read the shipped ``guardrails.toml``.
    2. If ``override_path`` exists, merge its keys over the defaults, section by section;
       then ``overrides`` (the ``[pricing]`` table of cardpulse.toml) over that.
    3. Build and validate the guardrails, the per-category overrides (each based on the
       merged defaults) and the elasticity settings; messages name the table as ``where``.
    """
    raw = _read_toml(DEFAULT_CONFIG_PATH)
    if override_path is not None and Path(override_path).is_file():
        raw = _merge(raw, _read_toml(Path(override_path)))
    if overrides:
        unknown = sorted(set(overrides) - set(raw))
        if unknown:
            raise PricingConfigError(
                f"{where.format('').replace('.]', ']')}: unknown table(s) {', '.join(unknown)}"
                f" (known: {', '.join(sorted(raw))})"
            )
        raw = _merge(raw, dict(overrides))
    base = _build(Guardrails, raw.get("guardrails", {}), "guardrails", where)
    overrides_by_category = {
        category: _build(
            Guardrails, {**dataclasses.asdict(base), **keys}, f"category.{category}", where
        )
        for category, keys in raw.get("category", {}).items()
    }
    elasticity = _build(ElasticitySettings, raw.get("elasticity", {}), "elasticity", where)
    return PricingConfig(
        guardrails=base, category_overrides=overrides_by_category, elasticity=elasticity
    )


def _read_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PricingConfigError(f"cannot read pricing config {path}: {error}") from error


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _build(kind, keys: Mapping, section: str, where: str = "pricing config [{}]"):
    at = where.format(section)
    known = {f.name: f for f in dataclasses.fields(kind)}
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise PricingConfigError(f"{at}: unknown key(s) {', '.join(unknown)}")
    values = {}
    for name, value in keys.items():
        default = known[name].default
        try:
            if isinstance(default, tuple):
                values[name] = tuple(type(default[0])(v) if default else v for v in value)
            elif isinstance(default, bool) or not isinstance(value, int | float | str):
                raise TypeError
            else:
                values[name] = type(default)(value)
        except (TypeError, ValueError) as error:
            raise PricingConfigError(f"{at}: {name} = {value!r} is not a valid value") from error
    try:
        return kind(**values)
    except PricingConfigError as error:
        raise PricingConfigError(f"{at}: {str(error).split(': ', 1)[-1]}") from error


# --- bounds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PriceSituation:
    """What the guardrails need to know about one SKU x region."""

    current_price: float
    unit_cost: float
    category: str | None = None
    face_value: float | None = None
    national_price: float | None = None
    days_of_cover: float | None = None
    has_expiring_surplus: bool = False
    # Card keys about to expire (this SKU x region's share of the SKU's keys expiring within
    # the next 7 days), the units expected to sell in those 7 days and over the whole horizon
    # at the current price: what a price leaves unsold by the expiry date is written off.
    expiring_units: float = 0.0
    expiry_window_units: float = 0.0
    horizon_units: float = 0.0


@dataclass(frozen=True)
class PriceBounds:
    """The allowed price interval and which named constraints shaped it."""

    low: float
    high: float
    constraints: tuple[tuple[str, float, float], ...]
    conflicts: tuple[str, ...]

    def names_at(self, side: str) -> list[str]:
        """The constraints whose bound is the interval's ``side`` ('low' or 'high')."""
        edge = self.low if side == "low" else self.high
        index = 1 if side == "low" else 2
        return [c[0] for c in self.constraints if math.isclose(c[index], edge, rel_tol=1e-9)]


def constraint_list(situation: PriceSituation, rails: Guardrails) -> list[tuple[str, float, float]]:
    """The named price intervals, in priority order (hard rules first).

    1. never below unit cost; 2. face value caps (top-ups at most face value times their
    cap, other SKUs with a face value at most their cap); 3. no discount when stock runs low;
    4. maximum change per step (a deeper discount for expiring keys); 5. minimum margin
    (relaxed for expiring keys); 6. regional spread around the national price.
    """
    price, cost = situation.current_price, max(situation.unit_cost, 0.0)
    constraints = [("unit_cost", cost, math.inf)]
    if situation.face_value and situation.face_value > 0:
        cap_pct = (
            rails.topup_max_pct_of_face
            if rails.is_topup(situation.category)
            else rails.max_pct_of_face
        )
        constraints.append(("face_value_cap", 0.0, situation.face_value * cap_pct / 100))
    stock_runs_low = (
        situation.days_of_cover is not None
        and situation.days_of_cover < rails.stockout_days_of_cover
    )
    if stock_runs_low:
        constraints.append(("stockout_risk", price, math.inf))
    expiring = situation.has_expiring_surplus and not stock_runs_low
    step_down = (
        max(rails.expiring_max_discount_pct, rails.max_change_pct)
        if expiring
        else (rails.max_change_pct)
    )
    constraints.append(
        ("max_change", price * (1 - step_down / 100), price * (1 + rails.max_change_pct / 100))
    )
    margin = rails.expiring_min_margin_pct if expiring else rails.min_margin_pct
    constraints.append(("min_margin", cost / (1 - margin / 100), math.inf))
    if situation.national_price and situation.national_price > 0:
        spread = rails.regional_spread_pct / 100
        constraints.append(
            (
                "regional_spread",
                situation.national_price * (1 - spread),
                situation.national_price * (1 + spread),
            )
        )
    return constraints


def price_bounds(situation: PriceSituation, rails: Guardrails) -> PriceBounds:
    """Intersect the constraints in priority order, setting aside any that would empty it."""
    low, high = 0.0, math.inf
    applied, conflicts = [], []
    for name, c_low, c_high in constraint_list(situation, rails):
        new_low, new_high = max(low, c_low), min(high, c_high)
        if new_low > new_high + 1e-9:
            conflicts.append(name)
            continue
        low, high = new_low, new_high
        applied.append((name, c_low, c_high))
    return PriceBounds(low, high, tuple(applied), tuple(conflicts))


def candidate_prices(bounds: PriceBounds, rails: Guardrails, current_price: float) -> np.ndarray:
    """Every price with an allowed ending inside the bounds, plus the current price if allowed.

    Below ``whole_yuan_above`` the allowed endings are the configured fractions (12.90,
    12.99); at or above it, whole yuan. Keeping the current price is always an option when it
    lies within the bounds: not changing a price breaks no ending rule.
    """
    low, high = bounds.low, bounds.high
    if not math.isfinite(high):
        high = max(low, current_price) * 3
    yuan = np.arange(math.floor(low), math.floor(high) + 1, dtype=float)
    small = yuan[:, None] + np.asarray(rails.price_endings or (0.0,), dtype=float)[None, :]
    small = small.ravel()
    small = small[small < rails.whole_yuan_above]
    whole = yuan[yuan >= rails.whole_yuan_above]
    prices = np.round(np.concatenate([small, whole]), 2)
    inside = prices[(prices >= low - 1e-9) & (prices <= high + 1e-9)]
    if low - 1e-9 <= current_price <= high + 1e-9:
        inside = np.append(inside, round(current_price, 2))
    return np.unique(inside)


def allowed_prices(situation: PriceSituation, rails: Guardrails) -> tuple[np.ndarray, bool]:
    """The prices a recommendation may choose from, and whether the ending rule was set aside.

    The candidates of :func:`candidate_prices`; when no allowed ending fits inside the bounds,
    every whole cent inside them (the ending rule gives way to the stricter rules).
    """
    bounds = price_bounds(situation, rails)
    candidates = candidate_prices(bounds, rails, situation.current_price)
    if candidates.size:
        return candidates, False
    high = (
        bounds.high if math.isfinite(bounds.high) else max(bounds.low, situation.current_price) * 3
    )
    cents = np.arange(math.ceil(bounds.low * 100 - 1e-6), math.floor(high * 100 + 1e-6) + 1)
    return (cents / 100 if cents.size else np.array([round(bounds.low, 2)])), True


def has_allowed_ending(price: float, rails: Guardrails) -> bool:
    """Whether a price follows the ending rule (.90/.99 below the threshold, whole yuan above)."""
    cents = round(price * 100)
    if price >= rails.whole_yuan_above:
        return cents % 100 == 0
    return any(cents % 100 == round(ending * 100) for ending in (rails.price_endings or (0.0,)))


def guardrail_violations(
    price: float, situation: PriceSituation, rails: Guardrails, tolerance: float = 0.005
) -> list[str]:
    """The guardrails a price breaks (an independent check, used by tests and the bench).

    A constraint set aside as a conflict by :func:`price_bounds` is not counted: no price can
    meet it together with the harder rules. Keeping the current price never breaks the
    ending rule, nor does a price where no allowed ending fits within the bounds.
    """
    bounds = price_bounds(situation, rails)
    broken = [
        name
        for name, low, high in bounds.constraints
        if price < low - tolerance or price > high + tolerance
    ]
    unchanged = math.isclose(price, situation.current_price, abs_tol=tolerance)
    ending_possible = candidate_prices(bounds, rails, situation.current_price).size > 0
    if not unchanged and ending_possible and not has_allowed_ending(price, rails):
        broken.append("price_ending")
    return broken
