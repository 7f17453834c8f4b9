"""The current UTC day's LLM spend, hour by hour, as its logs arrive: a runaway loop is told within the hour.

The daily job stores a day once it is over. Between its runs, `llm_logs_arrival_sensor` watches the log source for
new files of the days the daily job has not stored yet (today, and yesterday until its partition lands) and
requests `intraday_llm_job`: it ingests those days so far (`raw/llm_requests_intraday`, a provisional version of
each day in the same request store, replaced whole by the daily partition), judges their hours
(`analytics/llm_spend_hourly`) and raises and delivers the alerts (`alerts/cost_alerts`).
"""

import hashlib
import json
import os
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import pandas as pd
from dagster_dbt import get_asset_key_for_model

from cost_pipelines import settings
from cost_pipelines.analytics.hourly import HourlySettings, judge_hours
from cost_pipelines.analytics.hourly_store import refresh_series, series_frame, write_anomalies
from cost_pipelines.defs.alert_sensors import IN_FLIGHT
from cost_pipelines.defs.alerts import COST_ALERTS
from cost_pipelines.defs.analytics import LLM_SPEND_HOURLY
from cost_pipelines.defs.dbt import cost_dbt_models
from cost_pipelines.defs.ingest import LLM_REQUESTS
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.defs.owners import OWNERS_ANALYTICS, OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions
from cost_pipelines.ingest.load import IngestPolicy, ingest_day
from cost_pipelines.ingest.sources import SourceUnavailable
from cost_pipelines.resources import LlmLogSourceResource, WarehouseResource

LLM_REQUESTS_INTRADAY = dg.AssetKey(["raw", "llm_requests_intraday"])
LLM_COST_HOURLY = get_asset_key_for_model([cost_dbt_models], "llm_cost_hourly")
INTRADAY_SWITCH = "COST_PIPELINES_INTRADAY_SENSOR"


def today() -> date:
    return settings.alerts_today() or datetime.now(UTC).date()


def intraday_days(instance: dg.DagsterInstance, as_of: date) -> list[date]:
    """`as_of`, and the day before it while its daily partition of raw/llm_requests is not stored."""
    yesterday = as_of - timedelta(days=1)
    if yesterday < daily_partitions.start.date():
        return [as_of]
    stored = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=LLM_REQUESTS, asset_partitions=[yesterday.isoformat()]), limit=1
    ).records
    return [as_of] if stored else [yesterday, as_of]


@dg.asset(
    key=LLM_REQUESTS_INTRADAY,
    group_name="ingest",
    owners=OWNERS_INGEST,
    kinds={"duckdb"},
    tags={"domain": "llm"},
    description=(
        "The LLM requests of the days the daily job has not stored yet (today so far, and yesterday until its "
        "partition lands), ingested as they arrive into the request store raw.llm_requests, with the same "
        "quarantine and accounting; each such day is a provisional version the daily partition replaces whole."
    ),
)
def llm_requests_intraday(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, llm_logs: LlmLogSourceResource
) -> dg.MaterializeResult:
    days = intraday_days(context.instance, today())
    source = llm_logs.source()
    # the day is not over: no files yet is no fault, and a day may only grow
    policy = IngestPolicy(allow_empty_days=True)
    with warehouse.connect() as con:
        reports = [ingest_day(con, source, day, policy) for day in days]
        latest = con.execute(
            "SELECT max(occurred_at) FROM raw.llm_requests WHERE usage_date BETWEEN ? AND ?", [days[0], days[-1]]
        ).fetchone()[0]
    for r in reports:
        context.log.info(f"{r.day} so far: {r.files} files, {r.rows_kept} requests kept, {r.quarantined} quarantined")
    return dg.MaterializeResult(
        metadata={
            "days": dg.MetadataValue.json([d.isoformat() for d in days]),
            "files": sum(r.files for r in reports),
            "rows_in": sum(r.rows_in for r in reports),
            "rows_kept": sum(r.rows_kept for r in reports),
            "quarantined": sum(r.quarantined for r in reports),
            "duplicates_dropped": sum(r.duplicates for r in reports),
            "latest_request_at": "" if latest is None else latest.isoformat(),
            "dagster/row_count": sum(r.rows_kept for r in reports),
        }
    )


class HourlyConfig(dg.Config):
    days: int = 14
    weeks: int = 4
    min_history_days: int = 3
    robust_z: float = 4.0
    min_ratio: float = 3.0
    min_requests: int = 20
    min_change_usd: float = 1.0

    def settings(self) -> HourlySettings:
        return HourlySettings(
            days=self.days, weeks=self.weeks, min_history_days=self.min_history_days, robust_z=self.robust_z,
            min_ratio=self.min_ratio, min_requests=self.min_requests,
            min_change_usd=Decimal(str(self.min_change_usd)),
        )  # fmt: skip


@dg.asset(
    key=LLM_SPEND_HOURLY,
    deps=[LLM_REQUESTS_INTRADAY, LLM_COST_HOURLY],
    group_name="analytics",
    owners=OWNERS_ANALYTICS,
    kinds={"python", "duckdb"},
    tags={"domain": "analytics"},
    description=(
        "Every hour of the days not yet stored by the daily job, judged as it arrives: LLM cost and requests per "
        "provider, model, team and user against the same hour of the trailing days and of the same weekday "
        "(marts.llm_cost_hourly), so a runaway loop (one user's spend many times its usual) is flagged in its first "
        "hour, once per episode, with that user named. Rows in analytics.llm_spend_hourly_anomalies; the series "
        "judged in analytics.llm_spend_hourly_series."
    ),
)
def llm_spend_hourly(
    context: dg.AssetExecutionContext, config: HourlyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    days = intraday_days(context.instance, today())
    judged_from = datetime.combine(days[0], datetime.min.time())
    with warehouse.connect() as con:
        read = refresh_series(con, days, max(config.days, 7 * config.weeks))
        frame = series_frame(con, days[0])
        latest = frame.loc[frame["hour"] >= judged_from, "hour"].max() if len(frame) else None
        found = [] if latest is None or pd.isna(latest) else judge_hours(frame, judged_from, latest, config.settings())
        write_anomalies(con, judged_from, found)
    alarms = [a for a in found if a.alarm and a.folded_into is None]
    table = [
        (f"{a.hour:%Y-%m-%d %H}:00", a.dimension, a.key, f"${a.actual:,.2f}", f"${a.expected:,.2f}", a.requests,
         "yes" if a.alarm else "", a.folded_into or "",
         "; ".join(f"{d}={v} (+${c:,.2f})" for d, v, c in a.contributors))
        for a in found[-25:]
    ]  # fmt: skip
    columns = ["hour", "dimension", "series", "cost", "expected", "requests", "alarm", "part of", "top contributors"]
    return dg.MaterializeResult(
        metadata={
            "days": dg.MetadataValue.json([d.isoformat() for d in days]),
            "latest_hour": "" if latest is None or pd.isna(latest) else f"{latest:%Y-%m-%d %H}:00 UTC",
            "days_read_from_marts": len(read),
            "flagged_hours": len(found),
            "alarms": len(alarms),
            "dagster/row_count": len(found),
            "anomalies": dg.MetadataValue.md(markdown_table(columns, table)),
        }
    )


intraday_llm_job = dg.define_asset_job(
    "intraday_llm_job",
    selection=dg.AssetSelection.assets(LLM_REQUESTS_INTRADAY, LLM_SPEND_HOURLY, COST_ALERTS),
    description=(
        "Ingest the LLM logs of the days not yet stored so far, judge their hours for runaway spend and raise and "
        "deliver the alerts. Requested by llm_logs_arrival_sensor when new log files arrive."
    ),
)


def _fingerprint(files: list) -> str:
    """What changes when a file arrives or grows: names, and sizes and times of local files."""
    parts = []
    for f in files:
        stat = os.stat(f.path) if os.path.exists(f.path) else None
        parts.append([f.name, stat.st_size if stat else None, stat.st_mtime_ns if stat else None])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def arrival_requests(files_by_day: dict[date, list], cursor: str | None) -> tuple[dg.RunRequest | None, str, str]:
    """(the run to request or None, the new cursor, why) for the files the source lists now."""
    files = [f for day in sorted(files_by_day) for f in files_by_day[day]]
    if not files:
        return None, cursor or "", f"no log files yet for {', '.join(map(str, sorted(files_by_day)))}"
    fingerprint = _fingerprint(files)
    if fingerprint == cursor:
        return None, fingerprint, f"no new or changed log files ({len(files)} seen)"
    request = dg.RunRequest(run_key=f"logs:{fingerprint}", tags={"cost_pipelines/trigger": "logs_arrived"})
    return request, fingerprint, f"{len(files)} log files, new or changed since the last run"


def _intraday_running(instance: dg.DagsterInstance) -> bool:
    return bool(instance.get_runs(dg.RunsFilter(job_name=intraday_llm_job.name, statuses=IN_FLIGHT), limit=1))


@dg.sensor(
    job=intraday_llm_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED
    if os.environ.get(INTRADAY_SWITCH, "").strip().lower() in ("off", "false", "0", "no")
    else dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 5 minutes, lists the LLM log source's files of the days the daily job has not stored yet and "
        "requests an intraday_llm_job run when they changed (reads the source, never the warehouse). Off with "
        "COST_PIPELINES_INTRADAY_SENSOR=off."
    ),
)
def llm_logs_arrival_sensor(
    context: dg.SensorEvaluationContext, llm_logs: LlmLogSourceResource
) -> list[dg.RunRequest] | dg.SkipReason:
    if _intraday_running(context.instance):
        return dg.SkipReason("an intraday_llm_job run is still in flight")
    source = llm_logs.source()
    try:
        files = {day: source.files_for(day) for day in intraday_days(context.instance, today())}
    except SourceUnavailable as error:
        return dg.SkipReason(str(error))
    request, cursor, reason = arrival_requests(files, context.cursor)
    context.update_cursor(cursor)
    if request is None:
        return dg.SkipReason(reason)
    context.log.info(reason)
    return [request]
