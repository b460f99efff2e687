"""Dashboard accounts: a users file under ``$CARDPULSE_HOME`` holding argon2 hashes only.

Sign-in rules (after OWASP's authentication and credential-stuffing guidance):

- Failures are counted per client (the connection's address) and name, whether or not the
  name exists: a wrong password makes that client's next attempt for that name wait (1 s,
  2 s, 4 s, ... up to 30 s) and ``LOCK_AFTER_FAILURES`` in a row lock that client out of that
  name for ``LOCK_MINUTES``. Someone else guessing a name cannot lock its owner out, and an
  unknown name is refused exactly like a known one (same message, same argon2 work: a dummy
  hash is verified), so names cannot be enumerated.
- A client that fails ``CLIENT_LOCK_AFTER`` times within ``LOCK_MINUTES`` across any names
  (password spraying, guessing names) is refused for ``LOCK_MINUTES``; not ``LOCAL_CLIENT``,
  which stands for everyone without an address of their own.
- Waiting is enforced by refusing early attempts without hashing, not by sleeping, so a flood
  costs the server nothing; at most ``VERIFY_SLOTS`` argon2 verifications run at once, and no
  file lock is held while one runs. Each attempt is logged (name, client, outcome; never the
  password) on the ``cardpulse.auth`` logger.
- The counts live in the dashboard process's memory: a restart forgets them.

Sessions expire after ``IDLE_MINUTES`` without activity or ``MAX_SESSION_HOURS``. The users
file is rewritten whole (temporary file + ``os.replace``) under an exclusive lock, so the
dashboard and ``cardpulse users add`` never interleave.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import secrets
import tempfile
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, astuple, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipelines.errors import CardPulseError

ROLES = ("merchant", "ops", "pricing", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
MIN_PASSWORD_LENGTH = 8

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
BACKOFF_CAP_SECONDS = 30
CLIENT_LOCK_AFTER = 20
VERIFY_SLOTS = max(2, os.cpu_count() or 2)
LOCAL_CLIENT = "local"

log = logging.getLogger("cardpulse.auth")
IDLE_MINUTES = 30
MAX_SESSION_HOURS = 12

# argon2id at OWASP's recommended minimum (Password Storage Cheat Sheet: 19 MiB, 2 passes,
# 1 lane): 0.025 s a verification here, where argon2-cffi's default (RFC 9106's low-memory
# profile, 64 MiB, 3 passes, 4 lanes) took 0.17-0.33 s of a 2 s sign-in (issue #15). Hashes
# made with other parameters still verify, and are rehashed at their next sign-in.
ARGON2_MEMORY_KIB = 19 * 1024
ARGON2_TIME_COST = 2
ARGON2_PARALLELISM = 1
_hasher = PasswordHasher(
    time_cost=ARGON2_TIME_COST, memory_cost=ARGON2_MEMORY_KIB, parallelism=ARGON2_PARALLELISM
)
# Verified when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_dummies: dict[tuple, str] = {astuple(extract_parameters(_DUMMY_HASH)): _DUMMY_HASH}
_dummies_lock = threading.Lock()


@dataclass
class User:
    name: str
    role: str
    merchant_id: str | None
    password_hash: str
    created_at: str
    # Older versions counted failures here; they are read (old files load) but no longer used:
    # failures are counted per client in memory (``Throttle``).
    failed_attempts: int = 0
    last_failed_at: str | None = None
    locked_until: str | None = None
    # A merchant user bound to one of its agents (sub-sites) sees only that agent's sales.
    agent_id: str | None = None


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: ``user`` when accepted, else why not."""

    user: User | None
    reason: str  # "ok", "bad_credentials", "slow_down", "locked"; for SSO "no_email", ...
    wait_seconds: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def validate_name(name: str) -> str:
    if not NAME_PATTERN.match(name or ""):
        raise CardPulseError(
            f"invalid user name {name!r}: use 1-64 letters, digits or . _ @ + - "
            "(starting with a letter or digit)"
        )
    return name


def validate_role(role: str, merchant_id: str | None) -> None:
    if role not in ROLES:
        raise CardPulseError(f"unknown role {role!r}: choose one of {', '.join(ROLES)}")
    if role == "merchant" and not merchant_id:
        raise CardPulseError("a merchant user needs --merchant ID (the merchant it may see)")
    if role != "merchant" and merchant_id:
        raise CardPulseError(f"--merchant applies only to the merchant role, not {role!r}")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CardPulseError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


class UserStore:
    """The users file: load, change under a lock, write atomically."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, User]:
        if not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            return {name: User(**fields) for name, fields in document["users"].items()}
        except (ValueError, KeyError, TypeError) as error:
            raise CardPulseError(f"users file {self.path} is damaged: {error}") from error

    def _write(self, users: dict[str, User]) -> None:
        document = {"version": 1, "users": {name: asdict(user) for name, user in users.items()}}
        handle, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".users.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, ensure_ascii=False, indent=2)
            os.chmod(temporary, 0o600)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def users(self) -> dict[str, User]:
        with self._locked():
            return self._read()

    def get(self, name: str) -> User | None:
        return self.users().get(name)

    def add(
        self,
        name: str,
        role: str,
        password: str,
        merchant_id: str | None = None,
        replace: bool = False,
        agent_id: str | None = None,
    ) -> User:
        """1. Validate, 2. hash, 3. refuse an existing name unless replacing, 4. write."""
        validate_name(name)
        validate_role(role, merchant_id)
        if agent_id and role != "merchant":
            raise CardPulseError(f"--agent applies only to the merchant role, not {role!r}")
        password_hash = hash_password(password)
        with self._locked():
            users = self._read()
            if name in users and not replace:
                raise CardPulseError(f"user {name!r} already exists (remove it first)")
            user = User(
                name=name,
                role=role,
                merchant_id=merchant_id or None,
                password_hash=password_hash,
                created_at=_now().isoformat(timespec="seconds"),
                agent_id=agent_id or None,
            )
            users[name] = user
            self._write(users)
        return user

    def remove(self, name: str) -> None:
        with self._locked():
            users = self._read()
            if name not in users:
                raise CardPulseError(f"no user named {name!r}")
            del users[name]
            self._write(users)

    def authenticate(
        self,
        name: str,
        password: str,
        now: datetime | None = None,
        client: str | None = None,
    ) -> SignIn:
        """1. Refuse a throttled client (no hashing), 2. verify against the user's hash or a
        dummy one, outside the file lock, 3. count the outcome for this client and name."""
        now = now or _now()
        client = client or LOCAL_CLIENT
        throttle = throttle_for(self.path)
        refused = throttle.refusal(client, name, now)
        if refused is not None:
            _log_attempt(name, client, refused.reason)
            return refused
        users = self.users()
        user = users.get(name)
        with _verify_slots:
            accepted = _verify_evenly(user.password_hash if user else _DUMMY_HASH, password, users)
        if not (user and accepted):
            outcome = throttle.failed(client, name, now)
            _log_attempt(name, client, outcome.reason)
            return outcome
        throttle.succeeded(client, name)
        if _hasher.check_needs_rehash(user.password_hash):
            user = self._rehash(user, password)
        _log_attempt(name, client, "ok")
        return SignIn(user, "ok")

    def _rehash(self, user: User, password: str) -> User:
        """Store a hash with today's parameters, unless the password changed meanwhile; the
        user as stored now (a session records the hash it signed in with: the old one would
        read as a changed password and end the session at once)."""
        fresh = _hasher.hash(password)
        with self._locked():
            users = self._read()
            current = users.get(user.name)
            if current is None or current.password_hash != user.password_hash:
                return user
            current.password_hash = fresh
            self._write(users)
            return current


class Throttle:
    """Failed sign-ins in memory: per (client, name) with back-off and lock, and per client.

    Only short bookkeeping happens under its lock; never a hash.
    """

    MAX_KEYS = 10_000  # bounded memory under a flood of made-up names

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pairs: dict[tuple[str, str], _Failures] = {}
        self._clients: dict[str, deque[datetime]] = {}

    def refusal(self, client: str, name: str, now: datetime) -> SignIn | None:
        window = timedelta(minutes=LOCK_MINUTES)
        with self._lock:
            # Every user without an address of their own (localhost, a proxy that sends no
            # X-Forwarded-For) shares LOCAL_CLIENT: a client-wide lock there would lock out all.
            recent = self._clients.get(client) if client != LOCAL_CLIENT else None
            while recent and now - recent[0] > window:
                recent.popleft()
            if recent and len(recent) >= CLIENT_LOCK_AFTER:
                return SignIn(None, "locked", _ceil_seconds(recent[0] + window - now))
            failures = self._pairs.get((client, name))
            if failures is None:
                return None
            if failures.locked_until and now < failures.locked_until:
                return SignIn(None, "locked", _ceil_seconds(failures.locked_until - now))
            ready_at = failures.ready_at()
            if ready_at and now < ready_at:
                return SignIn(None, "slow_down", _ceil_seconds(ready_at - now))
            return None

    def failed(self, client: str, name: str, now: datetime) -> SignIn:
        with self._lock:
            if len(self._pairs) >= self.MAX_KEYS:
                self._forget_oldest(now)
            if client != LOCAL_CLIENT:
                self._clients.setdefault(client, deque()).append(now)
            failures = self._pairs.setdefault((client, name), _Failures())
            if failures.locked_until and now >= failures.locked_until:
                failures.count, failures.locked_until = 0, None
            failures.count += 1
            failures.last_failed_at = now
            if failures.count >= LOCK_AFTER_FAILURES:
                failures.locked_until = now + timedelta(minutes=LOCK_MINUTES)
                return SignIn(None, "locked", LOCK_MINUTES * 60)
            return SignIn(None, "bad_credentials", failures.backoff_seconds())

    def succeeded(self, client: str, name: str) -> None:
        with self._lock:
            self._pairs.pop((client, name), None)

    def _forget_oldest(self, now: datetime) -> None:
        """Drop the records no longer refusing anything, else the oldest half."""
        idle = [key for key, f in self._pairs.items() if f.settled(now)]
        if len(idle) < len(self._pairs) // 2:
            by_age = sorted(self._pairs, key=lambda key: self._pairs[key].last_failed_at or now)
            idle = by_age[: len(self._pairs) // 2]
        for key in idle:
            del self._pairs[key]


@dataclass
class _Failures:
    count: int = 0
    last_failed_at: datetime | None = None
    locked_until: datetime | None = None

    def backoff_seconds(self) -> int:
        return 0 if self.count <= 0 else min(BACKOFF_CAP_SECONDS, 2 ** (self.count - 1))

    def ready_at(self) -> datetime | None:
        if self.last_failed_at is None or self.count <= 0:
            return None
        return self.last_failed_at + timedelta(seconds=self.backoff_seconds())

    def settled(self, now: datetime) -> bool:
        ready = self.ready_at()
        return (self.locked_until is None or now >= self.locked_until) and (
            ready is None or now >= ready
        )


_throttles: dict[Path, Throttle] = {}
_throttles_lock = threading.Lock()
_verify_slots = threading.BoundedSemaphore(VERIFY_SLOTS)


def throttle_for(users_file: Path) -> Throttle:
    """The one throttle of a users file in this process (every page run shares it)."""
    with _throttles_lock:
        return _throttles.setdefault(Path(users_file).resolve(), Throttle())


def _log_attempt(name: str, client: str, outcome: str) -> None:
    # A name that is not a valid user name may be a password typed in the wrong box.
    shown = name if NAME_PATTERN.match(name or "") else "<not a user name>"
    level = logging.INFO if outcome == "ok" else logging.WARNING
    log.log(level, "sign-in %s: name=%s client=%s", outcome, shown, client)


def user_for_identity(store: UserStore, email: str, email_verified: object = None) -> SignIn:
    """Map a single sign-on identity to its account: ``SignIn(user, "ok")`` or why not.

    1. The provider must give an e-mail (else ``no_email``) and must not say it is unverified
       (``email_verified`` false: anyone could have typed it; ``unverified``), 2. the e-mail
       must be a user name in the users file, compared without regard to case since providers
       differ in how they spell it back (else ``unknown``).
    """
    email = (email or "").strip()
    if not email:
        return SignIn(None, "no_email")
    if email_verified is False or str(email_verified).lower() == "false":
        return SignIn(None, "unverified")
    users = store.users()
    if email in users:
        return SignIn(users[email], "ok")
    matches = [user for name, user in users.items() if name.casefold() == email.casefold()]
    return SignIn(matches[0], "ok") if len(matches) == 1 else SignIn(None, "unknown")


def _verify_evenly(password_hash: str, password: str, users: dict[str, User]) -> bool:
    """Verify ``password_hash``, then a dummy hash of every other parameter set the users file
    holds: every name, known or not, old hash or new, costs the same argon2 work.

    While the file mixes parameters (hashes made before they changed, not yet rehashed at a
    sign-in), verifying only the account's own hash would tell names apart by time. Once
    every hash has today's parameters this is one verification, as before.
    """
    accepted = _verify(password_hash, password)
    own = _parameters(password_hash)
    stored = {_parameters(user.password_hash) for user in users.values()}
    stored.add(_parameters(_DUMMY_HASH))  # what an unknown name costs
    for parameters in sorted(stored - {own, None}, key=str):
        _verify(_dummy_for(parameters), password)
    return accepted


def _parameters(password_hash: str) -> tuple | None:
    try:
        return astuple(extract_parameters(password_hash))
    except (InvalidHashError, ValueError):
        return None


def _dummy_for(parameters: tuple) -> str:
    """A hash of a random secret made with ``parameters`` (made once per process)."""
    with _dummies_lock:
        dummy = _dummies.get(parameters)
    if dummy is None:
        kind, _version, salt_len, hash_len, time_cost, memory_cost, parallelism = parameters
        dummy = PasswordHasher(
            time_cost, memory_cost, parallelism, hash_len, salt_len, type=kind
        ).hash(secrets.token_urlsafe(16))
        with _dummies_lock:
            dummy = _dummies.setdefault(parameters, dummy)
    return dummy


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _ceil_seconds(delta: timedelta) -> int:
    return max(1, int(-(-delta.total_seconds() // 1)))


@dataclass(frozen=True)
class Session:
    """Who is signed in to one browser session, and since when."""

    name: str
    role: str
    merchant_id: str | None
    signed_in_at: datetime
    last_seen_at: datetime
    via: str = "password"  # or "oidc"
    agent_id: str | None = None
    # With the cookie route (dashboard/server.py): the server-side record this tab is signed
    # in under, and the websocket (its Sec-WebSocket-Key) that signed in or presented it.
    session_id: str | None = None
    connection: str | None = None

    def expired(self, now: datetime | None = None) -> bool:
        now = now or _now()
        return now - self.last_seen_at > timedelta(
            minutes=IDLE_MINUTES
        ) or now - self.signed_in_at > timedelta(hours=MAX_SESSION_HOURS)

    def touched(self, now: datetime | None = None) -> Session:
        return replace(self, last_seen_at=now or _now())


def start_session(
    user: User,
    via: str = "password",
    now: datetime | None = None,
    signed_in_at: datetime | None = None,
) -> Session:
    """A new session seen ``now``; ``signed_in_at`` is when the person really signed in (for
    single sign-on, when the provider issued the identity, which may be hours ago)."""
    now = now or _now()
    return Session(
        user.name, user.role, user.merchant_id, signed_in_at or now, now, via, user.agent_id
    )


def refresh_session(
    session: Session, store: UserStore, now: datetime | None = None
) -> Session | None:
    """1. Expire an idle or old session, 2. drop it if the user was removed or changed role,
    3. otherwise mark it seen now. Returns None when the session must end."""
    now = now or _now()
    if session.expired(now):
        return None
    user = store.get(session.name)
    if (
        user is None
        or user.role != session.role
        or user.merchant_id != session.merchant_id
        or user.agent_id != session.agent_id
    ):
        return None
    return session.touched(now)
