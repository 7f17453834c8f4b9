"""Channel clients: a Slack incoming webhook, a signed JSON webhook and SMTP email.

Each `send` either returns (delivered) or raises DeliveryError whose text is safe to log and store: it names what
went wrong (HTTP status, timeout, SMTP code) and never the webhook URL, the signing secret or the SMTP password.
Every request carries the notification's idempotency key (`Idempotency-Key` header; the email's Message-ID), so a
receiver can recognise the copy a retry after a timeout sends again.
"""

import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import EmailMessage

from cost_pipelines.alerts.evaluate import Alert
from cost_pipelines.alerts.messages import email_message, slack_payload, webhook_payload

SIGNATURE_HEADER = "X-Cost-Pipelines-Signature"
TIMESTAMP_HEADER = "X-Cost-Pipelines-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class DeliveryError(Exception):
    """A failed delivery. `retryable`: a later attempt may succeed (timeouts, 5xx, 429, SMTP 4xx)."""

    def __init__(self, reason: str, retryable: bool):
        super().__init__(reason)
        self.retryable = retryable


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over `<timestamp>.<body>`, hex: what a receiver recomputes to trust the request."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _post_json(url: str, body: bytes, headers: dict[str, str], timeout: float) -> None:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json",
                                                                             **headers})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        retryable = error.code >= 500 or error.code in (408, 429)
        raise DeliveryError(f"HTTP {error.code}", retryable) from None
    except TimeoutError:
        raise DeliveryError(f"timed out after {timeout:g} s", True) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, (TimeoutError, socket.timeout)):
            raise DeliveryError(f"timed out after {timeout:g} s", True) from None
        raise DeliveryError(f"connection failed ({type(error.reason).__name__})", True) from None
    except (ConnectionError, OSError) as error:
        raise DeliveryError(f"connection failed ({type(error).__name__})", True) from None


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
        except TimeoutError:
            raise DeliveryError(f"SMTP timed out after {self.timeout:g} s", True) from None
        except (smtplib.SMTPException, ssl.SSLError, OSError) as error:
            raise DeliveryError(f"SMTP failed ({type(error).__name__})", True) from None


Channel = SlackWebhook | JsonWebhook | SmtpEmail
