"""The product as a user runs it, for the fault tests: `dagster job execute` in a subprocess against a real SQLite
DAGSTER_HOME, configured only through the environment, and another process holding the warehouse open (an analyst's
session) so that runs meet DuckDB's lock."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cost_pipelines.instance import EMBEDDED_INSTANCE_CONFIG

DAGSTER = str(Path(sys.executable).parent / "dagster")
_HOLD_LOCK = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "con.close()\n"
)


def dagster_home(directory: Path) -> Path:
    """A Dagster instance on SQLite, configured as `cost-pipelines` configures its own."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "dagster.yaml").write_text(EMBEDDED_INSTANCE_CONFIG)
    return directory


# How long a product process waits for a warehouse another process holds: short, so that tests meet the lock.
LOCK_WAIT_SECONDS = "2"


def product_env(home: Path, data_dir: Path, **variables: str) -> dict[str, str]:
    """The environment of a product process: this one's, without any COST_PIPELINES_ or DAGSTER_ setting of its
    own, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COST_PIPELINES_", "DAGSTER_"))}
    return {**env, "DAGSTER_HOME": str(home), "COST_PIPELINES_DATA_DIR": str(data_dir),
            "COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT": LOCK_WAIT_SECONDS,
            "COST_PIPELINES_ALERTS_TODAY": os.environ.get("COST_PIPELINES_ALERTS_TODAY", ""),
            "COST_PIPELINES_DAILY_SCHEDULE": "off", **variables}  # fmt: skip


def job_command(job: str, tags: dict[str, str] | None = None) -> list[str]:
    return [DAGSTER, "job", "execute", "-m", "cost_pipelines.definitions", "-j", job, "--tags", json.dumps(tags or {})]


def execute_job(job: str, env: dict[str, str], cwd: Path, tags: dict[str, str] | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:  # fmt: skip
    return subprocess.run(job_command(job, tags), env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)  # fmt: skip


@contextmanager
def warehouse_locked(path: Path) -> Iterator[None]:
    """Another process holds the DuckDB file open for writing until the block ends."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait(timeout=30)


def files_holding(root: Path, needles: list[str]) -> dict[str, list[str]]:
    """Every file under `root` (any format: SQLite, logs, DuckDB) that holds one of `needles`: needle -> files."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        for needle in needles:
            if needle.encode() in content:
                found.setdefault(needle, []).append(str(path.relative_to(root)))
    return found


def warehouse_text(path: Path) -> str:
    """Every value of every table of a DuckDB file, as text."""
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables").fetchall()
        return "\n".join(repr(con.execute(f'SELECT * FROM "{s}"."{t}"').fetchall()) for s, t in tables)
