"""Single sign-on (``st.login``) rules, headless: which identity maps to which account, and
that a provider's long-lived cookie cannot outlast the dashboard's own session limits.

The full round trip through a real OpenID Connect provider is tests/test_browser_oidc.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dashboard_fixtures as fx
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import auth, ui
from dashboard.i18n import t

APP = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
AUTH_SECRETS = {
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret-but-long-enough-for-tests",
        "client_id": "cardpulse",
        "client_secret": "secret",
        "server_metadata_url": "http://localhost:9/.well-known/openid-configuration",
    }
}


@pytest.fixture(scope="module")
def built_home(tmp_path_factory):
    root = tmp_path_factory.mktemp("sso_home")
    fx.build_snapshot(root / "snapshot.duckdb")
    store = auth.UserStore(root / "users.json")
    store.add("peng@example.com", "pricing", auth.generate_password())
    store.add("shop@example.com", "merchant", auth.generate_password(), merchant_id="M001")
    return root


@pytest.fixture
def home(built_home, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(built_home))
    return built_home


def sso_app(claims: dict | None, configured: bool = True) -> AppTest:
    """The app as the browser would run it after the provider sent ``claims`` back."""
    app = AppTest.from_file(str(APP), default_timeout=30)
    if configured:
        app.secrets = dict(AUTH_SECRETS)
    app.user = {"is_logged_in": True, **claims} if claims is not None else {}
    return app


def now_claim(hours_ago: float = 0) -> int:
    return int((datetime.now(UTC) - timedelta(hours=hours_ago)).timestamp())


# --------------------------------------------------------------------------- mapping rules


@pytest.mark.parametrize(
    ("email", "verified", "expected"),
    [
        ("peng@example.com", True, ("peng@example.com", "ok")),
        ("  Peng@Example.COM ", None, ("peng@example.com", "ok")),
        ("nobody@example.com", True, (None, "unknown")),
        ("peng@example.com", False, (None, "unverified")),
        ("peng@example.com", "false", (None, "unverified")),
        ("", True, (None, "no_email")),
    ],
)
def test_identity_maps_to_an_account_only_by_a_verified_known_email(
    tmp_path, email, verified, expected
):
    store = auth.UserStore(tmp_path / "users.json")
    store.add("peng@example.com", "pricing", auth.generate_password())
    outcome = auth.user_for_identity(store, email, verified)
    assert (outcome.user.name if outcome.user else None, outcome.reason) == expected


def test_two_accounts_differing_only_in_case_are_not_guessed_between(tmp_path):
    store = auth.UserStore(tmp_path / "users.json")
    store.add("Ann@example.com", "ops", auth.generate_password())
    store.add("ann@Example.com", "admin", auth.generate_password())
    assert auth.user_for_identity(store, "ANN@EXAMPLE.COM").reason == "unknown"
    assert auth.user_for_identity(store, "ann@Example.com").user.role == "admin"


# --------------------------------------------------------------------------- the app


def test_sign_in_page_offers_sso_only_when_configured(home):
    plain = AppTest.from_file(str(APP), default_timeout=30).run()
    assert t("sign_in_sso") not in [b.label for b in plain.button]
    configured = sso_app(None).run()
    assert t("sign_in_sso") in [b.label for b in configured.button]


def test_known_identity_lands_with_the_users_file_role_and_scope(home):
    app = sso_app({"email": "Shop@example.com", "email_verified": True, "iat": now_claim()})
    app.run()
    assert not app.exception and not app.error
    assert app.title[0].value == t("page_overview")
    session = app.session_state[ui.SESSION_KEY]
    assert (session.name, session.role, session.merchant_id, session.via) == (
        "shop@example.com",
        "merchant",
        "M001",
        "oidc",
    )
    assert t("signed_in_as", name="shop@example.com", role=t("role_merchant")) in [
        c.value for c in app.sidebar.caption
    ]


def test_identity_configured_off_is_ignored(home):
    app = sso_app({"email": "peng@example.com", "iat": now_claim()}, configured=False).run()
    assert app.title[0].value == t("sign_in_title")
    assert ui.SESSION_KEY not in app.session_state


@pytest.mark.parametrize(
    ("claims", "message"),
    [
        ({"email": "stranger@example.com"}, t("sso_unknown", email="stranger@example.com")),
        (
            {"email": "peng@example.com", "email_verified": False},
            t("sso_unverified", email="peng@example.com"),
        ),
        ({"name": "No Mail"}, t("sso_no_email")),
    ],
)
def test_unmapped_identity_is_refused_with_a_reason(home, claims, message):
    app = sso_app({**claims, "iat": now_claim()}).run()
    assert not app.exception
    assert [w.value for w in app.warning] == [message]
    assert not app.title  # no page at all, not even the sign-in form
    assert ui.SESSION_KEY not in app.session_state
    assert "sso_sign_out" in {b.key for b in app.button}


def test_identity_older_than_the_longest_session_must_sign_in_again(home):
    issued = now_claim(hours_ago=auth.MAX_SESSION_HOURS + 1)
    app = sso_app({"email": "peng@example.com", "iat": issued}).run()
    assert app.title[0].value == t("sign_in_title")
    assert t("session_expired") in [i.value for i in app.info]
    assert ui.SESSION_KEY not in app.session_state


def test_idle_sso_session_ends_and_is_not_revived_by_the_cookie(home):
    app = sso_app({"email": "peng@example.com", "iat": now_claim(hours_ago=1)})
    user = auth.UserStore(home / "users.json").get("peng@example.com")
    idle_since = datetime.now(UTC) - timedelta(minutes=auth.IDLE_MINUTES + 1)
    app.session_state[ui.SESSION_KEY] = auth.start_session(user, "oidc", now=idle_since)
    app.run()
    assert app.title[0].value == t("sign_in_title")
    assert t("session_expired") in [i.value for i in app.info]
    assert ui.SESSION_KEY not in app.session_state


def test_sso_signed_in_time_comes_from_the_provider(home):
    issued = now_claim(hours_ago=2)
    app = sso_app({"email": "peng@example.com", "iat": issued}).run()
    session = app.session_state[ui.SESSION_KEY]
    assert session.signed_in_at == datetime.fromtimestamp(issued, UTC)
    assert session.last_seen_at - session.signed_in_at > timedelta(hours=1)
