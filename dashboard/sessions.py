"""Signed-in sessions that outlive a browser tab: a signed, HttpOnly, expiring cookie.

Streamlit keeps its state per websocket (per tab); a reload or a deep link starts afresh. The
cookie carries the sign-in across them. Streamlit pages can only *read* cookies
(``st.context.cookies``), so the cookie is written by a route of ``dashboard/server.py``:

1. A password (or SSO) sign-in makes a server-side record (``SessionBook.open``): a random id,
   the account, its role, merchant and a fingerprint of its password hash, and a single-use
   hand-off token valid for ``HANDOFF_SECONDS``.
2. The page posts that token to ``POST /_cardpulse/session`` (a few lines of JavaScript; the
   token is the only thing the page script ever sees). The route redeems it and answers with
   ``Set-Cookie: cardpulse_session=<id>.<issued>.<hmac>; HttpOnly; SameSite=Strict; Path=/``
   (``Secure`` when the request came over https), revoking the record of any cookie the
   browser held before (rotation on sign-in).
3. Each new Streamlit session reads the cookie (``st.context.cookies``), checks the HMAC, the
   cookie's age and the record (not revoked, not idle for ``IDLE_MINUTES``, not older than
   ``MAX_SESSION_HOURS``, the account still there with the same role, merchant and
   password), and signs the tab in.
4. Every script run checks again that the record is alive, and that the connection running
   it is the one that signed in or presents the record's cookie: a websocket that resumes a
   Streamlit session by its id without the cookie gets the sign-in form (ASVS 3.5).
5. Sign-out revokes the record at once (every tab of that browser ends at its next run) and
   ``DELETE /_cardpulse/session`` expires the cookie.

Served by ``dashboard/server.py``, the records and the signing key are kept in
``$CARDPULSE_HOME/sessions.sqlite`` (mode 600) as well as in memory, so a restart of the
dashboard keeps everyone signed in, and a revocation stays revoked. The file holds only a
SHA-256 of each session id (the bearer secret is in the browser's cookie alone), the account
facts above and the times. Without it (AppTest, ``streamlit run app.py``) records live in
memory only. Session ids never reach a log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dashboard.auth import IDLE_MINUTES, MAX_SESSION_HOURS, User

COOKIE_NAME = "cardpulse_session"
ROUTE = "/_cardpulse/session"
HANDOFF_SECONDS = 60
COOKIE_MAX_AGE = MAX_SESSION_HOURS * 3600
_COOKIE_PATTERN = re.compile(r"^v1\.([A-Za-z0-9_-]{43})\.(\d{1,12})\.([0-9a-f]{64})$")
SESSIONS_FILE = "sessions.sqlite"
# last_seen_at is written through at most once a minute per session (idle ends at 30 min).
TOUCH_WRITE_SECONDS = 60
log = logging.getLogger("cardpulse.sessions")


def _now() -> datetime:
    return datetime.now(UTC)


def credential_fingerprint(user: User) -> str:
    """Changes when the password does (``users add --replace`` writes a new salted hash)."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Record:
    session_id: str
    name: str
    role: str
    merchant_id: str | None
    credential: str
    signed_in_at: datetime
    last_seen_at: datetime
    via: str = "password"
    revoked: bool = False
    agent_id: str | None = None  # a merchant user bound to one of its agents (issue #18)

    def alive(self, now: datetime) -> bool:
        return (
            not self.revoked
            and now - self.last_seen_at <= timedelta(minutes=IDLE_MINUTES)
            and now - self.signed_in_at <= timedelta(hours=MAX_SESSION_HOURS)
        )

    def matches(self, user: User | None) -> bool:
        return (
            user is not None
            and user.role == self.role
            and user.merchant_id == self.merchant_id
            and user.agent_id == self.agent_id
            and credential_fingerprint(user) == self.credential
        )


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class _Store:
    """The records on disk: one SQLite file, mode 600, keyed by a hash of each session id."""

    COLUMNS = [f.name for f in fields(Record) if f.name != "session_id"]

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        self.path = path
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.executescript(
            "CREATE TABLE IF NOT EXISTS signing_key (key BLOB NOT NULL);"
            "CREATE TABLE IF NOT EXISTS records (id_hash TEXT PRIMARY KEY, name TEXT, "
            "role TEXT, merchant_id TEXT, credential TEXT, signed_in_at TEXT, "
            "last_seen_at TEXT, via TEXT, revoked INTEGER, agent_id TEXT);"
        )

    def key(self) -> bytes:
        row = self.conn.execute("SELECT key FROM signing_key").fetchone()
        if row is None:
            key = secrets.token_bytes(32)
            self.conn.execute("INSERT INTO signing_key VALUES (?)", [key])
            return key
        return bytes(row[0])

    def save(self, record: Record) -> None:
        values = astuple(record)[1:]  # session_id first: stored as its hash
        self.conn.execute(
            f"INSERT OR REPLACE INTO records (id_hash, {', '.join(self.COLUMNS)}) "
            f"VALUES ({', '.join('?' * (len(self.COLUMNS) + 1))})",
            [_id_hash(record.session_id), *(_to_sql(v) for v in values)],
        )

    def load(self, session_id: str) -> Record | None:
        row = self.conn.execute(
            f"SELECT {', '.join(self.COLUMNS)} FROM records WHERE id_hash = ?",
            [_id_hash(session_id)],
        ).fetchone()
        if row is None:
            return None
        values = dict(zip(self.COLUMNS, row, strict=True))
        for moment in ("signed_in_at", "last_seen_at"):
            values[moment] = datetime.fromisoformat(values[moment])
        values["revoked"] = bool(values["revoked"])
        return Record(session_id=session_id, **values)

    def forget_older_than(self, moment: datetime) -> None:
        self.conn.execute("DELETE FROM records WHERE signed_in_at < ?", [moment.isoformat()])


def _to_sql(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


class SessionBook:
    """Session records and hand-off tokens of one dashboard process (thread-safe); with
    :meth:`keep_in`, the records and signing key also live in a file across restarts."""

    MAX_RECORDS = 50_000  # bounded memory: dead records are dropped first

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._handoffs: dict[str, tuple[str, datetime]] = {}
        self._store: _Store | None = None
        self._written: dict[str, datetime] = {}  # last_seen_at as last written to the store

    def keep_in(self, path: Path) -> bool:
        """Keep records and the signing key in ``path`` (made 600 when new), taking over
        the key and records it already holds. An unusable file is logged and leaves the book
        in memory (a restart then signs everyone out, as without a file)."""
        try:
            store = _Store(path)
            key = store.key()
            store.forget_older_than(_now() - timedelta(hours=MAX_SESSION_HOURS))
        except (OSError, sqlite3.Error) as error:
            log.warning("sessions kept in memory only: %s: %s", path, error)
            return False
        with self._lock:
            self._store, self._key = store, key
            self._records.clear()
            self._written.clear()
        return True

    def _remember(self, record: Record, write: bool = True) -> None:
        """Keep ``record`` (lock held); write it through to the store when asked."""
        self._records[record.session_id] = record
        if write and self._store is not None:
            try:
                self._store.save(record)
                self._written[record.session_id] = record.last_seen_at
            except sqlite3.Error as error:  # the in-memory record still holds
                log.warning("session record not saved to %s: %s", self._store.path, error)

    def _lookup(self, session_id: str) -> Record | None:
        """The record of an id (lock held), from memory or else from the store."""
        record = self._records.get(session_id)
        if record is None and self._store is not None and session_id:
            try:
                record = self._store.load(session_id)
            except sqlite3.Error as error:
                log.warning("session records unreadable in %s: %s", self._store.path, error)
                return None
            if record is not None:
                self._records[session_id] = record
                self._written[session_id] = record.last_seen_at
        return record

    # -- the cookie ---------------------------------------------------------------------
    def _mac(self, session_id: str, issued: int) -> str:
        message = f"v1|{session_id}|{issued}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def cookie_value(self, session_id: str, now: datetime | None = None) -> str:
        issued = int((now or _now()).timestamp())
        return f"v1.{session_id}.{issued}.{self._mac(session_id, issued)}"

    def session_id_of(self, cookie: str | None, now: datetime | None = None) -> str | None:
        """The session id a cookie names when its signature holds and it is not too old."""
        match = _COOKIE_PATTERN.match(cookie or "")
        if match is None:
            return None
        session_id, issued, mac = match.group(1), int(match.group(2)), match.group(3)
        if not hmac.compare_digest(mac, self._mac(session_id, issued)):
            return None
        age = (now or _now()).timestamp() - issued
        if not 0 <= age <= COOKIE_MAX_AGE + 60:
            return None
        return session_id

    # -- records ------------------------------------------------------------------------
    def open(self, user: User, via: str = "password", now: datetime | None = None,
             signed_in_at: datetime | None = None) -> tuple[Record, str]:  # fmt: skip
        """A new record for ``user`` and the single-use token that turns it into a cookie."""
        now = now or _now()
        record = Record(
            session_id=secrets.token_urlsafe(32),
            name=user.name,
            role=user.role,
            merchant_id=user.merchant_id,
            credential=credential_fingerprint(user),
            signed_in_at=signed_in_at or now,
            last_seen_at=now,
            via=via,
            agent_id=user.agent_id,
        )
        token = secrets.token_urlsafe(32)
        with self._lock:
            if len(self._records) >= self.MAX_RECORDS:
                self._forget_dead(now)
            self._remember(record)
            self._handoffs = {
                t: (sid, at)
                for t, (sid, at) in self._handoffs.items()
                if now - at <= timedelta(seconds=HANDOFF_SECONDS)
            }
            self._handoffs[token] = (record.session_id, now)
        return record, token

    def redeem(self, token: str, now: datetime | None = None) -> str | None:
        """The cookie value for a hand-off token, once; None when unknown, used or stale."""
        now = now or _now()
        with self._lock:
            entry = self._handoffs.pop(token or "", None)
            if entry is None or now - entry[1] > timedelta(seconds=HANDOFF_SECONDS):
                return None
            record = self._lookup(entry[0])
            if record is None or not record.alive(now):
                return None
        return self.cookie_value(record.session_id, now)

    def pending(self, token: str, now: datetime | None = None) -> bool:
        """Whether a hand-off token still waits to be redeemed (not used, not stale)."""
        now = now or _now()
        with self._lock:
            entry = self._handoffs.get(token or "")
        return entry is not None and now - entry[1] <= timedelta(seconds=HANDOFF_SECONDS)

    def get(self, session_id: str | None, now: datetime | None = None) -> Record | None:
        """The live record of a session id (None when unknown, revoked, idle or too old)."""
        now = now or _now()
        with self._lock:
            record = self._lookup(session_id or "")
        return record if record is not None and record.alive(now) else None

    def touch(self, session_id: str, now: datetime | None = None) -> Record | None:
        now = now or _now()
        with self._lock:
            record = self._lookup(session_id)
            if record is None or not record.alive(now):
                return None
            record = replace(record, last_seen_at=now)
            written = self._written.get(session_id)
            stale = written is None or now - written >= timedelta(seconds=TOUCH_WRITE_SECONDS)
            self._remember(record, write=stale)
            return record

    def revoke(self, session_id: str | None) -> None:
        with self._lock:
            record = self._lookup(session_id or "")
            if record is not None:
                self._remember(replace(record, revoked=True))

    def _forget_dead(self, now: datetime) -> None:
        dead = [sid for sid, record in self._records.items() if not record.alive(now)]
        if len(dead) < len(self._records) // 10:
            by_age = sorted(self._records.values(), key=lambda r: r.last_seen_at)
            dead = [r.session_id for r in by_age[: len(self._records) // 10]]
        for session_id in dead:  # the store keeps them until they are 12 hours old
            del self._records[session_id]
            self._written.pop(session_id, None)


BOOK = SessionBook()
# Set by dashboard/server.py when it serves the cookie route; without it (``streamlit run
# app.py``, AppTest) a sign-in lasts one tab, as before, and nothing is bound to a cookie.
_served = threading.Event()


def mark_served(sessions_file: Path | None = None) -> None:
    """server.py serves the cookie route; records go to ``sessions_file`` when given."""
    if sessions_file is not None:
        BOOK.keep_in(sessions_file)
    _served.set()


def cookie_route_served() -> bool:
    return _served.is_set()
