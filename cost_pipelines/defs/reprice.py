"""Re-pricing history: the check that finds stored days priced with other prices than the current ones, and the
job that re-prices them (`cost-pipelines reprice` runs it over exactly those days)."""

import dagster as dg
from dagster_dbt import get_asset_key_for_model

from cost_pipelines.defs.alerts import COST_ALERTS
from cost_pipelines.defs.analytics import SUMMED_REQUESTS
from cost_pipelines.defs.dbt import cost_dbt_models
from cost_pipelines.defs.jobs import daily_cost_job
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.pricing.history import day_ranges, days_to_reprice
from cost_pipelines.resources import WarehouseResource

PRICES_SUMMED_WITH = get_asset_key_for_model([cost_dbt_models], "llm_prices_summed_with")

# Everything a day's prices flow into, from the summed requests on; ingest and the price tables are left as they are.
reprice_job = dg.define_asset_job(
    "reprice_job",
    selection=(dg.AssetSelection.assets(SUMMED_REQUESTS).downstream() & daily_cost_job.selection)
    - dg.AssetSelection.assets(COST_ALERTS),
    description=(
        "Re-price stored days with the current price rows and overrides: the summed requests, every mart, the "
        "analytics, budget status and reports of the partitions it runs for. `cost-pipelines reprice` runs it over "
        "exactly the days history_priced_with_current_prices lists, one run per range of consecutive days."
    ),
)


# Not partitioned: whichever days a run covers, it compares every stored day.
@dg.asset_check(
    asset=PRICES_SUMMED_WITH,
    description=(
        "Every stored day was summed with the price rows and overrides in force now (fingerprints compared per day, "
        "provider and model; no request is read). Lists the days a price change has not reached: re-price them "
        "with `cost-pipelines reprice`."
    ),
)
def history_priced_with_current_prices(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        stale = days_to_reprice(con)
    days = sorted(stale)
    ranges = [(str(first), str(last), (last - first).days + 1) for first, last in day_ranges(days)]
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "days_to_reprice": dg.MetadataValue.json([d.isoformat() for d in days]),
            "day_count": len(days),
            "ranges": dg.MetadataValue.md(markdown_table(["first", "last", "days"], ranges)),
            "models": dg.MetadataValue.md(
                markdown_table(["day", "provider/model"], [(d, ", ".join(stale[d])) for d in days[:31]])
            ),
            "fix": "cost-pipelines reprice" if stale else "",
        },
    )
