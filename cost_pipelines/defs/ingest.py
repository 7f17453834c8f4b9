"""Ingest assets: LLM request logs → raw tables, and the genai-prices price table."""

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import dagster as dg
from pydantic import Field

from cost_pipelines.defs.metadata import query_markdown, results_by_day
from cost_pipelines.defs.owners import OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions, single_run
from cost_pipelines.defs.provider_usage import PROVIDER_USAGE_PAGES
from cost_pipelines.ingest import cost_reports
from cost_pipelines.ingest.load import DayReport, IngestPolicy, ingest_day
from cost_pipelines.ingest.sources import CombinedSource, LogSource
from cost_pipelines.ingest.usage_apis import COST_APIS
from cost_pipelines.pricing.load import write_prices
from cost_pipelines.pricing.price_table import export_price_rows, genai_prices_version
from cost_pipelines.resources import LlmLogSourceResource, ProviderUsageResource, WarehouseResource

LLM_REQUESTS = dg.AssetKey(["raw", "llm_requests"])
LLM_QUARANTINE = dg.AssetKey(["raw", "llm_requests_quarantine"])
LLM_MODEL_MAP = dg.AssetKey(["raw", "llm_model_map"])
LLM_USAGE_OVERLAPS = dg.AssetKey(["raw", "llm_usage_overlaps"])
PROVIDER_COST_REPORTS = dg.AssetKey(["raw", "provider_cost_reports"])
LLM_PRICES = dg.AssetKey(["raw", "llm_prices"])

_INGEST_TAGS = {"domain": "llm"}


class LlmRequestsConfig(dg.Config):
    """Each field lets a run do something that is refused by default because it usually means a fault."""

    allow_empty_days: bool = Field(False, description="store a day the log source has no files for as empty")
    allow_shrink: bool = Field(
        False, description="replace a stored day even with none, or far fewer, of its requests (see max_shrink_share)"
    )
    max_shrink_share: float = Field(
        0.5, ge=0, le=1, description="share of a stored day's requests a re-run may drop without allow_shrink"
    )
    refuse_unreadable_files: bool = Field(
        False, description="fail the day when a log file cannot be read, instead of quarantining that file"
    )

    def policy(self) -> IngestPolicy:
        return IngestPolicy(self.allow_empty_days, self.allow_shrink, self.max_shrink_share,
                            self.refuse_unreadable_files)  # fmt: skip


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            LLM_REQUESTS,
            description="Canonical LLM request records, one UTC day per partition, replaced atomically on re-run: "
            "Parquet files beside the warehouse, read through the view raw.llm_requests. Read from the LLM log "
            "source and the providers' saved usage pages.",
            deps=[PROVIDER_USAGE_PAGES],
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb", "parquet", "python"},
            tags=_INGEST_TAGS,
        ),
        dg.AssetSpec(
            LLM_QUARANTINE,
            description="Log rows that could not be used, with the reason and the original record.",
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb"},
            tags=_INGEST_TAGS,
        ),
        dg.AssetSpec(
            LLM_MODEL_MAP,
            description="Each (provider, model) seen in the logs resolved once to a genai-prices model.",
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb"},
            tags=_INGEST_TAGS,
        ),
        dg.AssetSpec(
            LLM_USAGE_OVERLAPS,
            description="Providers and days that request logs and the provider's own usage buckets both cover: "
            "only the logs are counted, and the two are compared.",
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb"},
            tags=_INGEST_TAGS,
        ),
        dg.AssetSpec(
            PROVIDER_COST_REPORTS,
            description="What each provider's cost report says the day was billed (OpenAI's Costs API, Anthropic's "
            "cost report), per model, project and line item, from the saved pages; reconciled in "
            "marts/llm_cost_reconciliation.",
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb"},
            tags=_INGEST_TAGS,
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def llm_requests(
    context: dg.AssetExecutionContext,
    config: LlmRequestsConfig,
    warehouse: WarehouseResource,
    llm_logs: LlmLogSourceResource,
    provider_usage: ProviderUsageResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    source: LogSource = llm_logs.source()
    if provider_usage.configured():
        source = CombinedSource((source, provider_usage.pages_source()))
    window = context.partition_time_window
    reports: list[DayReport] = []
    billed: dict[str, int] = {}
    with warehouse.connect() as con:
        day = window.start.date()
        while day < window.end.date():
            report = ingest_day(con, source, day, config.policy())
            cost_apis = [COST_APIS[p] for p in provider_usage.configured()]
            loaded, unreadable_amounts = cost_reports.load_day(con, provider_usage.root(), cost_apis, day)
            if loaded or unreadable_amounts:
                billed[str(day)] = loaded
            if unreadable_amounts:
                context.log.warning(f"{day}: {unreadable_amounts} cost report lines without a readable amount")
            context.log.info(
                f"{day}: {report.files} files, {report.rows_in} rows in, {report.rows_kept} kept, "
                f"{report.quarantined} quarantined, {report.duplicates} duplicates dropped"
            )
            for unreadable in report.unreadable_files:
                context.log.error(f"{day}: {unreadable.source} was not ingested: {unreadable.reason}")
            reports.append(report)
            day += timedelta(days=1)
        preview = query_markdown(
            con,
            "SELECT provider, model, count(*) AS requests, sum(input_tokens) AS input_tokens, "
            "sum(output_tokens) AS output_tokens FROM raw.llm_requests WHERE usage_date >= ? AND usage_date < ? "
            "GROUP BY ALL ORDER BY requests DESC LIMIT 10",
            [window.start.date(), window.end.date()],
        )
        unmatched = con.execute(
            "SELECT provider || '/' || model, match_status FROM raw.llm_model_map WHERE match_status <> 'matched' "
            "ORDER BY 1"
        ).fetchall()

    days = [r.day for r in reports]
    window_totals = {f"window_{k}": v for k, v in _counts(reports).items()} | {
        "window_unreadable_files": _unreadable(reports)
    }
    yield from results_by_day(
        days,
        {r.day: _day_metadata(r) for r in reports},
        {"days": len(reports), "source": source.describe(), "preview": dg.MetadataValue.md(preview)}
        | (window_totals if len(reports) > 1 else {}),
        LLM_REQUESTS,
    )
    yield from results_by_day(
        days,
        {r.day: _quarantine_metadata([r]) for r in reports},
        {}
        if len(reports) == 1
        else {f"window_{k.removeprefix('dagster/')}": v for k, v in _quarantine_metadata(reports).items()},
        LLM_QUARANTINE,
    )
    yield dg.MaterializeResult(
        asset_key=LLM_USAGE_OVERLAPS,
        metadata={
            "overlaps": dg.MetadataValue.json(
                {str(r.day): r.overlapping_providers for r in reports if r.overlapping_providers}
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key=PROVIDER_COST_REPORTS,
        metadata={"lines_by_day": dg.MetadataValue.json(billed), "dagster/row_count": sum(billed.values())},
    )
    yield dg.MaterializeResult(
        asset_key=LLM_MODEL_MAP,
        metadata={
            "resolved_this_run": dg.MetadataValue.json(sorted({m for r in reports for m in r.new_models})),
            "not_matched": dg.MetadataValue.md(
                "\n".join(f"- `{name}`: {status}" for name, status in unmatched) or "_all models matched_"
            ),
            "genai_prices_version": genai_prices_version(),
        },
    )


def _counts(reports: list[DayReport]) -> dict[str, int]:
    return {
        "files": sum(r.files for r in reports),
        "rows_in": sum(r.rows_in for r in reports),
        "rows_kept": sum(r.rows_kept for r in reports),
        "quarantined": sum(r.quarantined for r in reports),
        "duplicates_dropped": sum(r.duplicates for r in reports),
        # records of a tool that are no LLM request (a Langfuse trace's spans): counted, not kept
        "records_not_requests": sum(r.not_requests for r in reports),
        "files_kept_as_they_arrived": sum(r.files_kept_as_is for r in reports),
        # provider bodies the SQL reader does not vouch for, read by genai-prices' extractors in Python
        "bodies_read_in_python": sum(r.read_in_python for r in reports),
    }


def _day_metadata(report: DayReport) -> dict[str, object]:
    return _counts([report]) | {
        "dagster/row_count": report.rows_kept,
        "skipped_files": dg.MetadataValue.json(sorted(report.skipped_files)),
        "unreadable_files": _unreadable([report]),
    }


def _unreadable(reports: list[DayReport]) -> dg.MetadataValue:
    return dg.MetadataValue.json(
        [{"day": str(r.day), "file": u.source, "reason": u.reason} for r in reports for u in r.unreadable_files]
    )


def _quarantine_metadata(reports: list[DayReport]) -> dict[str, object]:
    reasons: Counter[str] = Counter()
    for r in reports:
        reasons.update(r.quarantine_reasons)
    return {
        "dagster/row_count": sum(r.quarantined for r in reports),
        "reasons": dg.MetadataValue.json(dict(reasons.most_common())),
        "unreadable_files": sum(len(r.unreadable_files) for r in reports),
    }


@dg.asset(
    key=LLM_PRICES,
    group_name="ingest",
    owners=OWNERS_INGEST,
    kinds={"duckdb", "python"},
    tags={"domain": "pricing"},
    description=(
        "genai-prices' price history as point-in-time rows (service tier, date interval, time-of-day window, "
        "input tier), replaced whole on every run."
    ),
)
def llm_prices(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    rows = export_price_rows()
    with warehouse.connect() as con:
        count = write_prices(con, rows)
        summary = con.execute(
            "SELECT count(DISTINCT provider_id), count(DISTINCT provider_id || '/' || model_id), "
            "count(*) FILTER (WHERE effective_from > DATE '1970-01-01'), count(*) FILTER (WHERE prices_rounded) "
            "FROM raw.llm_prices"
        ).fetchone()
    context.log.info(f"exported {count} price rows from genai-prices {genai_prices_version()}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": count,
            "providers": summary[0],
            "models": summary[1],
            "dated_price_rows": summary[2],
            "rounded_price_rows": summary[3],
            "genai_prices_version": genai_prices_version(),
        }
    )
