"""Channel settings checked before anything is sent, and Retry-After read as an endpoint means it."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from cost_pipelines.alerts.channels import url_problem
from cost_pipelines.http import MAX_RETRY_AFTER_SECONDS, retry_after_seconds
from cost_pipelines.resources import NotifierResource

NOW = datetime(2026, 10, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), (" 7 ", 7.0), ("0", 0.0), ("86400", MAX_RETRY_AFTER_SECONDS),
     (format_datetime(NOW + timedelta(seconds=300), usegmt=True), 300.0),
     (format_datetime(NOW - timedelta(seconds=300), usegmt=True), 0.0),
     ("Thu, 01 Oct 2026 12:02:00 GMT", 120.0), ("soon", None), ("-5", None), ("", None), (None, None)],
)  # fmt: skip
def test_retry_after_in_seconds_or_as_a_date_never_more_than_an_hour(header: str | None, seconds: float | None):
    assert retry_after_seconds(header, NOW) == seconds


@pytest.mark.parametrize(
    ("value", "problem"),
    [("hooks.slack.com/services/T1/B1/tok3n", "must start with https:// (or http://); it has no scheme"),
     ("localhost:8080/services/T1/B1/tok3n", "must start with https:// (or http://); it has no scheme"),
     ("ftp://hooks.example.com/tok3n", "must start with https:// (or http://); it has another scheme"),
     ("https:///services/tok3n", "has no host name"), ("https://hooks.example.com:99x/tok3n", "has an invalid port"),
     ("https://hooks.slack.com/services/T1/B1/tok3n", None), (" http://127.0.0.1:8080/tok3n ", None)],
)  # fmt: skip
def test_a_webhook_address_is_checked_and_the_error_names_only_the_variable(value: str, problem: str | None):
    found = url_problem(value, "COST_PIPELINES_SLACK_WEBHOOK_URL")
    assert found == (None if problem is None else f"COST_PIPELINES_SLACK_WEBHOOK_URL {problem}")
    assert found is None or "tok3n" not in found


def test_an_unusable_channel_is_left_out_and_named_and_the_others_stay():
    notifier = NotifierResource(
        slack_webhook_url="hooks.slack.com/services/T1/B1/s3cret-slack", webhook_url="https://hooks.example.com/x",
        smtp_host="smtp://mail.example.com", smtp_port=0, email_from="costs", email_to="finops@example.com",
        smtp_ca_file="/nonexistent/ca.pem", smtp_password="s3cret-password",
    )  # fmt: skip
    problems = notifier.problems()
    assert problems == {
        "slack": "COST_PIPELINES_SLACK_WEBHOOK_URL must start with https:// (or http://); it has no scheme",
        "email": "COST_PIPELINES_SMTP_HOST must be a host name, without a scheme or path; "
        "COST_PIPELINES_SMTP_PORT must be a port number (1-65535); COST_PIPELINES_EMAIL_FROM is not an email "
        "address; COST_PIPELINES_SMTP_CA_FILE names no file",
    }
    assert list(notifier.channels()) == ["file", "webhook"]  # the file channel needs no setting
    assert "s3cret" not in repr(problems)
    # the token is kept out of text in every form it could appear in
    assert {"hooks.slack.com/services/T1/B1/s3cret-slack", "/services/T1/B1/s3cret-slack"} <= set(notifier.secrets())


def test_email_half_configured_is_named_not_silently_off():
    assert NotifierResource(smtp_host="mail.example.com", email_from="costs@example.com").problems() == {
        "email": "COST_PIPELINES_EMAIL_TO is not set"
    }
    assert NotifierResource().problems() == {} and list(NotifierResource().channels()) == ["file"]


def test_the_file_channel_writes_each_notification_once_and_needs_no_setting(tmp_path) -> None:
    from cost_pipelines.alerts.channels import DeliveryError, FileChannel
    from cost_pipelines.alerts.evaluate import Alert

    alert = Alert(key="anomaly|total|all|2026-10-14", kind="anomaly", severity="warning",
                  title="Unusual spend on 2026-10-14: total=all", message="total=all cost $158.23 on 2026-10-14.",
                  as_of=None, channels=("file",), scope="total=all", details={"expected_usd": "121.70"})  # fmt: skip
    assert "file" in NotifierResource(notifications_dir=str(tmp_path / "n")).channels()  # nothing else set
    channel = FileChannel(tmp_path / "n")
    channel.send(alert, "abc-file")
    channel.send(alert, "abc-file")  # a resend under the same key replaces the file: one message
    [written] = list((tmp_path / "n").iterdir())
    assert written.name == "abc-file.txt"
    text = written.read_text()
    assert text.startswith("Unusual spend on 2026-10-14: total=all\n") and "Expected: $121.70" in text
    assert f"cost-pipelines alerts ack {alert.alert_id}" in text
    (tmp_path / "blocked").write_text("a file where the folder should be")
    with pytest.raises(DeliveryError) as failed:
        FileChannel(tmp_path / "blocked").send(alert, "abc-file")
    assert failed.value.retryable and str(failed.value).startswith("the notification file cannot be written")
