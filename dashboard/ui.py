"""The frame every page shares: language, who is signed in, the snapshot, and safe querying.

Pages call ``page_context(roles)`` first: it stops the page with a clear message when the role
may not see it or no snapshot is published yet, and hands back the scope that every query of
the page must use. The scope comes only from the server-side session, never from a widget.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard import auth, prefetch, sessions
from dashboard.data import access, queries
from dashboard.data.snapshot import SnapshotRef, snapshot_ref
from dashboard.i18n import (
    CODE_COLUMNS,
    DEFAULT_LANGUAGE,
    LANGUAGES,
    business_time,
    code_label,
    column_label,
    message_label,
    t,
)
from pipelines.settings import home

SESSION_KEY = "_cardpulse_session"  # set only by sign-in code; no widget uses this key
COOKIE_STEP_KEY = "_cardpulse_cookie_step"  # ("POST", hand-off token) or ("DELETE", "")
LANGUAGE_KEY = "lang"

# Sends the single-use hand-off token to dashboard/server.py's cookie route, or asks it to
# clear the cookie; the HttpOnly cookie itself never reaches page script. Only a sign-out
# reports back (a rerun of its fragment): a sign-in's step is over once the route has redeemed
# the token, which the server sees itself, so the page just drawn gets no extra run (#15).
_COOKIE_JS = """
export default function (component) {
  const { data, setTriggerValue } = component;
  if (!data || !data.method) { return; }
  const report = (status) => { if (data.method !== "POST") setTriggerValue("done", status); };
  fetch(data.url, {
    method: data.method, body: data.method === "POST" ? data.token : null,
    credentials: "same-origin", cache: "no-store",
  }).then((reply) => report(reply.status), () => report(0));
}
"""
_cookie_component = st.components.v2.component("cardpulse_session_cookie", js=_COOKIE_JS)


@dataclass(frozen=True)
class PageContext:
    lang: str
    session: auth.Session
    scope: access.Scope
    snapshot: SnapshotRef

    def t(self, key: str, **values: object) -> str:
        return t(key, self.lang, **values)

    def query(self, name: str, *args: Any) -> Any:
        """Run a named query in this page's scope; an unreadable snapshot stops the page."""
        try:
            return queries.load(name, self.snapshot, self.scope, *args)
        except access.PlatformOnly:
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


def client_address() -> str | None:
    """The browser connection's address (None on localhost, or when Streamlit has none)."""
    address = st.context.ip_address
    return address if isinstance(address, str) and address else None


def user_store() -> auth.UserStore:
    return auth.UserStore(home().users_file)


def _connection() -> str | None:
    """This websocket's ``Sec-WebSocket-Key``: a random value per connection."""
    return st.context.headers.get("sec-websocket-key") or None


def _cookie_session_id() -> str | None:
    return sessions.BOOK.session_id_of(st.context.cookies.get(sessions.COOKIE_NAME))


def current_session() -> auth.Session | None:
    """The signed-in session, refreshed; an expired or revoked one is ended here.

    1. A tab without a session takes one from a valid session cookie (a reload, a new tab, a
       deep link). 2. A session bound to a server-side record runs only while the record is
       alive and only on the connection that signed in or one presenting the record's cookie
       (a websocket resuming the Streamlit session by its id alone gets the sign-in form).
       3. Idle, too old, or the account removed or changed (role, merchant, password): ended.
    """
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, auth.Session):
        return _session_from_cookie()
    if session.session_id is not None:
        connection = _connection()
        if connection != session.connection and _cookie_session_id() != session.session_id:
            # Not the browser that signed in: this connection gets nothing, and the owner's
            # own connection signs in again from its cookie.
            del st.session_state[SESSION_KEY]
            return None
        record = sessions.BOOK.touch(session.session_id)
        if record is None or not record.matches(user_store().get(session.name)):
            sessions.BOOK.revoke(session.session_id)
            return _ended(session)
        if connection != session.connection:
            session = replace(session, connection=connection)
    refreshed = auth.refresh_session(session, user_store())
    if refreshed is None:
        sessions.BOOK.revoke(session.session_id)
        return _ended(session)
    st.session_state[SESSION_KEY] = refreshed
    return refreshed


def _ended(session: auth.Session) -> None:
    del st.session_state[SESSION_KEY]
    st.session_state["_cardpulse_expired"] = True
    if session.session_id is not None:
        st.session_state[COOKIE_STEP_KEY] = ("DELETE", "")
    if session.via == "oidc":
        # The provider's identity cookie lives for weeks: drop it too, or the next run
        # would sign the same person straight back in and the session would never expire.
        st.logout()
    return None


def _session_from_cookie() -> auth.Session | None:
    session_id = _cookie_session_id() if sessions.cookie_route_served() else None
    if session_id is None:
        return None
    record = sessions.BOOK.touch(session_id)
    if record is None or not record.matches(user_store().get(record.name)):
        sessions.BOOK.revoke(session_id)
        return None
    session = auth.Session(
        record.name,
        record.role,
        record.merchant_id,
        record.signed_in_at,
        record.last_seen_at,
        record.via,
        agent_id=record.agent_id,
        session_id=record.session_id,
        connection=_connection(),
    )
    st.session_state[SESSION_KEY] = session
    st.session_state.pop("_cardpulse_expired", None)
    return session


def sign_in(user: auth.User, via: str = "password", signed_in_at: datetime | None = None) -> None:
    """Start a session; served through server.py, also a server-side record and its cookie
    (sent by :func:`cookie_step` on the next run). A single sign-on identity already lives in
    Streamlit's own cookie, which Streamlit binds to the websocket itself."""
    session = auth.start_session(user, via, signed_in_at=signed_in_at)
    if via == "password" and sessions.cookie_route_served():
        old = st.session_state.get(SESSION_KEY)
        if isinstance(old, auth.Session):
            sessions.BOOK.revoke(old.session_id)
        record, token = sessions.BOOK.open(user, via, signed_in_at=signed_in_at)
        session = replace(session, session_id=record.session_id, connection=_connection())
        st.session_state[COOKIE_STEP_KEY] = ("POST", token)
    st.session_state[SESSION_KEY] = session
    st.session_state.pop("_cardpulse_expired", None)


def prefetch_overview() -> None:
    """Start the overview's queries for the session just signed in (``dashboard/prefetch.py``):
    the same scope and snapshot ``page_context`` will give the page."""
    session = st.session_state.get(SESSION_KEY)
    if not isinstance(session, auth.Session) or session.role not in access.ROLES:
        return
    scope = access.scope_for(session.role, session.merchant_id, getattr(session, "agent_id", None))
    prefetch.overview(snapshot_ref(home().snapshot), scope)


def sign_out() -> None:
    """End the session in every tab (its record is revoked) and clear the cookie; a single
    sign-on one also ends at the provider.

    ``st.logout`` sends the browser to the provider and back on a new session; a rerun here
    would drop that redirect and leave the identity cookie to sign the person back in.
    """
    session = st.session_state.pop(SESSION_KEY, None)
    if isinstance(session, auth.Session) and session.session_id is not None:
        sessions.BOOK.revoke(session.session_id)
        st.session_state[COOKIE_STEP_KEY] = ("DELETE", "")
    if isinstance(session, auth.Session) and session.via == "oidc":
        st.logout()
        st.stop()
    st.rerun()


def cookie_step() -> None:
    """Set or clear the session cookie through server.py's route, once; call on every run."""
    step = st.session_state.get(COOKIE_STEP_KEY)
    if not step:
        return
    method, token = step
    if method == "POST" and not sessions.BOOK.pending(token):
        st.session_state.pop(COOKIE_STEP_KEY, None)  # redeemed (the cookie is set) or stale
        return
    with st.sidebar:
        _cookie_fragment()


def cookie_component_key(method: str, token: str) -> str:
    """The cookie component's key, new for each step. Not the token's own letters: a URL-safe
    token can hold ``_`` and Streamlit refuses a component key with ``__`` in it (about one
    sign-in in sixty crashed so, when the key ended ``_`` and the token began with one)."""
    return f"cardpulse_cookie_{method}_{hashlib.sha256(token.encode()).hexdigest()[:12]}"


@st.fragment
def _cookie_fragment() -> None:
    """The page component that sends the step; a sign-out's answer reruns this fragment alone,
    not the page just drawn."""
    step = st.session_state.get(COOKIE_STEP_KEY)
    if not step:
        return
    method, token = step
    result = _cookie_component(
        data={"method": method, "token": token, "url": sessions.ROUTE},
        key=cookie_component_key(method, token),
        on_done_change=lambda: None,
    )
    if result.get("done") is not None:
        st.session_state.pop(COOKIE_STEP_KEY, None)


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
    scope = access.scope_for(session.role, session.merchant_id, getattr(session, "agent_id", None))
    snapshot = snapshot_ref(home().snapshot)
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


# What each empty-state note calls a table: its page heading, then its warehouse name.
TABLE_TITLES = {
    "restock_plan": "restock_plan",
    "funding_plan": "funding_plan",
    "price_recommendations": "recommendations",
    "fct_supplier_performance": "supplier_performance",
    "dbt_results": "dbt_tests",
    "forecast_backtest": "forecast_accuracy",
    "fct_daily_merchant_sales": "daily_trend",
}

# Whole quantities (keys, units, orders, rows): no decimals, thousands separators.
INTEGER_COLUMNS = frozenset(
    {
        "units", "orders", "rows", "count", "series", "selected", "failures",
        "on_hand", "on_order", "expiring_7d", "safety_stock", "reorder_point", "order_qty",
        "batch_size", "batches", "min_order_qty", "po_lines", "po_total_qty",
        "usable_position", "expiry_cap", "topup_skus", "skus_without_cost", "keys",
        "approved_count", "quantity",
    }
)  # fmt: skip
# Identifiers that are numbers but must not get thousands separators.
PLAIN_COLUMNS = frozenset({"line", "build_id", "po_id"})
# Column format -> Streamlit NumberColumn format.
FORMATS = {
    "money": "¥%,.2f",
    "money0": "¥%,.0f",
    "percent": "percent",
    "int": "%,d",
    "float1": "%,.1f",
    "float2": "%,.2f",
    "plain": "%d",
}
# What a missing value reads as (Streamlit would write "None").
MISSING = "—"


def table_title(ctx: PageContext, table: str) -> str:
    key = TABLE_TITLES.get(table)
    return (
        f"{ctx.t(key)}（{table}）"
        if key and ctx.lang == "zh"
        else (f"{ctx.t(key)} ({table})" if key else table)
    )


def empty_notice(ctx: PageContext, frame: pd.DataFrame | None, table: str) -> bool:
    """Say why there is nothing to draw (never built, or built and empty); True when empty."""
    if frame is None or len(frame) == 0:
        qualified = table if "." in table else f"analytics.{table}"
        built = qualified in ctx.query("built_tables")
        st.info(
            ctx.t("empty_built_table" if built else "empty_table", table=table_title(ctx, table))
        )
        return True
    return False


def _moment_text(value: Any, date_only: bool) -> str | None:
    # pd.NaT is a datetime too: a column of times none of which is set yet (NaT) stays empty
    if value is None or value is pd.NaT or (not isinstance(value, date) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp | datetime):
        moment = pd.Timestamp(value).to_pydatetime()
        return business_time(moment)[:10] if date_only else business_time(moment)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _column_format(
    column: str,
    series: pd.Series,
    money_columns: tuple[str, ...],
    percent_columns: tuple[str, ...],
    formats: dict[str, str],
) -> str | None:
    if column in formats:
        return formats[column]
    if column in money_columns:
        return "money"
    if column in percent_columns:
        return "percent"
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return None
    if column in PLAIN_COLUMNS:
        return "plain"
    if column in INTEGER_COLUMNS or pd.api.types.is_integer_dtype(series):
        return "int"
    return "float2"


def display(
    ctx: PageContext,
    frame: pd.DataFrame,
    money: tuple[str, ...] = (),
    percent: tuple[str, ...] = (),
    formats: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A frame as a person reads it, and its column settings; the data itself is not touched.

    1. Headers in the page language. 2. Codes as words (categories, channels, provinces,
    statuses, guardrails, ...). 3. Times as Asia/Shanghai minutes, dates as dates. 4. Numbers
    formatted by kind: money as ¥, shares as %, quantities as whole numbers with separators.
    Missing values stay missing: pass ``placeholder=MISSING`` to the element (``table`` does).
    """
    formats = formats or {}
    shown = frame.copy()
    config: dict[str, Any] = {}
    for column in frame.columns:
        name = str(column)
        label = column_label(name, ctx.lang)
        series = frame[column]
        kind = CODE_COLUMNS.get(name)
        if kind and not pd.api.types.is_numeric_dtype(series):
            shown[column] = series.map(
                lambda code, kind=kind: None if _missing(code) else code_label(kind, code, ctx.lang)
            )
            config[column] = label
        elif name == "message":
            shown[column] = series.map(
                lambda text: None if _missing(text) else message_label(text, ctx.lang)
            )
            config[column] = label
        elif _holds_moments(series):
            present = pd.to_datetime(series, errors="coerce").dropna()
            date_only = bool((present == present.dt.normalize()).all())
            shown[column] = series.map(lambda v, d=date_only: _moment_text(v, d))
            config[column] = label
        else:
            chosen = _column_format(name, series, money, percent, formats)
            config[column] = (
                st.column_config.NumberColumn(label, format=FORMATS[chosen]) if chosen else label
            )
    return shown, config


def _missing(value: Any) -> bool:
    try:
        return value is None or bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array is not one missing value
        return False


def _holds_moments(series: pd.Series) -> bool:
    """Timestamps, or a column of Python dates/times (DuckDB DATE columns arrive so)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        return True
    if series.dtype != object or series.isna().all():
        return False
    return bool(series.map(lambda v: isinstance(v, date) or _missing(v)).all())


def table(
    ctx: PageContext,
    frame: pd.DataFrame,
    key: str,
    money: tuple[str, ...] = (),
    percent: tuple[str, ...] = (),
    formats: dict[str, str] | None = None,
    style: Callable[[pd.DataFrame], Any] | None = None,
    **options: Any,
) -> None:
    """``st.dataframe`` of :func:`display`'s frame; ``style`` turns it into a Styler."""
    shown, config = display(ctx, frame, money, percent, formats)
    st.dataframe(
        style(shown) if style else shown,
        hide_index=True,
        key=key,
        column_config=config,
        placeholder=MISSING,
        **options,
    )


def download_button(
    where: Any, label: str, data: Any, *, file_name: str, mime: str, key: str
) -> None:
    """``where.download_button`` (``st`` or a column) whose click does not rerun the page.

    A click on a rerunning button sends the rerun and, for ``data`` given as a callable, the
    request for the file together. Streamlit clears the session's unsent messages when the
    rerun starts, its answer to that request included, and the browser then waits three
    minutes with the button disabled. Nothing on the page changes on a download, so no rerun.
    """
    where.download_button(
        label, data=data, file_name=file_name, mime=mime, key=key, on_click="ignore"
    )


def localized(ctx: PageContext, frame: pd.DataFrame) -> pd.DataFrame:
    """Show ``reason`` in the page language when the stage wrote ``reason_zh``/``reason_en``."""
    wanted = f"reason_{ctx.lang}"
    if wanted in frame.columns:
        frame = frame.assign(reason=frame[wanted].where(frame[wanted].notna(), frame.get("reason")))
    return frame.drop(columns=[c for c in ("reason_zh", "reason_en") if c in frame.columns])
