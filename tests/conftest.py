import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_executable() -> str:
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else "dbt"


def pytest_configure(config: pytest.Config) -> None:
    # Whatever the tests write by default (reports, metrics, downloads) goes to a scratch folder, never ./data.
    if "COST_PIPELINES_DATA_DIR" not in os.environ:
        os.environ["COST_PIPELINES_DATA_DIR"] = tempfile.mkdtemp(prefix="cost-pipelines-tests-")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Importing the Dagster definitions needs the dbt manifest; `make test` builds it, this covers bare pytest.
    if not (DBT_DIR / "target" / "manifest.json").exists():
        subprocess.run([dbt_executable(), "parse", "--profiles-dir", ".", "--quiet"], cwd=DBT_DIR, check=True)


def run_dbt_build(duckdb_path: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COST_PIPELINES_DUCKDB_PATH": str(duckdb_path)}
    return subprocess.run(
        [dbt_executable(), "build", "--profiles-dir", ".", "--target-path", str(duckdb_path.parent / "dbt_target"),
         "--log-path", str(duckdb_path.parent / "dbt_logs"),
         *extra],
        cwd=DBT_DIR, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
