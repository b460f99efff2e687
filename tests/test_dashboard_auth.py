"""Dashboard accounts: only argon2 hashes on disk, back-off then lockout, session expiry."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import auth
from pipelines.errors import CardPulseError

PASSWORD = "s3cret-password"
T0 = datetime(2025, 11, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    # Hashing is deliberately slow: hash once per module, copy the file into each test.
    path = tmp_path_factory.mktemp("users") / "users.json"
    users = auth.UserStore(path)
    users.add("alice", "pricing", PASSWORD)
    users.add("shop", "merchant", PASSWORD, merchant_id="M001")
    return path


@pytest.fixture
def store(template, tmp_path):
    shutil.copy2(template, tmp_path / "users.json")
    return auth.UserStore(tmp_path / "users.json")


def test_only_a_salted_argon2_hash_is_stored(store, tmp_path):
    text = (tmp_path / "users.json").read_text()
    assert PASSWORD not in text
    document = json.loads(text)
    hashes = [user["password_hash"] for user in document["users"].values()]
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salt
    assert (tmp_path / "users.json").stat().st_mode & 0o777 == 0o600


def test_correct_password_signs_in(store):
    outcome = store.authenticate("alice", PASSWORD, now=T0)
    assert outcome.reason == "ok" and outcome.user.role == "pricing"
    merchant = store.authenticate("shop", PASSWORD, now=T0).user
    assert merchant.merchant_id == "M001"


def test_unknown_user_and_wrong_password_look_the_same(store):
    assert store.authenticate("nobody", PASSWORD, now=T0).reason == "bad_credentials"
    assert store.authenticate("alice", "wrong-password", now=T0).reason == "bad_credentials"


def test_failures_slow_down_then_lock(store):
    now = T0
    waits = []
    for _attempt in range(auth.LOCK_AFTER_FAILURES - 1):
        outcome = store.authenticate("alice", "wrong-password", now=now)
        assert outcome.reason == "bad_credentials"
        waits.append(outcome.wait_seconds)
        # Trying again before the wait is over is refused without checking the password.
        early = store.authenticate("alice", PASSWORD, now=now + timedelta(milliseconds=500))
        assert early.reason == "slow_down" and early.user is None
        now += timedelta(seconds=outcome.wait_seconds)
    assert waits == sorted(waits) and waits[-1] > waits[0]  # the wait grows
    locked = store.authenticate("alice", "wrong-password", now=now)
    assert locked.reason == "locked"
    # Even the right password is refused while locked ...
    during = store.authenticate("alice", PASSWORD, now=now + timedelta(minutes=1))
    assert during.reason == "locked" and during.user is None
    # ... and accepted once the lock has passed.
    after = store.authenticate("alice", PASSWORD, now=now + timedelta(minutes=auth.LOCK_MINUTES))
    assert after.reason == "ok"
    assert store.get("alice").failed_attempts == 0


def test_success_clears_the_failure_count(store):
    store.authenticate("alice", "wrong-password", now=T0)
    assert store.get("alice").failed_attempts == 1
    assert store.authenticate("alice", PASSWORD, now=T0 + timedelta(seconds=2)).reason == "ok"
    assert store.get("alice").failed_attempts == 0


def test_sessions_expire_when_idle_or_old(store):
    session = auth.start_session(store.get("alice"), now=T0)
    assert auth.refresh_session(session, store, now=T0 + timedelta(minutes=5)) is not None
    idle = T0 + timedelta(minutes=auth.IDLE_MINUTES + 1)
    assert auth.refresh_session(session, store, now=idle) is None
    # Kept active, it still ends after the maximum session length.
    moment = T0
    while session is not None and moment < T0 + timedelta(hours=auth.MAX_SESSION_HOURS + 1):
        moment += timedelta(minutes=20)
        session = auth.refresh_session(session, store, now=moment)
    assert session is None
    assert (
        timedelta(hours=auth.MAX_SESSION_HOURS)
        < moment - T0
        <= timedelta(hours=auth.MAX_SESSION_HOURS, minutes=20)
    )


def test_removed_or_changed_user_loses_its_session(store):
    session = auth.start_session(store.get("shop"), now=T0)
    store.add("shop", "merchant", PASSWORD, merchant_id="M002", replace=True)
    assert auth.refresh_session(session, store, now=T0) is None
    session = auth.start_session(store.get("alice"), now=T0)
    store.remove("alice")
    assert auth.refresh_session(session, store, now=T0) is None


@pytest.mark.parametrize(
    "name, role, merchant, message",
    [
        ("bad name", "ops", None, "invalid user name"),
        ("x", "root", None, "unknown role"),
        ("x", "merchant", None, "needs --merchant"),
        ("x", "ops", "M001", "only to the merchant role"),
    ],
)
def test_invalid_accounts_are_refused(store, name, role, merchant, message):
    with pytest.raises(CardPulseError, match=message):
        store.add(name, role, PASSWORD, merchant)


def test_short_passwords_and_duplicates_are_refused(store):
    with pytest.raises(CardPulseError, match="too short"):
        store.add("bob", "ops", "short")
    with pytest.raises(CardPulseError, match="already exists"):
        store.add("alice", "ops", PASSWORD)


def test_a_damaged_users_file_is_a_clear_error(tmp_path):
    (tmp_path / "users.json").write_text("{not json")
    with pytest.raises(CardPulseError, match="damaged"):
        auth.UserStore(tmp_path / "users.json").users()
