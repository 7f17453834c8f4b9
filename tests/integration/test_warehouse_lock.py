"""Another process holding the warehouse open (an analyst's notebook, a duckdb shell): runs wait for it within a
bound, then fail saying which process holds it and what to do; a snapshot can be queried without blocking runs."""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cost_pipelines.defs.ingest import llm_prices
from cost_pipelines.resources import WarehouseResource
from cost_pipelines.warehouse import WarehouseBusy, connect

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def holder(path: Path, seconds: float, read_only: bool = True) -> Iterator[subprocess.Popen]:
    """A separate process with the file open, as an analyst's session has it, for `seconds` (then it exits)."""
    code = (
        "import duckdb, sys, time\n"
        f"con = duckdb.connect({str(path)!r}, read_only={read_only})\n"
        "print('holding', flush=True)\n"
        f"time.sleep({seconds})\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "holding"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.duckdb"
    with connect(path) as con:
        con.execute("CREATE TABLE notes AS SELECT 1 AS n")
    return path


def test_a_writer_waits_then_names_the_process_holding_the_file(warehouse: Path) -> None:
    said = []
    with (
        holder(warehouse, 60) as analyst,
        pytest.raises(WarehouseBusy) as refused,
        connect(warehouse, lock_timeout=1.5, on_wait=said.append),
    ):
        pass
    message = str(refused.value)
    assert f"locked by process {analyst.pid} (" in message and "read-only" in message
    assert "waited 1 s" in message or "waited 2 s" in message
    assert "cost-pipelines snapshot" in message and "COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT" in message
    assert said == [f"waiting up to 2 s for the warehouse: process {analyst.pid} holds its lock"]


def test_a_writer_goes_on_once_the_holder_lets_go(warehouse: Path) -> None:
    with holder(warehouse, 1.0), connect(warehouse, lock_timeout=60) as con:
        con.execute("INSERT INTO notes VALUES (2)")
    with connect(warehouse, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM notes").fetchone()[0] == 2


def test_an_asset_run_fails_with_the_holder_named_and_succeeds_once_it_is_gone(
    warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT", "1")
    resources = {"warehouse": WarehouseResource(path=str(warehouse))}
    with holder(warehouse, 60) as analyst:
        failed = dg.materialize([llm_prices], resources=resources, raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert f"locked by process {analyst.pid}" in failure.event_specific_data.error.to_string()
    monkeypatch.setenv("COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT", "60")
    with holder(warehouse, 1.0):
        assert dg.materialize([llm_prices], resources=resources).success


def test_a_snapshot_is_queried_while_runs_write(warehouse: Path, tmp_path: Path) -> None:
    env = {**os.environ, "COST_PIPELINES_DUCKDB_PATH": str(warehouse), "COST_PIPELINES_WAREHOUSE_LOCK_TIMEOUT": "30"}
    target = tmp_path / "copy.duckdb"
    # an analyst already reading the warehouse does not stop the snapshot (readers share the file)
    with holder(warehouse, 60):
        made = subprocess.run(
            [sys.executable, "-m", "cost_pipelines.cli", "snapshot", "--to", str(target)],
            env=env, capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert f"written to {target}" in made.stdout
    # the analyst queries the copy for as long as they like
    with holder(target, 60), connect(warehouse, lock_timeout=0) as con:
        con.execute("INSERT INTO notes VALUES (3)")
    with duckdb.connect(str(target), read_only=True) as con:
        assert con.execute("SELECT n FROM notes").fetchall() == [(1,)]
