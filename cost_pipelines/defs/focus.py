"""FOCUS export ingest: charges whose period starts in the partition's days."""

from collections.abc import Iterator
from datetime import timedelta

import dagster as dg

from cost_pipelines.defs.metadata import results_by_day
from cost_pipelines.defs.owners import OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions, partition_days, single_run
from cost_pipelines.focus.load import load_window
from cost_pipelines.resources import FocusExportsResource, WarehouseResource

FOCUS_CHARGES = dg.AssetKey(["raw", "focus_charges"])


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FOCUS_CHARGES,
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb", "csv"},
            tags={"domain": "cloud"},
            description="Charges from FOCUS 1.0 to 1.2 exports (Azure, GCP, OCI, AWS) with every FOCUS column "
            "they carry, replaced one window of days at a time.",
        ),
        dg.AssetSpec(
            ["raw", "focus_charges_quarantine"],
            group_name="ingest",
            owners=OWNERS_INGEST,
            kinds={"duckdb"},
            tags={"domain": "cloud"},
            description="FOCUS rows whose cost, currency or charge period cannot be read, with the reason.",
        ),
    ],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
)
def focus_charges(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, focus_exports: FocusExportsResource
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    days = partition_days(context)
    with warehouse.connect() as con:
        report = load_window(con, focus_exports.path(), days[0], days[-1] + timedelta(days=1))
        by_day = con.execute(
            "SELECT CAST(timezone('UTC', charge_period_start) AS DATE) AS charge_day, provider_name, count(*), "
            "sum(billed_cost) FROM raw.focus_charges "
            "WHERE CAST(timezone('UTC', charge_period_start) AS DATE) BETWEEN ? AND ? GROUP BY ALL ORDER BY 4 DESC",
            [days[0], days[-1]],
        ).fetchall()
    each_day = {
        day: {
            "dagster/row_count": sum(rows for d, _, rows, _ in by_day if d == day),
            "billed_cost_by_provider": dg.MetadataValue.json({p: str(c) for d, p, _, c in by_day if d == day}),
        }
        for day in days
    }
    yield from results_by_day(
        days,
        each_day,
        {"files": report.files, "rows_in_window": report.rows_in, "window_rows_kept": report.rows_kept},
        FOCUS_CHARGES,
    )
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(["raw", "focus_charges_quarantine"]), metadata={"quarantined": report.quarantined}
    )
