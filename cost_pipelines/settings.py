"""Where things live. Every path can be moved with an environment variable; defaults are inside the checkout."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from datetime import date
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DATA_DIR_ENV = "COST_PIPELINES_DATA_DIR"
DUCKDB_PATH_ENV = "COST_PIPELINES_DUCKDB_PATH"
LLM_LOGS_DIR_ENV = "COST_PIPELINES_LLM_LOGS_DIR"
START_DATE_ENV = "COST_PIPELINES_START_DATE"
FOCUS_DIR_ENV = "COST_PIPELINES_FOCUS_DIR"
BUDGETS_ENV = "COST_PIPELINES_BUDGETS"
DUCKDB_MEMORY_LIMIT_ENV = "COST_PIPELINES_DUCKDB_MEMORY_LIMIT"
WAREHOUSE_LOCK_TIMEOUT_ENV = "COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT"
MODEL_ALIASES_ENV = "COST_PIPELINES_MODEL_ALIASES"

DEFAULT_START_DATE = "2026-08-01"


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, PROJECT_ROOT / "data")).resolve()


def duckdb_path() -> Path:
    return Path(os.environ.get(DUCKDB_PATH_ENV, data_dir() / "warehouse.duckdb")).resolve()


def llm_logs_dir() -> Path:
    return Path(os.environ.get(LLM_LOGS_DIR_ENV, data_dir() / "sample_logs")).resolve()


NOTIFICATIONS_DIR_ENV = "COST_PIPELINES_NOTIFICATIONS_DIR"


def notifications_dir() -> Path:
    """Where the file channel writes a text file per notification."""
    return Path(os.environ.get(NOTIFICATIONS_DIR_ENV) or data_dir() / "notifications").resolve()


def focus_exports_dir() -> Path:
    return Path(os.environ.get(FOCUS_DIR_ENV, data_dir() / "focus_exports")).resolve()


def budgets_path() -> Path:
    return Path(os.environ.get(BUDGETS_ENV, PROJECT_ROOT / "budgets.yaml")).resolve()


def budgets_path_origin() -> str:
    """Where the budgets path comes from, for messages about it."""
    return f"set by {BUDGETS_ENV}" if BUDGETS_ENV in os.environ else f"the default: {BUDGETS_ENV} is not set"


def model_aliases_path() -> Path | None:
    """The CSV of model aliases (`pricing.model_resolution`): the file the variable names, which must exist, else
    `model_aliases.csv` in the checkout when there is one."""
    if MODEL_ALIASES_ENV in os.environ:
        return Path(os.environ[MODEL_ALIASES_ENV]).resolve()
    default = PROJECT_ROOT / "model_aliases.csv"
    return default if default.exists() else None


def duckdb_memory_limit() -> str:
    """What DuckDB may hold in memory while ingesting and in dbt before it spills to disk (dbt reads the same
    variable in profiles.yml)."""
    return os.environ.get(DUCKDB_MEMORY_LIMIT_ENV, "1500MB")


def warehouse_lock_timeout() -> float:
    """Seconds a run waits for another process to let go of the warehouse file before it fails."""
    return float(os.environ.get(WAREHOUSE_LOCK_TIMEOUT_ENV, "120"))


def dbt_executable() -> str:
    """The dbt installed beside this interpreter, so an unactivated virtualenv (and `dagster dev` started from it)
    finds it; otherwise dbt from PATH."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def dbt_run_target_path(warehouse_path: str) -> Path:
    """dbt's target directory for runs against one warehouse: its partial-parse state survives from run to run.
    The first run starts from the build-time parse (`make manifest`), which dbt reuses when the profile matches."""
    digest = hashlib.sha1(str(Path(warehouse_path).resolve()).encode()).hexdigest()[:12]
    target = DBT_PROJECT_DIR / "target" / f"runs-{digest}"
    target.mkdir(parents=True, exist_ok=True)
    built = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if built.exists() and not (target / "partial_parse.msgpack").exists():
        shutil.copyfile(built, target / "partial_parse.msgpack")
    return target


def partitions_start_date() -> date:
    return date.fromisoformat(os.environ.get(START_DATE_ENV, DEFAULT_START_DATE))


ALERTS_TODAY_ENV = "COST_PIPELINES_ALERTS_TODAY"


def alerts_today() -> date | None:
    """The day alerts runs take as today, to replay a past day (unset: the UTC date). Alerts about a budget period
    that ended before it, or an older anomaly, are recorded, not sent."""
    value = os.environ.get(ALERTS_TODAY_ENV, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{ALERTS_TODAY_ENV} must be a day written YYYY-MM-DD") from None
