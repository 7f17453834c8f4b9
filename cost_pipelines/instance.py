"""The embedded Dagster instance: runs on this machine, one at a time, and a run whose process died is failed.

Dagster's run monitoring (in the daemon that `dagster dev` starts) asks the run launcher whether each started
run's process is still alive; the default launcher cannot tell, so a run killed with its process (`kill -9`, a
closed terminal, an out-of-memory kill) would stay "started" forever, and with one run at a time nothing queued
behind it would ever start. `LocalRunLauncher` answers from the process id every run records when it starts
executing steps. It only knows this machine's processes: it is for instances whose runs execute where the
instance lives (SQLite under DAGSTER_HOME).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._serdes import ConfigurableClassData

# SQLite storage under DAGSTER_HOME (Dagster's default). DuckDB takes one writer per file, so runs queue and
# execute one at a time (the queue is served by the daemon that `dagster dev` starts); the daemon's run
# monitoring fails a run whose process is gone, so the queue moves on.
EMBEDDED_INSTANCE_CONFIG = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
run_launcher:
  module: cost_pipelines.instance
  class: LocalRunLauncher
run_monitoring:
  enabled: true
  poll_interval_seconds: 15
  start_timeout_seconds: 300
  max_resume_run_attempts: 0
"""


def run_process(instance: dg.DagsterInstance, run_id: str) -> tuple[int, float] | None:
    """(pid, when it was recorded) of the process executing the run's steps, from its latest engine event."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    for record in reversed(records):
        metadata = record.dagster_event.event_specific_data.metadata if record.dagster_event else {}
        pid = metadata.get("pid")
        if pid is not None and str(pid.value).isdigit():
            return int(pid.value), record.timestamp
    return None


def process_is_alive(pid: int, not_started_after: float) -> bool:
    """Whether process `pid` runs here and is the one that started by `not_started_after` (a later process with
    a reused id is not it; a zombie is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return _signal_says_alive(pid)
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):
        return False
    started = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= not_started_after + 1.0


def _signal_says_alive(pid: int) -> bool:
    """Where /proc is missing (macOS): signal 0 tells whether the id is in use."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    raise RuntimeError("/proc/stat has no btime")


def run_worker_health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> CheckRunHealthResult:
    found = run_process(instance, run.run_id)
    if found is None:  # not executing steps yet: starting runs are watched by start_timeout_seconds
        return CheckRunHealthResult(WorkerStatus.RUNNING, "no run process recorded yet")
    pid, recorded_at = found
    if process_is_alive(pid, recorded_at):
        return CheckRunHealthResult(WorkerStatus.RUNNING, f"process {pid} is running")
    return CheckRunHealthResult(
        WorkerStatus.FAILED, f"the run's process {pid} is gone (killed or crashed) without finishing the run"
    )


class LocalRunLauncher(DefaultRunLauncher):
    """Dagster's default launcher, able to tell run monitoring whether a run's process on this machine is alive."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]) -> LocalRunLauncher:
        return cls(inst_data=inst_data)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> CheckRunHealthResult:
        return run_worker_health(self._instance, run)


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed every started run whose process is gone, as run monitoring does; the ids. For the command line,
    which starts runs without the daemon."""
    failed = []
    for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])):
        health = run_worker_health(instance, run)
        if health.status == WorkerStatus.FAILED:
            instance.report_run_failed(run, f"{health.msg}; marked failed {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            failed.append(run.run_id)
    return failed
