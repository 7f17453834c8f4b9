"""FOCUS export ingest: charges whose period starts in the partition's days."""

import dagster as dg

from cost_pipelines.defs.owners import OWNERS_INGEST
from cost_pipelines.defs.partitions import daily_partitions, single_run
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
            description="Charges from FOCUS 1.0 exports (Azure, GCP, OCI, AWS), replaced one window of days at a time.",
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
def focus_charges(context: dg.AssetExecutionContext, warehouse: WarehouseResource, focus_exports: FocusExportsResource):
    window = context.partition_time_window
    with warehouse.connect() as con:
        report = load_window(con, focus_exports.path(), window.start.date(), window.end.date())
        by_provider = con.execute(
            "SELECT provider_name, sum(billed_cost) FROM raw.focus_charges "
            "WHERE CAST(timezone('UTC', charge_period_start) AS DATE) >= ? "
            "AND CAST(timezone('UTC', charge_period_start) AS DATE) < ? GROUP BY 1 ORDER BY 2 DESC",
            [window.start.date(), window.end.date()],
        ).fetchall()
    yield dg.MaterializeResult(
        asset_key=FOCUS_CHARGES,
        metadata={
            "files": report.files,
            "rows_in_window": report.rows_in,
            "dagster/row_count": report.rows_kept,
            "billed_cost_by_provider": dg.MetadataValue.json({p: str(c) for p, c in by_provider}),
        },
    )
    yield dg.MaterializeResult(
        asset_key=dg.AssetKey(["raw", "focus_charges_quarantine"]), metadata={"quarantined": report.quarantined}
    )
