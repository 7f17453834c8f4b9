"""Budget and alert wiring: the budget status of each day, and the alerts it, the anomalies and failed daily runs
raise, with their delivery (the sensors that request it are in `alert_sensors.py`).

Everything that reads or writes the DuckDB warehouse runs inside a Dagster run, and runs execute one at a time.
"""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
from pydantic import Field

from cost_pipelines import settings
from cost_pipelines.alerts.budgets import CHANNELS, HourlyAlerting, load_budgets, load_config
from cost_pipelines.alerts.delivery import active_holds, close_interrupted, deliver, lease_for
from cost_pipelines.alerts.evaluate import (
    Alert,
    AnomalyRow,
    HourlyAnomalyRow,
    anomaly_alerts,
    budget_alerts,
    hourly_alerts,
    past_as_history,
    run_failure_alert,
)
from cost_pipelines.alerts.outbox import (
    RetryPolicy,
    due_notifications,
    park_unconfigured,
    record_alerts,
    resume_configured,
    waiting_channels,
)
from cost_pipelines.alerts.scope_values import budget_scopes, unknown_scope_values
from cost_pipelines.alerts.status import BudgetStatus, budget_status, restated_periods
from cost_pipelines.alerts.status_store import stored_as_of_days_after, write_status
from cost_pipelines.analytics.hourly_store import episode_alarms, latest_hour
from cost_pipelines.defs.analytics import COST_ANOMALIES, FCT_COSTS, LLM_SPEND_HOURLY, SPEND_FORECAST
from cost_pipelines.defs.metadata import markdown_table, results_by_day
from cost_pipelines.defs.owners import OWNERS_ALERTS
from cost_pipelines.defs.partitions import daily_partitions, partition_days, single_run
from cost_pipelines.defs.run_failures import failures_after
from cost_pipelines.resources import NotifierResource, WarehouseResource, not_configured_reason
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
def budget_status_asset(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
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
    yield from results_by_day(
        days,
        {day: _status_metadata(day, [s for s in statuses if s.as_of == day]) for day in days},
        {
            "budgets_file": str(path),
            "budgets": len(budgets),
            "later_days_refreshed": dg.MetadataValue.json(sorted(d.isoformat() for d in later)),
            "later_statuses_refreshed": len(refreshed),
            "unknown_scope_values": dg.MetadataValue.md(
                "\n".join(f"- {u.message}" for u in unknown) or "_every budget's scope appears in the cost data_"
            ),
        },
        BUDGET_STATUS,
    )


def _status_metadata(day: date, statuses: list[BudgetStatus]) -> dict[str, object]:
    table = [
        (s.budget.name, s.budget.scope_label, s.budget.period, f"${s.spent:,.2f}", f"${s.budget.limit_usd:,.2f}",
         f"{s.percent_used:.1f}%", ",".join(map(str, s.thresholds_crossed)) or "-",
         "" if s.forecast_p80 is None else f"${s.forecast_p80:,.2f}", s.days_left)
        for s in sorted(statuses, key=lambda s: -s.percent_used)
    ]  # fmt: skip
    columns = ["budget", "scope", "period", "spent", "limit", "used", "thresholds crossed", "p80 at month end",
               "days left"]  # fmt: skip
    return {
        "as_of": day.isoformat(),
        "over_limit": sum(1 for s in statuses if s.percent_used >= 100),
        "status": dg.MetadataValue.md(markdown_table(columns, table)),
    }


class AlertsConfig(dg.Config):
    max_attempts: int = Field(5, description="delivery attempts per notification before it stays failed")
    backoff_seconds: float = Field(60.0, description="wait before the second attempt; doubled before each later one")


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


def _hourly_candidates(con, settings: HourlyAlerting) -> list[Alert]:
    """Alerts of the hourly spend episodes of the last two days of data, aged against the newest hour of data."""
    latest = latest_hour(con)
    if latest is None:
        return []
    rows = [HourlyAnomalyRow(*row) for row in episode_alarms(con, latest - timedelta(days=2))]
    return hourly_alerts(rows, latest.replace(tzinfo=UTC), settings)


def announced_until(instance: dg.DagsterInstance) -> int | None:
    """How far the last successful alerts run read the instance's run failures (None: no run recorded it)."""
    latest = instance.fetch_materializations(COST_ALERTS, limit=1).records
    value = latest[0].asset_materialization.metadata.get("run_failures_until") if latest else None
    return None if value is None or value.value in ("", None) else int(value.value)


def _run_finished(instance: dg.DagsterInstance, run_id: str) -> bool:
    run = instance.get_run_by_id(run_id)
    return run is None or run.is_finished


@dg.asset(
    key=COST_ALERTS,
    deps=[BUDGET_STATUS, COST_ANOMALIES, LLM_SPEND_HOURLY],
    group_name="alerts",
    owners=OWNERS_ALERTS,
    kinds={"python", "duckdb", "slack", "email"},
    tags={"domain": "alerts"},
    description=(
        "Alerts, each raised once: a budget threshold reached by actual spend or by the p80 forecast (per budget, "
        "period start, threshold), a recent anomaly, the first hour of runaway hourly LLM spend, a failed daily run "
        "(read from the Dagster instance); then "
        "delivery of every notification due (Slack, email, signed webhook) with retries and backoff, the warehouse "
        "closed during each send. Tables alerts.cost_alerts, alerts.notification_log, "
        "alerts.notification_attempts. Requested by budget_alert_sensor and daily_job_failure_sensor."
    ),
)
def cost_alerts(
    context: dg.AssetExecutionContext, config: AlertsConfig, warehouse: WarehouseResource, notifier: NotifierResource
) -> dg.MaterializeResult:
    alerting = load_config(settings.budgets_path())  # an invalid file fails here, naming every problem
    channels, problems = notifier.channels(), notifier.problems()
    for name, problem in sorted(problems.items()):
        context.log.warning(f"{name} notifications cannot be sent: {problem}")
    now = datetime.now(UTC)
    today = settings.alerts_today() or now.date()
    failures, failures_until = failures_after(context.instance, announced_until(context.instance), now)
    policy = RetryPolicy(config.max_attempts, config.backoff_seconds)
    recipients = {name: c.recipient for name, c in channels.items()} | dict.fromkeys(problems, "(invalid settings)")
    with warehouse.connect() as con:
        as_of = _latest_day(con)
        candidates: list[Alert] = []
        statuses = budget_status(con, alerting.budgets, as_of) if as_of and alerting.budgets else []
        candidates += budget_alerts(statuses)
        if as_of:
            since = as_of - timedelta(days=alerting.anomalies.max_age_days - 1)
            candidates += anomaly_alerts(_anomaly_rows(con, since, as_of), as_of, alerting.anomalies)
        candidates = past_as_history(candidates, today, alerting.anomalies.max_age_days)
        candidates += _hourly_candidates(con, alerting.hourly_anomalies)
        candidates += [run_failure_alert(f.run_id, f.job_name, f.error, alerting.run_failures, as_of)
                       for f in failures]  # fmt: skip
        new = record_alerts(con, candidates, recipients, now)
        interrupted = close_interrupted(con, now, lambda run_id: _run_finished(context.instance, run_id), policy)
        # a channel configured unusably is resumed too: its notifications then fail naming the setting to fix
        resumed = resume_configured(con, recipients, now)
        unconfigured = {c: not_configured_reason(c) for c in CHANNELS if c not in channels and c not in problems}
        parked = park_unconfigured(con, unconfigured, now)
        waiting = waiting_channels(con)
        due = due_notifications(con, now)
        holds = active_holds(con, now)
    # The warehouse is closed here: every send happens outside a write connection.
    report = deliver(warehouse.connect, due, holds, channels, problems, policy, notifier.secrets(), context.run.run_id,
                     lease_for(notifier.timeout_seconds), lambda: datetime.now(UTC))  # fmt: skip
    for alert in new:
        context.log.info(f"alert {alert.alert_id} [{alert.severity}] {alert.title}")
    table = [(a.alert_id, a.severity, a.kind, a.title, ", ".join(a.channels) or "-") for a in new[:25]]
    return dg.MaterializeResult(
        metadata={
            "as_of": "" if as_of is None else as_of.isoformat(),
            "budgets_evaluated": len(statuses),
            "alerts_evaluated": len(candidates),
            "new_alerts": len(new),
            "recorded_as_history": sum(1 for a in new if "history" in a.details),
            "today": today.isoformat(),
            "sent": report.sent,
            "failed": report.failed,
            "retrying": report.retrying,
            "held_by_retry_after": report.held,
            "interrupted_attempts_found": interrupted,
            # notifications of channels not configured wait (no attempt used) until their channel is set up
            "not_configured": parked,
            "resumed_now_configured": resumed,
            # read by budget_alert_sensor: a run is requested once one of these channels is configured
            "waiting_for_channels": ", ".join(waiting),
            # read by budget_alert_sensor to request the retry run when it is due
            "next_retry_at": "" if report.next_retry_at is None else report.next_retry_at.isoformat(),
            # read by the next alerts run and daily_job_failure_sensor: run failures up to here are stored
            "run_failures_until": "" if failures_until is None else str(failures_until),
            "run_failures_stored": len(failures),
            "channels_configured": ", ".join(sorted(channels)) or "none",
            "channel_problems": "; ".join(f"{name}: {problem}" for name, problem in sorted(problems.items())),
            "new": dg.MetadataValue.md(markdown_table(["alert", "severity", "kind", "title", "channels"], table)),
        }
    )


alerts_job = dg.define_asset_job(
    "alerts_job",
    selection=dg.AssetSelection.assets(COST_ALERTS),
    description=(
        "Raise new alerts from the latest budget status, anomalies and failed daily runs, and deliver every "
        "notification due."
    ),
)
