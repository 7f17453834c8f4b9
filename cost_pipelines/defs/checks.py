"""Python asset checks on the LLM cost path (dbt tests arrive as checks through dagster-dbt)."""

from collections.abc import Callable, Iterator
from datetime import date, timedelta

import dagster as dg
import duckdb
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster_dbt import get_asset_key_for_model

from cost_pipelines import quality
from cost_pipelines.aws.cost_explorer import RESTATED_DAYS
from cost_pipelines.defs.aws import AWS_COST_EXPLORER
from cost_pipelines.defs.dbt import cost_dbt_models
from cost_pipelines.defs.focus import FOCUS_CHARGES
from cost_pipelines.defs.ingest import LLM_QUARANTINE, LLM_REQUESTS
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.defs.partitions import daily_partitions, partition_days
from cost_pipelines.money import exact
from cost_pipelines.resources import WarehouseResource


class QualityThresholds(dg.ConfigurableResource):
    """Bounds the checks enforce; set from the environment in production."""

    max_unpriced_share: float = 0.01
    max_quarantine_share: float = 0.01
    max_reported_cost_drift: float = 0.01  # |computed - reported| / reported, per model over the partition


_MAX_PAGES = 50


CheckEvent = dg.AssetCheckResult | dg.AssetCheckEvaluation | dg.Output
DayCheck = Callable[[duckdb.DuckDBPyConnection, date, date], dg.AssetCheckResult]


def evaluate_each_day(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, day_check: DayCheck
) -> Iterator[CheckEvent]:
    """The check's result for every partition day. A run over one day returns its result as usual; a run over a
    range of days (a single-run backfill) would record one result for no partition, which the UI lists as every
    day skipped, so each day gets its own evaluation, against that day's latest materialization."""
    days = partition_days(context)
    with warehouse.connect(read_only=True) as con:
        results = {day.isoformat(): day_check(con, day, day + timedelta(days=1)) for day in days}
    if context.has_partition_key:
        yield from results.values()
        return
    [spec] = context.check_specs
    targets = _latest_materializations(context.instance, spec.asset_key, list(results))
    for key, result in results.items():
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=key,
            target_materialization_data=targets.get(key),
        )
    assets_def = context.op_execution_context.assets_def
    yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))


def _latest_materializations(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, keys: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The newest materialization of each partition, read newest first in pages until each key has one."""
    wanted, found, cursor = set(keys), {}, None
    records_filter = dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=keys)
    for _ in range(_MAX_PAGES):
        page = instance.fetch_materializations(records_filter, limit=max(len(keys), 100), cursor=cursor)
        for record in page.records:
            partition = record.partition_key
            if partition in wanted and partition not in found:
                found[partition] = AssetCheckEvaluationTargetMaterializationData(
                    run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
                )
        if not page.has_more or len(found) == len(wanted):
            break
        cursor = page.cursor
    return found


@dg.asset_check(
    asset=get_asset_key_for_model([cost_dbt_models], "cost_summary_daily"),
    partitions_def=daily_partitions,
    blocking=True,
    description="Requests and dollars reconcile exactly: raw requests = priced requests = daily summary.",
)
def llm_costs_reconcile(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        result = quality.reconcile_llm_costs(con, start, end)
        return dg.AssetCheckResult(
            passed=result.balanced,
            metadata={
                "raw_requests": result.raw_requests,
                "priced_request_rows": result.priced_requests_rows,
                "summary_requests": result.mart_requests,
                "priced_cost_usd": exact(result.priced_cost_usd),
                "summary_cost_usd": exact(result.mart_cost_usd),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=get_asset_key_for_model([cost_dbt_models], "int_llm_requests_summed"),
    partitions_def=daily_partitions,
    description="Share of requests without a price stays under the bound; the unpriced models are listed.",
)
def unpriced_share_below_bound(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        result = quality.unpriced_share(con, start, end)
        return dg.AssetCheckResult(
            passed=result.share <= quality_thresholds.max_unpriced_share,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "requests": result.requests,
                "unpriced_requests": result.unpriced,
                "unpriced_share": result.share,
                "bound": quality_thresholds.max_unpriced_share,
                "unpriced_models": dg.MetadataValue.md(
                    markdown_table(["provider", "model", "why", "requests"], result.by_model)
                ),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=LLM_QUARANTINE,
    partitions_def=daily_partitions,
    description="Share of log rows sent to quarantine stays under the bound; counts by reason.",
)
def quarantine_share_below_bound(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        result = quality.quarantine_share(con, start, end)
        return dg.AssetCheckResult(
            passed=result.share <= quality_thresholds.max_quarantine_share,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_seen": result.rows_seen,
                "quarantined": result.quarantined,
                "quarantine_share": result.share,
                "bound": quality_thresholds.max_quarantine_share,
                "by_reason": dg.MetadataValue.md(markdown_table(["reason", "rows"], result.by_reason)),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=LLM_QUARANTINE,
    partitions_def=daily_partitions,
    description="Every log file of the days could be read; a file that could not is left out whole and listed.",
)
def log_files_are_readable(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        found = quality.unreadable_files(con, start, end)
        return dg.AssetCheckResult(
            passed=not found,
            # not blocking: the other files of the day are good, but a day without one of its files is not complete
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "unreadable_files": len(found),
                "files": dg.MetadataValue.md(markdown_table(["day", "file", "reason"], found[:50])),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=get_asset_key_for_model([cost_dbt_models], "fct_costs"),
    partitions_def=daily_partitions,
    blocking=True,
    description="fct_costs equals its sources exactly: Cost Explorer unblended cost and priced LLM requests.",
)
def fct_costs_reconcile(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        result = quality.reconcile_fact(con, start, end)
        return dg.AssetCheckResult(
            passed=result.balanced,
            metadata={
                "cost_explorer_unblended_usd": exact(result.cost_explorer_usd),
                "fact_cloud_billed_usd": exact(result.fact_cloud_usd),
                "llm_priced_usd": exact(result.llm_priced_usd),
                "fact_llm_billed_usd": exact(result.fact_llm_usd),
                "focus_billed_usd": exact(result.focus_usd),
                "fact_focus_billed_usd": exact(result.fact_focus_usd),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=FOCUS_CHARGES,
    partitions_def=daily_partitions,
    description="No negative FOCUS charge unless it is a credit, an adjustment or a marked correction.",
)
def negative_charges_are_credits(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        found = quality.unexplained_negative_costs(con, start, end)
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "unexplained_negative_rows": len(found),
                "rows": dg.MetadataValue.md(markdown_table(["provider", "service", "category", "billed"], found[:20])),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=AWS_COST_EXPLORER,
    partitions_def=daily_partitions,
    description="Cost Explorer days still Estimated lie inside the window runs re-pull; older ones would go stale.",
)
def estimated_days_are_refreshed(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        stale = quality.stale_estimated_days(con, before=start - timedelta(days=RESTATED_DAYS - 1))
        current = con.execute(
            "SELECT DISTINCT usage_date FROM raw.aws_cost_explorer_daily WHERE is_estimated "
            "AND usage_date >= ? AND usage_date < ? ORDER BY 1",
            [start, end],
        ).fetchall()
        return dg.AssetCheckResult(
            passed=not stale,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "estimated_days_in_partition": dg.MetadataValue.json([str(d) for (d,) in current]),
                "stale_estimated_days": dg.MetadataValue.json([str(d) for d in stale]),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=get_asset_key_for_model([cost_dbt_models], "llm_cost_reconciliation"),
    partitions_def=daily_partitions,
    description=(
        "Each model's computed cost stays within the bound of the cost its source reported for the same requests; "
        "the models that drift most are listed."
    ),
)
def llm_costs_match_reported(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource, quality_thresholds: QualityThresholds
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        drifts = quality.reported_cost_drift(con, start, end)
        drifting = quality.drifting(drifts, quality_thresholds.max_reported_cost_drift)
        rows = [
            (d.provider, d.model, d.reported_by, d.requests, exact(d.computed_usd), exact(d.reported_usd),
             exact(d.drift_usd), f"{d.share:+.2%}" if d.share is not None else "")
            for d in drifts[:10]
        ]  # fmt: skip
        return dg.AssetCheckResult(
            passed=not drifting,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "drifting: " + ", ".join(f"{d.name} {d.share:+.2%}" for d in drifting[:5]) if drifting else None
            ),
            metadata={
                "bound": quality_thresholds.max_reported_cost_drift,
                "models_compared": len(drifts),
                "models_drifting": dg.MetadataValue.json([d.name for d in drifting]),
                "largest_drifts": dg.MetadataValue.md(
                    markdown_table(
                        [
                            "provider",
                            "model",
                            "reported by",
                            "requests",
                            "computed USD",
                            "reported USD",
                            "drift USD",
                            "drift",
                        ],
                        rows,
                    )
                ),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


@dg.asset_check(
    asset=LLM_REQUESTS,
    partitions_def=daily_partitions,
    description=(
        "No provider's day is covered by both request logs and the provider's own usage buckets; where one is, "
        "only the logs are counted and the two are compared (the logs' share of the buckets' input tokens)."
    ),
)
def usage_reports_agree_with_request_logs(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> Iterator[CheckEvent]:
    def day(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dg.AssetCheckResult:
        found = quality.usage_overlaps(con, start, end)
        rows = [
            (o.day, o.provider, o.logged_requests, "" if o.bucket_requests is None else o.bucket_requests,
             o.logged_input_tokens, o.bucket_input_tokens, "" if o.logged_share is None else f"{o.logged_share:.1%}")
            for o in found[:50]
        ]  # fmt: skip
        return dg.AssetCheckResult(
            passed=not found,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "counted once, from the request logs: "
                + ", ".join(
                    f"{o.provider} {o.day}"
                    + ("" if o.logged_share is None else f" (logs {o.logged_share:.1%} of report)")
                    for o in found[:5]
                )
                if found
                else None
            ),
            metadata={
                "overlapping_days": len(found),
                "overlaps": dg.MetadataValue.md(
                    markdown_table(
                        [
                            "day",
                            "provider",
                            "logged requests",
                            "report requests",
                            "logged input tokens",
                            "report input tokens",
                            "logs / report",
                        ],
                        rows,
                    )
                ),
            },
        )

    yield from evaluate_each_day(context, warehouse, day)


checks = [
    usage_reports_agree_with_request_logs,
    llm_costs_reconcile,
    llm_costs_match_reported,
    unpriced_share_below_bound,
    quarantine_share_below_bound,
    log_files_are_readable,
    fct_costs_reconcile,
    negative_charges_are_credits,
    estimated_days_are_refreshed,
]
