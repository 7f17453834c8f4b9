"""Data-quality measurements over a UTC date window of the warehouse. Imports no Dagster."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb


@dataclass(frozen=True)
class Reconciliation:
    raw_requests: int
    priced_requests_rows: int
    mart_requests: int
    priced_cost_usd: Decimal
    mart_cost_usd: Decimal

    @property
    def balanced(self) -> bool:
        return (
            self.raw_requests == self.priced_requests_rows == self.mart_requests
            and self.priced_cost_usd == self.mart_cost_usd
        )


def reconcile_llm_costs(con: duckdb.DuckDBPyConnection, start: date, end: date) -> Reconciliation:
    """Raw requests vs priced requests vs the daily summary, for usage dates in [start, end)."""
    window = [start, end]
    raw = con.execute("SELECT count(*) FROM raw.llm_requests WHERE usage_date >= ? AND usage_date < ?", window)
    raw_requests = raw.fetchone()[0]
    priced_rows, priced_cost = con.execute(
        "SELECT COALESCE(sum(request_count), 0), COALESCE(sum(total_cost_usd), 0) "
        "FROM intermediate.int_llm_requests_summed WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()
    mart_requests, mart_cost = con.execute(
        "SELECT COALESCE(sum(request_count), 0), COALESCE(sum(total_cost_usd), 0) FROM marts.cost_summary_daily "
        "WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()
    return Reconciliation(raw_requests, priced_rows, int(mart_requests), Decimal(priced_cost), Decimal(mart_cost))


@dataclass(frozen=True)
class UnpricedShare:
    requests: int
    unpriced: int
    by_model: list[tuple[str, str, str, int]]  # provider, model, reason, requests

    @property
    def share(self) -> float:
        return self.unpriced / self.requests if self.requests else 0.0


def unpriced_share(con: duckdb.DuckDBPyConnection, start: date, end: date) -> UnpricedShare:
    window = [start, end]
    requests, unpriced = con.execute(
        "SELECT COALESCE(sum(request_count), 0), COALESCE(sum(request_count) FILTER (WHERE NOT is_priced), 0) "
        "FROM intermediate.int_llm_requests_summed "
        "WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()
    by_model = con.execute(
        "SELECT provider, model, pricing_status, sum(request_count) FROM intermediate.int_llm_requests_summed "
        "WHERE usage_date >= ? AND usage_date < ? AND NOT is_priced GROUP BY ALL ORDER BY 4 DESC, 1, 2",
        window,
    ).fetchall()
    return UnpricedShare(requests, unpriced, by_model)


@dataclass(frozen=True)
class QuarantineShare:
    rows_seen: int
    quarantined: int
    by_reason: list[tuple[str, int]]

    @property
    def share(self) -> float:
        return self.quarantined / self.rows_seen if self.rows_seen else 0.0


def quarantine_share(con: duckdb.DuckDBPyConnection, start: date, end: date) -> QuarantineShare:
    window = [start, end]
    kept = con.execute(
        "SELECT count(*) FROM raw.llm_requests WHERE usage_date >= ? AND usage_date < ?", window
    ).fetchone()[0]
    by_reason = con.execute(
        "SELECT split_part(reason, ':', 1), count(*) FROM raw.llm_requests_quarantine "
        "WHERE partition_date >= ? AND partition_date < ? GROUP BY 1 ORDER BY 2 DESC, 1",
        window,
    ).fetchall()
    quarantined = sum(n for _, n in by_reason)
    return QuarantineShare(kept + quarantined, quarantined, by_reason)


def unreadable_files(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[tuple[date, str, str]]:
    """(day, file, reason) of the log files of [start, end) that could not be read and were left out."""
    return con.execute(
        "SELECT partition_date, source, reason FROM raw.llm_unreadable_files "
        "WHERE partition_date >= ? AND partition_date < ? ORDER BY 1, 2",
        [start, end],
    ).fetchall()


@dataclass(frozen=True)
class UsageOverlap:
    """A provider's day that request logs and the provider's usage buckets both cover."""

    day: date
    provider: str
    logged_requests: int
    bucket_requests: int | None
    logged_input_tokens: int
    bucket_input_tokens: int

    @property
    def logged_share(self) -> float | None:
        """The logs' input tokens as a share of the buckets': below 1, the logs miss traffic the provider billed."""
        return self.logged_input_tokens / self.bucket_input_tokens if self.bucket_input_tokens else None


def usage_overlaps(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[UsageOverlap]:
    rows = con.execute(
        "SELECT usage_date, provider, logged_requests, bucket_requests, logged_input_tokens, bucket_input_tokens "
        "FROM raw.llm_usage_overlaps WHERE usage_date >= ? AND usage_date < ? ORDER BY 1, 2",
        [start, end],
    ).fetchall()
    return [UsageOverlap(*row) for row in rows]


@dataclass(frozen=True)
class FactReconciliation:
    cost_explorer_usd: Decimal
    fact_cloud_usd: Decimal
    llm_priced_usd: Decimal
    fact_llm_usd: Decimal
    focus_usd: Decimal
    fact_focus_usd: Decimal

    @property
    def balanced(self) -> bool:
        return (
            self.cost_explorer_usd == self.fact_cloud_usd
            and self.llm_priced_usd == self.fact_llm_usd
            and self.focus_usd == self.fact_focus_usd
        )


def reconcile_fact(con: duckdb.DuckDBPyConnection, start: date, end: date) -> FactReconciliation:
    """fct_costs against its sources for usage dates in [start, end): Cost Explorer unblended and priced LLM."""
    window = [start, end]
    ce = con.execute(
        "SELECT COALESCE(sum(unblended_cost), 0) FROM raw.aws_cost_explorer_daily "
        "WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()[0]
    llm = con.execute(
        "SELECT COALESCE(sum(total_cost_usd), 0) FROM intermediate.int_llm_requests_summed "
        "WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()[0]
    focus = con.execute(
        "SELECT COALESCE(sum(billed_cost), 0) FROM raw.focus_charges "
        "WHERE CAST(timezone('UTC', charge_period_start) AS DATE) >= ? "
        "AND CAST(timezone('UTC', charge_period_start) AS DATE) < ?",
        window,
    ).fetchone()[0]
    fact_cloud, fact_llm, fact_focus = con.execute(
        "SELECT COALESCE(sum(billed_cost) FILTER (WHERE x_source = 'cost_explorer'), 0), "
        "COALESCE(sum(billed_cost) FILTER (WHERE x_source = 'llm_logs'), 0), "
        "COALESCE(sum(billed_cost) FILTER (WHERE x_source = 'focus'), 0) FROM marts.fct_costs "
        "WHERE usage_date >= ? AND usage_date < ?",
        window,
    ).fetchone()
    return FactReconciliation(
        Decimal(ce), Decimal(fact_cloud), Decimal(llm), Decimal(fact_llm), Decimal(focus), Decimal(fact_focus)
    )


def stale_estimated_days(con: duckdb.DuckDBPyConnection, before: date) -> list[date]:
    """Cost Explorer days still `Estimated` that runs no longer re-pull: their numbers will change unseen."""
    rows = con.execute(
        "SELECT DISTINCT usage_date FROM raw.aws_cost_explorer_daily WHERE is_estimated AND usage_date < ? ORDER BY 1",
        [before],
    ).fetchall()
    return [d for (d,) in rows]


def unexplained_negative_costs(
    con: duckdb.DuckDBPyConnection, start: date, end: date
) -> list[tuple[str, str, str, Decimal]]:
    """FOCUS charges below zero that are neither credits, adjustments nor marked corrections."""
    return con.execute(
        "SELECT provider_name, service_name, charge_category, billed_cost FROM raw.focus_charges "
        "WHERE billed_cost < 0 AND charge_category NOT IN ('Credit', 'Adjustment') "
        "AND COALESCE(charge_class, '') <> 'Correction' "
        "AND CAST(timezone('UTC', charge_period_start) AS DATE) >= ? "
        "AND CAST(timezone('UTC', charge_period_start) AS DATE) < ? ORDER BY billed_cost",
        [start, end],
    ).fetchall()


@dataclass(frozen=True)
class ModelDrift:
    provider: str
    model: str
    requests: int
    computed_usd: Decimal
    reported_usd: Decimal
    reported_by: str = "source"  # or 'provider_cost_report'

    @property
    def name(self) -> str:
        by = " (provider's bill)" if self.reported_by == "provider_cost_report" else ""
        return f"{self.provider}/{self.model}{by}"

    @property
    def drift_usd(self) -> Decimal:
        return self.computed_usd - self.reported_usd

    @property
    def share(self) -> Decimal | None:
        return self.drift_usd / self.reported_usd if self.reported_usd else None


def reported_cost_drift(con: duckdb.DuckDBPyConnection, start: date, end: date) -> list[ModelDrift]:
    """Computed against reported cost per provider and model over the window, the largest relative drift first."""
    rows = con.execute(
        """SELECT provider, model, sum(priced_request_count), sum(computed_cost_usd), sum(reported_cost_usd),
               reported_by
        FROM marts.llm_cost_reconciliation WHERE usage_date >= ? AND usage_date < ? AND priced_request_count > 0
        GROUP BY provider, model, reported_by""",
        [start, end],
    ).fetchall()
    drifts = [ModelDrift(p, m, int(n), Decimal(c), Decimal(r), by) for p, m, n, c, r, by in rows]
    return sorted(drifts, key=lambda d: (-(abs(d.share) if d.share is not None else Decimal(0)), d.provider, d.model))


def drifting(drifts: list[ModelDrift], bound: float) -> list[ModelDrift]:
    """The models whose |computed - reported| / reported passes `bound`."""
    limit = Decimal(str(bound))
    return [d for d in drifts if d.share is not None and abs(d.share) > limit]
