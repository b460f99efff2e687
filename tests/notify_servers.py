"""Real servers the notification tests send to: an SMTP server (aiosmtpd, with login and TLS)
and an HTTP server standing in for the WeCom, DingTalk and Feishu robot endpoints, which checks
payloads and signatures the way those platforms do and answers in their format."""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

DINGTALK_SECRET = "SECtest-dingtalk-秘密"
FEISHU_SECRET = "feishu-test-secret"
WECOM_KEY = "wecom-key-123"
DINGTALK_TOKEN = "ding-token-456"
SMTP_USER, SMTP_PASSWORD = "alerts@shop.example", "s3cret pw!"


@dataclass
class RobotRequest:
    robot: str
    query: dict
    payload: dict


@dataclass
class RobotServer:
    """POST /wecom?key=..., /dingtalk?access_token=...&timestamp=&sign=, /feishu, /broken."""

    requests: list[RobotRequest] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> RobotServer:
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                parsed = urllib.parse.urlsplit(self.path)
                query = {k: v[0] for k, v in urllib.parse.parse_qs(parsed.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body.decode("utf-8"))
                name = parsed.path.strip("/")
                robot.requests.append(RobotRequest(name, query, payload))
                status, answer = robot.answer(name, query, payload, self.headers)
                data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, robot: str) -> list[RobotRequest]:
        return [r for r in self.requests if r.robot == robot]

    def answer(self, name, query, payload, headers) -> tuple[int, dict]:
        if "application/json" not in headers.get("Content-Type", ""):
            return 400, {"errcode": 40001, "errmsg": "content type"}
        if name == "wecom":
            if query.get("key") != WECOM_KEY:
                return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
            ok = payload.get("msgtype") == "markdown" and payload["markdown"].get("content")
            refused = {"errcode": 40008, "errmsg": "invalid message type"}
            return 200, {"errcode": 0, "errmsg": "ok"} if ok else refused
        if name == "dingtalk":
            if query.get("access_token") != DINGTALK_TOKEN:
                return 200, {"errcode": 300001, "errmsg": "token is not exist"}
            timestamp = query.get("timestamp", "")
            expected = base64.b64encode(
                hmac.new(
                    DINGTALK_SECRET.encode(),
                    f"{timestamp}\n{DINGTALK_SECRET}".encode(),
                    hashlib.sha256,
                ).digest()
            ).decode()
            # the sign parameter arrives url-decoded by parse_qs: it must equal the base64 text
            if query.get("sign") != expected or abs(int(timestamp) / 1000 - _now()) > 3600:
                return 200, {"errcode": 310000, "errmsg": "sign not match"}
            markdown = payload.get("markdown", {})
            if payload.get("msgtype") != "markdown" or not markdown.get("title"):
                return 200, {"errcode": 40035, "errmsg": "缺少参数 markdown"}
            return 200, {"errcode": 0, "errmsg": "ok"}
        if name == "feishu":
            timestamp = payload.get("timestamp", "0")
            key = f"{timestamp}\n{FEISHU_SECRET}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if payload.get("sign") != expected or abs(int(timestamp) - _now()) > 3600:
                return 200, {"code": 19021, "msg": "sign match fail", "data": {}}
            card = payload.get("card", {})
            if payload.get("msg_type") != "interactive" or "header" not in card:
                return 200, {"code": 9499, "msg": "Bad Request", "data": {}}
            return 200, {"code": 0, "msg": "success", "data": {}}
        if name == "broken":
            return 502, {"errcode": -1, "errmsg": "upstream unavailable"}
        return 404, {"errcode": 404, "errmsg": "no such robot"}


def _now() -> float:
    return dt.datetime.now().timestamp()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 / localhost and its key (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class MailBox:
    """What the SMTP server received: parsed messages and who logged in."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.logins: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode()
        if login == SMTP_USER and auth_data.password.decode() == SMTP_PASSWORD:
            self.logins.append(login)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def start_smtp(mailbox: MailBox, security: str, cert: tuple[Path, Path]) -> Controller:
    """An SMTP server on a free port: ``ssl`` (implicit TLS), ``starttls`` or ``none``; login
    required in every mode."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert[0]), str(cert[1]))
    options = {
        "hostname": "127.0.0.1",
        "port": free_port(),
        "authenticator": mailbox.authenticate,
        "auth_required": True,
        # aiosmtpd 1.4 sees TLS only when it came by STARTTLS; with implicit TLS (ssl) the
        # connection is encrypted all the same
        "auth_require_tls": security == "starttls",
    }
    if security == "ssl":
        options["ssl_context"] = context
    elif security == "starttls":
        options["tls_context"] = context
        options["require_starttls"] = True
    controller = Controller(mailbox, **options)
    controller.start()
    return controller
