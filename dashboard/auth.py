"""Dashboard accounts: a users file under ``$CARDPULSE_HOME`` holding argon2 hashes only.

Sign-in rules: a wrong password makes the next attempt wait (1 s, 2 s, 4 s, ... up to 30 s)
and after ``LOCK_AFTER_FAILURES`` failures in a row the account is locked for
``LOCK_MINUTES``; a correct password clears the count. The waiting is enforced by refusing
attempts that come too early, not by sleeping, so a flood of guesses costs the server
nothing. Sessions expire after ``IDLE_MINUTES`` without activity or ``MAX_SESSION_HOURS``.

The file is rewritten whole (temporary file + ``os.replace``) under an exclusive lock, so the
dashboard recording a failed attempt and ``cardpulse users add`` never interleave.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pipelines.errors import CardPulseError

ROLES = ("merchant", "ops", "pricing", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")
MIN_PASSWORD_LENGTH = 8

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
BACKOFF_CAP_SECONDS = 30
IDLE_MINUTES = 30
MAX_SESSION_HOURS = 12

_hasher = PasswordHasher()
# Verified when the name is unknown, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass
class User:
    name: str
    role: str
    merchant_id: str | None
    password_hash: str
    created_at: str
    failed_attempts: int = 0
    last_failed_at: str | None = None
    locked_until: str | None = None


@dataclass(frozen=True)
class SignIn:
    """The outcome of one attempt: ``user`` when accepted, else why not."""

    user: User | None
    reason: str  # "ok", "bad_credentials", "slow_down", "locked"; for SSO "no_email", ...
    wait_seconds: int = 0


def _now() -> datetime:
    return datetime.now(UTC)


def _parse(moment: str | None) -> datetime | None:
    return datetime.fromisoformat(moment) if moment else None


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
    ) -> User:
        """1. Validate, 2. hash, 3. refuse an existing name unless replacing, 4. write."""
        validate_name(name)
        validate_role(role, merchant_id)
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

    def authenticate(self, name: str, password: str, now: datetime | None = None) -> SignIn:
        """1. Refuse a locked or too-early attempt, 2. verify, 3. record the outcome."""
        now = now or _now()
        with self._locked():
            users = self._read()
            user = users.get(name)
            if user is None:
                _verify(_DUMMY_HASH, password)
                return SignIn(None, "bad_credentials")
            locked_until = _parse(user.locked_until)
            if locked_until and now < locked_until:
                return SignIn(None, "locked", _ceil_seconds(locked_until - now))
            ready_at = _next_attempt_at(user)
            if ready_at and now < ready_at:
                return SignIn(None, "slow_down", _ceil_seconds(ready_at - now))
            if _verify(user.password_hash, password):
                if _hasher.check_needs_rehash(user.password_hash):
                    user.password_hash = _hasher.hash(password)
                user.failed_attempts, user.last_failed_at, user.locked_until = 0, None, None
                self._write(users)
                return SignIn(user, "ok")
            user.failed_attempts += 1
            user.last_failed_at = now.isoformat()
            reason = "bad_credentials"
            if user.failed_attempts >= LOCK_AFTER_FAILURES:
                user.locked_until = (now + timedelta(minutes=LOCK_MINUTES)).isoformat()
                user.failed_attempts = 0
                reason = "locked"
            self._write(users)
            wait = LOCK_MINUTES * 60 if reason == "locked" else _backoff_seconds(user)
            return SignIn(None, reason, wait)


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


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _backoff_seconds(user: User) -> int:
    if user.failed_attempts <= 0:
        return 0
    return min(BACKOFF_CAP_SECONDS, 2 ** (user.failed_attempts - 1))


def _next_attempt_at(user: User) -> datetime | None:
    last = _parse(user.last_failed_at)
    if last is None or user.failed_attempts <= 0:
        return None
    return last + timedelta(seconds=_backoff_seconds(user))


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

    def expired(self, now: datetime | None = None) -> bool:
        now = now or _now()
        return now - self.last_seen_at > timedelta(
            minutes=IDLE_MINUTES
        ) or now - self.signed_in_at > timedelta(hours=MAX_SESSION_HOURS)

    def touched(self, now: datetime | None = None) -> Session:
        return Session(
            self.name, self.role, self.merchant_id, self.signed_in_at, now or _now(), self.via
        )


def start_session(
    user: User,
    via: str = "password",
    now: datetime | None = None,
    signed_in_at: datetime | None = None,
) -> Session:
    """A new session seen ``now``; ``signed_in_at`` is when the person really signed in (for
    single sign-on, when the provider issued the identity, which may be hours ago)."""
    now = now or _now()
    return Session(user.name, user.role, user.merchant_id, signed_in_at or now, now, via)


def refresh_session(
    session: Session, store: UserStore, now: datetime | None = None
) -> Session | None:
    """1. Expire an idle or old session, 2. drop it if the user was removed or changed role,
    3. otherwise mark it seen now. Returns None when the session must end."""
    now = now or _now()
    if session.expired(now):
        return None
    user = store.get(session.name)
    if user is None or user.role != session.role or user.merchant_id != session.merchant_id:
        return None
    return session.touched(now)
