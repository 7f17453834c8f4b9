"""No secret is ever written down: distinctive values planted in every secret variable (the Slack URL's token, the
webhook URL's token, the webhook signing secret, the SMTP password), read by the product from the environment as a
user sets them, through every error path of every channel — a bad scheme, a name that does not resolve, a refused
connection, 4xx and 5xx answers, a timeout, a TLS failure, a refused login — in real alerts_job runs
(`dagster job execute` against a real SQLite DAGSTER_HOME), then the whole scratch folder (the Dagster instance's
SQLite files and compute logs, the warehouses, any dbt log, the runs' stdout and stderr) and every text of the
warehouses searched for them."""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pytest_httpserver import HTTPServer

from cost_pipelines.alerts.channels import sign
from tests.budget_facts import create_budget_facts
from tests.net import free_port
from tests.notification_servers import HttpReceiver, SmtpServer, silent_server, smtp_server
from tests.product_processes import dagster_home, execute_job, files_holding, product_env, warehouse_text

SLACK_TOKEN = "slkTok7Qz3Xv9Lp2Rm"
HOOK_TOKEN = "hookTok4Wc8Jn1Ty6Bd"
SIGNING_SECRET = "signSec5Fm2Kx7Qa9Ue"
SMTP_PASSWORD = "smtpPw8Nd3Hs6Zc1Vb"
SECRETS = [SLACK_TOKEN, HOOK_TOKEN, SIGNING_SECRET, SMTP_PASSWORD]
SLACK_PATH = f"/services/T0SECRET/B0SECRET/{SLACK_TOKEN}"
HOOK_PATH = f"/hooks/{HOOK_TOKEN}"
# One threshold a budget: a spend of $101 raises four alerts, each told on its own (thresholds of one budget
# reached together are one message), so every channel meets four answers in one run.
BUDGETS = "budgets:\n" + "".join(
    f"  - {{name: openai-{t}, scope: {{provider: openai}}, period: monthly, limit_usd: 100, thresholds: [{t}], "
    "notify: [slack, email, webhook]}\n"
    for t in (50, 80, 95, 100)
)


@dataclass
class Round:
    """One alerts run: where each channel points, what the receivers answer, the errors each channel must store."""

    name: str
    slack: str
    webhook: str
    smtp: dict[str, str]
    expected: dict[str, set[str]]
    spend_usd: str = "60"  # one alert
    http_plan: dict[str, list] = field(default_factory=dict)
    smtp_plan: list[str] = field(default_factory=list)


def _rounds(http: str, smtp: SmtpServer, silent: int) -> list[Round]:
    """`http`: the live receiver's base URL; `silent`: a port that accepts and never answers."""
    port = http.rsplit(":", 1)[1]
    closed = free_port()
    live = {"COST_PIPELINES_SMTP_HOST": smtp.host, "COST_PIPELINES_SMTP_PORT": str(smtp.port),
            "COST_PIPELINES_SMTP_CA_FILE": smtp.ca_file}  # fmt: skip
    return [
        Round("bad scheme", f"hooks.slack.com{SLACK_PATH}", f"ftp://127.0.0.1:{port}{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_HOST": f"smtp://127.0.0.1:{smtp.port}"},
              {"slack": {"COST_PIPELINES_SLACK_WEBHOOK_URL must start with https:// (or http://); it has no scheme"},
               "webhook": {"COST_PIPELINES_WEBHOOK_URL must start with https:// (or http://); it has another scheme"},
               "email": {"COST_PIPELINES_SMTP_HOST must be a host name, without a scheme or path"}}),
        Round("name not resolved", f"https://hooks.invalid{SLACK_PATH}", f"http://hooks.invalid{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_HOST": "mail.invalid"},
              {"slack": {"host name not resolved"}, "webhook": {"host name not resolved"},
               "email": {"SMTP host name not resolved"}}),
        Round("refused", f"http://127.0.0.1:{closed}{SLACK_PATH}", f"http://127.0.0.1:{closed}{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_PORT": str(closed)},
              {"slack": {"connection refused"}, "webhook": {"connection refused"},
               "email": {"SMTP connection refused"}}),
        Round("tls", f"https://127.0.0.1:{port}{SLACK_PATH}", f"https://127.0.0.1:{port}{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_CA_FILE": ""},  # STARTTLS against a certificate nobody vouches for
              {"slack": {"TLS handshake failed (SSLError)"}, "webhook": {"TLS handshake failed (SSLError)"},
               "email": {"SMTP TLS certificate not trusted"}}),
        Round("answers", f"{http}{SLACK_PATH}", f"{http}{HOOK_PATH}", live,
              {"slack": {"HTTP 404", "HTTP 500", "timed out after 1 s", "HTTP 429, Retry-After 120 s"},
               "webhook": {"HTTP 400", "HTTP 502", "timed out after 1 s", "HTTP 503, Retry-After 60 s"},
               "email": {"SMTP 451", "SMTP 554"}},
              spend_usd="101",  # four alerts
              http_plan={SLACK_PATH: [404, 500, ("stall", 1.5), (429, {"Retry-After": "120"})],
                         HOOK_PATH: [400, 502, ("stall", 1.5), (503, {"Retry-After": "60"})]},
              smtp_plan=["451 4.3.0 Try again later", "554 5.7.1 Message rejected"]),
        Round("hung", f"http://127.0.0.1:{silent}{SLACK_PATH}", f"http://127.0.0.1:{silent}{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_PORT": str(silent), "COST_PIPELINES_SMTP_CA_FILE": ""},
              {"slack": {"timed out after 1 s"}, "webhook": {"timed out after 1 s"},
               "email": {"SMTP timed out after 1 s"}}),
        Round("login refused", f"{http}{SLACK_PATH}", f"{http}{HOOK_PATH}",
              {**live, "COST_PIPELINES_SMTP_USERNAME": "someone-else"},
              {"slack": set(), "webhook": set(), "email": {"SMTP authentication failed (535)"}}),
    ]  # fmt: skip


@pytest.fixture
def smtp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path_factory.mktemp("smtp"), password=SMTP_PASSWORD) as server:
        yield server


def test_no_secret_reaches_the_instance_the_warehouse_or_the_output(
    tmp_path: Path, httpserver: HTTPServer, smtp: SmtpServer
) -> None:
    home = dagster_home(tmp_path / "dagster_home")
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    receiver = HttpReceiver()
    for path in (SLACK_PATH, HOOK_PATH):
        httpserver.expect_request(path, method="POST").respond_with_handler(receiver)
    warehouses, problems = [], []
    with silent_server() as silent:
        for number, r in enumerate(_rounds(httpserver.url_for("").rstrip("/"), smtp, silent), start=1):
            data = tmp_path / f"round-{number}"
            warehouse = data / "warehouse.duckdb"
            warehouse.parent.mkdir()
            with duckdb.connect(str(warehouse)) as con:
                create_budget_facts(con)
                con.execute("INSERT INTO marts.fct_costs VALUES (?, 'openai', NULL, 'gpt-4o', 'u-1', 'search', NULL, "
                            "?)", [date(2026, 10, 1), Decimal(r.spend_usd)])  # fmt: skip
            for path, plan in r.http_plan.items():
                receiver.plan[path].extend(plan)
            smtp.receiver.plan.extend(r.smtp_plan)
            settings = {
                "COST_PIPELINES_DUCKDB_PATH": str(warehouse), "COST_PIPELINES_BUDGETS": str(budgets),
                "COST_PIPELINES_SLACK_WEBHOOK_URL": r.slack, "COST_PIPELINES_WEBHOOK_URL": r.webhook,
                "COST_PIPELINES_WEBHOOK_SECRET": SIGNING_SECRET, "COST_PIPELINES_SMTP_USERNAME": smtp.username,
                "COST_PIPELINES_SMTP_PASSWORD": SMTP_PASSWORD, "COST_PIPELINES_EMAIL_FROM": "costs@example.com",
                "COST_PIPELINES_EMAIL_TO": "finops@example.com", "COST_PIPELINES_NOTIFY_TIMEOUT_SECONDS": "1",
            }  # fmt: skip
            env = product_env(home, data, **(settings | r.smtp))
            run = execute_job("alerts_job", env, data)
            (data / "stdout.txt").write_text(run.stdout)
            (data / "stderr.txt").write_text(run.stderr)
            warehouses.append(warehouse)
            if run.returncode != 0:
                problems.append(f"{r.name}: the run failed: {run.stderr[-2000:]}")
                continue
            with duckdb.connect(str(warehouse), read_only=True) as con:
                stored = con.execute("SELECT channel, a.error FROM alerts.notification_attempts a "
                                     "JOIN alerts.notification_log USING (notification_id)").fetchall()  # fmt: skip
            for channel, errors in r.expected.items():  # every path was driven, its error stored on the notification
                if {e for c, e in stored if c == channel and e} != errors:
                    problems.append(f"{r.name}, {channel}: {stored}")

    # no secret written anywhere ...
    assert files_holding(tmp_path, SECRETS) == {}
    for warehouse in warehouses:
        text = warehouse_text(warehouse)
        assert [s for s in SECRETS if s in text] == []
    # ... though every error path was driven and stored on its own notification
    assert problems == []
    # and the planted values were really used: requests reached the token paths, signed with the secret, and the SMTP
    # server accepted the password (its login in the "answers" round)
    slack, hooks = receiver.received(SLACK_PATH), receiver.received(HOOK_PATH)
    assert slack and hooks and smtp.receiver.messages
    headers, body = hooks[-1]
    assert headers["X-Cost-Pipelines-Signature"] == sign(SIGNING_SECRET, headers["X-Cost-Pipelines-Timestamp"], body)
    assert json.loads(body)["kind"] == "budget_actual"
