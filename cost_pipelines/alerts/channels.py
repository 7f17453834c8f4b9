"""Channel clients: a Slack incoming webhook, a signed JSON webhook, SMTP email, and a folder of text files.

Each `send` either returns (delivered) or raises DeliveryError whose text is safe to log and store: it names what
went wrong (HTTP status, timeout, SMTP code) and never the webhook URL, the signing secret or the SMTP password.
Every request carries the notification's idempotency key (`Idempotency-Key` header; the email's Message-ID), so a
receiver can recognise the copy a retry after a timeout sends again. An HTTP 429 or 503 with `Retry-After` (seconds or
an HTTP date) says how long the endpoint wants to be left alone, capped at an hour.

`url_problem` and `smtp_problems` check a channel's settings before anything is sent; their messages name the
environment variable, never its value.
"""

import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from cost_pipelines.alerts.evaluate import Alert
from cost_pipelines.alerts.messages import email_message, slack_payload, text_message, webhook_payload
from cost_pipelines.http import retry_after_seconds

SIGNATURE_HEADER = "X-Cost-Pipelines-Signature"
TIMESTAMP_HEADER = "X-Cost-Pipelines-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class DeliveryError(Exception):
    """A failed delivery. `retryable`: a later attempt may succeed (timeouts, 5xx, 429, SMTP 4xx).
    `retry_after`: seconds the endpoint asked to be left alone (Retry-After), when it said so."""

    def __init__(self, reason: str, retryable: bool, retry_after: float | None = None):
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after = retry_after


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def secret_forms(url: str) -> list[str]:
    """A secret URL and the parts of it that carry its token, each of which must be kept out of any text."""
    bare = url.split("://", 1)[-1]
    try:
        parts = urllib.parse.urlsplit("//" + bare)  # a URL pasted without its scheme keeps its token in its path
    except ValueError:
        return [url, bare]
    token = parts.path + (f"?{parts.query}" if parts.query else "")
    return [url, bare] + ([token] if len(token) >= 8 else [])


def url_problem(value: str, variable: str) -> str | None:
    """Why `value` cannot be a webhook address, naming `variable` and never the value; None when it can."""
    try:
        parts = urllib.parse.urlsplit(value.strip())
    except ValueError:
        return f"{variable} is not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        found = "another scheme" if "://" in value else "no scheme"  # "host:port/path" parses as scheme "host"
        return f"{variable} must start with https:// (or http://); it has {found}"
    if not parts.hostname:
        return f"{variable} has no host name"
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        return f"{variable} has an invalid port"
    return None


def _network_failure(error: BaseException, timeout: float, prefix: str = "") -> DeliveryError:
    """A connection-level error in words that name no address: DNS, refused, timeout, TLS."""
    if isinstance(error, TimeoutError | socket.timeout):
        return DeliveryError(f"{prefix}timed out after {timeout:g} s", True)
    if isinstance(error, socket.gaierror):
        return DeliveryError(f"{prefix}host name not resolved", True)
    if isinstance(error, ConnectionRefusedError):
        return DeliveryError(f"{prefix}connection refused", True)
    if isinstance(error, ssl.SSLCertVerificationError):
        return DeliveryError(f"{prefix}TLS certificate not trusted", False)
    if isinstance(error, ssl.SSLError):
        return DeliveryError(f"{prefix}TLS handshake failed ({type(error).__name__})", True)
    return DeliveryError(f"{prefix}connection failed ({type(error).__name__})", True)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex: what a receiver recomputes to trust the request."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    try:
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", **headers})  # fmt: skip
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        retryable = error.code >= 500 or error.code in (408, 429)
        wait = None
        if error.code in (429, 503):
            wait = retry_after_seconds(error.headers.get("Retry-After"), datetime.now(UTC))
        raise DeliveryError(f"HTTP {error.code}" + ("" if wait is None else f", Retry-After {wait:g} s"),
                            retryable, wait) from None  # fmt: skip
    except urllib.error.URLError as error:
        reason = error.reason if isinstance(error.reason, BaseException) else error
        raise _network_failure(reason, timeout) from None
    except OSError as error:
        raise _network_failure(error, timeout) from None
    except ValueError:  # an address urllib cannot use; its message would quote the address
        raise DeliveryError("the URL is not usable", False) from None


@dataclass(frozen=True)
class SlackWebhook:
    url: str = field(repr=False)
    link: str | None = None
    timeout: float = 10.0
    recipient: str = "slack incoming webhook"

    def send(self, alert: Alert, idempotency_key: str) -> None:
        body = json.dumps(slack_payload(alert, self.link)).encode()
        _post_json(self.url, body, {IDEMPOTENCY_HEADER: idempotency_key}, self.timeout)


@dataclass(frozen=True)
class JsonWebhook:
    url: str = field(repr=False)
    secret: str = field(repr=False, default="")
    timeout: float = 10.0
    recipient: str = "json webhook"

    def send(self, alert: Alert, idempotency_key: str) -> None:
        body = json.dumps(webhook_payload(alert), sort_keys=True).encode()
        timestamp = str(int(time.time()))
        headers = {IDEMPOTENCY_HEADER: idempotency_key, TIMESTAMP_HEADER: timestamp}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, timestamp, body)
        _post_json(self.url, body, headers, self.timeout)


@dataclass(frozen=True)
class SmtpEmail:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    username: str = ""
    password: str = field(repr=False, default="")
    starttls: bool = True
    timeout: float = 10.0
    link: str | None = None
    ca_file: str | None = None  # a private CA to trust for STARTTLS; the system's store otherwise

    @property
    def recipient(self) -> str:
        return ", ".join(self.recipients)

    def message(self, alert: Alert, idempotency_key: str) -> EmailMessage:
        return email_message(alert, self.sender, list(self.recipients), idempotency_key, self.link)

    def send(self, alert: Alert, idempotency_key: str) -> None:
        message = self.message(alert, idempotency_key)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.ca_file))
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except smtplib.SMTPAuthenticationError as error:
            raise DeliveryError(f"SMTP authentication failed ({error.smtp_code})", False) from None
        except smtplib.SMTPResponseException as error:
            raise DeliveryError(f"SMTP {error.smtp_code}", 400 <= error.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused:
            raise DeliveryError("SMTP recipients refused", False) from None
        except smtplib.SMTPNotSupportedError as error:
            raise DeliveryError(f"SMTP server does not support {type(error).__name__}", False) from None
        except smtplib.SMTPException as error:
            cause = error.__context__  # e.g. a timeout while waiting for a reply, reported as a disconnection
            if isinstance(cause, OSError) and not isinstance(cause, smtplib.SMTPException):
                raise _network_failure(cause, self.timeout, "SMTP ") from None
            raise DeliveryError(f"SMTP failed ({type(error).__name__})", True) from None
        except OSError as error:  # DNS, refused, timeout, TLS
            raise _network_failure(error, self.timeout, "SMTP ") from None


@dataclass(frozen=True)
class FileChannel:
    """Each notification as a text file in `directory`, named by its idempotency key, so a resend replaces it: the
    channel that works with nothing set up, for a first run and for whoever reads alerts from a shared folder."""

    directory: Path
    link: str | None = None

    @property
    def recipient(self) -> str:
        return str(self.directory)

    def send(self, alert: Alert, idempotency_key: str) -> None:
        target = self.directory / f"{idempotency_key}.txt"
        partial = target.with_suffix(".partial")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            partial.write_text(text_message(alert, self.link))
            partial.replace(target)
        except OSError as error:
            raise DeliveryError(f"the notification file cannot be written ({type(error).__name__})", True) from None


def smtp_problems(host: str, port: int, sender: str, recipients: tuple[str, ...], ca_file: str,
                  variables: dict[str, str]) -> list[str]:  # fmt: skip
    """What keeps email from being sent, naming the variables (`variables`: setting -> its variable)."""
    given = {"host": host, "sender": sender, "recipients": recipients}
    problems = [f"{variables[name]} is not set" for name, value in given.items() if not value]
    if host and ("/" in host or any(c.isspace() for c in host)):
        problems.append(f"{variables['host']} must be a host name, without a scheme or path")
    if not 0 < port < 65536:
        problems.append(f"{variables['port']} must be a port number (1-65535)")
    if sender and "@" not in sender:
        problems.append(f"{variables['sender']} is not an email address")
    if any("@" not in r for r in recipients):
        problems.append(f"{variables['recipients']} holds an entry that is not an email address")
    if ca_file and not Path(ca_file).is_file():
        problems.append(f"{variables['ca_file']} names no file")
    return problems


Channel = SlackWebhook | JsonWebhook | SmtpEmail | FileChannel
