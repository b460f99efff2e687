"""The ``[notify]`` and ``[reports]`` parts of ``$CARDPULSE_HOME/cardpulse.toml``, typed.

One entry point, :func:`load`, returns a :class:`NotifyConfig`; anything wrong in the file is
one :class:`ConfigError` naming the key (``notify.channels.ops_mail.port: ...``). Secrets are
never written in the file: a channel names the environment variable that holds each one
(``password_env``, ``webhook_url_env``, ``secret_env``) and the value is read when the channel
sends, so a missing variable is an error of that channel alone.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import CardPulseError

CONFIG_FILE = "cardpulse.toml"
CHANNEL_TYPES = ("email", "wecom", "dingtalk", "feishu")
SECURITY_MODES = ("ssl", "starttls", "none")
# Keys that would hold a secret in the file: each must be given as ``<key>_env`` instead.
SECRET_KEYS = ("password", "webhook_url", "secret", "token", "access_token", "key")


class ConfigError(CardPulseError):
    """A bad key or value in cardpulse.toml (one line, naming the key)."""


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


DEFAULT_WEEKLY_CRON = "0 9 * * 1"  # Mondays 09:00 Asia/Shanghai
DEFAULT_DAILY_CRON = "30 8 * * *"  # every day 08:30 Asia/Shanghai


def config_path(root: Path | None = None) -> Path:
    from pipelines.settings import home

    return (root or home().root) / CONFIG_FILE


def load(path: Path | None = None, known_kinds: tuple[str, ...] | None = None) -> NotifyConfig:
    """Read ``[notify]`` and ``[reports]`` from cardpulse.toml (default: under $CARDPULSE_HOME).

    1. No file, or no such sections: an empty config (nothing is sent).
    2. Every key checked; the first problem raises one :class:`ConfigError` naming it.
    3. Routes may name only ``known_kinds`` (the alert registry's) when given.
    """
    path = Path(path) if path is not None else config_path()
    if not path.exists():
        return NotifyConfig(source=path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    return parse(document, source=path, known_kinds=known_kinds)


def parse(
    document: dict, source: Path | None = None, known_kinds: tuple[str, ...] | None = None
) -> NotifyConfig:
    """The typed config from an already-parsed TOML document (what :func:`load` does after
    reading the file; the settings object of the whole file can call this with its tables)."""
    notify = _table(document.get("notify", {}), "notify")
    reports_table = _table(document.get("reports", {}), "reports")
    _only(
        notify,
        "notify",
        {"channels", "roles", "routes", "digest_threshold", "max_attempts", "backoff_seconds",
         "dashboard_url", "language", "thresholds"},
    )  # fmt: skip
    channels = {
        name: _channel(name, _table(body, f"notify.channels.{name}"))
        for name, body in _table(notify.get("channels", {}), "notify.channels").items()
    }
    roles = {}
    for role, names in _table(notify.get("roles", {}), "notify.roles").items():
        key = f"notify.roles.{role}"
        roles[role] = _strings(names, key)
        for name in roles[role]:
            if name not in channels:
                raise ConfigError(f"{key}: no channel named {name!r} in notify.channels")
    routes = {}
    for kind, role_names in _table(notify.get("routes", {}), "notify.routes").items():
        key = f"notify.routes.{kind}"
        if known_kinds is not None and kind not in known_kinds:
            raise ConfigError(f"{key}: unknown alert kind (known: {', '.join(known_kinds)})")
        routes[kind] = _strings(role_names, key)
        for role in routes[kind]:
            if role not in roles:
                raise ConfigError(f"{key}: no role named {role!r} in notify.roles")
    thresholds_table = _table(notify.get("thresholds", {}), "notify.thresholds")
    _only(thresholds_table, "notify.thresholds", {"quarantine_pct", "funding_days"})
    thresholds = Thresholds(
        quarantine_pct=_number(thresholds_table, "quarantine_pct", "notify.thresholds", 5.0, 0),
        funding_days=int(_number(thresholds_table, "funding_days", "notify.thresholds", 3, 0)),
    )
    language = _text(notify, "language", "notify", "zh")
    if language not in ("zh", "en"):
        raise ConfigError(f"notify.language: expected 'zh' or 'en', got {language!r}")
    return NotifyConfig(
        channels=channels,
        roles=roles,
        routes=routes,
        digest_threshold=int(_number(notify, "digest_threshold", "notify", 5, 1)),
        max_attempts=int(_number(notify, "max_attempts", "notify", 5, 1)),
        backoff_seconds=float(_number(notify, "backoff_seconds", "notify", 30.0, 0)),
        dashboard_url=_text(notify, "dashboard_url", "notify", ""),
        language=language,
        thresholds=thresholds,
        reports=_reports(reports_table, channels),
        source=source,
    )


def _channel(name: str, body: dict) -> ChannelConfig:
    key = f"notify.channels.{name}"
    for secret in SECRET_KEYS:
        if secret in body:
            raise ConfigError(
                f"{key}.{secret}: secrets are not written in cardpulse.toml; set "
                f'{secret}_env = "NAME_OF_AN_ENVIRONMENT_VARIABLE" and export that variable'
            )
    kind = body.get("type")
    if kind not in CHANNEL_TYPES:
        raise ConfigError(f"{key}.type: expected one of {', '.join(CHANNEL_TYPES)}, got {kind!r}")
    if kind == "email":
        _only(body, key, {"type", "host", "port", "security", "from", "to", "username",
                          "password_env", "timeout_seconds", "ca_file"})  # fmt: skip
        security = _text(body, "security", key, "starttls")
        if security not in SECURITY_MODES:
            raise ConfigError(
                f"{key}.security: expected one of {', '.join(SECURITY_MODES)}, got {security!r}"
            )
        default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
        port = int(_number(body, "port", key, default_port, 1))
        if port > 65535:
            raise ConfigError(f"{key}.port: expected a port number up to 65535, got {port}")
        username = _text(body, "username", key, "")
        password_env = _text(body, "password_env", key, "")
        if username and not password_env:
            raise ConfigError(f"{key}.password_env: required when username is set")
        to = _strings(body.get("to", []), f"{key}.to")
        for address in to:
            if "@" not in address:
                raise ConfigError(f"{key}.to: {address!r} is not an e-mail address")
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
            raise ConfigError(f"{key}.ca_file: no such file {email.ca_file}")
        return ChannelConfig(name=name, type=kind, email=email)
    _only(body, key, {"type", "webhook_url_env", "secret_env", "mentioned_mobiles",
                      "timeout_seconds"})  # fmt: skip
    if kind == "wecom" and "secret_env" in body:
        raise ConfigError(f"{key}.secret_env: WeCom robots are not signed (the key is in the URL)")
    robot = RobotSettings(
        webhook_url_env=_required_text(body, "webhook_url_env", key),
        secret_env=_text(body, "secret_env", key, ""),
        mentioned_mobiles=_strings(body.get("mentioned_mobiles", []), f"{key}.mentioned_mobiles"),
        timeout_seconds=float(_number(body, "timeout_seconds", key, 10.0, 0.1)),
    )
    return ChannelConfig(name=name, type=kind, robot=robot)


def _reports(table: dict, channels: dict[str, ChannelConfig]) -> ReportsConfig:
    _only(table, "reports", {"weekly_merchant", "daily_ops"})
    found = {}
    for name, default_cron in (
        ("weekly_merchant", DEFAULT_WEEKLY_CRON),
        ("daily_ops", DEFAULT_DAILY_CRON),
    ):
        if name not in table:
            continue
        key = f"reports.{name}"
        body = _table(table[name], key)
        allowed = {"enabled", "channel", "cron", "merchants" if name == "weekly_merchant" else "to"}
        _only(body, key, allowed)
        channel = _required_text(body, "channel", key)
        if channel not in channels:
            raise ConfigError(f"{key}.channel: no channel named {channel!r} in notify.channels")
        if channels[channel].type != "email":
            raise ConfigError(f"{key}.channel: reports go by e-mail; {channel!r} is not email")
        cron = _text(body, "cron", key, default_cron)
        if len(cron.split()) != 5:
            raise ConfigError(f"{key}.cron: expected five cron fields, got {cron!r}")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigError(f"{key}.enabled: expected true or false, got {enabled!r}")
        merchants = {
            merchant: _strings(addresses, f"{key}.merchants.{merchant}")
            for merchant, addresses in _table(body.get("merchants", {}), f"{key}.merchants").items()
        }
        if name == "weekly_merchant" and not merchants:
            raise ConfigError(
                f"{key}.merchants: name at least one merchant_id (or ALL) and its addresses"
            )
        found[name] = ReportSettings(
            enabled=enabled,
            channel=channel,
            cron=cron,
            merchants=merchants,
            to=_strings(body.get("to", []), f"{key}.to"),
        )
    return ReportsConfig(**found)


def _table(value, key: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table, got {type(value).__name__}")
    return value


def _only(body: dict, key: str, allowed: set[str]) -> None:
    for name in body:
        if name not in allowed:
            raise ConfigError(f"{key}.{name}: unknown key (allowed: {', '.join(sorted(allowed))})")


def _strings(value, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{key}: expected a list of names, got {value!r}")
    return tuple(value)


def _text(body: dict, name: str, key: str, default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key}.{name}: expected text, got {value!r}")
    return value


def _required_text(body: dict, name: str, key: str) -> str:
    value = _text(body, name, key, "")
    if not value:
        raise ConfigError(f"{key}.{name}: required")
    return value


def _number(body: dict, name: str, key: str, default: float, minimum: float) -> float:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}.{name}: expected a number, got {value!r}")
    if value < minimum:
        raise ConfigError(f"{key}.{name}: expected at least {minimum}, got {value!r}")
    return value
