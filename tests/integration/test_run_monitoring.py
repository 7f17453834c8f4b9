"""A run killed with its process (kill -9, a closed terminal) on the embedded instance: the daemon's run monitoring
fails it and the queue behind it moves; without the daemon, the next command-line run marks it failed."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from cost_pipelines.instance import fail_dead_runs, run_worker_health
from cost_pipelines.sample_data.generate import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 10, 13)
BIN = Path(sys.executable).parent


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project data dir with one day of sample logs and the embedded instance the command line sets up."""
    from cost_pipelines.cli import _dagster_home

    monkeypatch.setenv("COST_PIPELINES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("COST_PIPELINES_CE_SOURCE", "recorded")
    generate(tmp_path / "data" / "sample_logs", DAY, DAY)
    home = _dagster_home()
    with dg.DagsterInstance.from_config(str(home)):
        pass  # its storage is created once, before several processes open it
    return home


def _wait(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def _runs(home: Path) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_runs())


def _killed_daily_run(home: Path) -> str:
    """Start the daily job as `cost-pipelines demo` does, kill its process group once it executes steps."""
    tags = {"dagster/partition": DAY.isoformat()}
    process = subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "cost_pipelines.definitions", "-j",
         "daily_cost_job", "--tags", json.dumps(tags)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:

        def executing() -> bool:
            with dg.DagsterInstance.from_config(str(home)) as instance:
                runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
                return bool(runs) and any(
                    e.message.startswith("Executing steps in process") for e in instance.all_logs(runs[0].run_id)
                )

        _wait(executing, "the daily run to execute its steps", 180)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    [run] = _runs(home)
    assert run.status == dg.DagsterRunStatus.STARTED  # what a killed process leaves
    return run.run_id


@contextmanager
def daemon(home: Path) -> Iterator[subprocess.Popen]:
    process = subprocess.Popen(
        [str(BIN / "dagster-daemon"), "run", "-m", "cost_pipelines.definitions"], cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def test_the_daemon_fails_a_killed_run_and_the_queue_moves_on(home: Path) -> None:
    dead = _killed_daily_run(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        health = run_worker_health(instance, instance.get_run_by_id(dead))
    assert health.status.value == "FAILED" and "is gone" in health.msg
    launched = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "launch", "-m", "cost_pipelines.definitions", "-j", "alerts_job"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert launched.returncode == 0, launched.stderr[-2000:]
    [queued] = [r for r in _runs(home) if r.job_name == "alerts_job"]
    assert queued.status == dg.DagsterRunStatus.QUEUED

    def status(run_id: str) -> dg.DagsterRunStatus:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            return instance.get_run_by_id(run_id).status

    with daemon(home):
        _wait(lambda: status(dead) == dg.DagsterRunStatus.FAILURE, "run monitoring to fail the killed run", 180)
        _wait(lambda: status(queued.run_id) != dg.DagsterRunStatus.QUEUED, "the queued run to start", 120)


def test_the_next_command_line_run_marks_a_killed_run_failed(home: Path) -> None:
    dead = _killed_daily_run(home)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert fail_dead_runs(instance) == [dead]
        assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
        assert fail_dead_runs(instance) == []
