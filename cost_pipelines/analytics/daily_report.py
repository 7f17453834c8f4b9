"""The daily cost report: a day's total against the day before and the same weekday a week before, what moved,
what was unusual, where the month is heading and what to change. Money stays Decimal throughout."""

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa

from cost_pipelines.analytics.store import replace_rows
from cost_pipelines.money import CENT, usd
from cost_pipelines.warehouse import fetch_dicts, table_exists

# series a mover can be: dimension -> SQL expression over marts.fct_costs (NULL = not part of that dimension)
MOVER_DIMENSIONS = {
    "provider": "provider_name",
    "service": "CASE WHEN x_source = 'llm_logs' THEN NULL ELSE provider_name || ' / ' || service_name END",
    "model": "x_model",
    "team": "coalesce(x_team, '(unallocated)')",
}


@dataclass(frozen=True)
class Mover:
    dimension: str
    key: str
    cost: Decimal
    week_before: Decimal

    @property
    def change(self) -> Decimal:
        return self.cost - self.week_before


@dataclass(frozen=True)
class DailyReport:
    day: date
    total: Decimal
    day_before: Decimal | None  # None: no data for that day
    week_before: Decimal | None
    llm_requests: int
    llm_cost: Decimal
    by_provider: list[tuple[str, Decimal, Decimal]]  # provider, cost, the day before
    by_task: list[tuple[str, int, Decimal]]  # task type, requests, cost
    movers: list[Mover]
    anomalies: list[dict] = field(default_factory=list)
    recommendations: list[dict] = field(default_factory=list)
    forecast: dict | None = None

    @staticmethod
    def change(now: Decimal, before: Decimal | None) -> Decimal | None:
        """Relative change, None when there is nothing to compare with."""
        return None if before is None or before == 0 else (now - before) / before


def _sum_by_day(con: duckdb.DuckDBPyConnection, days: list[date]) -> dict[date, Decimal]:
    rows = con.execute(
        "SELECT usage_date, sum(billed_cost) FROM marts.fct_costs WHERE usage_date IN (SELECT unnest(?)) GROUP BY 1",
        [days],
    ).fetchall()
    return dict(rows)


def _movers(con: duckdb.DuckDBPyConnection, day: date, n: int) -> list[Mover]:
    selects = " UNION ALL ".join(
        f"SELECT '{name}' AS dimension, {expression} AS key, usage_date, billed_cost FROM marts.fct_costs "
        "WHERE usage_date IN ($day, $week_before)"
        for name, expression in MOVER_DIMENSIONS.items()
    )
    rows = con.execute(
        f"""SELECT dimension, key, coalesce(sum(billed_cost) FILTER (WHERE usage_date = $day), 0),
                   coalesce(sum(billed_cost) FILTER (WHERE usage_date = $week_before), 0)
            FROM ({selects}) WHERE key IS NOT NULL GROUP BY ALL""",
        {"day": day, "week_before": day - timedelta(days=7)},
    ).fetchall()
    movers = [Mover(dimension, key, cost, before) for dimension, key, cost, before in rows]
    return sorted(movers, key=lambda m: (-abs(m.change), m.dimension, m.key))[:n]


def _rows(con: duckdb.DuckDBPyConnection, table: str, sql: str, params: list) -> list[dict]:
    return fetch_dicts(con, sql, params) if table_exists(con, "analytics", table) else []


def load_report(con: duckdb.DuckDBPyConnection, day: date, movers: int = 5, top: int = 3) -> DailyReport:
    """The report of `day` from the marts and whatever analytics exist as of that day."""
    totals = _sum_by_day(con, [day, day - timedelta(days=1), day - timedelta(days=7)])
    llm_requests, llm_cost = con.execute(
        "SELECT coalesce(sum(request_count), 0), coalesce(sum(total_cost_usd), 0) FROM marts.cost_summary_daily "
        "WHERE usage_date = ?",
        [day],
    ).fetchone()
    by_provider = con.execute(
        "SELECT provider_name, coalesce(sum(billed_cost) FILTER (WHERE usage_date = $day), 0), "
        "       coalesce(sum(billed_cost) FILTER (WHERE usage_date = $day - INTERVAL 1 DAY), 0) "
        "FROM marts.fct_costs WHERE usage_date BETWEEN $day - INTERVAL 1 DAY AND $day GROUP BY 1 ORDER BY 2 DESC, 1",
        {"day": day},
    ).fetchall()
    by_task = con.execute(
        "SELECT coalesce(task_type, '(none)'), sum(request_count), coalesce(sum(total_cost_usd), 0) "
        "FROM intermediate.int_llm_requests_summed WHERE usage_date = ? GROUP BY 1 ORDER BY 3 DESC, 1",
        [day],
    ).fetchall()
    anomalies = _rows(
        con,
        "cost_anomalies",
        "SELECT dimension, series_key, kinds, actual_usd, expected_usd, contributors FROM analytics.cost_anomalies "
        "WHERE usage_date = ? ORDER BY actual_usd - expected_usd DESC, dimension, series_key",
        [day],
    )
    for a in anomalies:
        a["contributors"] = json.loads(a["contributors"])
    recommendations = _rows(
        con,
        "recommendations",
        "SELECT rank, kind, title, effort, monthly_savings_usd FROM analytics.recommendations "
        "WHERE as_of = ? ORDER BY rank LIMIT ?",
        [day, top],
    )
    forecast = _rows(
        con,
        "spend_forecast_series",
        "SELECT method, month_to_date_usd, month_end_usd, month_end_lower_80_usd, month_end_upper_80_usd, "
        "month_end_p80_usd FROM analytics.spend_forecast_series WHERE as_of = ? AND dimension = 'total'",
        [day],
    )
    return DailyReport(
        day=day,
        total=totals.get(day, Decimal(0)),
        day_before=totals.get(day - timedelta(days=1)),
        week_before=totals.get(day - timedelta(days=7)),
        llm_requests=int(llm_requests),
        llm_cost=llm_cost,
        by_provider=by_provider,
        by_task=[(task, int(n), cost) for task, n, cost in by_task],
        movers=_movers(con, day, movers),
        anomalies=anomalies,
        recommendations=recommendations,
        forecast=forecast[0] if forecast else None,
    )


def _signed_usd(value: Decimal) -> str:
    sign = "+" if value >= 0 else "-"
    return f"{sign}${abs(value).quantize(CENT):,}"


def _pct(change: Decimal | None) -> str:
    return "n/a" if change is None else f"{change:+.1%}"


def render_markdown(r: DailyReport) -> str:
    lines = [
        f"## Cost report for {r.day:%A %Y-%m-%d}",
        "",
        f"**Total {usd(r.total)}**: {_pct(r.change(r.total, r.day_before))} vs the day before "
        f"({usd(r.day_before)}), {_pct(r.change(r.total, r.week_before))} vs {r.day - timedelta(days=7):%A} a week "
        f"before ({usd(r.week_before)}).",
        "",
        f"LLM: {r.llm_requests:,} requests, {usd(r.llm_cost)}"
        + (f" ({usd(r.llm_cost / r.llm_requests)} per request)." if r.llm_requests else "."),
        "",
        "| provider | cost | the day before |",
        "|---|---|---|",
        *(f"| {p} | {usd(c)} | {usd(b)} |" for p, c, b in r.by_provider),
    ]
    if r.by_task:
        lines += ["", "| task type | requests | cost |", "|---|---|---|"]
        lines += [f"| {t} | {n:,} | {usd(c)} |" for t, n, c in r.by_task]
    lines += ["", "**Top movers** (vs the same weekday a week before)", ""]
    lines += [
        f"- {m.dimension} {m.key}: {usd(m.cost)} ({_signed_usd(m.change)}, was {usd(m.week_before)})" for m in r.movers
    ] or ["- none"]
    lines += ["", "**Anomalies**", ""]
    lines += [
        f"- {a['dimension']} {a['series_key']}: {usd(a['actual_usd'])} against {usd(a['expected_usd'])} expected "
        f"({a['kinds']}); contributors: " + ", ".join(f"{d}={v} ({_signed_usd(Decimal(c))})" for d, v, c in
                                                    a["contributors"])
        for a in r.anomalies
    ] or ["- none"]  # fmt: skip
    if r.forecast and (r.day + timedelta(days=1)).month != r.day.month:
        lines += ["", f"**Month closed** at {usd(r.forecast['month_to_date_usd'])}."]
    elif r.forecast:
        f = r.forecast
        interval = (
            f" (80% interval {usd(f['month_end_lower_80_usd'])} to {usd(f['month_end_upper_80_usd'])})"
            if f["month_end_upper_80_usd"] is not None
            else " (no interval: too little history)"
        )
        lines += [
            "",
            f"**Month end**: {usd(f['month_end_usd'])} projected{interval}, {usd(f['month_to_date_usd'])} spent "
            f"so far ({f['method']}).",
        ]
    if r.recommendations:
        lines += ["", "**Top recommendations**", ""]
        lines += [
            f"{x['rank']}. {x['title']}: {usd(x['monthly_savings_usd'])} a month ({x['effort']})"
            for x in r.recommendations
        ]
    return "\n".join(lines)


def as_json(r: DailyReport) -> str:
    """The report's figures as JSON (money as exact decimal strings)."""

    def plain(value: object) -> object:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        return value

    body = {
        "by_provider": [[p, str(c), str(b)] for p, c, b in r.by_provider],
        "by_task": [[t, n, str(c)] for t, n, c in r.by_task],
        "movers": [[m.dimension, m.key, str(m.cost), str(m.week_before)] for m in r.movers],
        "anomalies": [{k: plain(v) for k, v in a.items()} for a in r.anomalies],
        "recommendations": [{k: plain(v) for k, v in x.items()} for x in r.recommendations],
        "forecast": None if r.forecast is None else {k: plain(v) for k, v in r.forecast.items()},
    }
    return json.dumps(body, default=plain)


REPORT_DDL = """
CREATE TABLE IF NOT EXISTS analytics.daily_report (
    report_date DATE PRIMARY KEY, total_usd DECIMAL(38, 18) NOT NULL, day_before_usd DECIMAL(38, 18),
    week_before_usd DECIMAL(38, 18), change_vs_day_before DOUBLE, change_vs_week_before DOUBLE,
    llm_requests BIGINT NOT NULL, llm_cost_usd DECIMAL(38, 18) NOT NULL, anomaly_count INTEGER NOT NULL,
    recommendation_count INTEGER NOT NULL, month_end_usd DECIMAL(18, 6), markdown VARCHAR NOT NULL,
    details JSON NOT NULL, reported_at TIMESTAMPTZ NOT NULL
)"""


def write_reports(con: duckdb.DuckDBPyConnection, reports: list[DailyReport]) -> None:
    """Replace the stored reports of these days."""
    now = datetime.now(UTC)

    def ratio(now_: Decimal, before: Decimal | None) -> float | None:
        change = DailyReport.change(now_, before)
        return None if change is None else float(change)

    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    rows = [
        {
            "report_date": r.day, "total_usd": str(r.total), "day_before_usd": text(r.day_before),
            "week_before_usd": text(r.week_before), "change_vs_day_before": ratio(r.total, r.day_before),
            "change_vs_week_before": ratio(r.total, r.week_before), "llm_requests": r.llm_requests,
            "llm_cost_usd": str(r.llm_cost), "anomaly_count": len(r.anomalies),
            "recommendation_count": len(r.recommendations),
            "month_end_usd": text(r.forecast["month_end_usd"]) if r.forecast else None,
            "markdown": render_markdown(r), "details": as_json(r), "reported_at": now,
        }
        for r in reports
    ]  # fmt: skip
    replace_rows(
        con, {"daily_report": REPORT_DDL}, "report_date", [r.day for r in reports],
        {"daily_report": pa.Table.from_pylist(rows) if rows else None},
    )  # fmt: skip
