"""The providers' own usage reports, pulled a UTC day at a time and saved as pages for the LLM requests ingest."""

from datetime import timedelta

import dagster as dg

from cost_pipelines.defs.owners import OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions, single_run
from cost_pipelines.ingest.usage_apis import COST_APIS, USAGE_APIS, Puller, UsageApiError, save_pages
from cost_pipelines.resources import ProviderUsageResource

PROVIDER_USAGE_PAGES = dg.AssetKey(["raw", "provider_usage_pages"])


@dg.asset(
    key=PROVIDER_USAGE_PAGES,
    description="Hourly usage buckets from OpenAI's organization Usage API and Anthropic's Admin API usage "
    "report, and the day's billed cost from OpenAI's Costs API and Anthropic's cost report, saved as the pages "
    "each returned, one folder per report and UTC day; read by raw/llm_requests as usage-bucket records and into "
    "raw/provider_cost_reports. A provider without an admin key is not pulled.",
    group_name="ingest",
    owners=OWNERS_INGEST,
    kinds={"python"},
    tags={"domain": "llm"},
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def provider_usage_pages(
    context: dg.AssetExecutionContext, provider_usage: ProviderUsageResource
) -> dg.MaterializeResult:
    providers = provider_usage.configured()
    window = context.partition_time_window
    first, end = window.start.date(), window.end.date()
    puller = Puller(timeout=provider_usage.timeout_seconds)
    pages, changed_earlier = {}, set()
    for api in [report[name] for name in providers for report in (USAGE_APIS, COST_APIS)]:
        name = api.name
        day = first - timedelta(days=provider_usage.trailing_days)
        while day < end:
            try:
                key, base_url = provider_usage.key(api.provider), provider_usage.base_url(api.provider)
                day_pages = puller.pull_day(api, key, day, base_url)
            except UsageApiError as error:
                raise dg.Failure(f"{day}: {error}") from None
            changed = save_pages(provider_usage.root(), api, day, day_pages)
            pages[f"{name} {day}"] = len(day_pages)
            if changed and day < first:
                changed_earlier.add(day)
                context.log.warning(f"{name} {day}: the report changed since it was saved; that day is re-pulled")
            day += timedelta(days=1)
    # A trailing day whose report changed is marked materialized again, so its LLM requests show as stale.
    for day in sorted(changed_earlier):
        partition = day.isoformat()
        if partition in daily_partitions.get_partition_keys():
            refreshed = {"refreshed_by": context.partition_key_range.end}
            context.log_event(dg.AssetMaterialization(PROVIDER_USAGE_PAGES, partition=partition, metadata=refreshed))
    return dg.MaterializeResult(
        metadata={
            "providers": dg.MetadataValue.json(providers),
            "pages": dg.MetadataValue.json(pages),
            "trailing_days_changed": dg.MetadataValue.json([d.isoformat() for d in sorted(changed_earlier)]),
            "root": str(provider_usage.root()),
        }
    )
