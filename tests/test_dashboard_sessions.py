"""The session cookie: signed records in the dashboard process and server.py's cookie route.

The browser side (reload, deep links, sign-out in every tab, forged cookies, a websocket
resumed without the cookie) is in tests/test_browser_dashboard.py."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dashboard import auth, sessions

ROOT = Path(__file__).resolve().parents[1]

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path) -> auth.UserStore:
    users = auth.UserStore(tmp_path / "users.json")
    users.add("alice", "ops", "alice-pass-1")
    return users


@pytest.fixture
def server_module(tmp_path, monkeypatch):
    """dashboard/server.py imported in this process; its 'served' mark, its sessions file and
    its log-record factory are undone after (the rest of the test process runs without them)."""
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))  # where a first import keeps sessions
    import dashboard.server as server

    logging.setLogRecordFactory(server._record_without_session_ids)
    yield server
    sessions._served.clear()
    sessions.BOOK = sessions.SessionBook()
    logging.setLogRecordFactory(server._make_record)


def test_a_cookie_names_its_record_only_while_signature_age_and_record_hold(store):
    book = sessions.SessionBook()
    record, token = book.open(store.get("alice"), now=NOW)
    value = book.redeem(token, now=NOW)
    assert value is not None and record.session_id in value
    assert book.redeem(token, now=NOW) is None  # single use
    assert book.session_id_of(value, now=NOW) == record.session_id
    version, session_id, issued, mac = value.split(".")
    for forged in (
        f"{version}.{session_id}.{issued}.{'0' * 64}",
        f"{version}.{session_id}.{int(issued) + 60}.{mac}",
        f"{version}.{'A' * 43}.{issued}.{mac}",
        "",
        "v1.x.1.y",
    ):
        assert book.session_id_of(forged, now=NOW) is None, forged
    assert sessions.SessionBook().session_id_of(value, now=NOW) is None  # another key
    # The cookie is refused once older than the longest session, whatever the record says.
    assert book.session_id_of(value, now=NOW + timedelta(hours=13)) is None
    # The record: idle for more than 30 minutes or signed in more than 12 hours ago ends it.
    assert book.get(record.session_id, now=NOW + timedelta(minutes=29)) is not None
    assert book.get(record.session_id, now=NOW + timedelta(minutes=31)) is None
    seen = NOW
    for _ in range(25):  # active every 29 minutes for 12 h 5 min
        seen += timedelta(minutes=29)
        touched = book.touch(record.session_id, now=seen)
    assert touched is None and seen - NOW > timedelta(hours=12)


def test_a_hand_off_token_expires_and_a_revoked_record_gives_no_cookie(store):
    book = sessions.SessionBook()
    _record, late = book.open(store.get("alice"), now=NOW)
    assert book.redeem(late, now=NOW + timedelta(seconds=61)) is None
    record, token = book.open(store.get("alice"), now=NOW)
    book.revoke(record.session_id)
    assert book.redeem(token, now=NOW) is None
    assert book.get(record.session_id, now=NOW) is None


def test_a_hand_off_token_is_pending_until_redeemed_or_stale(store):
    """What ends a sign-in's cookie step on the page (no report back from the browser)."""
    book = sessions.SessionBook()
    _record, token = book.open(store.get("alice"), now=NOW)
    assert book.pending(token, now=NOW)
    assert not book.pending(token, now=NOW + timedelta(seconds=sessions.HANDOFF_SECONDS + 1))
    assert book.redeem(token, now=NOW) is not None
    assert not book.pending(token, now=NOW)
    assert not book.pending("made-up", now=NOW) and not book.pending("", now=NOW)


def test_a_record_ends_when_the_password_role_or_merchant_changes(store):
    book = sessions.SessionBook()
    record, _token = book.open(store.get("alice"), now=NOW)
    assert record.matches(store.get("alice"))
    store.add("alice", "ops", "a-new-password", replace=True)
    assert not record.matches(store.get("alice"))
    record, _token = book.open(store.get("alice"), now=NOW)
    store.add("alice", "admin", "a-new-password", replace=True)
    assert not record.matches(store.get("alice"))
    store.remove("alice")
    assert not record.matches(store.get("alice"))


def _client(server_module, base_url: str = "http://testserver") -> TestClient:
    inner = Starlette(routes=[Route("/", lambda request: PlainTextResponse("app"))])
    app = Starlette(
        routes=[Route("/{path:path}", inner)],
        middleware=[Middleware(server_module.SecurityHeaders)],
    )
    return TestClient(app, base_url=base_url)


def test_the_route_sets_an_httponly_strict_cookie_once_per_token(server_module, store):
    record, token = sessions.BOOK.open(store.get("alice"))
    client = _client(server_module)
    origin = {"origin": "http://testserver"}
    reply = client.post(sessions.ROUTE, content=token, headers=origin)
    assert reply.status_code == 204
    cookie = reply.headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE_NAME}=v1.{record.session_id}.")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Max-Age=43200" in cookie and "Secure" not in cookie
    assert reply.headers["x-frame-options"] == "DENY"  # the route is behind the headers too
    assert client.post(sessions.ROUTE, content=token, headers=origin).status_code == 403
    assert client.get(sessions.ROUTE).status_code == 405


def test_the_route_refuses_other_origins_and_marks_https_cookies_secure(server_module, store):
    _record, token = sessions.BOOK.open(store.get("alice"))
    plain = _client(server_module)
    refused = (
        {},
        {"origin": "http://evil.example"},
        {"origin": "null"},
    )
    for headers in refused:
        assert plain.post(sessions.ROUTE, content=token, headers=headers).status_code == 403
    secure = _client(server_module, "https://dash.example")
    reply = secure.post(sessions.ROUTE, content=token, headers={"origin": "https://dash.example"})
    assert reply.status_code == 204 and "Secure" in reply.headers["set-cookie"]


def test_signing_in_again_rotates_and_sign_out_revokes_the_cookie(server_module, store):
    client = _client(server_module)
    origin = {"origin": "http://testserver"}
    first, token = sessions.BOOK.open(store.get("alice"))
    client.post(sessions.ROUTE, content=token, headers=origin)
    second, token = sessions.BOOK.open(store.get("alice"))
    reply = client.post(sessions.ROUTE, content=token, headers=origin)  # holds the first cookie
    assert reply.status_code == 204
    assert sessions.BOOK.get(first.session_id) is None  # rotated: the old one is dead
    assert sessions.BOOK.get(second.session_id) is not None
    reply = client.delete(sessions.ROUTE, headers=origin)
    assert reply.status_code == 204
    assert sessions.BOOK.get(second.session_id) is None
    assert 'cardpulse_session=""' in reply.headers["set-cookie"]
    assert "Max-Age=0" in reply.headers["set-cookie"]


def test_streamlit_log_lines_never_carry_a_session_id(server_module, caplog):
    logger = logging.getLogger("streamlit.runtime.websocket_session_manager")
    session_id = "0f8fad5b-d9cb-469f-a165-70867728950e"
    record = logging.getLogRecordFactory()(
        logger.name, logging.WARNING, __file__, 1, "Session with id %s is already connected!",
        (session_id,), None,
    )  # fmt: skip
    assert session_id not in record.getMessage()
    assert record.getMessage() == "Session with id <session> is already connected!"
    # Records made without a name (logging.makeLogRecord, as Dagster's log manager does).
    assert logging.makeLogRecord({"msg": session_id}).getMessage() == session_id


def test_an_agent_bound_users_record_keeps_its_agent(store):
    """A session restored from its cookie is rebuilt from the record: the record must carry
    the agent a merchant user is bound to, or the restored session would see the whole
    merchant (issue #18's agent scope through issue #15's cookie)."""
    from dataclasses import replace

    store.add("agent7", "merchant", "agent-pass-1", merchant_id="M1", agent_id="AG7")
    book = sessions.SessionBook()
    record, _token = book.open(store.get("agent7"), now=NOW)
    assert record.agent_id == "AG7" and record.merchant_id == "M1"
    assert record.matches(store.get("agent7"))
    assert not record.matches(replace(store.get("agent7"), agent_id="AG8"))
    assert not record.matches(replace(store.get("agent7"), agent_id=None))


def test_records_and_the_key_outlive_the_process_in_a_600_file(
    store, tmp_path, caplog, monkeypatch
):
    # Opening the file forgets records older than MAX_SESSION_HOURS by the clock: the
    # records here are dated NOW, so the clock is NOW too (the real one made this test fail
    # from 16:00 UTC on the day NOW names).
    monkeypatch.setattr(sessions, "_now", lambda: NOW)
    path = tmp_path / "sessions.sqlite"
    book = sessions.SessionBook()
    assert book.keep_in(path)
    kept, token = book.open(store.get("alice"), now=NOW)
    value = book.redeem(token, now=NOW)
    revoked, _token = book.open(store.get("alice"), now=NOW)
    book.revoke(revoked.session_id)
    assert path.stat().st_mode & 0o777 == 0o600
    assert kept.session_id.encode() not in path.read_bytes()  # a hash of it only
    # A new process: same key (the cookie still verifies), same records, revocation kept.
    again = sessions.SessionBook()
    assert again.keep_in(path)
    assert again.session_id_of(value, now=NOW) == kept.session_id
    assert again.get(kept.session_id, now=NOW) == kept
    assert again.get(revoked.session_id, now=NOW) is None
    # Touches are written through at most once a minute; the idle clock survives a restart.
    again.touch(kept.session_id, now=NOW + timedelta(seconds=20))
    third = sessions.SessionBook()
    third.keep_in(path)
    assert third.get(kept.session_id, now=NOW).last_seen_at == NOW
    again.touch(kept.session_id, now=NOW + timedelta(minutes=25))
    fourth = sessions.SessionBook()
    fourth.keep_in(path)
    assert fourth.get(kept.session_id, now=NOW + timedelta(minutes=50)) is not None
    assert fourth.get(kept.session_id, now=NOW + timedelta(minutes=56)) is None  # idle 31 min
    # A process started after the longest session's end forgets the record on opening.
    late = NOW + timedelta(hours=sessions.MAX_SESSION_HOURS, minutes=1)
    monkeypatch.setattr(sessions, "_now", lambda: late)
    fifth = sessions.SessionBook()
    fifth.keep_in(path)
    assert fifth.get(kept.session_id, now=NOW + timedelta(minutes=50)) is None
    # A file that is not a database leaves the book in memory, said once in the log.
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="cardpulse.sessions"):
        assert not sessions.SessionBook().keep_in(broken)
    assert "sessions kept in memory only" in caplog.text


def test_the_server_preloads_what_first_visits_would_import(tmp_path):
    """Starting the server imports the pages' slow libraries in the background (pandas' Styler
    alone takes 0.4 s), so the first sign-in or first visit of a page does not wait for them."""
    script = """
import json, sys, threading
preloaded = ("pandas.io.formats.style", "plotly.express", "openpyxl")
before = [m for m in preloaded if m in sys.modules]
import dashboard.server as server
for thread in threading.enumerate():
    if thread.name == "cardpulse-warm-imports":
        thread.join(60)
after = [m for m in server.WARM_IMPORTS if m in sys.modules]
print(json.dumps([before, after, server.warm_imports(("cardpulse_no_such_module",))]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "CARDPULSE_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert before == []
    assert after == ["pandas.io.formats.style", "plotly.express", "openpyxl"]
    assert failed == ["cardpulse_no_such_module"]
