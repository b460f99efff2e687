"""The dashboard behind security headers: ``streamlit run dashboard/server.py``.

Streamlit's own server sends no ``X-Frame-Options`` or ``Content-Security-Policy`` and serves
``/_stcore/metrics`` to anyone; no config option changes that. ``streamlit run`` on this file
finds the ``App`` below (Streamlit's public ASGI entry point, ``st.App``) and serves
``app.py`` through it, with one middleware that

1. adds the headers below to every HTTP answer (the page, its scripts, the health check), and
2. answers ``404`` on ``/_stcore/metrics`` (session counts and cache sizes are nobody's
   business; a monitoring scraper can use ``/_stcore/health``).

The policy allows only this server: no script, font, image or connection from another host,
and no page may frame the dashboard (clickjacking).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.middleware import Middleware
from streamlit.starlette import App

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CLOSED_PATHS = ("/_stcore/metrics",)
# Streamlit's frontend needs inline styles, 'unsafe-eval' (Plotly, Arrow) and blob: workers;
# everything else comes from this server alone.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' 'unsafe-eval'",
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
        if scope.get("path", "").rstrip("/").endswith(CLOSED_PATHS):
            await _not_found(send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *((name, value) for name, value in SECURITY_HEADERS if name not in present),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


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


app = App("app.py", middleware=[Middleware(SecurityHeaders)])
