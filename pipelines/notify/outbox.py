"""The outbox: every message is a row in ``ops.notify_outbox`` before it is sent.

- ``record``: for each open firing and each channel its kind is routed to, one row keyed
  ``<firing key>@<channel>`` (the idempotency key) in state ``pending``, unless that key is
  already there. More than ``digest_threshold`` new firings of a kind for one channel become one
  ``pending`` digest row (count, first few, link) and rows ``in_digest`` for the firings it
  covers. One transaction: a crash leaves all of it or none.
- ``deliver``: a row that was ``sending`` when the last process died becomes ``interrupted``
  and is not sent again (the server may have it: never twice). Each due ``pending`` row is set
  to ``sending`` (committed), sent, then ``sent``, or back to ``pending`` with
  ``next_attempt_at`` = now + backoff x 2^(attempts-1), or ``failed`` after ``max_attempts``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from cardpulse.notify_settings import NotifyConfig
from pipelines.notify import channels
from pipelines.notify.alert_kinds import Alert, label
from pipelines.settings import BUSINESS_TZ

OUTBOX_TABLE = "ops.notify_outbox"
OUTBOX_COLUMNS = """
    message_key VARCHAR PRIMARY KEY,
    firing_key VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    channel VARCHAR NOT NULL,
    title VARCHAR NOT NULL,
    body VARCHAR NOT NULL,
    attachments VARCHAR NOT NULL,
    recipients VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    attempts INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP,
    sent_at TIMESTAMP,
    last_answer VARCHAR,
    digest_key VARCHAR,
    batch_id VARCHAR"""

STATUSES = ("pending", "sending", "sent", "failed", "interrupted", "in_digest")
DIGEST_SHOWN = 5  # firings named in a digest before "and N more"
# A build waits at most this long for retries; what is still due later waits for the next pass.
MAX_WAIT_SECONDS = 120.0


def now_business() -> dt.datetime:
    return dt.datetime.now(ZoneInfo(BUSINESS_TZ)).replace(tzinfo=None)


def ensure_outbox(conn) -> None:
    conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {OUTBOX_TABLE} ({OUTBOX_COLUMNS})")


@dataclass(frozen=True)
class Recorded:
    messages: int  # rows to send (digests count once)
    digested: int  # firings covered by a digest


def record(
    conn, config: NotifyConfig, alerts: list[Alert], batch_id: str, now: dt.datetime | None = None
) -> Recorded:
    """Add a row per new (firing, channel), digesting floods; see the module docstring."""
    ensure_outbox(conn)
    now = now or now_business()
    known = {key for (key,) in conn.execute(f"SELECT message_key FROM {OUTBOX_TABLE}").fetchall()}
    rows: list[list] = []
    messages = digested = 0
    for channel in config.channels:
        by_kind: dict[str, list[Alert]] = {}
        for alert in alerts:
            if channel in config.channels_for(alert.kind) and _key(alert.key, channel) not in known:
                by_kind.setdefault(alert.kind, []).append(alert)
        for kind, new in by_kind.items():
            if len(new) <= config.digest_threshold:
                for alert in new:
                    rows.append(_row(alert.key, kind, channel, alert.title, alert.text, now,
                                     batch_id))  # fmt: skip
                    messages += 1
                continue
            digest_firing = "digest:" + kind + ":" + _digest_hash([a.key for a in new])
            title, text = _digest_text(kind, new, config)
            rows.append(_row(digest_firing, kind, channel, title, text, now, batch_id))
            messages += 1
            digest_key = _key(digest_firing, channel)
            for alert in new:
                row = _row(alert.key, kind, channel, alert.title, alert.text, now, batch_id)
                row[8], row[14] = "in_digest", digest_key
                rows.append(row)
                digested += 1
    if rows:
        _insert(conn, rows)
    return Recorded(messages, digested)


def enqueue_message(
    conn, firing_key: str, kind: str, channel: str, message: channels.Message, batch_id: str
) -> bool:
    """Add one prepared message (a report with attachments); False when its key is there."""
    ensure_outbox(conn)
    key = _key(firing_key, channel)
    if conn.execute(f"SELECT 1 FROM {OUTBOX_TABLE} WHERE message_key = ?", [key]).fetchone():
        return False
    row = _row(firing_key, kind, channel, message.title, message.text, now_business(), batch_id)
    row[6] = json.dumps([str(p) for p in message.attachments])
    row[7] = json.dumps(list(message.to))
    _insert(conn, [row])
    return True


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # pending, due later
    interrupted: int = 0

    def line(self) -> str:
        parts = [f"{self.sent} sent", f"{self.failed} failed"]
        if self.waiting:
            parts.append(f"{self.waiting} waiting to retry")
        if self.interrupted:
            parts.append(f"{self.interrupted} interrupted (not resent)")
        return "notifications: " + ", ".join(parts)


def deliver(
    conn,
    config: NotifyConfig,
    wait_seconds: float | None = None,
    send: Callable[..., channels.Answer] = channels.send,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], dt.datetime] = now_business,
) -> Delivery:
    """Send every due ``pending`` row; wait for retries while the waits add up to at most
    ``wait_seconds`` (default: the whole back-off series, at most MAX_WAIT_SECONDS)."""
    ensure_outbox(conn)
    if wait_seconds is None:
        series = sum(config.backoff_seconds * 2**i for i in range(config.max_attempts - 1))
        wait_seconds = min(series, MAX_WAIT_SECONDS)
    outcome = Delivery()
    outcome.interrupted = _mark_interrupted(conn)
    waited = 0.0  # time spent waiting for retries (sending does not count)
    while True:
        due = conn.execute(
            f"""SELECT message_key, channel, title, body, attachments, recipients, attempts
                FROM {OUTBOX_TABLE} WHERE status = 'pending' AND next_attempt_at <= ?
                ORDER BY created_at, message_key""",
            [now()],
        ).fetchall()
        for key, channel_name, title, body, attachments, recipients, attempts in due:
            message = channels.Message(
                title=title,
                text=body,
                message_id=key,
                attachments=tuple(Path(p) for p in json.loads(attachments)),
                to=tuple(json.loads(recipients)),
            )
            status = _deliver_one(conn, config, send, now, key, channel_name, attempts, message)
            if status == "sent":
                outcome.sent += 1
            elif status == "failed":
                outcome.failed += 1
        soonest = conn.execute(
            f"SELECT min(next_attempt_at) FROM {OUTBOX_TABLE} WHERE status = 'pending'"
        ).fetchone()[0]
        if soonest is None:
            break
        pause = max((soonest - now()).total_seconds(), 0.0)
        if waited + pause > wait_seconds + 1e-6:
            break
        sleep(pause)
        waited += pause
    (outcome.waiting,) = conn.execute(
        f"SELECT count(*) FROM {OUTBOX_TABLE} WHERE status = 'pending'"
    ).fetchone()
    return outcome


def _deliver_one(conn, config, send, now, key, channel_name, attempts, message) -> str:
    attempts += 1
    # Committed before the network call: if this process dies now, the row says "sending" and
    # the next pass marks it interrupted instead of sending it a second time.
    conn.execute(
        f"UPDATE {OUTBOX_TABLE} SET status = 'sending', attempts = ? WHERE message_key = ?",
        [attempts, key],
    )
    channel = config.channels.get(channel_name)
    if channel is None:
        answer = channels.Answer(False, f"channel {channel_name} is no longer configured")
    else:
        answer = send(channel, message)
    if answer.ok:
        conn.execute(
            f"UPDATE {OUTBOX_TABLE} SET status = 'sent', sent_at = ?, last_answer = ?, "
            "next_attempt_at = NULL WHERE message_key = ?",
            [now(), answer.detail, key],
        )
        return "sent"
    if attempts >= config.max_attempts or channel is None:
        conn.execute(
            f"UPDATE {OUTBOX_TABLE} SET status = 'failed', last_answer = ?, next_attempt_at = NULL "
            "WHERE message_key = ?",
            [answer.detail, key],
        )
        return "failed"
    retry_at = now() + dt.timedelta(seconds=config.backoff_seconds * 2 ** (attempts - 1))
    conn.execute(
        f"UPDATE {OUTBOX_TABLE} SET status = 'pending', last_answer = ?, next_attempt_at = ? "
        "WHERE message_key = ?",
        [answer.detail, retry_at, key],
    )
    return "pending"


def _mark_interrupted(conn) -> int:
    (count,) = conn.execute(
        f"SELECT count(*) FROM {OUTBOX_TABLE} WHERE status = 'sending'"
    ).fetchone()
    if count:
        conn.execute(
            f"UPDATE {OUTBOX_TABLE} SET status = 'interrupted', next_attempt_at = NULL, "
            "last_answer = 'the process stopped while sending; not sent again so that it is "
            "never sent twice: check the channel' WHERE status = 'sending'"
        )
    return int(count)


def retry(conn, message_key: str) -> bool:
    """Put a failed or interrupted row back to pending (a person decided to resend it)."""
    ensure_outbox(conn)
    changed = conn.execute(
        f"UPDATE {OUTBOX_TABLE} SET status = 'pending', attempts = 0, next_attempt_at = ? "
        "WHERE message_key = ? AND status IN ('failed', 'interrupted') RETURNING 1",
        [now_business(), message_key],
    ).fetchall()
    return bool(changed)


def _key(firing_key: str, channel: str) -> str:
    return f"{firing_key}@{channel}"


def _row(firing_key, kind, channel, title, body, now, batch_id) -> list:
    return [_key(firing_key, channel), firing_key, kind, channel, title, body, "[]", "[]",
            "pending", 0, now, now, None, None, None, batch_id]  # fmt: skip


def _insert(conn, rows: list[list]) -> None:
    placeholders = ", ".join("?" * len(rows[0]))
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.executemany(f"INSERT INTO {OUTBOX_TABLE} VALUES ({placeholders})", rows)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _digest_hash(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:12]


def _digest_text(kind: str, alerts: list[Alert], config: NotifyConfig) -> tuple[str, str]:
    name = label(kind, config.language)
    shown = "\n".join(f"- {a.title}" for a in alerts[:DIGEST_SHOWN])
    more = len(alerts) - DIGEST_SHOWN
    link = config.dashboard_url
    if config.language == "zh":
        title = f"{name}：{len(alerts)} 条提醒"
        text = shown + (f"\n- ……另有 {more} 条" if more > 0 else "")
        text += f"\n\n[在看板中查看全部]({link})" if link else "\n\n全部详情见看板"
    else:
        title = f"{name}: {len(alerts)} alerts"
        text = shown + (f"\n- ... and {more} more" if more > 0 else "")
        text += f"\n\n[See them all on the dashboard]({link})" if link else "\n\nSee the dashboard"
    return title, text


def status_counts(conn) -> dict[str, int]:
    ensure_outbox(conn)
    return dict(
        conn.execute(f"SELECT status, count(*) FROM {OUTBOX_TABLE} GROUP BY status").fetchall()
    )
