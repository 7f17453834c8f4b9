"""An alert rendered for each channel: Slack Block Kit, an HTML + plain-text email, a JSON webhook body."""

import hashlib
import html
from decimal import Decimal
from email.message import EmailMessage
from email.utils import formatdate

from cost_pipelines.alerts.evaluate import Alert
from cost_pipelines.money import usd

SEVERITY_EMOJI = {"critical": ":red_circle:", "warning": ":warning:", "info": ":information_source:"}
SEVERITY_COLOUR = {"critical": "#b42318", "warning": "#b54708", "info": "#175cd3"}


def _amount(value: Decimal | None) -> str:
    return "" if value is None else usd(value)  # an absent figure is left out, not shown as n/a


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The labelled figures every channel shows, in order; absent ones are left out."""
    rows = [
        ("Budget", alert.budget or ""),
        ("Scope", alert.scope or ""),
        ("Period", f"{alert.period} from {alert.period_start}" if alert.period else ""),
        ("Used", f"{alert.percent_used}%" if alert.percent_used is not None else ""),
        ("Spent", _amount(alert.spent_usd)),
        ("Limit", _amount(alert.limit_usd)),
        ("Days left", "" if alert.days_left is None else str(alert.days_left)),
        ("Projected at period end", _amount(alert.projected_usd)),
    ]
    if alert.kind == "anomaly":
        rows.append(("Expected", usd(Decimal(alert.details["expected_usd"]))))
    return [(label, value) for label, value in rows if value]


def slack_payload(alert: Alert, link: str | None = None) -> dict:
    """Block Kit layout: header with the severity, the message, a divider, the figures as fields, a button."""
    header = f"{SEVERITY_EMOJI[alert.severity]} {alert.title}"[:150]  # Block Kit's limit for a header
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": alert.message[:3000]}},
        {"type": "divider"},
    ]
    fields = [{"type": "mrkdwn", "text": f"*{label}:*\n{value}"} for label, value in facts(alert)]
    if fields:
        blocks.append({"type": "section", "fields": fields[:10]})  # Block Kit allows ten fields
    if link:
        blocks.append({
            "type": "actions",
            "elements": [{"type": "button", "text": {"type": "plain_text", "text": "Open cost dashboard"},
                          "url": link, "style": "primary"}],
        })  # fmt: skip
    blocks.append({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"{alert.severity} · {alert.kind} · alert {alert.alert_id}"}],
    })  # fmt: skip
    return {"text": f"[{alert.severity}] {alert.title}", "blocks": blocks}


def webhook_payload(alert: Alert) -> dict:
    """Every field of the alert; money as exact decimal strings."""

    def text(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "alert_id": alert.alert_id, "key": alert.key, "kind": alert.kind, "severity": alert.severity,
        "title": alert.title, "message": alert.message, "as_of": text(alert.as_of), "budget": alert.budget,
        "scope": alert.scope, "period": alert.period, "period_start": text(alert.period_start),
        "threshold": alert.threshold, "spent_usd": text(alert.spent_usd), "limit_usd": text(alert.limit_usd),
        "percent_used": text(alert.percent_used), "projected_usd": text(alert.projected_usd),
        "days_left": alert.days_left, "details": alert.details,
    }  # fmt: skip


def message_id(idempotency_key: str) -> str:
    """The same notification always carries the same Message-ID, so a re-sent copy is recognisably the same."""
    return f"<{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@cost-pipelines>"


def text_message(alert: Alert, link: str | None = None) -> str:
    """The alert as plain text: title, message, the figures, how to acknowledge it."""
    rows = facts(alert)
    width = max((len(label) for label, _ in rows), default=0)
    text = [alert.title, "", alert.message, ""]
    text += [f"{label + ':':<{width + 1}} {value}" for label, value in rows]
    text += ["", f"Open the cost dashboard: {link}"] if link else []
    text += ["", f"alert {alert.alert_id} ({alert.kind}); acknowledge with: cost-pipelines alerts ack {alert.alert_id}"]
    return "\n".join(text) + "\n"


def email_message(
    alert: Alert, sender: str, recipients: list[str], idempotency_key: str, link: str | None = None
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[{alert.severity}] {alert.title}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(idempotency_key)
    message["X-Cost-Pipelines-Alert"] = alert.alert_id
    rows = facts(alert)
    message.set_content(text_message(alert, link))
    colour = SEVERITY_COLOUR[alert.severity]
    table = "".join(
        f"<tr><th style='text-align:left;padding:4px 12px 4px 0'>{html.escape(label)}</th>"
        f"<td style='padding:4px 0'>{html.escape(value)}</td></tr>"
        for label, value in rows
    )
    button = (
        f"<p><a href='{html.escape(link, quote=True)}' style='background:{colour};color:#fff;padding:8px 14px;"
        "text-decoration:none;border-radius:4px'>Open cost dashboard</a></p>"
        if link
        else ""
    )
    message.add_alternative(
        f"<html><body style='font-family:sans-serif'>"
        f"<h2 style='color:{colour};margin-bottom:4px'>{html.escape(alert.title)}</h2>"
        f"<p>{html.escape(alert.message)}</p><table>{table}</table>{button}"
        f"<p style='color:#667085;font-size:12px'>{html.escape(alert.severity)} · {html.escape(alert.kind)} · "
        f"alert {alert.alert_id}</p></body></html>",
        subtype="html",
    )
    return message
