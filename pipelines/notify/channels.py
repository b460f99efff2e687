"""Sending one message through one channel: SMTP e-mail, or a WeCom / DingTalk / Feishu robot.

Each sender takes a :class:`Message` and returns the server's :class:`Answer` (never raises for
a refusal or a network fault: the outbox decides whether to retry). Formats, as each platform
documents its group robots:

- WeCom (企业微信): ``{"msgtype": "markdown", "markdown": {"content": ...}}``, key in the URL;
  success is ``errcode == 0``.
- DingTalk (钉钉): ``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {...}}``;
  with a secret ("加签"), ``timestamp`` (ms) and ``sign`` = url-encoded base64 of
  HMAC-SHA256(key=secret, msg="{timestamp}\\n{secret}") are added to the URL; ``errcode == 0``.
- Feishu (飞书): ``{"msg_type": "interactive", "card": {header, elements}}``; with a secret,
  ``timestamp`` (s) and ``sign`` = base64 of HMAC-SHA256(key="{timestamp}\\n{secret}", msg="")
  go in the body; success is ``code == 0`` (older answers: ``StatusCode == 0``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import mimetypes
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from cardpulse.notify_settings import ChannelConfig
from pipelines.errors import CardPulseError

# WeCom refuses markdown content over 4096 bytes; DingTalk and Feishu allow more, but a chat
# message that long is a digest's job: every robot message is cut to this, with a marker.
ROBOT_TEXT_LIMIT_BYTES = 4000


@dataclass(frozen=True)
class Message:
    """What is sent: a title, a markdown body, files attached (e-mail only)."""

    title: str
    text: str
    attachments: tuple[Path, ...] = ()
    message_id: str = ""  # the outbox key: e-mail Message-ID, so receivers can drop a repeat
    to: tuple[str, ...] = ()  # e-mail only: overrides the channel's recipients


@dataclass(frozen=True)
class Answer:
    ok: bool
    detail: str  # the server's answer (status and body), or the error


@dataclass
class Clock:
    """Time for signatures; tests freeze it."""

    now: Callable[[], float] = field(default=time.time)


def send(channel: ChannelConfig, message: Message, clock: Clock | None = None) -> Answer:
    """Send ``message`` through ``channel``; the answer says whether the server took it."""
    clock = clock or Clock()
    if channel.type == "email":
        return send_email(channel, message)
    sender = {"wecom": _wecom_request, "dingtalk": _dingtalk_request, "feishu": _feishu_request}
    try:
        url, payload = sender[channel.type](channel, message, clock)
    except (ValueError, CardPulseError) as error:  # an unset secret variable, mostly
        return Answer(False, str(error))
    return post_json(url, payload, channel.robot.timeout_seconds, _robot_ok(channel.type))


# --- e-mail -------------------------------------------------------------------------------


def email_message(channel: ChannelConfig, message: Message) -> EmailMessage:
    """The MIME message: plain-text body (the markdown as written), files attached."""
    settings = channel.email
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = settings.sender
    mail["To"] = ", ".join(message.to or settings.to)
    domain = settings.sender.rsplit("@", 1)[-1].strip("> ") or None
    mail["Message-ID"] = (
        f"<{_safe_id(message.message_id)}@{domain or 'cardpulse'}>"
        if message.message_id
        else make_msgid(domain=domain)
    )
    mail.set_content(message.text)
    for path in message.attachments:
        kind, _ = mimetypes.guess_type(path.name)
        maintype, subtype = (kind or "application/octet-stream").split("/", 1)
        mail.add_attachment(
            path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name
        )
    return mail


def send_email(channel: ChannelConfig, message: Message) -> Answer:
    """SMTP over SSL (465), STARTTLS (587) or plain; login when a username is configured."""
    settings = channel.email
    if not (message.to or settings.to):
        return Answer(False, f"channel {channel.name}: no recipients (set to = [...])")
    try:
        password = channel.secret(settings.password_env) if settings.username else ""
        mail = email_message(channel, message)
        context = ssl.create_default_context(
            cafile=str(Path(settings.ca_file).expanduser()) if settings.ca_file else None
        )
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
        with client:
            if settings.security == "starttls":
                client.starttls(context=context)
            if settings.username:
                client.login(settings.username, password)
            refused = client.send_message(mail)
            code, text = client.noop()
    except (smtplib.SMTPException, OSError, ValueError) as error:
        return Answer(False, f"{type(error).__name__}: {error}")
    except Exception as error:  # a ConfigError for an unset secret, mostly
        return Answer(False, str(error))
    if refused:
        return Answer(False, f"refused recipients: {refused}")
    return Answer(True, f"accepted for {mail['To']} ({code} {text.decode(errors='replace')})")


def _safe_id(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-._" else "-" for c in key)


# --- robots -------------------------------------------------------------------------------


def _cut(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= ROBOT_TEXT_LIMIT_BYTES:
        return text
    return data[: ROBOT_TEXT_LIMIT_BYTES - 20].decode("utf-8", errors="ignore") + "\n\n……(截断)"


def _wecom_request(channel, message, clock) -> tuple[str, dict]:
    url = channel.secret(channel.robot.webhook_url_env)
    content = _cut(f"## {message.title}\n{message.text}")
    return url, {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's "加签": url-encoded base64 of HMAC-SHA256(secret, "{timestamp}\\n{secret}")."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), to_sign, digestmod=hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def _dingtalk_request(channel, message, clock) -> tuple[str, dict]:
    url = channel.secret(channel.robot.webhook_url_env)
    if channel.robot.secret_env:
        timestamp = int(clock.now() * 1000)
        sign = dingtalk_sign(timestamp, channel.secret(channel.robot.secret_env))
        url = f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"
    mobiles = list(channel.robot.mentioned_mobiles)
    text = _cut(f"### {message.title}\n{message.text}")
    if mobiles:  # DingTalk notifies only those whose @mobile is in the text
        text += "\n\n" + " ".join(f"@{m}" for m in mobiles)
    return url, {
        "msgtype": "markdown",
        "markdown": {"title": message.title, "text": text},
        "at": {"atMobiles": mobiles, "isAtAll": False},
    }


def feishu_sign(timestamp_s: int, secret: str) -> str:
    """Feishu's signature: base64 of HMAC-SHA256 keyed with "{timestamp}\\n{secret}" over
    an empty message."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", digestmod=hashlib.sha256).digest()).decode()


def _feishu_request(channel, message, clock) -> tuple[str, dict]:
    url = channel.secret(channel.robot.webhook_url_env)
    payload: dict = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "title": {"tag": "plain_text", "content": message.title},
                "template": "red" if "失败" in message.title or "FAIL" in message.title else "blue",
            },
            "elements": [{"tag": "markdown", "content": _cut(message.text)}],
        },
    }
    if channel.robot.secret_env:
        timestamp = int(clock.now())
        payload = {
            "timestamp": str(timestamp),
            "sign": feishu_sign(timestamp, channel.secret(channel.robot.secret_env)),
            **payload,
        }
    return url, payload


def _robot_ok(kind: str) -> Callable[[dict], bool]:
    if kind == "feishu":
        return lambda body: body.get("code", body.get("StatusCode")) == 0
    return lambda body: body.get("errcode") == 0


def post_json(url: str, payload: dict, timeout: float, accepted: Callable[[dict], bool]) -> Answer:
    """POST ``payload`` as UTF-8 JSON; the answer is HTTP status plus the body the robot sent."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as error:
        body = error.read().decode("utf-8", errors="replace")
        return Answer(False, f"HTTP {error.code}: {body[:500]}")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Answer(False, f"{type(error).__name__}: {getattr(error, 'reason', error)}")
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return Answer(False, f"HTTP {status}: not JSON: {body[:500]}")
    ok = isinstance(parsed, dict) and accepted(parsed)
    return Answer(ok, f"HTTP {status}: {body[:500]}")
