"""The two moments alerts go out: after a build computed them, and when a build failed."""

from __future__ import annotations

from pipelines.notify import alerts, config, outbox


def load_config(path=None) -> config.NotifyConfig:
    """cardpulse.toml's notify settings, routes checked against the registered alert kinds."""
    return config.load(path, known_kinds=alerts.known_kinds())


def notify_open_alerts(conn, batch_id: str, settings: config.NotifyConfig | None = None):
    """1. Collect the open firings of every routed kind, 2. record the new ones, 3. deliver.

    Returns ``(None, None)`` when no channel is configured (nothing is written)."""
    settings = settings or load_config()
    if not settings.channels:
        return None, None
    recorded = outbox.record(conn, settings, alerts.collect_all(conn, settings), batch_id)
    return recorded, outbox.deliver(conn, settings)


def notify_build_failed(warehouse, run_id: str, failure_line: str) -> str:
    """Record and send a ``build_failed`` alert (``cardpulse build`` calls this when its run
    failed). Returns the line to print, or "" when the kind is not routed anywhere."""
    import duckdb

    settings = load_config()
    if not settings.channels_for("build_failed"):
        return ""
    alert = alerts.build_failed_alert(run_id, failure_line, settings)
    try:
        with duckdb.connect(str(warehouse)) as conn:
            outbox.record(conn, settings, [alert], batch_id=run_id)
            return outbox.deliver(conn, settings).line()
    except duckdb.Error as error:
        return f"notifications: could not record the build failure ({str(error).splitlines()[0]})"
