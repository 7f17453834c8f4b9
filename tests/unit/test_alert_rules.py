"""Which alerts a budget status or an anomaly raises, their keys and severities, and how they are rendered."""

import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from cost_pipelines.alerts.budgets import AnomalyAlerting, BudgetConfigError, parse_budgets, parse_config
from cost_pipelines.alerts.channels import DeliveryError, redact, sign
from cost_pipelines.alerts.evaluate import (
    AnomalyRow,
    anomaly_alerts,
    budget_alerts,
    collapse_thresholds,
    past_as_history,
    run_rate_projection,
)
from cost_pipelines.alerts.messages import email_message, message_id, slack_payload, webhook_payload
from cost_pipelines.alerts.outbox import RetryPolicy
from cost_pipelines.alerts.status import BudgetStatus

BUDGETS = parse_budgets("""
budgets:
  - {name: monthly, scope: {provider: openai}, period: monthly, limit_usd: 100, forecast_threshold: 100,
     notify: [slack, email]}
  - {name: weekly, scope: {team: research}, period: weekly, limit_usd: 60, thresholds: [80], notify: [webhook]}
""")


def status(budget_index: int, as_of: date, spent: str, forecast: str | None = None) -> BudgetStatus:
    from cost_pipelines.alerts.budgets import period_bounds

    budget = BUDGETS[budget_index]
    start, end = period_bounds(budget.period, as_of)
    return BudgetStatus(budget, as_of, start, end, Decimal(spent), None if forecast is None else Decimal(forecast))


def test_crossing_three_thresholds_at_once_raises_three_alerts_with_their_severities() -> None:
    alerts = budget_alerts([status(0, date(2026, 10, 3), "96")])
    assert [(a.threshold, a.severity, a.kind) for a in alerts] == [
        (50, "info", "budget_actual"), (80, "warning", "budget_actual"), (95, "critical", "budget_actual"),
    ]  # fmt: skip
    assert len({a.key for a in alerts}) == 3
    assert alerts[0].key == "budget|monthly|2026-10-01|50|actual"
    # the same facts evaluated again give the same keys: the store adds nothing
    assert [a.key for a in budget_alerts([status(0, date(2026, 10, 3), "96")])] == [a.key for a in alerts]


def test_thresholds_reached_together_notify_once_at_the_highest() -> None:
    together = budget_alerts([status(0, date(2026, 10, 3), "96", forecast="130"), status(1, date(2026, 10, 3), "50")])
    collapsed = collapse_thresholds(together)
    assert [a.key for a in collapsed] == [a.key for a in together]  # every key is recorded, so none fires later
    notified = {a.key: a.channels for a in collapsed if a.channels}
    assert notified == {
        "budget|monthly|2026-10-01|95|actual": ("slack", "email"),
        "budget|monthly|2026-10-01|100|forecast": ("slack", "email"),  # a forecast is news of its own
        "budget|weekly|2026-09-28|80|actual": ("webhook",),  # another budget: its own message
    }
    [top] = [a for a in collapsed if a.threshold == 95]
    assert top.details["also_crossed"] == [50, 80] and top.message.endswith(
        "Also reached in this evaluation: 50%, 80%."
    )
    assert {a.threshold: a.details.get("covered_by") for a in collapsed if not a.channels} == {
        50: top.alert_id, 80: top.alert_id}  # fmt: skip
    # one threshold alone is told as it is
    [alone] = collapse_thresholds(budget_alerts([status(0, date(2026, 10, 3), "60")]))
    assert alone.channels == ("slack", "email") and "also_crossed" not in alone.details


def test_what_ended_before_today_is_history_not_news() -> None:
    october = budget_alerts([status(0, date(2026, 10, 31), "96"), status(1, date(2026, 10, 31), "50")])
    # the week of 2026-10-26 is still running on 2026-11-01; October is over
    told = past_as_history(october, date(2026, 11, 1), anomaly_max_age_days=3)
    assert {a.budget: bool(a.channels) for a in told} == {"monthly": False, "weekly": True}
    [history] = {a.details.get("history") for a in told if not a.channels}
    assert history == "its monthly period ended on 2026-10-31, before 2026-11-01: recorded, not sent"
    assert all(a.channels for a in past_as_history(october, date(2026, 10, 31), anomaly_max_age_days=3))
    anomaly = anomaly_alerts([AnomalyRow(date(2026, 10, 20), "provider", "openai", "spike", Decimal(90),
                                         Decimal(30), [])], date(2026, 10, 20),
                             AnomalyAlerting(notify=("slack",)))  # fmt: skip
    assert past_as_history(anomaly, date(2026, 10, 23), 3)[0].channels == ("slack",)
    [old] = past_as_history(anomaly, date(2026, 10, 24), 3)
    assert old.channels == () and old.details["history"].startswith("the anomaly is older than 3 days")


def test_keys_follow_the_period_so_a_new_month_or_week_alerts_again() -> None:
    october = budget_alerts([status(0, date(2026, 10, 31), "60")])
    november = budget_alerts([status(0, date(2026, 11, 1), "60")])
    assert [a.key for a in october] == ["budget|monthly|2026-10-01|50|actual"]
    assert [a.key for a in november] == ["budget|monthly|2026-11-01|50|actual"]
    sunday, monday = date(2026, 11, 1), date(2026, 11, 2)  # weeks start on Monday
    assert budget_alerts([status(1, sunday, "50")])[0].period_start == date(2026, 10, 26)
    assert budget_alerts([status(1, monday, "50")])[0].period_start == monday


def test_the_forecast_alert_fires_on_the_p80_projection() -> None:
    below = budget_alerts([status(0, date(2026, 10, 10), "30", forecast="99.99")])
    assert [a.kind for a in below] == []
    crossing = budget_alerts([status(0, date(2026, 10, 10), "30", forecast="104.50")])
    [alert] = crossing
    assert (alert.kind, alert.key, alert.severity) == ("budget_forecast", "budget|monthly|2026-10-01|100|forecast",
                                                       "critical")  # fmt: skip
    assert "forecast (p80) $104.50 at period end, 104.5% of $100.00" in alert.message
    assert "21 day(s) left" in alert.message


def test_without_a_forecast_the_projection_is_the_run_rate() -> None:
    s = status(0, date(2026, 10, 10), "60")
    assert run_rate_projection(s) == Decimal("186")  # $6 a day over 31 days
    [alert] = budget_alerts([s])
    assert alert.projected_usd == Decimal("186") and "projected $186.00 at period end (run-rate)" in alert.message


def anomaly(day: date, dimension: str = "team", actual: str = "48.10", expected: str = "15.20") -> AnomalyRow:
    return AnomalyRow(day, dimension, "research", "robust_z", Decimal(actual), Decimal(expected),
                      [["user_id", "u-07", "30.12"]])  # fmt: skip


def test_anomalies_alert_when_recent_large_and_of_a_chosen_dimension() -> None:
    as_of = date(2026, 10, 31)
    settings = AnomalyAlerting(notify=("slack",), min_change_usd=Decimal(10), dimensions=("team", "total"),
                               max_age_days=3)  # fmt: skip
    rows = [
        anomaly(as_of),
        anomaly(as_of - timedelta(days=2), actual="20", expected="15"),  # +$5: too small to tell
        anomaly(as_of - timedelta(days=3)),  # older than three days
        anomaly(as_of, dimension="model"),  # not a chosen dimension
        anomaly(as_of - timedelta(days=1), actual="20", expected="15.5"),
    ]
    rows[-1] = AnomalyRow(as_of - timedelta(days=1), "total", "all", "spike", Decimal("40"), Decimal("28"), [])
    alerts = anomaly_alerts(rows, as_of, settings)
    assert [(a.key, a.severity) for a in alerts] == [
        ("anomaly|team|research|2026-10-31", "critical"), ("anomaly|total|all|2026-10-30", "info"),
    ]  # fmt: skip
    assert "user_id=u-07 (+$30.12)" in alerts[0].message


def test_the_alerting_sections_are_validated_with_the_budgets() -> None:
    config = parse_config("budgets: []\nanomalies: {notify: [slack], min_change_usd: 2.5}\nrun_failures: {notify: "
                          "[webhook]}\n")  # fmt: skip
    assert (config.anomalies.notify, config.anomalies.min_change_usd, config.run_failures) == (
        ("slack",), Decimal("2.5"), ("webhook",)
    )  # fmt: skip
    with pytest.raises(BudgetConfigError) as error:
        parse_config("budgets: []\nanomalies: {notify: [pager], max_age_days: 0}\nextra: 1\n")
    assert error.value.problems == [
        "section 'extra': unknown (allowed: budgets, anomalies, hourly_anomalies, run_failures)",
        "section 'anomalies', field 'notify': ['pager']: a list of slack, email, webhook, file",
        "section 'anomalies', field 'max_age_days': 0 is not a whole number of days >= 1",
    ]


def test_slack_payload_follows_block_kit_and_names_the_figures() -> None:
    [alert] = budget_alerts([status(1, date(2026, 10, 28), "50")])
    payload = slack_payload(alert, link="http://127.0.0.1:3000/assets")
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["header", "section", "divider", "section", "actions", "context"]
    assert payload["blocks"][0]["text"]["text"].startswith(":warning: Budget weekly")
    fields = payload["blocks"][3]["fields"]
    assert len(fields) <= 10 and {"type": "mrkdwn", "text": "*Used:*\n83.33%"} in fields
    assert payload["text"] == "[warning] Budget weekly has reached 80% of its limit"


def test_email_has_text_and_html_and_a_message_id_fixed_by_the_idempotency_key() -> None:
    [alert] = budget_alerts([status(1, date(2026, 10, 28), "50")])
    one = email_message(alert, "costs@example.com", ["a@example.com"], "abc-email")
    two = email_message(alert, "costs@example.com", ["a@example.com"], "abc-email")
    assert one["Message-ID"] == two["Message-ID"] == message_id("abc-email")
    assert message_id("abc-email") != message_id("abc-slack")
    parts = {p.get_content_type(): p.get_content() for p in one.walk() if not p.is_multipart()}
    assert "Spent:" in parts["text/plain"] and "<th" in parts["text/html"] and "$50.00" in parts["text/html"]
    assert "cost-pipelines alerts ack" in parts["text/plain"]


def test_webhook_payload_is_json_with_money_as_exact_strings() -> None:
    [alert] = budget_alerts([status(1, date(2026, 10, 28), "50.000000000000000001")])
    payload = json.loads(json.dumps(webhook_payload(alert)))
    assert payload["spent_usd"] == "50.000000000000000001" and payload["alert_id"] == alert.alert_id


def test_signature_is_hmac_sha256_of_timestamp_and_body() -> None:
    body = b'{"a": 1}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("s3cret", "1700000000", body) == f"sha256={expected}"


def test_redaction_and_retry_schedule() -> None:
    assert redact("POST https://hooks.slack.com/services/T/B/tok failed", ["tok", ""]) == (
        "POST https://hooks.slack.com/services/T/B/*** failed"
    )
    policy = RetryPolicy(max_attempts=3, backoff_seconds=60)
    now = datetime(2026, 10, 1, tzinfo=UTC)
    assert policy.next_attempt(1, now) == now + timedelta(seconds=60)
    assert policy.next_attempt(2, now) == now + timedelta(seconds=120)
    assert policy.next_attempt(3, now) is None
    assert DeliveryError("HTTP 500", True).retryable
