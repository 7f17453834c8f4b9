"""What people look at: the self-contained HTML cost report and the Prometheus metrics file."""

from datetime import UTC, date, datetime

import dagster as dg

from cost_pipelines import settings
from cost_pipelines.defs.alerts import BUDGET_STATUS
from cost_pipelines.defs.analytics import COST_ANOMALIES, FCT_COSTS, RECOMMENDATIONS, SPEND_FORECAST, SUMMED_REQUESTS
from cost_pipelines.defs.owners import OWNERS_ANALYTICS
from cost_pipelines.defs.partitions import daily_partitions, last_day, single_run
from cost_pipelines.report.data import latest_cost_day, load_report_data
from cost_pipelines.report.prometheus import collect, render
from cost_pipelines.report.render import render_report
from cost_pipelines.report.serve import reports_url
from cost_pipelines.resources import WarehouseResource

COST_REPORT = dg.AssetKey(["reports", "cost_report"])
COST_METRICS = dg.AssetKey(["reports", "prometheus_metrics"])


def report_asset(key: dg.AssetKey, deps: list[dg.AssetKey], kinds: set[str], description: str):
    """A daily-partitioned asset of the reports group, the last in the flow; a range of days runs once."""
    return dg.asset(
        key=key, deps=deps, partitions_def=daily_partitions, backfill_policy=single_run, group_name="reports",
        owners=OWNERS_ANALYTICS, kinds=kinds, tags={"domain": "reports"}, description=description,
    )  # fmt: skip


def current_day(con, run_day: date) -> date:
    """What the current report and metrics are as of: the latest day with costs, or the run's day if later."""
    latest = latest_cost_day(con)
    return run_day if latest is None else max(run_day, latest)


def _write_atomically(path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(text)
    partial.replace(path)  # a reader never sees half a file


@report_asset(
    COST_REPORT,
    [FCT_COSTS, SUMMED_REQUESTS, SPEND_FORECAST, COST_ANOMALIES, RECOMMENDATIONS, BUDGET_STATUS],
    {"python", "plotly", "html"},
    (
        "The cost report as one self-contained HTML file (charts inlined, opens offline): daily spend stacked by "
        "provider with the forecast and its 80/95 % bands and the anomalies marked, the month's spend and projection "
        "against the budget, every budget's burn, top services, models, task types, teams and users, and the top "
        "recommendations. Written to `DATA_DIR/reports/` (COST_PIPELINES_DATA_DIR, default ./data): "
        "`cost_report.html` as of the latest day with costs (a re-run of a past day never moves it back) and a dated "
        "copy per run's last day."
    ),
)
def cost_report(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    run_day = last_day(context)
    with warehouse.connect(read_only=True) as con:
        as_of = current_day(con, run_day)
        # A restated past day gets its dated report; the current one stays as of the latest day, with the restatement.
        reports = {day: load_report_data(con, day) for day in dict.fromkeys([run_day, as_of])}
    rendered_at = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    pages = {day: render_report(data, rendered_at) for day, data in reports.items()}
    folder = settings.data_dir() / "reports"
    for day, page in pages.items():
        _write_atomically(folder / f"cost_report_{day}.html", page)
    _write_atomically(folder / "cost_report.html", pages[as_of])
    data, dated = reports[as_of], folder / f"cost_report_{as_of}.html"
    link = f"{reports_url()}/{dated.name}"
    summary = (
        f"**{as_of}**: ${data.day_total:,.2f} that day; {as_of:%B} to date ${data.month_to_date:,.2f}; "
        f"{len(data.budgets)} budgets, {len(data.recommendations)} recommendations, "
        f"{len({(a[0], a[1], a[2]) for a in data.anomalies})} anomalies in 90 days.\n\n"
        f"[Open the report]({link}) (served by `cost-pipelines ui` or `cost-pipelines reports`; the file: `{dated}`)"
    )
    if run_day < as_of:
        summary += (
            f"\n\nThis run restated {run_day}: `cost_report_{run_day}.html`; the current report stays as of {as_of}."
        )
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.url(link),
            "path": dg.MetadataValue.path(str(dated)),
            "size_bytes": len(pages[as_of].encode()),
            "as_of": as_of.isoformat(),
            "run_last_day": run_day.isoformat(),
            "summary": dg.MetadataValue.md(summary),
        }
    )


@report_asset(
    COST_METRICS,
    [SUMMED_REQUESTS, FCT_COSTS, BUDGET_STATUS],
    {"python", "prometheus"},
    (
        "Cost metrics in the Prometheus text format under the usual names (llm_total_cost_usd, llm_api_calls_total, "
        "llm_cost_per_hour_usd, budget_usage_ratio) plus cost_billed_usd_total for cloud and LLM, as of the latest day "
        "with costs (a re-run of a past day never takes counters back): `DATA_DIR/metrics/cost_pipelines.prom`, for "
        "node_exporter's textfile collector."
    ),
)
def prometheus_metrics(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    with warehouse.connect(read_only=True) as con:
        as_of = current_day(con, last_day(context))  # counters never go back to a restated day
        metrics = collect(con, as_of)
    path = settings.data_dir() / "metrics" / "cost_pipelines.prom"
    _write_atomically(path, render(metrics))
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(path)),
            "series": sum(len(m.samples) for m in metrics),
            "metrics": dg.MetadataValue.json({m.name: len(m.samples) for m in metrics}),
            "as_of": as_of.isoformat(),
        }
    )
