"""Budget alerts end to end: budget_status materialized into a temporary warehouse, budget_alert_sensor ticked on a
real Dagster instance (SQLite, and PostgreSQL started by the test), the alerts_job it requests executed, and the
notifications received by a real HTTP server (Slack and webhook) and a real SMTP server with STARTTLS and AUTH."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from cost_pipelines.alerts.channels import sign
from cost_pipelines.alerts.outbox import resend
from cost_pipelines.definitions import defs
from cost_pipelines.defs.alert_sensors import budget_alert_sensor, daily_job_failure_sensor
from cost_pipelines.defs.alerts import COST_ANOMALIES, budget_status_asset
from cost_pipelines.resources import NotifierResource, WarehouseResource
from tests.budget_facts import OPENAI_MONTHLY_BUDGET, create_budget_facts
from tests.notification_servers import HttpReceiver, SmtpServer, smtp_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SLACK_PATH = "/services/T0001/B0001/slack-secret-token"
HOOK_PATH = "/hooks/cost"
WEBHOOK_SECRET = "hmac-signing-secret"
BUDGETS = (
    OPENAI_MONTHLY_BUDGET
    + """\
anomalies:
  notify: [slack]
  min_change_usd: 5
run_failures:
  notify: [webhook]
"""
)


class Flow:
    """One warehouse, one Dagster instance, the notification servers; drives asset, sensor and job like the daemon."""

    def __init__(self, instance: dg.DagsterInstance, tmp: Path, httpserver: HTTPServer, smtp: SmtpServer):
        self.instance, self.smtp = instance, smtp
        self.path = tmp / "warehouse.duckdb"
        self.cursor: str | None = None
        self.http = HttpReceiver()
        for path in (SLACK_PATH, HOOK_PATH):
            httpserver.expect_request(path, method="POST").respond_with_handler(self.http)
        self.settings = dict(
            slack_webhook_url=httpserver.url_for(SLACK_PATH), webhook_url=httpserver.url_for(HOOK_PATH),
            webhook_secret=WEBHOOK_SECRET, smtp_host=smtp.host, smtp_port=smtp.port, smtp_username=smtp.username,
            smtp_password=smtp.password, smtp_ca_file=smtp.ca_file, email_from="costs@example.com",
            email_to="finops@example.com, platform@example.com", timeout_seconds=0.5,
        )  # fmt: skip
        self.notifier = NotifierResource(**self.settings)
        with duckdb.connect(str(self.path)) as con:
            create_budget_facts(con)

    def spend(self, day: date, usd: str) -> None:
        with duckdb.connect(str(self.path)) as con:
            con.execute("INSERT INTO marts.fct_costs VALUES (?, 'openai', NULL, 'gpt-4o', 'u-1', 'search', NULL, ?)",
                        [day, Decimal(usd)])  # fmt: skip

    def materialize_status(self, day: date) -> None:
        result = dg.materialize([budget_status_asset], partition_key=day.isoformat(), instance=self.instance,
                                resources={"warehouse": WarehouseResource(path=str(self.path))})  # fmt: skip
        assert result.success

    def run_alerts(self, request: dg.RunRequest, **config: object) -> dg.ExecuteInProcessResult:
        run_config = request.run_config or {}
        ops = run_config.get("ops", {}) if isinstance(run_config, dict) else run_config.to_config_dict()["ops"]
        op_config = ops.get("alerts__cost_alerts", {}).get("config", {}) | config
        result = defs.resolve_job_def("alerts_job").execute_in_process(
            instance=self.instance,
            run_config={"ops": {"alerts__cost_alerts": {"config": op_config}}},
            resources={"warehouse": WarehouseResource(path=str(self.path)), "notifier": self.notifier},
            tags={**request.tags, "dagster/run_key": request.run_key or ""},
        )
        assert result.success
        return result

    def tick(self, **config: object) -> dg.ExecuteInProcessResult | None:
        """One sensor evaluation; the run it requests is executed at once (the daemon would launch it)."""
        context = dg.build_sensor_context(instance=self.instance, cursor=self.cursor)
        outcome = budget_alert_sensor(context)
        if isinstance(outcome, dg.SkipReason):
            return None
        self.cursor = outcome.cursor
        if not outcome.run_requests:
            return None
        [request] = outcome.run_requests
        return self.run_alerts(request, **config)

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.path), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()

    def messages(self) -> dict[str, int]:
        """Messages in each channel's own log."""
        return {
            "slack": len(self.http.channel_log(SLACK_PATH)),
            "webhook": len(self.http.channel_log(HOOK_PATH)),
            "email": len(self.smtp.receiver.channel_log()),
        }


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture
def flow(tmp_path: Path, httpserver: HTTPServer, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flow]:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    smtp.receiver.messages.clear()
    smtp.receiver.plan.clear()
    with dg.instance_for_test() as instance:
        yield Flow(instance, tmp_path, httpserver, smtp)


def spend_until(flow: Flow, start: date, days: int, per_day: str) -> date:
    for i in range(days):
        flow.spend(start + timedelta(days=i), per_day)
    return start + timedelta(days=days - 1)


def check_threshold_crossing_is_delivered_once(flow: Flow) -> None:
    day = spend_until(flow, date(2026, 10, 1), 10, "6")  # $60 of $100: the 50 % threshold
    flow.materialize_status(day)
    first = flow.tick()
    assert first is not None
    assert flow.messages() == {"slack": 1, "webhook": 1, "email": 1}
    assert len(flow.http.requests) == 2 and len(flow.smtp.receiver.messages) == 1

    # the sensor evaluated again: nothing to do
    assert flow.tick() is None
    # the daily job re-run for the same partition: a new materialization, an evaluation, nothing new delivered
    flow.materialize_status(day)
    again = flow.tick()
    assert again is not None
    metadata = again.asset_materializations_for_node("alerts__cost_alerts")[0].metadata
    assert (metadata["new_alerts"].value, metadata["sent"].value) == (0, 0)
    assert flow.messages() == {"slack": 1, "webhook": 1, "email": 1}
    assert len(flow.http.requests) == 2 and len(flow.smtp.receiver.messages) == 1

    rows = flow.query("SELECT channel, status, attempts, error FROM alerts.notification_log ORDER BY channel")
    assert rows == [("email", "sent", 1, None), ("slack", "sent", 1, None), ("webhook", "sent", 1, None)]
    [(key, severity, message)] = flow.query("SELECT alert_key, severity, message FROM alerts.cost_alerts")
    assert (key, severity) == ("budget|openai-monthly|2026-10-01|50|actual", "info")
    assert "$60.00 spent of $100.00 (60.0%)" in message and "21 day(s) left" in message
    assert "projected $186.00 at period end (run-rate)" in message


def test_a_threshold_crossing_delivers_one_message_per_channel_once(flow: Flow) -> None:
    check_threshold_crossing_is_delivered_once(flow)
    # what each channel received
    slack = json.loads(flow.http.channel_log(SLACK_PATH).popitem()[1])
    assert slack["blocks"][0]["type"] == "header" and "50%" in slack["blocks"][0]["text"]["text"]
    fields = [f["text"] for f in slack["blocks"][3]["fields"]]
    assert "*Spent:*\n$60.00" in fields and "*Limit:*\n$100.00" in fields and "*Days left:*\n21" in fields
    [(headers, body)] = flow.http.received(HOOK_PATH)
    assert headers["X-Cost-Pipelines-Signature"] == sign(WEBHOOK_SECRET, headers["X-Cost-Pipelines-Timestamp"], body)
    payload = json.loads(body)
    assert (payload["kind"], payload["threshold"]) == ("budget_actual", 50)
    assert payload["spent_usd"] == "60.000000000000000000"  # money as exact decimal strings
    [mail] = flow.smtp.receiver.messages
    assert mail["To"] == "finops@example.com, platform@example.com"
    assert {part.get_content_type() for part in mail.walk()} >= {"text/plain", "text/html"}


def test_notifications_wait_for_their_channel_and_are_delivered_once_it_is_configured(
    flow: Flow, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack_url = flow.settings["slack_webhook_url"]
    monkeypatch.delenv("COST_PIPELINES_SLACK_WEBHOOK_URL", raising=False)
    flow.notifier = NotifierResource(**{**flow.settings, "slack_webhook_url": ""})  # Slack not set up yet
    day = spend_until(flow, date(2026, 10, 1), 10, "6")  # 50 %
    flow.materialize_status(day)
    first = flow.tick()
    assert first is not None and flow.messages() == {"slack": 0, "webhook": 1, "email": 1}
    metadata = first.asset_materializations_for_node("alerts__cost_alerts")[0].metadata
    assert (metadata["not_configured"].value, metadata["waiting_for_channels"].value) == (1, "slack")
    day = spend_until(flow, day + timedelta(days=1), 4, "6")  # 84 %: another alert, Slack still not set up
    flow.materialize_status(day)
    assert flow.tick() is not None
    assert flow.tick() is None  # waiting is no failure: nothing is retried, no attempt is used
    waiting = flow.query("SELECT status, attempts, error FROM alerts.notification_log WHERE channel = 'slack'")
    assert waiting == [("not_configured", 0, "slack is not configured: set COST_PIPELINES_SLACK_WEBHOOK_URL; it is "
                        "delivered by the next alerts run after that")] * 2  # fmt: skip

    # Slack set up: the daemon's environment has the variable, and so has the run's
    monkeypatch.setenv("COST_PIPELINES_SLACK_WEBHOOK_URL", slack_url)
    flow.notifier = NotifierResource(**flow.settings)
    delivered = flow.tick()
    assert delivered is not None and delivered.dagster_run.tags["cost_pipelines/trigger"] == "channel_configured"
    assert flow.messages() == {"slack": 2, "webhook": 2, "email": 2}
    assert flow.tick() is None and flow.tick() is None  # each delivered once
    assert flow.messages() == {"slack": 2, "webhook": 2, "email": 2}
    assert flow.query("SELECT DISTINCT status, attempts FROM alerts.notification_log") == [("sent", 1)]


def test_crossing_50_80_and_95_in_one_day_is_one_message_at_95(flow: Flow) -> None:
    day = spend_until(flow, date(2026, 10, 1), 1, "96")
    flow.materialize_status(day)
    flow.tick()
    rows = flow.query("SELECT threshold, severity, channels FROM alerts.cost_alerts ORDER BY threshold")
    assert rows == [(50, "info", ""), (80, "warning", ""), (95, "critical", "slack,email,webhook")]
    assert flow.messages() == {"slack": 1, "webhook": 1, "email": 1}  # no burst: the highest threshold tells
    [(message,)] = flow.query("SELECT message FROM alerts.cost_alerts WHERE threshold = 95")
    assert message.endswith("Also reached in this evaluation: 50%, 80%.")
    # the next day crosses 100 %: one more, in the same period
    flow.spend(day + timedelta(days=1), "5")
    flow.materialize_status(day + timedelta(days=1))
    flow.tick()
    thresholds = flow.query("SELECT threshold FROM alerts.cost_alerts ORDER BY threshold")
    assert [t for (t,) in thresholds] == [50, 80, 95, 100]
    # a new month starts from zero: the same threshold alerts again, under the new period
    flow.spend(date(2026, 11, 1), "55")
    flow.materialize_status(date(2026, 11, 1))
    flow.tick()
    assert flow.query("SELECT period_start, threshold FROM alerts.cost_alerts WHERE period_start = '2026-11-01'") == [
        (date(2026, 11, 1), 50)
    ]


def test_500_then_200_ends_with_one_message_and_both_attempts_logged(flow: Flow) -> None:
    flow.http.plan[SLACK_PATH].append(500)
    day = spend_until(flow, date(2026, 10, 1), 10, "6")
    flow.materialize_status(day)
    first = flow.tick(backoff_seconds=0.0)
    metadata = first.asset_materializations_for_node("alerts__cost_alerts")[0].metadata
    assert (metadata["sent"].value, metadata["retrying"].value) == (2, 1)
    assert metadata["next_retry_at"].value
    assert flow.query("SELECT status, attempts, error FROM alerts.notification_log WHERE channel = 'slack'") == [
        ("pending", 1, "HTTP 500")
    ]
    retry = flow.tick(backoff_seconds=0.0)  # the retry is due: the sensor asks for it
    assert retry is not None and retry.dagster_run.tags["cost_pipelines/trigger"] == "retry"
    assert flow.messages() == {"slack": 1, "webhook": 1, "email": 1}
    assert len(flow.http.received(SLACK_PATH)) == 2
    attempts = flow.query(
        "SELECT a.attempt, a.outcome, a.error FROM alerts.notification_attempts a "
        "JOIN alerts.notification_log n USING (notification_id) WHERE n.channel = 'slack' ORDER BY a.attempt"
    )
    assert attempts == [(1, "failed", "HTTP 500"), (2, "sent", None)]
    assert flow.query("SELECT status, attempts FROM alerts.notification_log WHERE channel = 'slack'") == [("sent", 2)]
    assert flow.tick(backoff_seconds=0.0) is None  # nothing left to retry


def test_a_timeout_on_the_first_attempt_does_not_produce_a_duplicate(flow: Flow) -> None:
    flow.http.plan[HOOK_PATH].append(("stall", 1.5))  # received, but answered after the client gave up
    day = spend_until(flow, date(2026, 10, 1), 10, "6")
    flow.materialize_status(day)
    flow.tick(backoff_seconds=0.0)
    assert flow.query("SELECT status, error FROM alerts.notification_log WHERE channel = 'webhook'") == [
        ("pending", "timed out after 0.5 s")
    ]
    flow.http.wait_idle()
    flow.tick(backoff_seconds=0.0)
    received = flow.http.received(HOOK_PATH)
    assert len(received) == 2
    assert received[0][0]["Idempotency-Key"] == received[1][0]["Idempotency-Key"]
    assert flow.messages()["webhook"] == 1
    assert flow.query("SELECT status, attempts FROM alerts.notification_log WHERE channel = 'webhook'") == [("sent", 2)]


def test_smtp_transient_failure_is_retried_and_a_permanent_one_stays_failed(flow: Flow) -> None:
    flow.smtp.receiver.plan.append("451 4.3.0 Try again later")
    flow.http.plan[HOOK_PATH].append(404)  # an endpoint that is gone: no retry can fix it
    day = spend_until(flow, date(2026, 10, 1), 10, "6")
    flow.materialize_status(day)
    flow.tick(backoff_seconds=0.0)
    flow.tick(backoff_seconds=0.0)
    rows = flow.query("SELECT channel, status, attempts, error FROM alerts.notification_log ORDER BY channel")
    assert rows == [("email", "sent", 2, None), ("slack", "sent", 1, None), ("webhook", "failed", 1, "HTTP 404")]
    assert flow.messages() == {"slack": 1, "webhook": 1, "email": 1}


def test_retries_stop_at_the_limit_and_the_failure_stays_visible(flow: Flow) -> None:
    flow.http.plan[SLACK_PATH].extend([503, 503, 503])
    day = spend_until(flow, date(2026, 10, 1), 10, "6")
    flow.materialize_status(day)
    for _ in range(5):
        flow.tick(backoff_seconds=0.0, max_attempts=3)
    assert len(flow.http.received(SLACK_PATH)) == 3
    assert flow.query("SELECT status, attempts, error FROM alerts.notification_log WHERE channel = 'slack'") == [
        ("failed", 3, "HTTP 503")
    ]
    # the endpoint is fixed: a resend makes it due with a fresh set of attempts, under the same idempotency key
    flow.http.plan[SLACK_PATH].extend([503])
    with duckdb.connect(str(flow.path)) as con:
        [(notification, before)] = resend(con, None, datetime.now(UTC))
    assert before == "failed" and notification.endswith("-slack")
    flow.run_alerts(dg.RunRequest(run_key="resend", tags={"cost_pipelines/trigger": "resend"}),
                    backoff_seconds=0.0, max_attempts=3)  # fmt: skip
    assert flow.tick(backoff_seconds=0.0, max_attempts=3) is not None  # the retry of the resent notification
    assert flow.tick(backoff_seconds=0.0, max_attempts=3) is None
    assert flow.query("SELECT status, attempts, error FROM alerts.notification_log WHERE channel = 'slack'") == [
        ("sent", 5, None)
    ]
    assert len(flow.http.received(SLACK_PATH)) == 5 and len(flow.http.channel_log(SLACK_PATH)) == 1
    outcomes = flow.query("SELECT outcome FROM alerts.notification_attempts WHERE notification_id = ? ORDER BY attempt",
                          [notification])  # fmt: skip
    assert [o for (o,) in outcomes] == ["failed", "failed", "failed", "failed", "sent"]


def test_secrets_never_reach_logs_metadata_or_stored_errors(flow: Flow) -> None:
    flow.http.plan[SLACK_PATH].append(500)
    day = spend_until(flow, date(2026, 10, 1), 10, "6")
    flow.materialize_status(day)
    result = flow.tick(backoff_seconds=0.0)
    secrets = ["slack-secret-token", WEBHOOK_SECRET, flow.smtp.password]
    stored = json.dumps(flow.query("SELECT * FROM alerts.notification_log"), default=str)
    stored += json.dumps(flow.query("SELECT * FROM alerts.notification_attempts"), default=str)
    events = json.dumps([str(e) for e in result.all_events])
    logs = "".join(str(record) for record in flow.instance.all_logs(result.run_id))
    for secret in secrets:
        assert secret not in stored and secret not in events and secret not in logs


def test_anomalies_alert_through_the_same_path(flow: Flow) -> None:
    day = spend_until(flow, date(2026, 10, 1), 3, "2")
    flow.materialize_status(day)
    with duckdb.connect(str(flow.path)) as con:
        con.execute(
            "CREATE TABLE analytics.cost_anomalies (usage_date DATE, dimension VARCHAR, series_key VARCHAR, "
            "kinds VARCHAR, actual_usd DECIMAL(38, 18), expected_usd DECIMAL(38, 18), score DOUBLE, "
            "contributors VARCHAR, detected_at TIMESTAMPTZ)"
        )
        con.execute(
            "INSERT INTO analytics.cost_anomalies VALUES (?, 'team', 'research', 'robust_z,spike', 48.1, 15.2, 9.3, "
            "?, now()), ('2026-08-01', 'team', 'research', 'spike', 40, 10, 8, '[]', now())",
            [day, json.dumps([["user_id", "u-07", "30.12"], ["model", "claude-opus-4-1", "29.80"]])],
        )
    flow.instance.report_runless_asset_event(dg.AssetMaterialization(COST_ANOMALIES, partition=day.isoformat()))
    flow.tick()
    [(kind, severity, message)] = flow.query("SELECT kind, severity, message FROM alerts.cost_alerts")
    assert (kind, severity) == ("anomaly", "critical")  # +216 % over expected
    assert "team=research cost $48.10 on 2026-10-03, against $15.20 expected (+$32.90" in message
    assert "user_id=u-07 (+$30.12)" in message
    assert flow.messages()["slack"] == 1  # the August one is history, not news


def test_a_failed_daily_run_is_told_to_the_run_failure_channels(flow: Flow, tmp_path: Path) -> None:
    broken = tmp_path / "not-a-directory"
    broken.write_text("")
    failed = defs.resolve_job_def("daily_cost_job").execute_in_process(
        instance=flow.instance, partition_key="2026-10-01", raise_on_error=False,
        resources={"warehouse": WarehouseResource(path=str(broken / "warehouse.duckdb"))},
    )  # fmt: skip
    assert not failed.success
    outcome = daily_job_failure_sensor(dg.build_sensor_context(instance=flow.instance))
    [request] = outcome.run_requests
    assert request.tags["cost_pipelines/trigger"] == "run_failure"
    flow.run_alerts(request)
    [(kind, message)] = flow.query("SELECT kind, message FROM alerts.cost_alerts")
    assert kind == "run_failure" and failed.run_id in message and "daily_cost_job" in message
    assert flow.messages() == {"slack": 0, "webhook": 1, "email": 0}


@pytest.mark.postgres
def test_the_sensor_and_alert_flow_on_a_postgres_instance(
    postgres_dagster_home: Path,
    tmp_path: Path,
    httpserver: HTTPServer,
    smtp: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = postgres_dagster_home
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(budgets))
    smtp.receiver.messages.clear()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        check_threshold_crossing_is_delivered_once(Flow(instance, tmp_path, httpserver, smtp))
