"""Failed daily runs, read from the Dagster instance whatever started them: the schedule, the UI, a sensor,
`dagster job execute` or `cost-pipelines demo` (a run status sensor would only see runs launched from its own code
location, which runs of `dagster job execute` are not).

Run failures are read in the order the instance recorded them. Each successful alerts run stores the failures after
the point the previous successful one read to and records its own (`run_failures_until` in its materialization),
so a failure is announced by the first alerts run that succeeds after it, however many failed in between.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from cost_pipelines.defs.jobs import daily_cost_job

LOOKBACK = timedelta(days=7)  # how far back the first read goes, before any alerts run has recorded its point
FAILURES_PER_READ = 100
_CREDENTIALS_IN_URL = re.compile(r"://[^/\s@]+@")


@dataclass(frozen=True)
class RunFailure:
    run_id: str
    job_name: str
    error: str


def _error(instance: dg.DagsterInstance, run_id: str, fallback: str) -> str:
    """The first failed step and the first line of what it raised (not Dagster's wrapper around it)."""
    for entry in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        data = entry.dagster_event.step_failure_data if entry.dagster_event else None
        error = data.error if data else None
        if error is None:
            continue
        while error.cause is not None:
            error = error.cause
        first_line = (error.message.strip().splitlines() or [""])[0]
        return _CREDENTIALS_IN_URL.sub("://***@", f"step {entry.step_key} failed: {first_line}")
    return fallback


def failures_after(
    instance: dg.DagsterInstance, after: int | None, now: datetime, limit: int = FAILURES_PER_READ
) -> tuple[list[RunFailure], int | None]:
    """daily_cost_job failures recorded after storage id `after` (with none, those of the last LOOKBACK), and the
    storage id read to (`after` when there was nothing new)."""
    records_filter = dg.RunStatusChangeRecordsFilter(
        event_type=dg.DagsterEventType.RUN_FAILURE,
        after_storage_id=after,
        after_timestamp=None if after is not None else (now - LOOKBACK).timestamp(),
    )
    records = instance.fetch_run_status_changes(records_filter, limit=limit, ascending=True).records
    failures = [
        RunFailure(r.event_log_entry.run_id, daily_cost_job.name,
                   _error(instance, r.event_log_entry.run_id, r.event_log_entry.message or "run failed"))
        for r in records
        if r.event_log_entry.job_name == daily_cost_job.name
    ]  # fmt: skip
    return failures, records[-1].storage_id if records else after
