"""``[notify]`` and ``[reports]`` of ``$CARDPULSE_HOME/cardpulse.toml``, typed.

Loaded as ``load_settings().notify`` (``cardpulse.settings``; ``.reports`` is its
``[reports]``), checked there with every other section: each bad key is one line naming it
(``notify.channels.ops_mail.port: ...``); a channel or report stops at its first problem.
Routes name alert kinds that ``pipelines.notify.alert_kinds`` registers, so that module checks
them (:meth:`NotifyConfig.unknown_kinds`). Secrets are never written in the file: a channel
names the environment variable that holds each one (``password_env``, ``webhook_url_env``,
``secret_env``) and the value is read when the channel sends, so a missing variable is an
error of that channel alone. Standard library only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardpulse.errors import CardPulseError

CONFIG_FILE = "cardpulse.toml"
CHANNEL_TYPES = ("email", "wecom", "dingtalk", "feishu")
SECURITY_MODES = ("ssl", "starttls", "none")
# Keys that would hold a secret in the file: each must be given as ``<key>_env`` instead.
SECRET_KEYS = ("password", "webhook_url", "secret", "token", "access_token", "key")


class ConfigError(CardPulseError):
    """A channel that cannot send as configured: an unset secret variable, an unknown channel."""


class _Bad(Exception):
    """One bad key while parsing (becomes one line of the settings' error)."""


@dataclass(frozen=True)
class EmailSettings:
    host: str
    port: int
    security: str  # ssl | starttls | none
    sender: str
    to: tuple[str, ...]
    username: str = ""
    password_env: str = ""
    timeout_seconds: float = 20.0
    ca_file: str = ""  # a private CA's certificate (PEM); empty = the system's trust store


@dataclass(frozen=True)
class RobotSettings:
    """A group robot: WeCom (企业微信), DingTalk (钉钉) or Feishu (飞书)."""

    webhook_url_env: str
    secret_env: str = ""  # DingTalk "加签" / Feishu "签名校验" secret; empty = not signed
    mentioned_mobiles: tuple[str, ...] = ()
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str  # one of CHANNEL_TYPES
    email: EmailSettings | None = None
    robot: RobotSettings | None = None

    def secret(self, env_name: str) -> str:
        """The value of a secret's environment variable; a clear error when it is unset."""
        value = os.environ.get(env_name, "")
        if not value:
            raise ConfigError(
                f"channel {self.name}: environment variable {env_name} is not set "
                "(cardpulse.toml names it; export it where cardpulse runs)"
            )
        return value


@dataclass(frozen=True)
class Thresholds:
    quarantine_pct: float = 5.0  # a file quarantining more than this share of its rows alerts
    funding_days: int = 3  # a supplier that must be topped up within this many days alerts


@dataclass(frozen=True)
class ReportSettings:
    """One scheduled report: where it goes and when (cron in Asia/Shanghai)."""

    enabled: bool
    channel: str  # an e-mail channel
    cron: str
    # weekly merchant report: merchant_id (or ALL, the whole platform) -> addresses
    merchants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    to: tuple[str, ...] = ()  # daily ops report: addresses (empty = the channel's own)


@dataclass(frozen=True)
class ReportsConfig:
    weekly_merchant: ReportSettings | None = None
    daily_ops: ReportSettings | None = None


@dataclass(frozen=True)
class NotifyConfig:
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # role -> channel names
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)  # alert kind -> roles
    digest_threshold: int = 5
    max_attempts: int = 5
    backoff_seconds: float = 30.0
    dashboard_url: str = ""
    language: str = "zh"
    thresholds: Thresholds = field(default_factory=Thresholds)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    source: Path | None = None

    def channels_for(self, kind: str) -> list[str]:
        """The channels an alert kind goes to, through its roles (each channel once)."""
        names: list[str] = []
        for role in self.routes.get(kind, ()):
            for channel in self.roles.get(role, ()):
                if channel not in names:
                    names.append(channel)
        return names

    def channel(self, name: str) -> ChannelConfig:
        if name not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none"
            where = self.source or CONFIG_FILE
            raise ConfigError(f"no channel named {name!r} in {where} (configured: {known})")
        return self.channels[name]

    def unknown_kinds(self, known_kinds: tuple[str, ...]) -> list[str]:
        """One line per route naming an alert kind that is not in ``known_kinds``."""
        where, known = self.source or CONFIG_FILE, ", ".join(known_kinds)
        return [
            f"{where}: notify.routes.{kind}: unknown alert kind (known: {known})"
            for kind in self.routes
            if kind not in known_kinds
        ]


DEFAULT_WEEKLY_CRON = "0 9 * * 1"  # Mondays 09:00 Asia/Shanghai
DEFAULT_DAILY_CRON = "30 8 * * *"  # every day 08:30 Asia/Shanghai


def parse(document: Mapping[str, Any], source: Path | str | None = None) -> NotifyConfig:
    """The typed config from a parsed TOML document; raises ``SettingsError`` listing every bad
    key (what ``load_settings`` does with the whole file, for callers holding a document)."""
    from cardpulse.settings import SettingsError

    problems: list[str] = []
    config = parse_notify(document, source or CONFIG_FILE, problems)
    if problems:
        raise SettingsError("\n".join(problems))
    return config


def parse_notify(
    tables: Mapping[str, Any], source: Path | str, problems: list[str]
) -> NotifyConfig:
    """``[notify]`` and ``[reports]`` of ``tables`` (the file's top-level tables); each bad key
    adds one line to ``problems``, prefixed with ``source``."""

    @contextmanager
    def line() -> Iterator[None]:
        try:
            yield
        except _Bad as bad:
            problems.append(f"{source}: {bad}")

    notify: dict = {}
    reports_table: dict = {}
    with line():
        notify = _table(tables.get("notify", {}), "notify")
    with line():
        reports_table = _table(tables.get("reports", {}), "reports")
    allowed = {"channels", "roles", "routes", "digest_threshold", "max_attempts",
               "backoff_seconds", "dashboard_url", "language", "thresholds"}  # fmt: skip
    problems.extend(f"{source}: {bad}" for bad in _unknown(notify, "notify", allowed))
    channel_tables: dict = {}
    with line():
        channel_tables = _table(notify.get("channels", {}), "notify.channels")
    channels = {}
    for name, body in channel_tables.items():
        with line():
            channels[name] = _channel(name, _table(body, f"notify.channels.{name}"))
    roles: dict[str, tuple[str, ...]] = {}
    role_tables: dict = {}
    with line():
        role_tables = _table(notify.get("roles", {}), "notify.roles")
    for role, names in role_tables.items():
        key = f"notify.roles.{role}"
        roles[role] = ()
        with line():
            roles[role] = _strings(names, key)
            for name in roles[role]:
                if name not in channel_tables:
                    raise _Bad(f"{key}: no channel named {name!r} in notify.channels")
    routes: dict[str, tuple[str, ...]] = {}
    route_tables: dict = {}
    with line():
        route_tables = _table(notify.get("routes", {}), "notify.routes")
    for kind, role_names in route_tables.items():
        key = f"notify.routes.{kind}"
        with line():
            routes[kind] = _strings(role_names, key)
            for role in routes[kind]:
                if role not in role_tables:
                    raise _Bad(f"{key}: no role named {role!r} in notify.roles")
    thresholds_table: dict = {}
    with line():
        thresholds_table = _table(notify.get("thresholds", {}), "notify.thresholds")
    limits = "notify.thresholds"
    unknown = _unknown(thresholds_table, limits, {"quarantine_pct", "funding_days"})
    problems.extend(f"{source}: {bad}" for bad in unknown)
    values: dict[str, Any] = {}
    for body, key, name, default, minimum, kind in (
        (thresholds_table, limits, "quarantine_pct", 5.0, 0, float),
        (thresholds_table, limits, "funding_days", 3, 0, int),
        (notify, "notify", "digest_threshold", 5, 1, int),
        (notify, "notify", "max_attempts", 5, 1, int),
        (notify, "notify", "backoff_seconds", 30.0, 0, float),
    ):
        with line():
            values[name] = kind(_number(body, name, key, default, minimum))
    with line():
        values["dashboard_url"] = _text(notify, "dashboard_url", "notify", "")
    with line():
        values["language"] = _language(notify)
    thresholds = Thresholds(
        **{k: values.pop(k) for k in ("quarantine_pct", "funding_days") if k in values}
    )
    unknown = _unknown(reports_table, "reports", {"weekly_merchant", "daily_ops"})
    problems.extend(f"{source}: {bad}" for bad in unknown)
    found = {}
    for name in ("weekly_merchant", "daily_ops"):
        if name in reports_table:
            with line():
                found[name] = _report(name, reports_table[name], channels, channel_tables)
    return NotifyConfig(
        channels=channels,
        roles=roles,
        routes=routes,
        thresholds=thresholds,
        reports=ReportsConfig(**found),
        source=Path(source),
        **values,
    )


def _language(notify: dict) -> str:
    language = _text(notify, "language", "notify", "zh")
    if language not in ("zh", "en"):
        raise _Bad(f"notify.language: expected 'zh' or 'en', got {language!r}")
    return language


def _channel(name: str, body: dict) -> ChannelConfig:
    key = f"notify.channels.{name}"
    for secret in SECRET_KEYS:
        if secret in body:
            raise _Bad(
                f"{key}.{secret}: secrets are not written in cardpulse.toml; set "
                f'{secret}_env = "NAME_OF_AN_ENVIRONMENT_VARIABLE" and export that variable'
            )
    kind = body.get("type")
    if kind not in CHANNEL_TYPES:
        raise _Bad(f"{key}.type: expected one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    if kind == "email":
        _only(body, key, {"type", "host", "port", "security", "from", "to", "username",
                          "password_env", "timeout_seconds", "ca_file"})  # fmt: skip
        security = _text(body, "security", key, "starttls")
        if security not in SECURITY_MODES:
            raise _Bad(
                f"{key}.security: expected one of {', '.join(SECURITY_MODES)}, got {security!r}"
            )
        default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
        port = int(_number(body, "port", key, default_port, 1))
        if port > 65535:
            raise _Bad(f"{key}.port: expected a port number up to 65535, got {port}")
        username = _text(body, "username", key, "")
        password_env = _text(body, "password_env", key, "")
        if username and not password_env:
            raise _Bad(f"{key}.password_env: required when username is set")
        to = _strings(body.get("to", []), f"{key}.to")
        for address in to:
            if "@" not in address:
                raise _Bad(f"{key}.to: {address!r} is not an e-mail address")
        email = EmailSettings(
            host=_required_text(body, "host", key),
            port=port,
            security=security,
            sender=_required_text(body, "from", key),
            to=to,
            username=username,
            password_env=password_env,
            timeout_seconds=float(_number(body, "timeout_seconds", key, 20.0, 0.1)),
            ca_file=_text(body, "ca_file", key, ""),
        )
        if email.ca_file and not Path(email.ca_file).expanduser().is_file():
            raise _Bad(f"{key}.ca_file: no such file {email.ca_file}")
        return ChannelConfig(name=name, type=kind, email=email)
    _only(body, key, {"type", "webhook_url_env", "secret_env", "mentioned_mobiles",
                      "timeout_seconds"})  # fmt: skip
    if kind == "wecom" and "secret_env" in body:
        raise _Bad(f"{key}.secret_env: WeCom robots are not signed (the key is in the URL)")
    robot = RobotSettings(
        webhook_url_env=_required_text(body, "webhook_url_env", key),
        secret_env=_text(body, "secret_env", key, ""),
        mentioned_mobiles=_strings(body.get("mentioned_mobiles", []), f"{key}.mentioned_mobiles"),
        timeout_seconds=float(_number(body, "timeout_seconds", key, 10.0, 0.1)),
    )
    return ChannelConfig(name=name, type=kind, robot=robot)


def _report(name: str, value, channels: dict, channel_tables: dict) -> ReportSettings:
    """``[reports.<name>]``: weekly_merchant or daily_ops."""
    default_cron = {"weekly_merchant": DEFAULT_WEEKLY_CRON, "daily_ops": DEFAULT_DAILY_CRON}[name]
    key = f"reports.{name}"
    body = _table(value, key)
    _only(
        body,
        key,
        {"enabled", "channel", "cron", "merchants" if name == "weekly_merchant" else "to"},
    )
    channel = _required_text(body, "channel", key)
    if channel not in channel_tables:
        raise _Bad(f"{key}.channel: no channel named {channel!r} in notify.channels")
    if channel in channels and channels[channel].type != "email":
        raise _Bad(f"{key}.channel: reports go by e-mail; {channel!r} is not email")
    cron = _text(body, "cron", key, default_cron)
    if len(cron.split()) != 5:
        raise _Bad(f"{key}.cron: expected five cron fields, got {cron!r}")
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _Bad(f"{key}.enabled: expected true or false, got {enabled!r}")
    merchants = {
        merchant: _strings(addresses, f"{key}.merchants.{merchant}")
        for merchant, addresses in _table(body.get("merchants", {}), f"{key}.merchants").items()
    }
    if name == "weekly_merchant" and not merchants:
        raise _Bad(f"{key}.merchants: name at least one merchant_id (or ALL) and its addresses")
    return ReportSettings(
        enabled=enabled,
        channel=channel,
        cron=cron,
        merchants=merchants,
        to=_strings(body.get("to", []), f"{key}.to"),
    )


def _table(value, key: str) -> dict:
    if not isinstance(value, dict):
        raise _Bad(f"{key}: expected a table, got {type(value).__name__}")
    return value


def _unknown(body: dict, key: str, allowed: set[str]) -> list[str]:
    """One line per key of ``body`` that is not ``allowed``."""
    known = ", ".join(sorted(allowed))
    return [f"{key}.{name}: unknown key (allowed: {known})" for name in body if name not in allowed]


def _only(body: dict, key: str, allowed: set[str]) -> None:
    for bad in _unknown(body, key, allowed)[:1]:
        raise _Bad(bad)


def _strings(value, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _Bad(f"{key}: expected a list of names, got {value!r}")
    return tuple(value)


def _text(body: dict, name: str, key: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise _Bad(f"{key}.{name}: expected text, got {value!r}")
    return value


def _required_text(body: dict, name: str, key: str) -> str:
    value = _text(body, name, key, "")
    if not value:
        raise _Bad(f"{key}.{name}: required")
    return value


def _number(body: dict, name: str, key: str, default: float, minimum: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Bad(f"{key}.{name}: expected a number, got {value!r}")
    if value < minimum:
        raise _Bad(f"{key}.{name}: expected at least {minimum}, got {value!r}")
    return value
