"""Real receivers on loopback for the notification tests: an HTTP endpoint (Slack incoming webhook / JSON
webhook) and an SMTP server with STARTTLS and AUTH (aiosmtpd).

Both keep two logs: every request that arrived, and the channel's log of messages, where a copy carrying an
idempotency key (HTTP `Idempotency-Key`, email Message-ID) already seen is recognised as the same message. Each
can be told to fail or stall the next requests, to exercise retries.
"""

import email
import ipaddress
import socket
import ssl
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from werkzeug import Request, Response

from tests.net import free_port


@dataclass
class HttpReceiver:
    """Handler for pytest-httpserver. `plan[path]`: what the next requests get: an HTTP status, ("stall", s) (the
    answer comes s seconds late; `stalling` is set meanwhile) or (status, {header: value})."""

    requests: list[tuple[str, dict, bytes]] = field(default_factory=list)
    plan: dict[str, deque] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)
    idle: threading.Event = field(default_factory=threading.Event)
    stalling: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        with self.lock:
            self.requests.append((request.path, dict(request.headers), body))
            action = self.plan[request.path].popleft() if self.plan[request.path] else 200
        headers: dict[str, str] = {}
        if isinstance(action, tuple) and action[0] == "stall":  # the message arrives, the answer comes too late
            self.idle.clear()
            self.stalling.set()
            time.sleep(action[1])
            self.stalling.clear()
            self.idle.set()
            action = 200
        elif isinstance(action, tuple):
            action, headers = action
        return Response("ok" if action == 200 else "error", status=action, headers=headers)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Until a stalled answer has gone out (the server answers one request at a time)."""
        if not self.idle.wait(timeout):
            raise TimeoutError("the HTTP receiver is still stalling")

    def received(self, path: str) -> list[tuple[dict, bytes]]:
        return [(headers, body) for p, headers, body in self.requests if p == path]

    def channel_log(self, path: str) -> dict[str, bytes]:
        """The messages the channel shows: one per idempotency key, the first copy."""
        log: dict[str, bytes] = {}
        for headers, body in self.received(path):
            log.setdefault(headers["Idempotency-Key"], body)
        return log


class SmtpReceiver:
    """aiosmtpd handler; `plan`: SMTP replies for the next DATA commands (e.g. "451 4.3.0 try later")."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.plan: deque = deque()

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.plan:
            return self.plan.popleft()
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content))
        return "250 Message accepted"

    def channel_log(self) -> dict[str, Message]:
        log: dict[str, Message] = {}
        for message in self.messages:
            log.setdefault(message["Message-ID"], message)
        return log


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str
    password: str
    ca_file: str
    receiver: SmtpReceiver


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A one-day certificate for 127.0.0.1, made with `cryptography` (no openssl binary needed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert, key_file


@contextmanager
def smtp_server(directory: Path, username: str = "alerts", password: str = "smtp-secret-pw") -> Iterator[SmtpServer]:
    """SMTP on loopback that requires STARTTLS before AUTH LOGIN/PLAIN, with a certificate made for the test."""
    cert, key = _self_signed(directory)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            username,
            password,
        )
        return AuthResult(success=ok, handled=False)  # a refused login is answered 535 by aiosmtpd

    receiver = SmtpReceiver()
    port = free_port()
    controller = Controller(
        receiver, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, username, password, str(cert), receiver)
    finally:
        controller.stop()


@contextmanager
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never says a word (a hung endpoint); yields the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for connection in accepted:
            connection.close()
        listener.close()
