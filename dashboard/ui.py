"""The frame every page shares: language, who is signed in, the snapshot, and safe querying.

Pages call ``page_context(roles)`` first: it stops the page with a clear message when the role
may not see it or no snapshot is published yet, and hands back the scope that every query of
the page must use. The scope comes only from the server-side session, never from a widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard import auth, data
from dashboard.i18n import DEFAULT_LANGUAGE, LANGUAGES, business_time, column_label, t
from pipelines.settings import home

SESSION_KEY = "_cardpulse_session"  # set only by sign-in code; no widget uses this key
LANGUAGE_KEY = "lang"


@dataclass(frozen=True)
class PageContext:
    lang: str
    session: auth.Session
    scope: data.Scope
    snapshot: data.SnapshotRef

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def query(self, name: str, *args: Any) -> Any:
        """Run a named query in this page's scope; an unreadable snapshot stops the page."""
        try:
            return data.load(name, self.snapshot, self.scope, *args)
        except data.PlatformOnly:
            st.warning(self.t("not_allowed"))
            st.stop()
        except (duckdb.Error, OSError) as error:
            st.warning(self.t("snapshot_unreadable", reason=str(error).splitlines()[0]))
            st.stop()


def language() -> str:
    chosen = st.session_state.get(LANGUAGE_KEY, DEFAULT_LANGUAGE)
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def language_toggle() -> str:
    """Chinese by default; ``?lang=en`` or the sidebar toggle switches to English.

    The toggle cannot be cleared (``required``): clicking the language already chosen keeps
    it. Its state is written only before the widget exists; Streamlit refuses a write to a
    widget's key after it is drawn in the same run, and that used to blank the page.
    """
    if st.session_state.get(LANGUAGE_KEY) not in LANGUAGES:
        requested = st.query_params.get("lang", DEFAULT_LANGUAGE)
        st.session_state[LANGUAGE_KEY] = requested if requested in LANGUAGES else DEFAULT_LANGUAGE
    st.sidebar.segmented_control(
        t("language", language()),
        options=list(LANGUAGES),
        format_func=LANGUAGES.get,
        key=LANGUAGE_KEY,
        required=True,
    )
    return language()


def user_store() -> auth.UserStore:
    return auth.UserStore(home().users_file)


def current_session() -> auth.Session | None:
    """The signed-in session, refreshed; an expired or revoked one is ended here."""
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, auth.Session):
        return None
    refreshed = auth.refresh_session(session, user_store())
    if refreshed is None:
        del st.session_state[SESSION_KEY]
        st.session_state["_cardpulse_expired"] = True
        if session.via == "oidc":
            # The provider's identity cookie lives for weeks: drop it too, or the next run
            # would sign the same person straight back in and the session would never expire.
            st.logout()
        return None
    st.session_state[SESSION_KEY] = refreshed
    return refreshed


def sign_in(user: auth.User, via: str = "password", signed_in_at: datetime | None = None) -> None:
    st.session_state[SESSION_KEY] = auth.start_session(user, via, signed_in_at=signed_in_at)
    st.session_state.pop("_cardpulse_expired", None)


def sign_out() -> None:
    """End the session; a single sign-on one also ends at the provider.

    ``st.logout`` sends the browser to the provider and back on a new session; a rerun here
    would drop that redirect and leave the identity cookie to sign the person back in.
    """
    session = st.session_state.pop(SESSION_KEY, None)
    if isinstance(session, auth.Session) and session.via == "oidc":
        st.logout()
        st.stop()
    st.rerun()


def page_context(roles: tuple[str, ...]) -> PageContext:
    """1. Require a session, 2. require one of ``roles``, 3. require a published snapshot."""
    lang = language()
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, auth.Session):
        st.warning(t("session_expired", lang))
        st.stop()
    if session.role not in roles:
        st.warning(t("not_allowed", lang))
        st.stop()
    scope = data.scope_for(session.role, session.merchant_id)
    snapshot = data.snapshot_ref(home().snapshot)
    if snapshot.version is None:
        st.info(t("no_snapshot", lang))
        st.stop()
    return PageContext(lang, session, scope, snapshot)


def build_caption(ctx: PageContext) -> None:
    """One line under the title: what day the data is as of and when it was built."""
    builds = ctx.query("build_info")
    if builds.empty:
        return
    last = builds.iloc[0]
    built = last.get("finished_at") if pd.notna(last.get("finished_at")) else last.get("started_at")
    as_of = last.get("as_of")
    st.caption(
        ctx.t(
            "data_as_of",
            as_of=str(as_of)[:10] if pd.notna(as_of) else "—",
            built=business_time(built.to_pydatetime()) if pd.notna(built) else "—",
        )
    )


def empty_notice(ctx: PageContext, frame: pd.DataFrame | None, table: str) -> bool:
    """Show the 'not built yet' note and return True when there is nothing to draw."""
    if frame is None or len(frame) == 0:
        st.info(ctx.t("empty_table", table=table))
        return True
    return False


def column_config(
    ctx: PageContext,
    frame: pd.DataFrame,
    money: tuple[str, ...] = (),
    percent: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Headers in the page's language; money as ¥ with thousands separators; shares as %."""
    config: dict[str, Any] = {}
    for column in frame.columns:
        label = column_label(str(column), ctx.lang)
        if column in money:
            config[column] = st.column_config.NumberColumn(label, format="¥%,.2f")
        elif column in percent:
            config[column] = st.column_config.NumberColumn(label, format="percent")
        elif pd.api.types.is_float_dtype(frame[column]):
            config[column] = st.column_config.NumberColumn(label, format="%,.2f")
        else:
            config[column] = label
    return config


def localized(ctx: PageContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Show ``reason`` in the page language when the stage wrote ``reason_zh``/``reason_en``."""
    wanted = f"reason_{ctx.lang}"
    if wanted in frame.columns:
        frame = frame.assign(reason=frame[wanted].where(frame[wanted].notna(), frame.get("reason")))
    return frame.drop(columns=[c for c in ("reason_zh", "reason_en") if c in frame.columns])
