"""`cost-pipelines doctor` as a person runs it: a real process on a scratch installation, every area reported,
problems named with the variable to fix, secrets never shown, exit 2 on a problem."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "cost-pipelines")
SLACK_TOKEN = "doctor-slack-token-4f1e"
SMTP_PASSWORD = "doctor-smtp-password-9c2a"
BUDGETS = "budgets:\n  - {name: all, period: monthly, limit_usd: 100, notify: [slack, file]}\n"


@pytest.fixture
def installation(tmp_path: Path) -> dict[str, str]:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    (tmp_path / "logs" / yesterday.isoformat()).mkdir(parents=True)
    (tmp_path / "logs" / yesterday.isoformat() / "requests.jsonl").write_text("{}\n")
    (tmp_path / "budgets.yaml").write_text(BUDGETS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COST_PIPELINES_", "AWS_", "OPENAI_", "ANTHROPIC"))}
    return env | {
        "COST_PIPELINES_DATA_DIR": str(tmp_path), "COST_PIPELINES_LLM_LOGS_DIR": str(tmp_path / "logs"),
        "COST_PIPELINES_BUDGETS": str(tmp_path / "budgets.yaml"), "COST_PIPELINES_CE_SOURCE": "recorded",
        "COST_PIPELINES_START_DATE": "2026-08-01", "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "COST_PIPELINES_SLACK_WEBHOOK_URL": f"https://hooks.slack.com/services/T1/B1/{SLACK_TOKEN}",
    }  # fmt: skip


def doctor(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "doctor"], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_ready_installation_passes_and_says_what_the_next_run_pulls(installation: dict[str, str]) -> None:
    done = doctor(installation)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for area in ("warehouse:", "start date:", "budgets:", "channels:", "LLM logs:", "Cost Explorer:",
                 "provider usage:", "FOCUS exports:"):  # fmt: skip
        assert area in out
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    assert f": 1 file(s) for {yesterday}" in out and f"the next scheduled run processes {yesterday}" in out
    assert "ok    slack: configured" in out and "budgets.yaml: 1 budget(s)" in out
    assert "warn  email is not configured: set COST_PIPELINES_SMTP_HOST" in out
    assert "OPENAI_ADMIN_KEY not set" in out and "recorded sample" in out
    assert SLACK_TOKEN not in out + done.stderr and "Traceback" not in done.stderr


def test_problems_are_named_exit_2_and_secrets_stay_unshown(installation: dict[str, str], tmp_path: Path) -> None:
    broken = installation | {
        "COST_PIPELINES_BUDGETS": str(tmp_path / "budget.yaml"),  # a typo of budgets.yaml
        "COST_PIPELINES_SLACK_WEBHOOK_URL": f"hooks.slack.com/services/T1/B1/{SLACK_TOKEN}",  # pasted without https
        "COST_PIPELINES_SMTP_HOST": "mail.example.com", "COST_PIPELINES_SMTP_PASSWORD": SMTP_PASSWORD,
        "COST_PIPELINES_LLM_LOGS_DIR": str(tmp_path / "no-logs"), "COST_PIPELINES_START_DATE": "2099-01-01",
        "COST_PIPELINES_CE_SOURCE": "aws",
    }  # fmt: skip
    done = doctor(broken)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    out = done.stdout
    assert "FAIL" in out and str(tmp_path / "budget.yaml") in out
    assert "FAIL  slack: COST_PIPELINES_SLACK_WEBHOOK_URL must start with https://" in out
    assert "FAIL  email: COST_PIPELINES_EMAIL_FROM is not set; COST_PIPELINES_EMAIL_TO is not set" in out
    assert f"FAIL  {tmp_path / 'no-logs'} does not exist (COST_PIPELINES_LLM_LOGS_DIR)" in out
    assert "FAIL  2099-01-01 is after today" in out
    assert "FAIL  COST_PIPELINES_CE_SOURCE=aws but no AWS credentials were found" in out
    assert out.count("FAIL") == 6, out
    assert SLACK_TOKEN not in out + done.stderr and SMTP_PASSWORD not in out + done.stderr
