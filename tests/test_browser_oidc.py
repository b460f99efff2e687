"""Single sign-on for real: ``st.login`` against a running OpenID Connect provider.

The provider is ``oidc-provider-mock`` (a real OIDC server: discovery, authorization form,
token endpoint, signed ID tokens) on a free port in this process; the dashboard is the real
Streamlit server started by ``serve`` with ``$CARDPULSE_HOME/.streamlit/secrets.toml``
pointing at it (``serve`` runs Streamlit from ``$CARDPULSE_HOME``, where Streamlit looks for
``.streamlit/secrets.toml``). Chromium clicks the SSO button, types an e-mail into the
provider's form and comes back through ``/oauth2callback``.

The provider proves the e-mail; the users file decides the rest: a known e-mail lands with
that user's role and merchant scope, an unknown one is refused with a message.
"""

from __future__ import annotations

import os
import secrets
import signal

import dashboard_fixtures as fx
import pytest
from test_browser_dashboard import (
    CHROMIUM,
    CHROMIUM_ARGS,
    VIEWPORT,
    free_port,
    settle,
    wait_healthy,
)

from dashboard import auth
from dashboard.command import serve
from dashboard.i18n import t

MERCHANT_EMAIL = "shop.owner@example.com"
STRANGER_EMAIL = "stranger@example.com"

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian chromium (apt-get install chromium)"
    ),
    # The mock provider is built on Authlib APIs Authlib itself now calls deprecated.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture(scope="module")
def provider():
    """The identity provider: any client id/secret is accepted (no registration needed),
    and whatever the user types as subject becomes the ``email`` claim."""
    oidc_provider_mock = pytest.importorskip("oidc_provider_mock")
    with oidc_provider_mock.run_server_in_thread() as server:
        yield f"http://localhost:{server.server_port}"


@pytest.fixture(scope="module")
def sso_dashboard(tmp_path_factory, provider):
    home = tmp_path_factory.mktemp("oidc_home")
    fx.build_snapshot(home / "snapshot.duckdb")
    # The e-mail is the user name; the password is never used on this path.
    auth.UserStore(home / "users.json").add(
        MERCHANT_EMAIL, "merchant", auth.generate_password(), merchant_id="M001"
    )
    port = free_port()
    url = f"http://localhost:{port}"
    (home / ".streamlit").mkdir()
    (home / ".streamlit" / "secrets.toml").write_text(
        "[auth]\n"
        f'redirect_uri = "{url}/oauth2callback"\n'
        f'cookie_secret = "{secrets.token_urlsafe(32)}"\n'
        'client_id = "cardpulse-dashboard"\n'
        f'client_secret = "{secrets.token_urlsafe(16)}"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n',
        encoding="utf-8",
    )
    previous = os.environ.get("CARDPULSE_HOME")
    os.environ["CARDPULSE_HOME"] = str(home)
    server = serve(port, "127.0.0.1")
    try:
        wait_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        if previous is None:
            os.environ.pop("CARDPULSE_HOME", None)
        else:
            os.environ["CARDPULSE_HOME"] = previous


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in_with_sso(browser, url: str, provider: str, email: str):
    """1. Open the dashboard, 2. click the SSO button, 3. authorize ``email`` at the provider,
    4. wait until the browser is back on the dashboard. Each call is a fresh cookie jar."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url)
    page.get_by_role("button", name=t("sign_in_sso")).click()
    page.wait_for_url(f"{provider}/oauth2/authorize*", timeout=20_000)
    page.locator("input[name=sub]").fill(email)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{url}/**", timeout=20_000)
    return context, page


def test_sso_user_in_the_users_file_lands_in_its_merchant_scope(sso_dashboard, provider, browser):
    context, page = sign_in_with_sso(browser, sso_dashboard, provider, MERCHANT_EMAIL)
    page.get_by_role("heading", name=t("page_overview")).wait_for(timeout=20_000)
    settle(page)
    page.locator("svg text", has_text="Q币 100 元").first.wait_for(timeout=20_000)
    sidebar = page.get_by_test_id("stSidebar").inner_text()
    assert t("signed_in_as", name=MERCHANT_EMAIL, role=t("role_merchant")) in sidebar
    # A merchant has two pages: its overview and its profit (issue #18), nothing else.
    links = page.get_by_test_id("stSidebarNav").get_by_role("link").all_inner_texts()
    assert {text.split()[-1] for text in links} == {t("page_overview"), t("page_profit")}
    assert page.get_by_test_id("stException").count() == 0
    assert page.get_by_test_id("stAlertContentError").count() == 0
    content = page.content()
    assert "SKU-QQ100" in content or "Q币 100 元" in content
    assert "机密礼品卡" not in content and "M004" not in content
    # Signing out ends the provider session too and drops the identity cookie: a reload
    # afterwards shows the sign-in page, not the merchant's numbers.
    page.get_by_test_id("stSidebar").get_by_role("button", name=t("sign_out")).click()
    page.wait_for_url(f"{provider}/oauth2/end_session*", timeout=20_000)
    page.get_by_role("button", name="End session").click()
    page.get_by_role("heading", name=t("sign_in_title")).wait_for(timeout=20_000)
    page.reload()
    page.get_by_role("heading", name=t("sign_in_title")).wait_for(timeout=20_000)
    assert "Q币 100 元" not in page.content()
    context.close()


def test_sso_identity_not_in_the_users_file_is_refused(sso_dashboard, provider, browser):
    context, page = sign_in_with_sso(browser, sso_dashboard, provider, STRANGER_EMAIL)
    refusal = t("sso_unknown", email=STRANGER_EMAIL)
    page.get_by_text(refusal).wait_for(timeout=20_000)
    settle(page)
    assert page.get_by_role("heading", name=t("page_overview")).count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert "SKU-QQ100" not in page.content() and "Q币 100 元" not in page.content()
    assert page.get_by_test_id("stException").count() == 0
    context.close()
