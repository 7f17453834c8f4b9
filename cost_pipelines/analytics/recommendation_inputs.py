"""The volumes and prices the recommendation rules need, aggregated in the warehouse.

LLM requests are summed per distinct set of unit prices (a handful per model: price changes and input tiers),
so every dollar figure is computed exactly from token sums and the rates in force when each request was made.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa

from cost_pipelines.analytics.recommendations import (
    LongPrompts,
    NewSpend,
    Rates,
    Recommendation,
    RecommendationSettings,
    Repricing,
    TokenVolume,
    Workload,
    batch_api,
    commitments,
    model_switches,
    new_spend,
    prompt_caching,
    ranked,
    storage_tiering,
)

REQUESTS = "intermediate.int_llm_requests_priced"
_IN_WINDOW = "usage_date BETWEEN $start AND $end AND is_priced"
_TASK = "coalesce(task_type, '(none)')"
_VOLUME = "count(*), sum(uncached_input_tokens), sum(cache_read_tokens), sum(cache_write_tokens), sum(output_tokens)"


@dataclass(frozen=True)
class Window:
    start: date  # first observed day (the lookback start, or the first day with data if later)
    end: date  # the as-of day, inclusive
    data_start: date | None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def lookback_window(con: duckdb.DuckDBPyConnection, as_of: date, lookback_days: int) -> Window:
    data_start = con.execute("SELECT min(usage_date) FROM marts.fct_costs WHERE usage_date <= ?", [as_of]).fetchone()[0]
    start = as_of - timedelta(days=lookback_days - 1)
    return Window(max(start, data_start) if data_start else start, as_of, data_start)


def _volume(row: tuple) -> TokenVolume:
    return TokenVolume(*(int(v) for v in row))


def load_workloads(con: duckdb.DuckDBPyConnection, w: Window) -> list[Workload]:
    rows = con.execute(
        f"""SELECT {_TASK}, provider, model, any_value(price_model_id), count(*), sum(input_tokens),
                   sum(cache_read_tokens), sum(output_tokens), median(output_tokens), sum(total_cost_usd),
                   min(usage_date), max(usage_date)
            FROM {REQUESTS} WHERE {_IN_WINDOW} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        {"start": w.start, "end": w.end},
    ).fetchall()
    return [
        Workload(task, provider, model, price_model, int(n), int(inp), int(read), int(out), float(median), cost,
                 first, last)
        for task, provider, model, price_model, n, inp, read, out, median, cost, first, last in rows
    ]  # fmt: skip


def load_repricings(
    con: duckdb.DuckDBPyConnection, w: Window, alternatives: dict[str, tuple[str, ...]]
) -> list[Repricing]:
    """Each request again, at each alternative's price in force at its `occurred_at` and for its input tier."""
    pairs = pa.table({
        "current_model_id": [current for current, alts in alternatives.items() for _ in alts],
        "alternative_model_id": [alt for alts in alternatives.values() for alt in alts],
    })  # fmt: skip
    con.register("_alternatives", pairs)
    try:
        rows = con.execute(
            f"""
            SELECT {_TASK}, r.provider, r.model, a.alternative_model_id, {_VOLUME}, sum(r.total_cost_usd),
                   p.input_usd_per_token, coalesce(p.cache_read_usd_per_token, p.input_usd_per_token),
                   coalesce(p.cache_write_usd_per_token, p.input_usd_per_token), p.output_usd_per_token,
                   coalesce(p.request_usd, 0), p.input_usd_per_token IS NOT NULL AND p.output_usd_per_token IS NOT NULL
            FROM {REQUESTS} AS r
            JOIN _alternatives AS a ON r.price_model_id = a.current_model_id
            LEFT JOIN staging.stg_llm__prices AS p
                ON p.price_provider_id = r.price_provider_id AND p.price_model_id = a.alternative_model_id
                AND p.service_tier = r.service_tier
                AND r.occurred_at >= p.effective_from
                AND (p.effective_until IS NULL OR r.occurred_at < p.effective_until)
                AND (p.time_from IS NULL OR CAST(timezone('UTC', r.occurred_at) AS TIME) >= p.time_from)
                AND (p.time_until IS NULL OR CAST(timezone('UTC', r.occurred_at) AS TIME) < p.time_until)
                AND coalesce(r.tier_input_tokens, r.input_tokens) >= p.min_input_tokens
                AND (p.max_input_tokens IS NULL OR coalesce(r.tier_input_tokens, r.input_tokens) <= p.max_input_tokens)
            WHERE r.usage_date BETWEEN $start AND $end AND r.is_priced
            GROUP BY ALL
            """,
            {"start": w.start, "end": w.end},
        ).fetchall()
    finally:
        con.unregister("_alternatives")
    return [
        Repricing(task, provider, model, alt, _volume(row[4:9]), row[9],
                  Rates(*row[10:15]) if row[15] else None)
        for row in rows
        for task, provider, model, alt in [row[:4]]
    ]  # fmt: skip


def load_long_prompts(con: duckdb.DuckDBPyConnection, w: Window, min_input_tokens: int) -> list[LongPrompts]:
    rows = con.execute(
        f"""SELECT {_TASK}, provider, model, {_VOLUME}, sum(input_tokens), input_usd_per_token,
                   cache_read_usd_per_token, cache_write_usd_per_token, output_usd_per_token,
                   coalesce(request_usd, 0)
            FROM (SELECT *, request_cost_usd AS request_usd FROM {REQUESTS})
            WHERE {_IN_WINDOW} AND input_tokens >= $min_input GROUP BY ALL""",
        {"start": w.start, "end": w.end, "min_input": min_input_tokens},
    ).fetchall()
    return [LongPrompts(*row[:3], _volume(row[3:8]), int(row[8]), Rates(*row[9:14])) for row in rows]


def _service_days(con: duckdb.DuckDBPyConnection, start: date, end: date) -> dict[str, list[Decimal]]:
    """Cost Explorer services' effective cost per day in [start, end], every day present (zero when absent)."""
    rows = con.execute(
        """SELECT service_name, usage_date, sum(effective_cost) FROM marts.fct_costs
           WHERE x_source = 'cost_explorer' AND usage_date BETWEEN ? AND ? GROUP BY ALL""",
        [start, end],
    ).fetchall()
    days = (end - start).days + 1
    daily: dict[str, list[Decimal]] = {}
    for service, day, cost in rows:
        daily.setdefault(service, [Decimal(0)] * days)[(day - start).days] = cost
    return daily


def load_new_spend(con: duckdb.DuckDBPyConnection, w: Window, s: RecommendationSettings) -> list[NewSpend]:
    """Models and AWS services whose first spend falls within the last `new_spend_days`, when the data reaches a
    whole lookback further back (otherwise everything would look new)."""
    if w.data_start is None or w.data_start > w.end - timedelta(days=s.new_spend_days + s.lookback_days - 1):
        return []
    rows = con.execute(
        """
        WITH keyed AS (
            SELECT CASE WHEN x_source = 'llm_logs' THEN 'model' ELSE 'service' END AS dimension,
                   CASE WHEN x_source = 'llm_logs' THEN x_model ELSE service_name END AS key,
                   provider_name, usage_date, billed_cost
            FROM marts.fct_costs WHERE usage_date <= $end
        )
        SELECT dimension, key, provider_name, min(usage_date) AS first_day, sum(billed_cost)
        FROM keyed WHERE key IS NOT NULL GROUP BY ALL
        HAVING min(usage_date) > $cutoff
        ORDER BY 1, 2, 3
        """,
        {"end": w.end, "cutoff": w.end - timedelta(days=s.new_spend_days)},
    ).fetchall()
    return [
        NewSpend(dim, key, provider, first, cost, (w.end - first).days + 1) for dim, key, provider, first, cost in rows
    ]


def recommend(
    con: duckdb.DuckDBPyConnection, as_of: date, s: RecommendationSettings
) -> tuple[Window, list[Recommendation]]:
    """Every recommendation as of `as_of` (inclusive), ranked by monthly savings."""
    w = lookback_window(con, as_of, s.lookback_days)
    workloads = load_workloads(con, w)
    repricings = load_repricings(con, w, dict(s.model_alternatives))
    long_prompts = load_long_prompts(con, w, s.min_cacheable_input_tokens)
    services = _service_days(con, w.start, w.end)
    previous_start = w.start - timedelta(days=w.days)
    previous = (
        _service_days(con, previous_start, w.start - timedelta(days=1))
        if w.data_start is not None and w.data_start <= previous_start
        else {}
    )
    found = [
        *model_switches(workloads, repricings, w.days, s),
        *prompt_caching(workloads, long_prompts, w.days, s),
        *batch_api(workloads, w.days, s),
        *commitments(services, s),
        *storage_tiering(services, previous, s),
        *new_spend(load_new_spend(con, w, s), s),
    ]
    return w, ranked(found)
