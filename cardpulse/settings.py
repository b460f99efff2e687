"""CardPulse's settings: one typed object, ``$CARDPULSE_HOME/cardpulse.toml`` over shipped defaults.

    settings = load_settings()          # Settings for $CARDPULSE_HOME
    settings.forecast.horizon_days      # 28 unless cardpulse.toml says otherwise
    settings.restock.policy()           # forecasting.restock.RestockPolicy
    settings.pricing.guardrails_for(c)  # forecasting.pricing.PricingConfig
    settings.paths.warehouse            # Home: where the state lives
    settings.notify / .reports          # cardpulse.notify_settings.NotifyConfig (+ its reports)
    settings.engine                     # cardpulse.engine_settings.EngineSettings
    settings.risk.alert_budget          # RiskSection

1. Every section is a frozen dataclass below whose defaults ARE the shipped defaults (the
   forecasting code takes its own defaults from ``DEFAULT_FORECAST`` / ``DEFAULT_RESTOCK``,
   so no number is typed twice).
   Pricing's nested guardrails keep their shipped file, ``forecasting/pricing/guardrails.toml``.
   Sections with rules between their keys (``[notify]`` + ``[reports]``, ``[engine]``,
   ``[pricing]``) name a parse function in their field's metadata (``parse``), which adds one
   line per bad key like the generic check does.
2. ``load_settings`` reads ``cardpulse.toml`` (absent: all defaults), checks every key, and
   raises ``SettingsError`` with one line per bad key: unknown section or key, wrong type,
   value out of range.
3. Paths are not configurable: the public contract keeps all state under ``$CARDPULSE_HOME``.

Adding a section (e.g. ``[limits]``): write a frozen dataclass with defaults here (or in a
module of ``cardpulse/`` imported here), give each bounded number
``field(default=..., metadata=bounds(lo, hi))``, and add one field to ``Settings``. Loading,
checking and the error lines come with it. Sections hold plain values (bool, int, float, str,
lists of those, or a nested section dataclass); this module imports only the standard library.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardpulse.errors import CardPulseError

BUSINESS_TZ = "Asia/Shanghai"
SETTINGS_FILE = "cardpulse.toml"


class SettingsError(CardPulseError):
    """cardpulse.toml is unreadable or holds a key or value that makes no sense (one line each)."""


def bounds(
    low: float | None = None,
    high: float | None = None,
    *,
    high_open: bool = False,
    low_open: bool = False,
):
    """Field metadata: the value must lie in [low, high] (open ends with ``low_open`` /
    ``high_open``)."""
    return {"bounds": (low, high, high_open, low_open)}


def choices(*allowed: str):
    """Field metadata: the value must be one of ``allowed``."""
    return {"choices": allowed}


# --- paths ---------------------------------------------------------------------------------


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

    @property
    def settings_file(self) -> Path:
        """This installation's ``cardpulse.toml`` (optional: absent means all defaults)."""
        return self.root / SETTINGS_FILE

    def ensure(self) -> Home:
        for path in (self.root, self.landing, self.dagster_home):
            path.mkdir(parents=True, exist_ok=True)
        return self


def home() -> Home:
    """The installation named by ``$CARDPULSE_HOME``, resolved to an absolute path."""
    return Home(Path(os.environ.get("CARDPULSE_HOME", "./data")).expanduser().resolve())


# --- sections ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ForecastSection:
    """``[forecast]``: how far ahead every stage plans and how the demand stage fits.

    ``prophet_min_daily_units``: Prophet is a candidate only for series selling at least this
    much per day recently; ``recent_days``: what "recently" means; ``learn_events``: models
    without a calendar get announced events' lifts learnt from past ones."""

    horizon_days: int = field(default=28, metadata=bounds(1, 366))
    n_folds: int = field(default=3, metadata=bounds(1, 12))
    prophet_min_daily_units: float = field(default=1.0, metadata=bounds(0))
    recent_days: int = field(default=91, metadata=bounds(7, 3660))
    learn_events: bool = True

    def engine_settings(self, **extra: Any):
        """``forecasting.demand.series_forecast.ForecastSettings`` with these values (``extra``: its
        other fields, e.g. the bench's ``final_models``)."""
        from forecasting.demand.series_forecast import ForecastSettings

        return ForecastSettings(**{**dataclasses.asdict(self), **extra})


@dataclass(frozen=True)
class RestockSection:
    """``[restock]``: the card-key policy (``forecasting.restock.RestockPolicy``).

    Service levels per ABC class (by gross margin over ``margin_lookback_days``);
    ``cycle_days``: days of demand an order adds above the reorder point;
    ``late_buffer_days``: late cover for suppliers whose delays are not learnt;
    ``learn_late_cover``: learn each supplier's delays from ``delay_history_days`` of
    inventory snapshots; ``late_in_stock``: with learnt delays, the probability that late
    batches leave a day short; ``unit_cost_lookback_days``: the window of the unit cost the
    plans price keys at (else all history); ``peak_window_days``: the safety stock covers at
    least the largest day of this window."""

    service_level_a: float = field(default=0.98, metadata=bounds(0.5, 1, high_open=True))
    service_level_b: float = field(default=0.95, metadata=bounds(0.5, 1, high_open=True))
    service_level_c: float = field(default=0.90, metadata=bounds(0.5, 1, high_open=True))
    cycle_days: int = field(default=0, metadata=bounds(0, 365))
    late_buffer_days: int = field(default=5, metadata=bounds(0, 90))
    learn_late_cover: bool = True
    late_in_stock: float = field(default=0.998, metadata=bounds(0.5, 1, high_open=True))
    margin_lookback_days: int = field(default=90, metadata=bounds(1, 3660))
    unit_cost_lookback_days: int = field(default=28, metadata=bounds(1, 3660))
    peak_window_days: int = field(default=28, metadata=bounds(1, 366))
    delay_history_days: int = field(default=365, metadata=bounds(7, 3660))

    @property
    def service_levels(self) -> dict[str, float]:
        return {"A": self.service_level_a, "B": self.service_level_b, "C": self.service_level_c}

    def policy(self):
        """``forecasting.restock.RestockPolicy`` with these knobs."""
        from forecasting.restock import RestockPolicy

        return RestockPolicy(
            service_levels=self.service_levels,
            cycle_days=self.cycle_days,
            late_buffer_days=self.late_buffer_days,
            late_in_stock=self.late_in_stock,
            margin_lookback_days=self.margin_lookback_days,
        )


@dataclass(frozen=True)
class RiskSection:
    """``[risk]``: the thresholds of the buyer and merchant risk rules (docs/reconciliation.md).

    Every value must be positive."""

    lookback_days: int = field(default=90, metadata=bounds(1))  # buyer signals look this far back
    merchant_window_days: int = field(default=14, metadata=bounds(1))  # merchant rates' window
    velocity_window_minutes: int = field(default=60, metadata=bounds(1))
    velocity_orders: int = field(default=10, metadata=bounds(1))  # one buyer: paid orders in it
    velocity_accounts: int = field(default=8, metadata=bounds(1))  # one IP: distinct buyers in it
    card_testing_window_minutes: int = field(default=30, metadata=bounds(1))
    card_testing_failures: int = field(default=5, metadata=bounds(1))  # failures before a success
    unpaid_window_minutes: int = field(default=120, metadata=bounds(1))
    unpaid_orders: int = field(default=8, metadata=bounds(1))  # never-paid card-key orders
    min_orders: int = field(default=5, metadata=bounds(1))  # paid orders before a buyer's rate
    min_events: int = field(default=3, metadata=bounds(1))  # ... and this many refunds/failures
    buyer_z: float = field(default=4.0, metadata=bounds(0, low_open=True))  # robust z vs peers
    merchant_min_orders: int = field(default=30, metadata=bounds(1))
    merchant_min_events: int = field(default=10, metadata=bounds(1))
    merchant_z: float = field(default=6.0, metadata=bounds(0, low_open=True))
    alert_budget: int = field(default=100, metadata=bounds(1))  # signals open per build, at most


def _pricing_defaults():
    from forecasting.pricing.guardrails import load_pricing_config

    return load_pricing_config()


def _parse_pricing(tables, installation: Home, source: str, problems: list, environ):
    """``[pricing]`` over ``$CARDPULSE_HOME/pricing.toml`` over the shipped guardrails."""
    from forecasting.pricing.guardrails import PricingConfigError, load_pricing_config

    try:
        where = f"{source}: [pricing.{{}}]"
        legacy = installation.root / "pricing.toml"
        table = dict(tables.get("pricing", {}))
        return load_pricing_config(legacy, overrides=table, where=where)
    except PricingConfigError as error:
        problems.extend(str(error).splitlines())
        return None


def _parse_notify(tables, installation: Home, source: str, problems: list, environ):
    from cardpulse.notify_settings import parse_notify

    return parse_notify(tables, source, problems)


def _parse_engine(tables, installation: Home, source: str, problems: list, environ):
    from cardpulse.engine_settings import parse_engine

    return parse_engine(tables, installation.root, source, problems, environ)


def _notify_defaults():
    from cardpulse.notify_settings import NotifyConfig

    return NotifyConfig()


def _engine_defaults():
    from cardpulse.engine_settings import EngineSettings

    return EngineSettings()


@dataclass(frozen=True)
class Settings:
    """Everything configurable, one field per ``cardpulse.toml`` section.

    ``pricing`` is ``forecasting.pricing.PricingConfig``: its ``[pricing.guardrails]``,
    ``[pricing.elasticity]`` and ``[pricing.category.<name>]`` tables go over the shipped
    ``guardrails.toml`` (and over ``$CARDPULSE_HOME/pricing.toml``, read as before).
    ``notify`` is ``cardpulse.notify_settings.NotifyConfig`` from ``[notify]`` and
    ``[reports]`` (its ``reports``); ``engine`` is ``cardpulse.engine_settings.EngineSettings``
    from ``[engine]`` and the ``CARDPULSE_LAKE`` / ``_DBT_TARGET`` / ``_FORECAST_EXECUTOR`` /
    ``_SPARK_MASTER`` environment variables."""

    paths: Home = field(default_factory=home, metadata={"toml": False})
    forecast: ForecastSection = field(default_factory=ForecastSection)
    restock: RestockSection = field(default_factory=RestockSection)
    pricing: Any = field(default_factory=_pricing_defaults, metadata={"parse": _parse_pricing})
    notify: Any = field(
        default_factory=_notify_defaults,
        metadata={"parse": _parse_notify, "tables": ("notify", "reports")},
    )
    engine: Any = field(default_factory=_engine_defaults, metadata={"parse": _parse_engine})
    risk: RiskSection = field(default_factory=RiskSection)

    @property
    def horizon_days(self) -> int:
        return self.forecast.horizon_days

    @property
    def reports(self):
        """``[reports]``: ``cardpulse.notify_settings.ReportsConfig``."""
        return self.notify.reports


# The shipped defaults the forecasting code takes its own defaults from
# (``DEFAULT_FORECAST.horizon_days``), so each number is typed once, above.
DEFAULT_FORECAST = ForecastSection()
DEFAULT_RESTOCK = RestockSection()


# --- loading and checking ------------------------------------------------------------------


def load_settings(
    installation: Home | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """1. Read ``cardpulse.toml`` of ``installation`` (default ``home()``), if present;
    2. check and build every section over its defaults (``environ``, default ``os.environ``:
    the engine's overrides); 3. raise ``SettingsError`` listing every bad key, one line each."""
    installation = installation or home()
    path = installation.settings_file
    raw: dict[str, Any] = {}
    if path.is_file():
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{path}: not valid TOML ({error})") from error
        except (OSError, UnicodeDecodeError) as error:
            raise SettingsError(f"{path}: cannot read it: {error}") from error
    return settings_from_mapping(raw, installation, source=str(path), environ=environ)


def settings_from_mapping(
    raw: Mapping[str, Any],
    installation: Home | None = None,
    source: str = SETTINGS_FILE,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """``Settings`` from an already parsed TOML document (what ``load_settings`` reads)."""
    installation = installation or home()
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    sections = {f.name: f for f in dataclasses.fields(Settings) if f.metadata.get("toml", True)}
    known = [t for name, spec in sections.items() for t in spec.metadata.get("tables", (name,))]
    for name in sorted(set(raw) - set(known)):
        problems.append(f"{source}: unknown section [{name}] (known: {', '.join(known)})")
    tables: dict[str, Mapping[str, Any]] = {}
    for name in known:
        table = raw.get(name, {})
        if isinstance(table, Mapping):
            tables[name] = table
        else:
            problems.append(f"{source}: {name} must be a table ([{name}]), not {table!r}")
            tables[name] = {}
    values: dict[str, Any] = {"paths": installation}
    for name, spec in sections.items():
        parse = spec.metadata.get("parse")
        if parse is not None:
            values[name] = parse(tables, installation, source, problems, environ)
        else:
            values[name] = build_section(
                _section_type(spec), tables[name], f"[{name}]", source, problems
            )
    if problems:
        raise SettingsError("\n".join(problems))
    return Settings(**values)


def replace_section(section, source: str = "run config", **changes: Any):
    """``section`` with ``changes`` applied, checked like a file's keys (e.g. run-config
    overrides of ``[restock]``). Raises ``SettingsError``."""
    problems: list[str] = []
    kind = type(section)
    merged = {**dataclasses.asdict(section), **changes}
    built = build_section(kind, merged, f"[{_section_name(kind)}]", source, problems)
    if problems:
        raise SettingsError("\n".join(problems))
    return built


def build_section(kind: type, table: Mapping[str, Any], where: str, source: str, problems: list):
    """An instance of the section dataclass ``kind`` from ``table`` over its defaults; every
    bad key adds one line to ``problems`` (then the defaults stand in)."""
    fields = {f.name: f for f in dataclasses.fields(kind)}
    hints = typing.get_type_hints(kind)
    values = {}
    for key in table:
        if key not in fields:
            problems.append(f"{source}: {where} unknown key '{key}' (known: {', '.join(fields)})")
            continue
        value, problem = _check(table[key], hints[key], fields[key], f"{where} {key}", source)
        if problem:
            problems.append(problem)
        else:
            values[key] = value
    return kind(**values)


def _check(value: Any, hint: Any, spec: dataclasses.Field, where: str, source: str):
    """(the value converted, None) or (None, the problem's line)."""
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            return None, f"{source}: {where} must be a table, not {value!r}"
        nested: list[str] = []
        built = build_section(hint, value, where.replace("] ", "."), source, nested)
        return (None, "\n".join(nested)) if nested else (built, None)
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis} or {str}
        if not isinstance(value, list) or not all(_is(v, item) for v in value):
            return None, f"{source}: {where} = {value!r} must be a list of {item.__name__}"
        return tuple(float(v) if item is float else v for v in value), None
    if not _is(value, hint):
        return None, f"{source}: {where} = {value!r} must be {_kind_word(hint)}"
    value = float(value) if hint is float else value
    allowed = spec.metadata.get("choices")
    if allowed and value not in allowed:
        return None, f"{source}: {where} = {value!r} must be one of {', '.join(allowed)}"
    low, high, high_open, low_open = spec.metadata.get("bounds", (None, None, False, False))
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low and high is None:
        least = f"above {low}" if low_open else f"at least {low}"
        return None, f"{source}: {where} = {value!r} must be {least}"
    if too_low or too_high:
        opening, closing = "(" if low_open else "[", ")" if high_open else "]"
        span = f"{opening}{'' if low is None else low}, {'' if high is None else high}{closing}"
        return None, f"{source}: {where} = {value!r} is out of range {span}"
    return value, None


def _is(value: Any, hint: Any) -> bool:
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_is(value, arg) for arg in typing.get_args(hint) if arg is not type(None))
    return isinstance(value, hint)


def _kind_word(hint: Any) -> str:
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(
        hint, str(hint)
    )


def _section_type(spec: dataclasses.Field) -> type:
    return typing.get_type_hints(Settings)[spec.name]


def _section_name(kind: type) -> str:
    for spec in dataclasses.fields(Settings):
        if spec.metadata.get("toml", True) and typing.get_type_hints(Settings)[spec.name] is kind:
            return spec.name
    return kind.__name__
