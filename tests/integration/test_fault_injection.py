"""Real processes killed at every point of a multi-day daily run, then the ordinary command run again: every mart
ends exactly as after a clean run, with no manual step.

The daily job runs as `cost-pipelines demo` runs it (`dagster job execute` over a range of days, one run) in a
subprocess. It is killed with SIGKILL at named crash points of the ingest (before and after writing a day's
files, inside the commit, after the commit) and, from outside, while a day's normalised file is being written and
while dbt builds. Each killed run starts from what the one before it left, so each must first get past that
state; the last run is the command line's own (`run_daily_job_range`).
"""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cost_pipelines.sample_data.generate import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAYS = (date(2026, 10, 13), date(2026, 10, 14))
RANGE_TAGS = {
    "dagster/asset_partition_range_start": DAYS[0].isoformat(),
    "dagster/asset_partition_range_end": DAYS[-1].isoformat(),
}
# Rows of the second day's large log file: enough that writing its normalised copy takes a while to catch.
LARGE_DAY_ROWS = 300_000


def _large_log(path: Path, day: date) -> None:
    """A Parquet log that is not canonical (its timestamp column has another name), so ingest rewrites it."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    n = LARGE_DAY_ROWS
    table = pa.table({
        "request_id": pa.array([f"bulk-{i}" for i in range(n)]),
        "timestamp": pa.array([start + timedelta(milliseconds=i * 100) for i in range(n)], pa.timestamp("ms", "UTC")),
        "provider": pa.array(["openai"] * n),
        "model": pa.array(["gpt-4o-mini-2024-07-18"] * n),
        "input_tokens": pa.array([200 + i % 1000 for i in range(n)], pa.int64()),
        "output_tokens": pa.array([20 + i % 50 for i in range(n)], pa.int64()),
        "team": pa.array(["batch"] * n),
        "status": pa.array(["ok"] * n),
    })  # fmt: skip
    pq.write_table(table, path)


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    logs = tmp_path_factory.mktemp("logs")
    generate(logs, DAYS[0], DAYS[-1])
    _large_log(logs / DAYS[1].isoformat() / "bulk.parquet", DAYS[1])
    return logs


def _environment(tmp: Path, logs: Path) -> dict[str, str]:
    return {
        **os.environ,
        "COST_PIPELINES_DATA_DIR": str(tmp / "data"),
        "DAGSTER_HOME": str(tmp / "dagster_home"),
        "COST_PIPELINES_LLM_LOGS_DIR": str(logs),
        "COST_PIPELINES_FOCUS_DIR": str(tmp / "focus"),
        "COST_PIPELINES_CE_SOURCE": "recorded",
    }


def _start_run(env: dict[str, str]) -> subprocess.Popen:
    """daily_cost_job over both days as one run, in its own process group (dbt runs inside it)."""
    (Path(env["DAGSTER_HOME"])).mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "cost_pipelines.definitions",
               "-j", "daily_cost_job", "--tags", json.dumps(RANGE_TAGS)]  # fmt: skip
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def _rerun(env: dict[str, str]) -> None:
    """What the user does next: the same command again."""
    code = (
        "from datetime import date\n"
        "from cost_pipelines.cli import _dagster_home, run_daily_job_range\n"
        "_dagster_home()\n"
        f"run_daily_job_range(date({DAYS[0].year}, {DAYS[0].month}, {DAYS[0].day}), "
        f"date({DAYS[-1].year}, {DAYS[-1].month}, {DAYS[-1].day}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _kill_when(process: subprocess.Popen, ready: Callable[[], bool], what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert process.poll() is None, f"the run ended (exit {process.returncode}) before {what}"
            assert time.monotonic() < deadline, f"gave up after {timeout:.0f} s waiting for {what}"
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def _numeric_totals(path: Path) -> dict[str, tuple]:
    """Each mart (and the summed requests) as its row count and the sum of every exact numeric column."""
    totals = {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND (table_schema = 'marts' OR (table_schema, table_name) = ('intermediate', 'int_llm_requests_summed')) "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            columns = [
                name
                for name, kind in con.execute(
                    "SELECT column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                    [schema, table],
                ).fetchall()
                if kind.startswith("DECIMAL") or kind in ("BIGINT", "INTEGER", "HUGEINT")
            ]
            sums = ", ".join(f'sum("{c}")' for c in columns)
            totals[f"{schema}.{table}"] = con.execute(
                f"SELECT count(*){', ' + sums if sums else ''} FROM {schema}.{table}"
            ).fetchone()
        totals["raw.llm_requests"] = con.execute("SELECT count(*), sum(input_tokens) FROM raw.llm_requests").fetchone()
    return totals


def _store_versions(tmp: Path) -> list[str]:
    store = tmp / "data" / "warehouse.llm_requests"
    return sorted(str(p.relative_to(store)) for p in store.glob("usage_date=2026-*/version=*"))


@pytest.fixture(scope="module")
def clean(logs: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple]:
    tmp = tmp_path_factory.mktemp("clean")
    _rerun(_environment(tmp, logs))
    totals = _numeric_totals(tmp / "data" / "warehouse.duckdb")
    assert totals["raw.llm_requests"][0] > LARGE_DAY_ROWS and totals["marts.fct_costs"][0] > 0
    return totals


def _killed_at(env: dict[str, str], point: str, day: date) -> None:
    """A run that must get as far as `point` of `day` (so past whatever the runs before it left) and dies there."""
    run = _start_run({**env, "COST_PIPELINES_CRASH_AT": f"{point}@{day}"})
    assert run.wait(timeout=600) == -signal.SIGKILL, f"the run did not reach {point} of {day}"


def test_every_kill_leaves_a_state_the_next_run_repairs(logs: Path, clean: dict[str, tuple], tmp_path: Path) -> None:
    """One warehouse, one killed run after another, each starting from what the last one left; then the ordinary
    command once more."""
    env = _environment(tmp_path, logs)
    store = tmp_path / "data" / "warehouse.llm_requests"
    # killed in the second day of the first run, before anything of that day was written
    _killed_at(env, "ingest.before_write", DAYS[1])
    # the first day stored again; the second day's files complete, but no commit lists them
    _killed_at(env, "ingest.after_write", DAYS[1])
    assert len(list((store / f"usage_date={DAYS[1]}").glob("version=*"))) == 1
    # inside the transaction that lists them
    _killed_at(env, "ingest.before_commit", DAYS[1])
    # the first day's new version committed, its old files still on disk
    _killed_at(env, "ingest.after_commit", DAYS[0])
    assert sorted(p.name for p in (store / f"usage_date={DAYS[0]}").iterdir()) == ["version=3", "version=4"]

    # killed from outside while the second day's rows are being written: a file cut short
    day_dir = store / f"usage_date={DAYS[1]}"
    before = set(day_dir.glob("version=*/**/*.parquet"))
    run = _start_run(env)
    _kill_when(run, lambda: bool(set(day_dir.glob("version=*/**/*.parquet")) - before), "the day's file")
    [left] = set(day_dir.glob("version=*/**/*.parquet")) - before
    with pytest.raises(pa.ArrowInvalid):
        pq.read_metadata(left)  # what every later run used to trip over

    # killed while dbt builds, well into the build
    run = _start_run(env)
    seen: list[float] = []

    def building_for_a_while() -> bool:
        if not _dbt_building(run.pid):
            return False
        seen.append(time.monotonic())
        return seen[-1] - seen[0] > 2.0

    _kill_when(run, building_for_a_while, "dbt to build")

    _rerun(env)
    assert _numeric_totals(tmp_path / "data" / "warehouse.duckdb") == clean
    # one version of each day is left on disk, the one in force
    assert [v.split("/")[0] for v in _store_versions(tmp_path)] == [f"usage_date={d}" for d in DAYS]


def _dbt_building(group: int) -> bool:
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            command = (proc / "cmdline").read_bytes().split(b"\0")
            in_group = os.getpgid(int(proc.name)) == group
        except OSError:
            continue
        if in_group and any(part.endswith(b"/dbt") for part in command) and b"build" in command:
            return True
    return False
