"""Budget wiring: the budget status of each day, from budgets.yaml and the cost facts."""

from datetime import timedelta

import dagster as dg

from cost_pipelines import settings
from cost_pipelines.alerts.budgets import load_budgets
from cost_pipelines.alerts.status import budget_status
from cost_pipelines.alerts.status_store import write_status
from cost_pipelines.defs.analytics import FCT_COSTS, SPEND_FORECAST
from cost_pipelines.defs.metadata import markdown_table
from cost_pipelines.defs.partitions import daily_partitions, single_run
from cost_pipelines.resources import WarehouseResource

BUDGET_STATUS = dg.AssetKey(["alerts", "budget_status"])


@dg.asset(
    key=BUDGET_STATUS,
    deps=[FCT_COSTS, SPEND_FORECAST],
    partitions_def=daily_partitions,
    backfill_policy=single_run,
    group_name="alerts",
    kinds={"python", "duckdb"},
    tags={"domain": "alerts"},
    description=(
        "Each budget of budgets.yaml (COST_PIPELINES_BUDGETS) on each day: spend from the start of its UTC period "
        "summed from fct_costs (never a running counter), percent used, thresholds crossed, days left and the "
        "p80 month-end forecast for monthly budgets. An invalid budgets file fails this asset with every "
        "problem listed; nothing is half-applied. Rows in analytics.budget_status."
    ),
)
def budget_status_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    path = settings.budgets_path()
    budgets = load_budgets(path)  # raises with every problem, naming budget and field
    window = context.partition_time_window
    start, end = window.start.date(), window.end.date()
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    with warehouse.connect(read_only=True) as con:
        statuses = [s for day in days for s in budget_status(con, budgets, day)]
    with warehouse.connect() as con:
        write_status(con, days, statuses)
    last = [s for s in statuses if s.as_of == days[-1]]
    table = [
        (s.budget.name, s.budget.scope_label, s.budget.period, f"${s.spent:,.2f}", f"${s.budget.limit_usd:,.2f}",
         f"{s.percent_used:.1f}%", ",".join(map(str, s.thresholds_crossed)) or "-",
         "" if s.forecast_p80 is None else f"${s.forecast_p80:,.2f}", s.days_left)
        for s in sorted(last, key=lambda s: -s.percent_used)
    ]  # fmt: skip
    return dg.MaterializeResult(
        metadata={
            "budgets_file": str(path),
            "budgets": len(budgets),
            "as_of": days[-1].isoformat(),
            "over_limit": sum(1 for s in last if s.percent_used >= 100),
            "status": dg.MetadataValue.md(
                markdown_table(
                    [
                        "budget",
                        "scope",
                        "period",
                        "spent",
                        "limit",
                        "used",
                        "thresholds crossed",
                        "p80 at month end",
                        "days left",
                    ],
                    table,
                )
            ),
        }
    )
