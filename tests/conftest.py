import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from cost_pipelines.warehouse import connect

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


# The test data's spend lies in August to November 2026. Alerts runs take this day as today, so what the tests
# raise is news, not history (an alert about a period that ended before today is recorded, not sent); the tests of
# that rule set their own day.
ALERTS_TODAY = "2026-10-01"


def pytest_configure(config: pytest.Config) -> None:
    # Whatever the tests write by default (reports, metrics, downloads) goes to a scratch folder, never ./data.
    if "COST_PIPELINES_DATA_DIR" not in os.environ:
        os.environ["COST_PIPELINES_DATA_DIR"] = tempfile.mkdtemp(prefix="cost-pipelines-tests-")
    os.environ.setdefault("COST_PIPELINES_ALERTS_TODAY", ALERTS_TODAY)
    # The daily schedule is on by default; no daemon a test starts should launch the day's run by itself.
    os.environ.setdefault("COST_PIPELINES_DAILY_SCHEDULE", "off")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Importing the Dagster definitions needs the dbt manifest; `make test` builds it, this covers bare pytest.
    if not (DBT_DIR / "target" / "manifest.json").exists():
        subprocess.run([dbt_executable(), "parse", "--profiles-dir", ".", "--quiet"], cwd=DBT_DIR, check=True)


def priced_request_costs(duckdb_path: Path) -> dict[str, Decimal | None]:
    """Build the priced-requests view into the warehouse and read every request's total cost from it."""
    result = run_dbt_build(duckdb_path, "--select", "+int_llm_requests_priced")
    assert result.returncode == 0, result.stdout[-4000:]
    with connect(duckdb_path, read_only=True) as con:
        return dict(
            con.execute("SELECT request_id, total_cost_usd FROM intermediate.int_llm_requests_priced").fetchall()
        )


def run_dbt_build(duckdb_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COST_PIPELINES_DUCKDB_PATH": str(duckdb_path)}
    return subprocess.run(
        [dbt_executable(), "build", "--profiles-dir", ".", "--target-path", str(duckdb_path.parent / "dbt_target"),
         "--log-path", str(duckdb_path.parent / "dbt_logs"),
         *extra],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
