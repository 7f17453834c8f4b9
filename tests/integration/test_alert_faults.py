"""Alert delivery under faults, with the product run as a user runs it: `dagster job execute` in subprocesses
against a real SQLite DAGSTER_HOME, a real DuckDB lock held by another process, a real SIGKILL during a send, and
real loopback HTTP and SMTP receivers that count what arrives. Nothing may be lost, and nothing sent twice beyond
the at-least-once copy a receiver recognises by its idempotency key."""

import json
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from pytest_httpserver import HTTPServer

from cost_pipelines.definitions import defs
from cost_pipelines.defs.alert_sensors import budget_alert_sensor, daily_job_failure_sensor
from cost_pipelines.resources import NotifierResource, WarehouseResource
from tests.budget_facts import create_budget_facts
from tests.notification_servers import HttpReceiver, SmtpServer, smtp_server
from tests.product_processes import (
    DAGSTER,
    dagster_home,
    execute_job,
    job_command,
    product_env,
    warehouse_locked,
)

SLACK_PATH = "/services/T0FAULT/B0FAULT/slack-fault-token"
HOOK_PATH = "/hooks/fault-token"
WEBHOOK_SECRET = "fault-signing-secret"
BUDGETS = """
budgets:
  - name: openai-monthly
    scope: {provider: openai}
    period: monthly
    limit_usd: 100
    thresholds: [50, 80, 95, 100]
    notify: [email, slack, webhook]
run_failures:
  notify: [webhook]
"""


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
    return Product(tmp_path, HttpReceiver(), httpserver, smtp)


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

            # seen by the failure sensor; the alerts run it asks for meets the same lock
            seen = tick(daily_job_failure_sensor, instance, before.cursor)
            [request] = seen.run_requests
            assert not product.run_alerts(instance, request).success
        assert product.http.requests == []

        # The lock is gone: the failed alerts run is followed by another, which tells the failure.
        again = tick(daily_job_failure_sensor, instance, seen.cursor)
        assert not again.run_requests  # the failure sensor does not ask twice ...
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


def test_the_failure_sensor_sees_command_line_runs_through_the_code_location(product: Product) -> None:
    """`dagster sensor preview` evaluates the sensor in a code server, with the code location the daemon uses."""
    failed = execute_job("daily_cost_job", {**product.env(), "COST_PIPELINES_DUCKDB_PATH": str(product.budgets / "x")},
                         product.root, {"dagster/partition": "2026-10-01"})  # fmt: skip
    assert failed.returncode != 0
    workspace = Path(__file__).resolve().parents[2] / "workspace.yaml"
    preview = subprocess.run([DAGSTER, "sensor", "preview", "-w", str(workspace), "daily_job_failure_sensor"],
                             env=product.env(), cwd=product.root, capture_output=True, text=True, timeout=300,
                             check=False)  # fmt: skip
    assert "returning run requests for 1 run(s)" in preview.stdout, preview.stdout[-3000:] + preview.stderr[-3000:]


def _write_lock_is_free(path: Path) -> bool:
    """Whether this process can open the warehouse for writing right now."""
    try:
        duckdb.connect(str(path)).close()
    except duckdb.IOException:
        return False
    return True


def test_an_alerts_run_killed_during_a_send_is_finished_by_the_next_run(product: Product) -> None:
    product.spend(date(2026, 10, 1), "60")  # $60 of $100: one alert, a notification on each of three channels
    product.http.plan[SLACK_PATH].append(("stall", 4))  # the Slack answer is late: the kill lands during the send
    log = (product.root / "alerts-run.log").open("w")
    alerts = subprocess.Popen(job_command("alerts_job"), env=product.env(timeout_seconds=30), cwd=product.root,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert product.http.stalling.wait(180), "the alerts run never reached the Slack send"
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
        assert killed.status == dg.DagsterRunStatus.STARTED  # to Dagster the run still looks alive ...
        assert isinstance(budget_alert_sensor(dg.build_sensor_context(instance=instance)), dg.SkipReason)
        # ... until run monitoring finds its process gone and marks it failed, as it does here
        instance.report_run_failed(killed, "the run's process was killed")
        product.http.wait_idle()

        recovery = tick(budget_alert_sensor, instance, None)
        [request] = recovery.run_requests
        assert request.tags["cost_pipelines/trigger"] == "recover"
        result = product.run_alerts(instance, request)
        assert result.success
        metadata = result.asset_materializations_for_node("alerts__cost_alerts")[0].metadata
        assert (metadata["interrupted_attempts_found"].value, metadata["sent"].value) == (1, 2)
        assert not tick(budget_alert_sensor, instance, recovery.cursor).run_requests  # nothing left waiting

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
