"""Dashboard accounts: only argon2 hashes on disk, back-off then lockout, session expiry."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from datetime import UTC, datetime, timedelta

import pytest

from dashboard import auth, sessions
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


def attempts(store, name, password, now, count, client="203.0.113.7"):
    """``count`` attempts, each as soon as the previous one's wait allows."""
    outcomes = []
    for _ in range(count):
        outcome = store.authenticate(name, password, now=now, client=client)
        outcomes.append(outcome)
        now += timedelta(seconds=1 if outcome.reason == "locked" else outcome.wait_seconds or 1)
    return outcomes, now


def test_unknown_user_and_wrong_password_look_the_same(store, monkeypatch):
    verified = []
    real_verify = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: verified.append(h) or real_verify(h, p))
    known, _ = attempts(store, "alice", "wrong-password", T0, auth.LOCK_AFTER_FAILURES + 1)
    unknown, _ = attempts(store, "nobody", "wrong-password", T0, auth.LOCK_AFTER_FAILURES + 1)
    # Same answers in the same order (refused, slowed down, locked), so the message says
    # nothing about whether the name exists ...
    assert [(o.reason, o.wait_seconds) for o in known] == [
        (o.reason, o.wait_seconds) for o in unknown
    ]
    assert [o.reason for o in known][-2:] == ["locked", "locked"]
    # ... and the same argon2 work: an unknown name is checked against the dummy hash.
    alice = store.get("alice").password_hash
    assert verified == [alice] * auth.LOCK_AFTER_FAILURES + [auth._DUMMY_HASH] * (
        auth.LOCK_AFTER_FAILURES
    )


def test_failures_slow_down_then_lock_that_client_only(store):
    now = T0
    waits = []
    for _attempt in range(auth.LOCK_AFTER_FAILURES - 1):
        outcome = store.authenticate("alice", "wrong-password", now=now, client="attacker")
        assert outcome.reason == "bad_credentials"
        waits.append(outcome.wait_seconds)
        # Trying again before the wait is over is refused without checking the password.
        early = store.authenticate(
            "alice", PASSWORD, now=now + timedelta(milliseconds=500), client="attacker"
        )
        assert early.reason == "slow_down" and early.user is None
        now += timedelta(seconds=outcome.wait_seconds)
    assert waits == sorted(waits) and waits[-1] > waits[0]  # the wait grows
    locked = store.authenticate("alice", "wrong-password", now=now, client="attacker")
    assert locked.reason == "locked"
    during = store.authenticate(
        "alice", PASSWORD, now=now + timedelta(minutes=1), client="attacker"
    )
    assert during.reason == "locked" and during.user is None
    # The owner, elsewhere, is not locked out by someone who only knows the name.
    owner = store.authenticate("alice", PASSWORD, now=now + timedelta(minutes=1), client="owner")
    assert owner.reason == "ok"
    after = store.authenticate(
        "alice", PASSWORD, now=now + timedelta(minutes=auth.LOCK_MINUTES), client="attacker"
    )
    assert after.reason == "ok"


def test_success_clears_the_failure_count(store):
    first = store.authenticate("alice", "wrong-password", now=T0, client="c")
    assert first.reason == "bad_credentials" and first.wait_seconds == 1
    assert store.authenticate("alice", PASSWORD, now=T0 + timedelta(seconds=2), client="c").user
    again = store.authenticate("alice", "wrong-password", now=T0 + timedelta(seconds=3), client="c")
    assert again.wait_seconds == 1  # counting starts over


def test_a_client_guessing_many_names_is_refused(store):
    now = T0
    for index in range(auth.CLIENT_LOCK_AFTER):
        outcome = store.authenticate(f"guess{index}", "wrong-password", now=now, client="sprayer")
        assert outcome.reason == "bad_credentials"
        now += timedelta(seconds=1)
    # Unknown names count too: the next try, any name, is refused without hashing.
    refused = store.authenticate("alice", PASSWORD, now=now, client="sprayer")
    assert refused.reason == "locked" and refused.user is None
    assert store.authenticate("alice", PASSWORD, now=now, client="someone-else").reason == "ok"
    later = now + timedelta(minutes=auth.LOCK_MINUTES)
    assert store.authenticate("alice", PASSWORD, now=later, client="sprayer").reason == "ok"
    # Without an address (localhost, or a proxy sending no X-Forwarded-For) everyone is one
    # client: guesses there are limited per name only, never for everyone at once.
    for index in range(auth.CLIENT_LOCK_AFTER):
        store.authenticate(f"guess{index}", "wrong-password", now=later, client=None)
    assert store.authenticate("alice", PASSWORD, now=later, client=None).reason == "ok"


def test_verifications_run_side_by_side(store, monkeypatch):
    # Two attempts must be inside argon2 at the same moment: one global lock around hashing
    # (the file lock used to be held) would leave the barrier waiting for ever.
    barrier = threading.Barrier(2, timeout=20)
    monkeypatch.setattr(auth, "_verify", lambda h, p: barrier.wait() is None or False)
    results = []
    threads = [
        threading.Thread(
            target=lambda n=name: results.append(store.authenticate(n, "x" * 9, client=n))
        )
        for name in ("alice", "nobody")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not barrier.broken
    assert sorted(o.reason for o in results) == ["bad_credentials", "bad_credentials"]


def test_attempts_are_logged_without_passwords(store, caplog):
    with caplog.at_level(logging.INFO, logger="cardpulse.auth"):
        store.authenticate("alice", "wrong-password", now=T0, client="198.51.100.4")
        store.authenticate("alice", PASSWORD, now=T0 + timedelta(seconds=5), client="198.51.100.4")
        store.authenticate("hunter2 typed here", "x", now=T0, client="198.51.100.4")
    lines = [record.getMessage() for record in caplog.records]
    assert lines[0] == "sign-in bad_credentials: name=alice client=198.51.100.4"
    assert lines[1] == "sign-in ok: name=alice client=198.51.100.4"
    assert "hunter2" not in lines[2] and "not a user name" in lines[2]
    assert not [line for line in lines if PASSWORD in line or "wrong-password" in line]


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


def test_new_hashes_meet_owasps_argon2id_minimum(store):
    parameters = auth.extract_parameters(store.get("alice").password_hash)
    # OWASP Password Storage Cheat Sheet: argon2id, at least 19 MiB, 2 passes, 1 lane.
    assert parameters.type.name == "ID"
    assert parameters.memory_cost >= 19 * 1024 and parameters.time_cost >= 2
    assert parameters.parallelism == 1


def _older_hash(password: str) -> str:
    """A hash made with argon2-cffi's default (the parameters before issue #15's change)."""
    return auth.PasswordHasher(time_cost=3, memory_cost=8 * 1024, parallelism=4).hash(password)


def _store_hash(store: auth.UserStore, name: str, password_hash: str) -> None:
    users = store.users()
    users[name].password_hash = password_hash
    store._write(users)


def test_an_older_hash_still_signs_in_and_is_rehashed(store):
    _store_hash(store, "alice", _older_hash(PASSWORD))
    signed_in = store.authenticate("alice", PASSWORD, now=T0).user
    rehashed = store.get("alice").password_hash
    assert not auth._hasher.check_needs_rehash(rehashed)
    # The session opened from this sign-in records the new hash: the rehash is no password
    # change that would end it at once.
    record, _token = sessions.SessionBook().open(signed_in)
    assert record.matches(store.get("alice"))
    assert store.authenticate("alice", PASSWORD, now=T0).user is not None


@pytest.mark.parametrize("older", [(), ("alice",), ("alice", "shop")])
def test_every_name_costs_the_same_argon2_work_while_hashes_differ(store, monkeypatch, older):
    """Old hashes (not yet rehashed) must not make their names stand out by time, nor an
    unknown name (checked against today's parameters) stand out among them."""
    for name in older:
        _store_hash(store, name, _older_hash(PASSWORD))
    verified: list[tuple] = []
    real_verify = auth._verify
    monkeypatch.setattr(
        auth, "_verify", lambda h, p: verified.append(auth._parameters(h)) or real_verify(h, p)
    )
    work = {}
    for name in ("alice", "shop", "nobody"):
        verified.clear()
        store.authenticate(name, "wrong-password", now=T0, client=f"c-{name}")
        work[name] = sorted(verified, key=str)
    assert work["alice"] == work["shop"] == work["nobody"]
    assert len(work["nobody"]) == (2 if older else 1)  # once every hash is new: one
