"""Alert delivery under faults, with the product run as a user runs it: `dagster job execute` in subprocesses
against a real SQLite DAGSTER_HOME, a real DuckDB lock held by another process, a real SIGKILL during a send, and
real loopback HTTP and SMTP receivers that count what arrives. Nothing may be lost, and nothing sent twice beyond
the at-least-once copy a receiver recognises by its idempotency key."""

import json
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from cost_pipelines.definitions import defs
from cost_pipelines.defs.alerts import COST_ALERTS
from cost_pipelines.resources import NotifierResource, WarehouseResource
from tests.budget_facts import OPENAI_MONTHLY_BUDGET, create_budget_facts
from tests.notification_servers import HttpReceiver, SmtpServer, smtp_server
from tests.product_processes import (
    DAGSTER,
    LOCK_WAIT_SECONDS,
    dagster_home,
    execute_job,
    files_holding,
    job_command,
    product_env,
    warehouse_locked,
    warehouse_text,
)

SLACK_PATH = "/services/T0FAULT/B0FAULT/slack-fault-token"
HOOK_PATH = "/hooks/fault-token"
WEBHOOK_SECRET = "fault-signing-secret"
budget_alert_sensor = defs.resolve_sensor_def("budget_alert_sensor")
daily_job_failure_sensor = defs.resolve_sensor_def("daily_job_failure_sensor")
BUDGETS = (
    OPENAI_MONTHLY_BUDGET
    + """\
run_failures:
  notify: [webhook]
"""
)


@dataclass
class Product:
    """A scratch installation: its Dagster instance, its warehouse, its budgets, the receivers it notifies."""

    root: Path
    http: HttpReceiver
    httpserver: HTTPServer
    smtp: SmtpServer

    def __post_init__(self) -> None:
        self.home = dagster_home(self.root / "dagster_home")
        self.data = self.root / "data"
        self.warehouse = self.data / "warehouse.duckdb"
        self.warehouse.parent.mkdir(parents=True)
        self.budgets = self.root / "budgets.yaml"
        self.budgets.write_text(BUDGETS)
        with duckdb.connect(str(self.warehouse)) as con:
            create_budget_facts(con)
        for path in (SLACK_PATH, HOOK_PATH):
            self.httpserver.expect_request(path, method="POST").respond_with_handler(self.http)

    def env(self, timeout_seconds: float = 5.0) -> dict[str, str]:
        """Everything configured through the environment, as a user configures it."""
        return product_env(
            self.home, self.data, COST_PIPELINES_DUCKDB_PATH=str(self.warehouse),
            COST_PIPELINES_BUDGETS=str(self.budgets), COST_PIPELINES_LLM_LOGS_DIR=str(self.data / "logs"),
            COST_PIPELINES_CE_SOURCE="recorded", COST_PIPELINES_SLACK_WEBHOOK_URL=self.httpserver.url_for(SLACK_PATH),
            COST_PIPELINES_WEBHOOK_URL=self.httpserver.url_for(HOOK_PATH),
            COST_PIPELINES_WEBHOOK_SECRET=WEBHOOK_SECRET, COST_PIPELINES_SMTP_HOST=self.smtp.host,
            COST_PIPELINES_SMTP_PORT=str(self.smtp.port), COST_PIPELINES_SMTP_USERNAME=self.smtp.username,
            COST_PIPELINES_SMTP_PASSWORD=self.smtp.password, COST_PIPELINES_SMTP_CA_FILE=self.smtp.ca_file,
            COST_PIPELINES_EMAIL_FROM="costs@example.com", COST_PIPELINES_EMAIL_TO="finops@example.com",
            COST_PIPELINES_NOTIFY_TIMEOUT_SECONDS=str(timeout_seconds),
        )  # fmt: skip

    def notifier(self, timeout_seconds: float = 5.0) -> NotifierResource:
        """The same settings for an alerts run executed in this process."""
        return NotifierResource(
            slack_webhook_url=self.httpserver.url_for(SLACK_PATH), webhook_url=self.httpserver.url_for(HOOK_PATH),
            webhook_secret=WEBHOOK_SECRET, smtp_host=self.smtp.host, smtp_port=self.smtp.port,
            smtp_username=self.smtp.username, smtp_password=self.smtp.password, smtp_ca_file=self.smtp.ca_file,
            email_from="costs@example.com", email_to="finops@example.com", timeout_seconds=timeout_seconds,
        )  # fmt: skip

    def spend(self, day: date, usd: str) -> None:
        with duckdb.connect(str(self.warehouse)) as con:
            con.execute("INSERT INTO marts.fct_costs VALUES (?, 'openai', NULL, 'gpt-4o', 'u-1', 'search', NULL, ?)",
                        [day, Decimal(usd)])  # fmt: skip

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql).fetchall()

    def run_alerts(self, instance: dg.DagsterInstance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
        """The run a sensor requested, executed in this process as the daemon would launch it."""
        return defs.resolve_job_def("alerts_job").execute_in_process(
            instance=instance, run_config=request.run_config or {}, raise_on_error=False,
            resources={"warehouse": WarehouseResource(path=str(self.warehouse)), "notifier": self.notifier()},
            tags={**request.tags, "dagster/run_key": request.run_key or ""},
        )  # fmt: skip


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    """One evaluation of a sensor on the instance, as the daemon does it."""
    return sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=defs.get_repository_def())
    )


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture
def product(tmp_path: Path, httpserver: HTTPServer, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Product:
    smtp.receiver.messages.clear()
    smtp.receiver.plan.clear()
    monkeypatch.setenv("COST_PIPELINES_BUDGETS", str(tmp_path / "budgets.yaml"))  # for runs in this process
    monkeypatch.setenv("COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT", LOCK_WAIT_SECONDS)
    return Product(tmp_path, HttpReceiver(), httpserver, smtp)


def _previewed_request_count(product: Product) -> int:
    """How many runs daily_job_failure_sensor requests when evaluated by `dagster sensor preview`: in a code server,
    with the code location the daemon gives it, from a cursor a run status sensor would have kept from before."""
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    cursor = json.dumps({"__class__": "RunStatusSensorCursor", "record_id": -1, "record_timestamp": None,
                         "update_timestamp": None})  # fmt: skip
    preview = subprocess.run(
        [DAGSTER, "sensor", "preview", "-w", str(workspace), "daily_job_failure_sensor", "--cursor", cursor],
        env=product.env(), cwd=product.root, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    found = re.search(r"returning run requests for (\d+) run", preview.stdout)
    assert found or "returned false" in preview.stdout, preview.stdout[-3000:] + preview.stderr[-3000:]
    return int(found.group(1)) if found else 0


def test_a_daily_run_failing_on_the_lock_is_told_once_the_lock_is_gone(product: Product) -> None:
    with dg.DagsterInstance.from_config(str(product.home)) as instance:
        before = tick(daily_job_failure_sensor, instance, None)  # the daemon's first tick, before anything failed
        assert not before.run_requests
        with warehouse_locked(product.warehouse):  # an analyst's session holds the warehouse
            daily = execute_job("daily_cost_job", product.env(), product.root, {"dagster/partition": "2026-10-01"})
            assert daily.returncode != 0
            [failed] = instance.get_runs(dg.RunsFilter(job_name="daily_cost_job"))
            assert failed.status == dg.DagsterRunStatus.FAILURE
            assert failed.remote_job_origin is None  # started from the command line, not from a code location
            assert _previewed_request_count(product) == 1  # the sensor as the daemon evaluates it sees the run

            # seen by the failure sensor; the alerts run it asks for meets the same lock
            seen = tick(daily_job_failure_sensor, instance, before.cursor)
            [request] = seen.run_requests
            assert not product.run_alerts(instance, request).success
        assert product.http.requests == []

        # The lock is gone: the failed alerts run is followed by another, which tells the failure.
        again = tick(daily_job_failure_sensor, instance, seen.cursor)
        assert not again.run_requests  # the failure sensor does not ask twice, but says what waits ...
        assert f"not yet stored by a successful alerts run: {failed.run_id}" in again.skip_message
        recovery = tick(budget_alert_sensor, instance, None)
        [request] = recovery.run_requests  # ... the budget alert sensor follows the failed alerts run up
        assert request.tags["cost_pipelines/trigger"] == "recover"
        assert product.run_alerts(instance, request).success

        # nothing left to do, nothing asked for twice
        assert not tick(budget_alert_sensor, instance, recovery.cursor).run_requests
        assert not tick(daily_job_failure_sensor, instance, again.cursor).run_requests
    [(_, body)] = product.http.received(HOOK_PATH)  # told once, on its channel only
    payload = json.loads(body)
    assert payload["kind"] == "run_failure" and payload["details"]["run_id"] == failed.run_id
    assert "lock" in payload["message"].lower()
    assert product.http.received(SLACK_PATH) == [] and product.smtp.receiver.messages == []
    assert product.query("SELECT kind, status, attempts FROM alerts.cost_alerts JOIN alerts.notification_log "
                         "USING (alert_id)") == [("run_failure", "sent", 1)]  # fmt: skip


def _write_lock_is_free(path: Path) -> bool:
    """Whether this process can open the warehouse for writing right now."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException:
        return False
    return True


@pytest.mark.parametrize("monitored", [True, False], ids=["marked-failed", "left-started"])
def test_an_alerts_run_killed_during_a_send_is_finished_by_the_next_run(product: Product, monitored: bool) -> None:
    """Marked failed (what run monitoring does with a dead run), the next run takes over the in-flight attempt at
    once; left looking alive (a killed command-line run), once the attempt's lease (6 timeouts) has run out."""
    product.spend(date(2026, 10, 1), "60")  # $60 of $100: one alert, a notification on each of three channels
    product.http.plan[SLACK_PATH].append(("stall", 4))  # the Slack answer is late: the kill lands during the send
    timeout = 30.0 if monitored else 2.0
    log = (product.root / "alerts-run.log").open("w")
    alerts = subprocess.Popen(job_command("alerts_job"), env=product.env(timeout_seconds=timeout), cwd=product.root,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert product.http.stalling.wait(180), "the alerts run never reached the Slack send"
        killed_at = datetime.now(UTC)
        free_during_send = _write_lock_is_free(product.warehouse)
        alerts.send_signal(signal.SIGKILL)
    finally:
        if alerts.poll() is None:
            alerts.kill()
        alerts.wait(30)
        log.close()
    assert alerts.returncode == -signal.SIGKILL
    assert free_during_send, "the alerts run held the warehouse open for writing during a network call"

    # email went out, the Slack attempt was in flight, the webhook never tried
    assert product.query("SELECT channel, status, attempts FROM alerts.notification_log ORDER BY channel") == [
        ("email", "sent", 1), ("slack", "pending", 1), ("webhook", "pending", 0)
    ]  # fmt: skip
    assert product.query("SELECT outcome FROM alerts.notification_attempts WHERE notification_id LIKE '%-slack'") == [
        ("started",)
    ]
    with dg.DagsterInstance.from_config(str(product.home)) as instance:
        [killed] = instance.get_runs(dg.RunsFilter(job_name="alerts_job"))
        assert killed.status == dg.DagsterRunStatus.STARTED  # to Dagster the run still looks alive
        assert isinstance(budget_alert_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
        product.http.wait_idle()
        if monitored:
            # run monitoring finds the run's process gone and marks it failed, as it does here; the sensor follows up
            instance.report_run_failed(killed, "the run's process was killed")
            recovery = tick(budget_alert_sensor, instance, None)
            [request] = recovery.run_requests
            assert request.tags["cost_pipelines/trigger"] == "recover"
        else:
            # the next alerts run (here: another one from the command line) after the attempt's lease
            lease_end = killed_at + timedelta(seconds=6 * timeout)
            while datetime.now(UTC) < lease_end:
                time.sleep(0.2)
            request = dg.RunRequest(tags={"cost_pipelines/trigger": "cli"})
        result = product.run_alerts(instance, request)
        assert result.success
        metadata = result.asset_materializations_for_node("alerts__cost_alerts")[0].metadata
        assert (metadata["interrupted_attempts_found"].value, metadata["sent"].value) == (1, 2)
        assert metadata["next_retry_at"].value == ""  # nothing left waiting

    # nothing lost: every channel shows the alert once; Slack got the in-flight copy again, under the same key
    slack = product.http.received(SLACK_PATH)
    assert len(slack) == 2 and slack[0][0]["Idempotency-Key"] == slack[1][0]["Idempotency-Key"]
    assert len(product.http.channel_log(SLACK_PATH)) == 1
    assert len(product.http.received(HOOK_PATH)) == 1 and len(product.smtp.receiver.messages) == 1
    assert product.query("SELECT channel, status, attempts FROM alerts.notification_log ORDER BY channel") == [
        ("email", "sent", 1), ("slack", "sent", 2), ("webhook", "sent", 1)
    ]  # fmt: skip
    attempts = product.query("SELECT split_part(notification_id, '-', 2), attempt, outcome FROM "
                             "alerts.notification_attempts ORDER BY 1, 2")  # fmt: skip
    assert attempts == [("email", 1, "sent"), ("slack", 1, "interrupted"), ("slack", 2, "sent"), ("webhook", 1, "sent")]


def test_a_slack_url_without_its_scheme_fails_only_slack_and_is_never_written_down(product: Product) -> None:
    product.spend(date(2026, 10, 1), "60")
    pasted = f"hooks.slack.com{SLACK_PATH}"  # the URL pasted without https://
    run = execute_job("alerts_job", {**product.env(), "COST_PIPELINES_SLACK_WEBHOOK_URL": pasted}, product.root)
    (product.root / "alerts-run.out").write_text(run.stdout + run.stderr)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    # the other channels delivered; Slack's notification failed with an error that names the variable
    assert len(product.http.received(HOOK_PATH)) == 1 and len(product.smtp.receiver.messages) == 1
    assert product.http.received(SLACK_PATH) == []
    problem = "COST_PIPELINES_SLACK_WEBHOOK_URL must start with https:// (or http://); it has no scheme"
    assert product.query("SELECT channel, status, error FROM alerts.notification_log ORDER BY channel") == [
        ("email", "sent", None), ("slack", "failed", problem), ("webhook", "sent", None)
    ]  # fmt: skip
    assert problem in run.stderr + run.stdout  # said in the run's log as well
    # the token is nowhere: not in the instance (SQLite, compute logs), the warehouse or the run's output
    token = SLACK_PATH.rsplit("/", 1)[1]
    assert files_holding(product.root, [token]) == {}
    assert token not in warehouse_text(product.warehouse)


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "held_seconds"),
    [(429, lambda now: "120", 120), (503, lambda now: _http_date(now + timedelta(seconds=300)), 300),
     (429, lambda now: "86400", 3600)],
    ids=["seconds", "http-date", "capped-at-an-hour"],
)  # fmt: skip
def test_retry_after_keeps_every_notification_of_the_endpoint_waiting(
    product: Product, status: int, retry_after: Callable[[datetime], str], held_seconds: int
) -> None:
    # three budgets reached at once: three alerts, three Slack notifications
    product.budgets.write_text(BUDGETS.replace("run_failures:", """\
  - {name: search-monthly, scope: {team: search}, period: monthly, limit_usd: 100, thresholds: [90],
     notify: [slack, email, webhook]}
  - {name: all-monthly, period: monthly, limit_usd: 100, thresholds: [95], notify: [slack, email, webhook]}
run_failures:"""))  # fmt: skip
    product.spend(date(2026, 10, 1), "96")
    start = datetime.now(UTC)
    product.http.plan[SLACK_PATH].append((status, {"Retry-After": retry_after(start)}))
    with dg.DagsterInstance.from_config(str(product.home)) as instance:
        result = product.run_alerts(instance, dg.RunRequest())
        assert result.success
        # Slack was asked once; the two other Slack notifications were not tried. The other channels went on.
        assert len(product.http.received(SLACK_PATH)) == 1
        assert len(product.http.received(HOOK_PATH)) == 3 and len(product.smtp.receiver.messages) == 3
        waiting = product.query("SELECT attempts, next_attempt_at FROM alerts.notification_log "
                                "WHERE channel = 'slack' AND status = 'pending' ORDER BY attempts")  # fmt: skip
        assert [attempts for attempts, _ in waiting] == [0, 0, 1]
        finished = datetime.now(UTC)
        for _, next_attempt_at in waiting:  # not sooner than the endpoint asked, not later than asked (or an hour)
            assert start + timedelta(seconds=held_seconds - 5) <= next_attempt_at
            assert next_attempt_at <= finished + timedelta(seconds=held_seconds + 5)

        # a new alert for Slack while it is held waits too
        product.spend(date(2026, 10, 2), "5")  # 101 %: the 100 % threshold
        assert product.run_alerts(instance, dg.RunRequest()).success
        assert len(product.http.received(SLACK_PATH)) == 1 and len(product.http.received(HOOK_PATH)) == 4
        # the sensor asks for the retry only once the hold is over
        from cost_pipelines.defs.alert_sensors import alert_requests

        metadata = instance.fetch_materializations(COST_ALERTS, limit=1).records[0].asset_materialization.metadata
        due = datetime.fromisoformat(metadata["next_retry_at"].value)
        assert due >= start + timedelta(seconds=held_seconds - 5)
        assert alert_requests(instance, {}, due - timedelta(seconds=1))[0] is None
        request = alert_requests(instance, {}, due)[0]
        assert request is not None and request.tags["cost_pipelines/trigger"] == "retry"
