"""Cost metrics in the Prometheus text exposition format, under the usual LLM cost metric names, so an existing Grafana
setup can scrape them (node_exporter's textfile collector, or any static file server)."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb

from cost_pipelines.warehouse import scalar, table_exists


@dataclass(frozen=True)
class Sample:
    labels: dict[str, str]
    value: Decimal | int


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | gauge
    help: str
    samples: list[Sample]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: Decimal | int) -> str:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    return str(value)


def render(metrics: Iterable[Metric]) -> str:
    lines = []
    for m in metrics:
        lines += [f"# HELP {m.name} {m.help}", f"# TYPE {m.name} {m.kind}"]
        for s in m.samples:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in s.labels.items())
            lines.append(f"{m.name}{{{labels}}} {_value(s.value)}" if labels else f"{m.name} {_value(s.value)}")
    return "\n".join(lines) + "\n"


def collect(con: duckdb.DuckDBPyConnection, as_of: date) -> list[Metric]:
    """Totals up to and including `as_of` (counters), and the state on `as_of` (gauges)."""
    metrics = []
    if table_exists(con, "intermediate", "int_llm_requests_summed"):
        rows = con.execute(
            "SELECT provider, model, coalesce(task_type, ''), coalesce(user_id, ''), coalesce(sum(total_cost_usd), 0) "
            "FROM intermediate.int_llm_requests_summed WHERE usage_date <= ? GROUP BY ALL ORDER BY ALL",
            [as_of],
        ).fetchall()
        metrics.append(Metric("llm_total_cost_usd", "counter", "Total LLM cost in USD (priced requests).", [
            Sample({"provider": p, "model": m, "task_type": t, "user_id": u}, c) for p, m, t, u, c in rows
        ]))  # fmt: skip
        rows = con.execute(
            "SELECT provider, model, status, sum(request_count) FROM intermediate.int_llm_requests_summed "
            "WHERE usage_date <= ? GROUP BY ALL ORDER BY ALL",
            [as_of],
        ).fetchall()
        metrics.append(Metric("llm_api_calls_total", "counter", "Total LLM API calls.", [
            Sample({"provider": p, "model": m, "status": s}, int(n)) for p, m, s, n in rows
        ]))  # fmt: skip
        day = scalar(
            con,
            "SELECT coalesce(sum(total_cost_usd), 0) FROM intermediate.int_llm_requests_summed WHERE usage_date = ?",
            [as_of],
        )
        metrics.append(Metric("llm_cost_per_hour_usd", "gauge", f"LLM cost per hour on {as_of} (the day's cost / 24).",
                              [Sample({}, day / 24)]))  # fmt: skip
    if table_exists(con, "marts", "fct_costs"):
        rows = con.execute(
            "SELECT provider_name, service_name, sum(billed_cost) FROM marts.fct_costs WHERE usage_date <= ? "
            "GROUP BY ALL ORDER BY ALL",
            [as_of],
        ).fetchall()
        metrics.append(Metric("cost_billed_usd_total", "counter", "Billed cost in USD of cloud and LLM spend "
                              "(fct_costs), by provider and service.", [
            Sample({"provider": p, "service": s}, c) for p, s, c in rows
        ]))  # fmt: skip
    if table_exists(con, "analytics", "budget_status"):
        rows = con.execute(
            "SELECT budget, period, scope, spent_usd, limit_usd FROM analytics.budget_status WHERE as_of = ? "
            "ORDER BY budget",
            [as_of],
        ).fetchall()
        metrics.append(Metric("budget_usage_ratio", "gauge", f"Budget usage ratio (spent / limit) on {as_of}.", [
            Sample({"budget_type": period, "budget": b, "scope": scope}, (spent / limit).quantize(Decimal("1e-6")))
            for b, period, scope, spent, limit in rows
        ]))  # fmt: skip
    return metrics
