"""AWS Cost Explorer ingest: one paginated request sequence per run over a trailing window of days."""

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import dagster as dg

from cost_pipelines.aws.cost_explorer import (
    RESTATED_DAYS,
    CostExplorerQuery,
    CostRow,
    fetch_pages,
    group_by,
    parse_pages,
)
from cost_pipelines.aws.load import replace_window
from cost_pipelines.defs.metadata import query_markdown, results_by_day
from cost_pipelines.defs.owners import OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions, partition_days, single_run
from cost_pipelines.money import usd
from cost_pipelines.resources import CostExplorerResource, WarehouseResource

AWS_COST_EXPLORER = dg.AssetKey(["raw", "aws_cost_explorer_daily"])


class CostExplorerConfig(dg.Config):
    trailing_days: int = RESTATED_DAYS  # the partition and the days before it, re-pulled and replaced
    # Up to two of SERVICE, LINKED_ACCOUNT, TAG:<key>, COST_CATEGORY:<name>, … Empty: GROUP_BY_ENV
    # (comma-separated, so scheduled runs allocate as configured), else SERVICE, LINKED_ACCOUNT.
    group_by: list[str] = []


def group_by_of(config: CostExplorerConfig) -> tuple[str, ...]:
    return group_by(config.group_by)


@dg.asset(
    key=AWS_COST_EXPLORER,
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="ingest",
    owners=OWNERS_INGEST,
    kinds={"aws", "duckdb"},
    tags={"domain": "aws"},
    description=(
        "Daily AWS cost from Cost Explorer (Unblended, Amortized, NetUnblended, UsageQuantity) by service and "
        "linked account, with the Estimated flag. The partition and the days before it are re-pulled and replaced."
    ),
)
def aws_cost_explorer_daily(
    context: dg.AssetExecutionContext,
    config: CostExplorerConfig,
    warehouse: WarehouseResource,
    cost_explorer: CostExplorerResource,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    window = context.partition_time_window
    # restated days are re-pulled, but never days before the pipeline starts (their facts would be partial)
    first_day = daily_partitions.start.date()
    start = max(window.start.date() - timedelta(days=max(config.trailing_days, 1) - 1), first_day)
    query = CostExplorerQuery(start, window.end.date(), group_by_of(config))
    fetched = fetch_pages(cost_explorer.client(), query)
    rows = parse_pages(fetched.pages, query)
    with warehouse.connect() as con:
        replace_window(con, query, rows)
        preview = query_markdown(
            con,
            "SELECT value_1 AS group_1, sum(unblended_cost) AS unblended_cost_usd, sum(amortized_cost) AS "
            "amortized_cost_usd FROM raw.aws_cost_explorer_daily WHERE usage_date >= ? AND usage_date < ? "
            "GROUP BY ALL ORDER BY 2 DESC LIMIT 10",
            [query.start, query.end],
        )
    context.log.info(f"Cost Explorer {query.start}..{query.end} (end exclusive): {fetched.requests} requests")
    days = partition_days(context)
    pulled = _dollars("pulled_unblended_cost", rows)
    yield from results_by_day(
        days,
        {
            day: _dollars("unblended_cost", [r for r in rows if r.usage_date == day])
            | {"dagster/row_count": sum(1 for r in rows if r.usage_date == day)}
            for day in days
        },
        {
            "days_pulled": len(query.days()),
            # Cost Explorer restates recent days: the days before the run's first are pulled and replaced too
            "pulled": f"{query.start} .. {query.end} (end exclusive)",
            "groups": len({(r.value_1, r.value_2) for r in rows if r.value_1 is not None}),
            "requests": fetched.requests,
            "retries": fetched.retries,
            **pulled,
            "pulled_row_count": len(rows),
            "estimated_days": dg.MetadataValue.json(sorted({str(r.usage_date) for r in rows if r.is_estimated})),
            "source": "recorded sample" if cost_explorer.use_recorded() else "AWS Cost Explorer",
            "preview": dg.MetadataValue.md(preview),
        },
        AWS_COST_EXPLORER,
    )


def _dollars(name: str, rows: list[CostRow]) -> dict[str, object]:
    total = sum((r.unblended_cost for r in rows), start=Decimal(0))
    return {name: usd(total), f"{name}_usd": dg.MetadataValue.float(float(total)), f"{name}_usd_exact": str(total)}
