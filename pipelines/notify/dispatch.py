"""The two moments alerts go out: after a build computed them, and when a build failed."""

from __future__ import annotations

from pathlib import Path

from cardpulse.notify_settings import NotifyConfig
from cardpulse.settings import SETTINGS_FILE, Home, SettingsError, home, load_settings
from pipelines.notify import alert_kinds, outbox


def load_config(where: Home | Path | str | None = None) -> NotifyConfig:
    """``load_settings().notify`` (``[notify]`` and ``[reports]``), its routes checked against
    the registered alert kinds: one line per bad key of the whole file (``SettingsError``).
    ``where``: an installation, its root or its cardpulse.toml (default ``$CARDPULSE_HOME``)."""
    if where is None:
        installation = home()
    elif isinstance(where, Home):
        installation = where
    else:
        path = Path(where).expanduser().resolve()
        installation = Home(path.parent if path.name == SETTINGS_FILE else path)
    config = load_settings(installation).notify
    unknown = config.unknown_kinds(alert_kinds.known_kinds())
    if unknown:
        raise SettingsError("\n".join(unknown))
    return config


def notify_open_alerts(conn, batch_id: str, settings: NotifyConfig | None = None):
    """1. Collect the open firings of every routed kind, 2. record the new ones, 3. deliver.

    Returns ``(None, None)`` when no channel is configured (nothing is written)."""
    settings = settings or load_config()
    if not settings.channels:
        return None, None
    recorded = outbox.record(conn, settings, alert_kinds.collect_all(conn, settings), batch_id)
    return recorded, outbox.deliver(conn, settings)


def notify_build_failed(warehouse, run_id: str, failure_line: str) -> str:
    """Record and send a ``build_failed`` alert (``cardpulse build`` calls this when its run
    failed). Returns the line to print, or "" when the kind is not routed anywhere."""
    import duckdb

    settings = load_config()
    if not settings.channels_for("build_failed"):
        return ""
    alert = alert_kinds.build_failed_alert(run_id, failure_line, settings)
    try:
        with duckdb.connect(str(warehouse)) as conn:
            outbox.record(conn, settings, [alert], batch_id=run_id)
            return outbox.deliver(conn, settings).line()
    except duckdb.Error as error:
        return f"notifications: could not record the build failure ({str(error).splitlines()[0]})"
