"""Budget and alert wiring: the budget status of each day, the alerts it and the anomalies raise, and the sensors
that trigger their evaluation and delivery.

Everything that reads or writes the DuckDB warehouse runs inside a Dagster run, and runs execute one at a time.
The sensors themselves only read the Dagster instance (materialization events, run status) and request runs: a
sensor that opened the warehouse file, even read-only, could take the lock a running dbt step needs.
"""

import json
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from pydantic import Field

from cost_pipelines import settings
from cost_pipelines.alerts.budgets import load_budgets, load_config
from cost_pipelines.alerts.evaluate import Alert, AnomalyRow, anomaly_alerts, budget_alerts, run_failure_alert
from cost_pipelines.alerts.outbox import RetryPolicy, deliver_due, next_retry_at, record_alerts
from cost_pipelines.alerts.scope_values import budget_scopes, unknown_scope_values
from cost_pipelines.alerts.status import budget_status, restated_periods
from cost_pipelines.alerts.status_store import stored_as_of_days_after, write_status
from cost_pipelines.defs.analytics import COST_ANOMALIES, FCT_COSTS, SPEND_FORECAST
from cost_pipelines.defs.jobs import daily_cost_job
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.defs.owners import OWNERS_ALERTS
from cost_pipelines.defs.partitions import daily_partitions, partition_days, single_run
from cost_pipelines.resources import NotifierResource, WarehouseResource
from cost_pipelines.warehouse import existing_tables, scalar, table_exists

BUDGET_STATUS = dg.AssetKey(["alerts", "budget_status"])
COST_ALERTS = dg.AssetKey(["alerts", "cost_alerts"])


@dg.asset(
    key=BUDGET_STATUS,
    deps=[FCT_COSTS, SPEND_FORECAST],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="alerts",
    owners=OWNERS_ALERTS,
    kinds={"python", "duckdb"},
    tags={"domain": "alerts"},
    description=(
        "Each budget of budgets.yaml (COST_PIPELINES_BUDGETS) on each day: spend from the start of its UTC period "
        "summed from fct_costs (never a running counter), percent used, thresholds crossed, days left and the "
        "p80 month-end forecast for monthly budgets. Re-running a past day evaluates again every later stored day "
        "whose budget period holds it. A missing or invalid budgets file fails this asset with the path or every "
        "problem named; nothing is half-applied. Rows in analytics.budget_status."
    ),
)
def budget_status_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = settings.budgets_path()
    budgets = load_budgets(path)  # raises, naming the path or every problem by budget and field; writes nothing
    days = partition_days(context)
    with warehouse.connect(read_only=True) as con:
        unknown = unknown_scope_values(con, budget_scopes(budgets))
        statuses = [s for day in days for s in budget_status(con, budgets, day)]
        # A restated past day is inside the periods of later stored days: those are evaluated again too.
        later = restated_periods(budgets, days, stored_as_of_days_after(con, days[-1]))
        refreshed = [s for day, held in later.items() for s in budget_status(con, held, day)]
    for u in unknown:
        context.log.warning(u.message)
    with warehouse.connect() as con:
        write_status(con, days, statuses, refreshed)
    last = [s for s in statuses if s.as_of == days[-1]]
    table = [
        (s.budget.name, s.budget.scope_label, s.budget.period, f"${s.spent:,.2f}", f"${s.budget.limit_usd:,.2f}",
         f"{s.percent_used:.1f}%", ",".join(map(str, s.thresholds_crossed)) or "-",
         "" if s.forecast_p80 is None else f"${s.forecast_p80:,.2f}", s.days_left)
        for s in sorted(last, key=lambda s: -s.percent_used)
    ]  # fmt: skip
    columns = ["budget", "scope", "period", "spent", "limit", "used", "thresholds crossed", "p80 at month end",
               "days left"]  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "budgets_file": str(path),
            "budgets": len(budgets),
            "as_of": days[-1].isoformat(),
            "over_limit": sum(1 for s in last if s.percent_used >= 100),
            "later_days_refreshed": dg.MetadataValue.json(sorted(d.isoformat() for d in later)),
            "later_statuses_refreshed": len(refreshed),
            "unknown_scope_values": dg.MetadataValue.md(
                "\n".join(f"- {u.message}" for u in unknown) or "_every budget's scope appears in the cost data_"
            ),
            "status": dg.MetadataValue.md(markdown_table(columns, table)),
        }
    )


class AlertsConfig(dg.Config):
    max_attempts: int = Field(5, description="delivery attempts per notification before it stays failed")
    backoff_seconds: float = Field(60.0, description="wait before the second attempt; doubled before each later one")
    run_failure_run_id: str = Field("", description="set by the run-failure sensor: the failed run")
    run_failure_job: str = ""
    run_failure_error: str = ""


def _latest_day(con) -> date | None:
    tables = existing_tables(con)
    if "analytics.budget_status" in tables:
        day = scalar(con, "SELECT max(as_of) FROM analytics.budget_status")
        if day is not None:
            return day
    if "marts.fct_costs" in tables:
        return scalar(con, "SELECT max(usage_date) FROM marts.fct_costs")
    return None


def _anomaly_rows(con, since: date, until: date) -> list[AnomalyRow]:
    if not table_exists(con, "analytics", "cost_anomalies"):
        return []
    rows = con.execute(
        "SELECT usage_date, dimension, series_key, kinds, actual_usd, expected_usd, contributors "
        "FROM analytics.cost_anomalies WHERE usage_date BETWEEN ? AND ? ORDER BY usage_date, dimension, series_key",
        [since, until],
    ).fetchall()
    return [AnomalyRow(d, dim, key, kinds, actual, expected, json.loads(c))
            for d, dim, key, kinds, actual, expected, c in rows]  # fmt: skip


@dg.asset(
    key=COST_ALERTS,
    deps=[BUDGET_STATUS, COST_ANOMALIES],
    group_name="alerts",
    owners=OWNERS_ALERTS,
    kinds={"python", "duckdb", "slack", "email"},
    tags={"domain": "alerts"},
    description=(
        "Alerts, each raised once: a budget threshold reached by actual spend or by the p80 forecast (per budget, "
        "period start, threshold), a recent anomaly, a failed daily run; then delivery of every notification due "
        "(Slack, email, signed webhook) with retries and backoff. Tables alerts.cost_alerts, "
        "alerts.notification_log, alerts.notification_attempts. Requested by budget_alert_sensor and "
        "daily_job_failure_sensor."
    ),
)
def cost_alerts(
    context: dg.AssetExecutionContext, config: AlertsConfig, warehouse: WarehouseResource, notifier: NotifierResource
) -> dg.MaterializeResult:
    alerting = load_config(settings.budgets_path())  # an invalid file fails here, naming every problem
    channels = notifier.channels()
    now = datetime.now(UTC)
    with warehouse.connect() as con:
        as_of = _latest_day(con)
        candidates: list[Alert] = []
        statuses = budget_status(con, alerting.budgets, as_of) if as_of and alerting.budgets else []
        candidates += budget_alerts(statuses)
        if as_of:
            since = as_of - timedelta(days=alerting.anomalies.max_age_days - 1)
            candidates += anomaly_alerts(_anomaly_rows(con, since, as_of), as_of, alerting.anomalies)
        if config.run_failure_run_id:
            candidates.append(run_failure_alert(config.run_failure_run_id, config.run_failure_job,
                                                config.run_failure_error, alerting.run_failures, as_of))  # fmt: skip
        new = record_alerts(con, candidates, {name: c.recipient for name, c in channels.items()}, now)
        policy = RetryPolicy(config.max_attempts, config.backoff_seconds)
        report = deliver_due(con, channels, policy, notifier.secrets())
        pending_until = next_retry_at(con)
    for alert in new:
        context.log.info(f"alert {alert.alert_id} [{alert.severity}] {alert.title}")
    table = [(a.alert_id, a.severity, a.kind, a.title, ", ".join(a.channels) or "-") for a in new[:25]]
    return dg.MaterializeResult(
        metadata={
            "as_of": "" if as_of is None else as_of.isoformat(),
            "budgets_evaluated": len(statuses),
            "alerts_evaluated": len(candidates),
            "new_alerts": len(new),
            "sent": report.sent,
            "failed": report.failed,
            "retrying": report.retrying,
            # read by budget_alert_sensor to request the retry run when it is due
            "next_retry_at": "" if pending_until is None else pending_until.isoformat(),
            "channels_configured": ", ".join(sorted(channels)) or "none",
            "new": dg.MetadataValue.md(markdown_table(["alert", "severity", "kind", "title", "channels"], table)),
        }
    )


alerts_job = dg.define_asset_job(
    "alerts_job",
    selection=dg.AssetSelection.assets(COST_ALERTS),
    description="Raise new alerts from the latest budget status and anomalies, and deliver every notification due.",
)

WATCHED = {"budget_status": BUDGET_STATUS, "cost_anomalies": COST_ANOMALIES}
IN_FLIGHT = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]  # fmt: skip


def _newest_storage_id(instance: dg.DagsterInstance, key: dg.AssetKey, after: int | None) -> int | None:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after), limit=1)
    return records.records[0].storage_id if records.records else None


def alert_requests(instance: dg.DagsterInstance, cursor: dict, now: datetime) -> tuple[dg.RunRequest | None, dict]:
    """What the budget alert sensor does on a tick: (the run to request or None, the new cursor).

    A new materialization of budget_status or cost_anomalies requests an evaluation; otherwise, when the latest
    alerts run left notifications waiting and the earliest is due, a retry. Run keys make each request once.
    """
    newest = {name: _newest_storage_id(instance, key, cursor.get(name)) for name, key in WATCHED.items()}
    changed = {name: sid for name, sid in newest.items() if sid is not None}
    if changed:
        cursor = {**cursor, **changed}
        key = "evaluate:" + ",".join(f"{name}={cursor.get(name)}" for name in WATCHED)
        return dg.RunRequest(run_key=key, tags={"cost_pipelines/trigger": "materialization"}), cursor
    latest = instance.fetch_materializations(COST_ALERTS, limit=1).records
    if not latest or latest[0].storage_id == cursor.get("retried"):
        return None, cursor
    metadata = latest[0].asset_materialization.metadata
    due = metadata.get("next_retry_at")
    if due is None or not due.value or datetime.fromisoformat(due.value) > now:
        return None, cursor
    cursor = {**cursor, "retried": latest[0].storage_id}
    return dg.RunRequest(run_key=f"retry:{latest[0].storage_id}", tags={"cost_pipelines/trigger": "retry"}), cursor


@dg.sensor(
    name="budget_alert_sensor",
    job=alerts_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Requests an alerts_job run when budget_status or cost_anomalies is materialized, and again when failed "
        "notifications are due for a retry. Its cursor holds the last materializations seen."
    ),
)
def budget_alert_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    running = context.instance.get_runs(dg.RunsFilter(job_name=alerts_job.name, statuses=IN_FLIGHT), limit=1)
    if running:
        return dg.SkipReason(f"alerts run {running[0].run_id} is still in flight")
    cursor = json.loads(context.cursor) if context.cursor else {}
    request, cursor = alert_requests(context.instance, cursor, datetime.now(UTC))
    if request is None:
        return dg.SkipReason("no new budget status or anomalies, and no notification due for a retry")
    return dg.SensorResult(run_requests=[request], cursor=json.dumps(cursor, sort_keys=True))


@dg.run_failure_sensor(
    name="daily_job_failure_sensor",
    monitored_jobs=[daily_cost_job],
    request_job=alerts_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Tells the run_failures channels of budgets.yaml when daily_cost_job fails, through alerts_job.",
)
def daily_job_failure_sensor(context: dg.RunFailureSensorContext) -> dg.RunRequest:
    run = context.dagster_run
    config = AlertsConfig(run_failure_run_id=run.run_id, run_failure_job=run.job_name,
                          run_failure_error=context.failure_event.message or "")  # fmt: skip
    return dg.RunRequest(
        run_key=f"run_failure:{run.run_id}",
        run_config=dg.RunConfig(ops={"alerts__cost_alerts": config}),
        tags={"cost_pipelines/trigger": "run_failure"},
    )
