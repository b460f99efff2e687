"""CardPulse dashboard entry point: ``streamlit run dashboard/app.py`` (or ``cardpulse dashboard``).

The entry point is the frame: language toggle, sign-in, and the pages the signed-in role may
open. A merchant gets its overview and profit pages (only the profit page when bound to an agent);
operations, pricing and admin see every page.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import streamlit as st

# `streamlit run` puts this folder on sys.path, not the project; keep `import dashboard` working
# from a plain checkout as well as from the installed package.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from dashboard import auth, ui  # noqa: E402
from dashboard.i18n import t  # noqa: E402

PAGES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # key: (file, url path, icon, roles that may open it)
    "page_overview": (
        "app_pages/overview.py",
        "overview",
        ":material/storefront:",
        ("merchant", "ops", "pricing", "admin"),
    ),
    "page_profit": (
        "app_pages/profit.py",
        "profit",
        ":material/account_balance_wallet:",
        ("merchant", "ops", "pricing", "admin"),
    ),
    "page_operations": (
        "app_pages/operations.py",
        "operations",
        ":material/inventory_2:",
        ("ops", "pricing", "admin"),
    ),
    "page_pricing": (
        "app_pages/pricing.py",
        "pricing",
        ":material/sell:",
        ("ops", "pricing", "admin"),
    ),
    "page_risk": (
        "app_pages/risk.py",
        "risk",
        ":material/gpp_maybe:",
        ("ops", "admin"),
    ),
    "page_health": (
        "app_pages/health.py",
        "health",
        ":material/monitor_heart:",
        ("ops", "pricing", "admin"),
    ),
}
# A merchant user bound to an agent sees its agent's orders, which only these pages can scope.
AGENT_PAGES = ("page_profit",)


def _oidc_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all: OIDC is simply off
        return False


def _oidc_session() -> bool:
    """Accept an identity from ``st.login`` when its e-mail is a user in the users file.

    The provider only proves who the person is; role and merchant come from the users file.
    An identity that maps to no account is told why and offered a sign-out, never let in.
    """
    if not _oidc_configured() or not st.user.get("is_logged_in"):
        return False
    lang = ui.language()
    email = str(st.user.get("email") or "").strip()
    outcome = auth.user_for_identity(ui.user_store(), email, st.user.get("email_verified"))
    user = outcome.user
    if user is None:
        st.warning(t(f"sso_{outcome.reason}", lang, email=email))
        if st.button(t("sign_out", lang), key="sso_sign_out"):
            st.logout()
        st.stop()
    issued_at = _issued_at(st.user.get("iat"))
    if auth.start_session(user, "oidc", signed_in_at=issued_at).expired():
        # The identity cookie outlived the longest session: sign in at the provider again.
        st.session_state["_cardpulse_expired"] = True
        st.logout()
        return False
    ui.sign_in(user, via="oidc", signed_in_at=issued_at)
    return True


def _issued_at(claim: object) -> datetime | None:
    """The ID token's ``iat`` (seconds since the epoch) as a time, None when absent or bad."""
    try:
        return datetime.fromtimestamp(float(claim), UTC)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def sign_in_page() -> None:
    lang = ui.language()
    st.title(t("sign_in_title", lang))
    if st.session_state.pop("_cardpulse_expired", False):
        st.info(t("session_expired", lang))
    store = ui.user_store()
    if not store.users():
        st.warning(t("no_users", lang))
    if _oidc_configured():
        st.button(t("sign_in_sso", lang), on_click=st.login)
        st.divider()
    with st.form("sign_in", clear_on_submit=False):
        st.text_input(t("username", lang), key="sign_in_name")
        st.text_input(t("password", lang), type="password", key="sign_in_password")
        st.form_submit_button(t("sign_in", lang), type="primary", on_click=_check_password)
    refused = st.session_state.pop(REFUSED_KEY, None)
    if refused is not None:
        st.error(refused)
    _preload_chart_code()


REFUSED_KEY = "_cardpulse_sign_in_refused"


def _check_password() -> None:
    """The form's callback: it runs before the script, so an accepted password draws the
    page asked for in this very run (no second run through the sign-in form first; issue #15),
    with the overview's queries already started in the background."""
    lang = ui.language()
    # Failures count per client address and name: a stranger guessing a name cannot lock its
    # owner out. Behind a reverse proxy every user shares the proxy's address (docs/dashboard.md).
    outcome = ui.user_store().authenticate(
        st.session_state.get("sign_in_name", "").strip(),
        st.session_state.get("sign_in_password", ""),
        client=ui.client_address(),
    )
    if outcome.user is not None:
        ui.sign_in(outcome.user)
        ui.prefetch_overview()
    elif outcome.reason == "locked":
        minutes = max(1, -(-outcome.wait_seconds // 60))
        st.session_state[REFUSED_KEY] = t("locked", lang, minutes=minutes)
    elif outcome.reason == "slow_down":
        st.session_state[REFUSED_KEY] = t("slow_down", lang, seconds=outcome.wait_seconds)
    else:
        st.session_state[REFUSED_KEY] = t("bad_credentials", lang)


def _preload_chart_code() -> None:
    """While the person types, let the browser fetch and compile the code of the elements the
    overview draws (Plotly alone is megabytes of script; Streamlit loads each kind of element's
    code the first time one shows): one of each, empty and hidden. Without this the first page
    after signing in waits for it (issue #15: sign-in <= 2 s)."""
    import pandas as pd
    import plotly.graph_objects as go

    with st.container(key="preload_chart_code"):
        # The overview's kinds of trace: lines with a band, bars, a pie.
        figure = go.Figure([go.Scatter(fill="tonexty"), go.Bar(orientation="h"), go.Pie()])
        st.plotly_chart(figure, key="preload_chart")
        st.dataframe(pd.DataFrame({"": []}), key="preload_table")
        # Its filters, headline numbers and tabs.
        hidden = {"label_visibility": "collapsed"}
        with st.expander("-"):
            st.date_input("-", value=None, key="preload_dates", **hidden)
            st.multiselect("-", [], key="preload_multiselect", **hidden)
            st.selectbox("-", [], key="preload_selectbox", **hidden)
        st.metric("-", 0, 0)
        st.tabs(["-"])
    st.html("<style>.st-key-preload_chart_code { display: none; }</style>")


def main() -> None:
    # An emoji favicon is drawn in the browser; a ":material/..." one is fetched from
    # fonts.gstatic.com, which mainland China blocks.
    st.set_page_config(page_title="CardPulse", page_icon="📈", layout="wide")
    lang = ui.language_toggle()
    session = ui.current_session()
    if session is None and _oidc_session():
        session = ui.current_session()
    ui.cookie_step()
    if session is None:
        # Every page's address shows the sign-in form (no "Page not found" over it), and
        # after signing in the same address opens the page that was asked for.
        sign_in_pages = [
            st.Page(sign_in_page, title=t("sign_in", lang), url_path="sign-in", default=True),
            *(
                st.Page(sign_in_page, title=t(key, lang), url_path=url)
                for key, (_path, url, _icon, _roles) in PAGES.items()
            ),
        ]
        st.navigation(sign_in_pages, position="hidden").run()
        return
    pages = [
        st.Page(path, title=t(key, lang), url_path=url, icon=icon, default=(url == "overview"))
        for key, (path, url, icon, roles) in PAGES.items()
        if session.role in roles and (not getattr(session, "agent_id", None) or key in AGENT_PAGES)
    ]
    page = st.navigation(pages)
    st.sidebar.caption(
        t("signed_in_as", lang, name=session.name, role=t(f"role_{session.role}", lang))
    )
    if st.sidebar.button(t("sign_out", lang), key="sign_out"):
        ui.sign_out()
    page.run()


main()
