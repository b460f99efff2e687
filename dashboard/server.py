"""The dashboard behind security headers: ``streamlit run dashboard/server.py``.

Streamlit's own server sends no ``X-Frame-Options`` or ``Content-Security-Policy`` and serves
``/_stcore/metrics`` to anyone; no config option changes that. ``streamlit run`` on this file
finds the ``App`` below (Streamlit's public ASGI entry point, ``st.App``) and serves
``app.py`` through it, with one middleware that

1. adds the headers below to every HTTP answer (the page, its scripts, the health check), and
2. answers ``404`` on ``/_stcore/metrics`` (session counts and cache sizes are nobody's
   business; a monitoring scraper can use ``/_stcore/health``), and
3. serves ``/_cardpulse/session``, the route that sets and clears the HttpOnly session cookie
   Streamlit cannot set itself (``dashboard/sessions.py``).

Session ids never reach the log: Streamlit's own messages that carry one (a resumed
websocket session) have it replaced by ``<session>``.

The policy allows only this server: no script, font, image or connection from another host,
and no page may frame the dashboard (clickjacking).
"""

from __future__ import annotations

import importlib
import logging
import re
import sys
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from streamlit.starlette import App

# `streamlit run` puts this folder on sys.path, not the project.
_PROJECT = str(Path(__file__).resolve().parent.parent)
if _PROJECT not in sys.path:
    sys.path.insert(0, _PROJECT)

from dashboard import sessions  # noqa: E402
from pipelines.settings import home  # noqa: E402

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSED_PATHS = ("/_stcore/metrics",)
# Libraries the pages import on their first visit in this process, the slowest first (pandas'
# Styler, through jinja2, alone takes 0.4 s here): imported in the background when the server
# starts, so the first person to sign in or open a page does not wait for them.
WARM_IMPORTS = ("pandas.io.formats.style", "plotly.express", "openpyxl")
# Streamlit's frontend needs inline styles, 'unsafe-eval' (Plotly, Arrow) and blob: workers;
# its page components (the session-cookie step) load as blob: modules, which only script
# already on the page can create. Everything else comes from this server alone.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)


class SecurityHeaders:
    """Pure ASGI middleware (WebSocket traffic passes untouched)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in SECURITY_HEADERS if name not in present),
                ]
            await send(message)

        path = scope.get("path", "").rstrip("/")
        if path.endswith(CLOSED_PATHS):
            await _not_found(send)
            return
        if path.endswith(sessions.ROUTE):
            response = await session_cookie(Request(scope, receive))
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


async def session_cookie(request: Request) -> Response:
    """``POST`` a hand-off token: set the session cookie; ``DELETE``: revoke and clear it.

    1. Only this page may ask (the ``Origin`` must be this host: no cross-site form or
       script can sign a browser in or out), 2. POST redeems the single-use token, revokes
       the session of the cookie the browser held before (rotation) and sets the new one,
       3. DELETE revokes the cookie's session and expires the cookie.
    """
    origin = request.headers.get("origin", "")
    if request.method not in ("POST", "DELETE"):
        return Response(status_code=405, headers={"allow": "POST, DELETE"})
    if origin.split("://", 1)[-1] != request.headers.get("host", ""):
        return Response("cross-origin request refused", status_code=403)
    held = sessions.BOOK.session_id_of(request.cookies.get(sessions.COOKIE_NAME))
    response = Response(status_code=204, headers={"cache-control": "no-store"})
    secure = request.url.scheme == "https"
    if request.method == "DELETE":
        sessions.BOOK.revoke(held)
        response.delete_cookie(
            sessions.COOKIE_NAME, path="/", secure=secure, httponly=True, samesite="strict"
        )
        return response
    token = (await request.body())[:200].decode("ascii", "replace").strip()
    value = sessions.BOOK.redeem(token)
    if value is None:
        return Response("unknown or used token", status_code=403)
    if held is not None and held != sessions.BOOK.session_id_of(value):
        sessions.BOOK.revoke(held)
    response.set_cookie(
        sessions.COOKIE_NAME,
        value,
        max_age=sessions.COOKIE_MAX_AGE,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )
    return response


async def _not_found(send: Send) -> None:
    body = b"not found"
    await send(
        {
            "type": "http.response.start",
            "status": 404,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_SESSION_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_make_record = logging.getLogRecordFactory()


def _record_without_session_ids(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Streamlit logs a resumed session's id (a bearer secret for its websocket) at WARNING."""
    record = _make_record(*args, **kwargs)
    if str(record.name or "").startswith("streamlit"):  # makeLogRecord passes no name
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return record
        if _SESSION_ID.search(message):
            record.msg, record.args = _SESSION_ID.sub("<session>", message), ()
    return record


def warm_imports(names: tuple[str, ...] = WARM_IMPORTS) -> list[str]:
    """Import ``names`` (each at most once per process); returns those that could not be."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            failed.append(name)
            logging.getLogger(__name__).warning("could not preload %s", name)
    return failed


logging.setLogRecordFactory(_record_without_session_ids)
threading.Thread(target=warm_imports, name="cardpulse-warm-imports", daemon=True).start()
sessions.mark_served(home().root / sessions.SESSIONS_FILE)
app = App("app.py", middleware=[Middleware(SecurityHeaders)])
