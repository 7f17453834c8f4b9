"""The sensors that request alerts_job runs.

They read only the Dagster instance (materializations, runs, run failures) and request runs: a sensor that opened
the warehouse file, even read-only, could take the lock a running dbt step needs. What they know of the alerts
therefore comes from the alerts runs themselves: each successful one records when the next notification is due and
how far it has read the run failures; a failed one (the warehouse was locked, the process was killed and marked
failed) is followed by another, sooner or later (at once, then after 1, 2, 4 ... minutes, at most an hour apart), so
a notification left pending or in flight by it is found whatever happened to that run.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dagster as dg

from cost_pipelines.defs.alerts import BUDGET_STATUS, COST_ALERTS, alerts_job, announced_until
from cost_pipelines.defs.analytics import COST_ANOMALIES
from cost_pipelines.defs.run_failures import failures_after
from cost_pipelines.resources import channels_set_in_environment

WATCHED = {"budget_status": BUDGET_STATUS, "cost_anomalies": COST_ANOMALIES}
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]  # fmt: skip
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
TRIGGER_TAG = "cost_pipelines/trigger"
RECOVERY_BASE_SECONDS = 60
RECOVERY_MAX_SECONDS = 3600
Decision = tuple[dg.RunRequest | None, dict, str]  # the run to request (or None), the new cursor, why


def recovery_delay(failed_in_a_row: int) -> timedelta:
    """The wait after the last of `failed_in_a_row` failed alerts runs before the next is requested."""
    if failed_in_a_row <= 1:
        return timedelta(0)
    return timedelta(seconds=min(RECOVERY_BASE_SECONDS * 2 ** (failed_in_a_row - 2), RECOVERY_MAX_SECONDS))


def _in_flight(instance: dg.DagsterInstance) -> dg.DagsterRun | None:
    running = instance.get_runs(dg.RunsFilter(job_name=alerts_job.name, statuses=IN_FLIGHT), limit=1)
    return running[0] if running else None


def _newest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None) -> int | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1)
    return records.records[0].storage_id if records.records else None


def _tick(
    context: dg.SensorEvaluationContext, decide: Callable[[dg.DagsterInstance, dict, datetime], Decision]
) -> dg.SensorResult | dg.SkipReason:
    """One sensor evaluation: nothing while an alerts run is in flight, else what `decide` says."""
    running = _in_flight(context.instance)
    if running:
        return dg.SkipReason(f"alerts run {running.run_id} is still in flight")
    before = json.loads(context.cursor) if context.cursor else {}
    request, cursor, reason = decide(context.instance, before, datetime.now(UTC))
    if request is not None:
        context.log.info(reason)
        return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor, sort_keys=True))
    if cursor == before:
        return dg.SkipReason(reason)
    return dg.SensorResult(skip_reason=reason, cursor=json.dumps(cursor, sort_keys=True))


def _recovery(instance: dg.DagsterInstance, cursor: dict, now: datetime) -> Decision:
    """After a failed alerts run: another one, at once after the first failure, then with a growing wait."""
    recent = instance.get_run_records(dg.RunsFilter(job_name=alerts_job.name, statuses=FINISHED), limit=12)
    failed = next((i for i, r in enumerate(recent) if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS),
                  len(recent))  # fmt: skip
    last = recent[0]
    run_id = last.dagster_run.run_id
    if cursor.get("recovered") == run_id:
        return None, cursor, f"alerts run {run_id} failed; the run requested after it has not finished"
    ended = datetime.fromtimestamp(last.end_time or last.update_timestamp.timestamp(), UTC)
    due = ended + recovery_delay(failed)
    if due > now:
        return None, cursor, (f"{failed} alerts run(s) in a row failed, the last {run_id}; "
                              f"the next is requested at {due:%Y-%m-%d %H:%M:%S} UTC")  # fmt: skip
    request = dg.RunRequest(run_key=f"recover:{run_id}", tags={TRIGGER_TAG: "recover"})
    return request, {**cursor, "recovered": run_id}, f"alerts run {run_id} failed: requesting another"


def alert_requests(instance: dg.DagsterInstance, cursor: dict, now: datetime) -> Decision:
    """What the budget alert sensor does on a tick: (the run to request or None, the new cursor, why).

    A new materialization of budget_status or cost_anomalies requests an evaluation. Otherwise, when the last
    finished alerts run failed, another one (with a growing wait); when it succeeded and left notifications waiting
    for a channel that is configured now, a run at once; when it left notifications waiting for a retry, a run once
    the earliest is due. Run keys make each request once.
    """
    newest = {name: _newest_storage_id(instance, key, cursor.get(name)) for name, key in WATCHED.items()}
    changed = {name: sid for name, sid in newest.items() if sid is not None}
    if changed:
        cursor = {**cursor, **changed}
        key = "evaluate:" + ",".join(f"{name}={cursor.get(name)}" for name in WATCHED)
        return dg.RunRequest(run_key=key, tags={TRIGGER_TAG: "materialization"}), cursor, "new facts to evaluate"
    last = instance.get_runs(dg.RunsFilter(job_name=alerts_job.name, statuses=FINISHED), limit=1)
    if last and last[0].status != dg.DagsterRunStatus.SUCCESS:
        return _recovery(instance, cursor, now)
    latest = instance.fetch_materializations(COST_ALERTS, limit=1).records
    idle = "no new budget status or anomalies, and no notification due for a retry"
    if not latest:
        return None, cursor, idle
    waiting = latest[0].asset_materialization.metadata.get("waiting_for_channels")
    configured = sorted({c.strip() for c in str(waiting.value if waiting else "").split(",") if c.strip()}
                        & channels_set_in_environment())  # fmt: skip
    # Once per channel: a run that still finds it unconfigured (another environment) is not asked for again.
    if set(configured) - set(cursor.get("configured", [])):
        cursor = {**cursor, "configured": configured}
        key = f"configured:{latest[0].storage_id}:{','.join(configured)}"
        request = dg.RunRequest(run_key=key, tags={TRIGGER_TAG: "channel_configured"})
        return request, cursor, f"notifications waiting for {', '.join(configured)}, now configured"
    if configured != cursor.get("configured", configured):
        cursor = {**cursor, "configured": configured}
    if latest[0].storage_id == cursor.get("retried"):
        return None, cursor, idle
    due = latest[0].asset_materialization.metadata.get("next_retry_at")
    if due is None or not due.value:
        return None, cursor, idle
    if datetime.fromisoformat(due.value) > now:
        return None, cursor, f"the next notification is due at {due.value}"
    cursor = {**cursor, "retried": latest[0].storage_id}
    request = dg.RunRequest(run_key=f"retry:{latest[0].storage_id}", tags={TRIGGER_TAG: "retry"})
    return request, cursor, "notifications due for a retry"


def failure_requests(instance: dg.DagsterInstance, cursor: dict, now: datetime) -> Decision:
    """What the failure sensor does on a tick: an alerts run when a daily_cost_job run failed after what the last
    successful alerts run stored and after what this sensor already asked for."""
    announced = announced_until(instance)
    known = [point for point in (announced, cursor.get("read_until")) if point is not None]
    failures, read_until = failures_after(instance, max(known, default=None), now)
    if read_until is not None:
        cursor = {**cursor, "read_until": read_until}
    if not failures:
        waiting = failures_after(instance, announced, now)[0] if read_until != announced else []
        if waiting:  # asked for already; a failed alerts run is followed up by budget_alert_sensor
            return None, cursor, (f"{len(waiting)} failed daily run(s) not yet stored by a successful alerts run: "
                                  + ", ".join(f.run_id for f in waiting))  # fmt: skip
        return None, cursor, "no failed daily_cost_job run waiting to be told"
    runs = ", ".join(f.run_id for f in failures)
    request = dg.RunRequest(run_key=f"run_failure:{read_until}", tags={TRIGGER_TAG: "run_failure"})
    return request, cursor, f"failed daily runs to tell: {runs}"


def _alerts_sensor(name: str, description: str, decide: Callable[..., Decision]) -> dg.SensorDefinition:
    @dg.sensor(name=name, job=alerts_job, minimum_interval_seconds=30, default_status=dg.DefaultSensorStatus.RUNNING,
               description=description)  # fmt: skip
    def alerts_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return _tick(context, decide)

    return alerts_sensor


budget_alert_sensor = _alerts_sensor(
    "budget_alert_sensor",
    "Requests an alerts_job run when budget_status or cost_anomalies is materialized, again when notifications are "
    "due for a retry, and after a failed alerts run (at once, then 1, 2, 4 ... minutes apart, at most an hour). Its "
    "cursor holds the last materializations seen.",
    alert_requests,
)
daily_job_failure_sensor = _alerts_sensor(
    "daily_job_failure_sensor",
    "Requests an alerts_job run when daily_cost_job fails, however the run was started (schedule, UI, "
    "`dagster job execute`, `cost-pipelines demo`); the alerts run reads the failures from the instance and tells "
    "the run_failures channels of budgets.yaml. Until an alerts run has stored them they stay in the instance, and "
    "budget_alert_sensor keeps requesting runs.",
    failure_requests,
)
