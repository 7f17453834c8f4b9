"""Recommendations in the warehouse: one row each, ranked, replaced per as-of day."""

import json
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa

from cost_pipelines.analytics.recommendation_inputs import Window
from cost_pipelines.analytics.recommendations import Recommendation
from cost_pipelines.analytics.store import replace_rows

DDL = """
CREATE TABLE IF NOT EXISTS analytics.recommendations (
    as_of DATE NOT NULL, rank INTEGER NOT NULL, kind VARCHAR NOT NULL, title VARCHAR NOT NULL,
    effort VARCHAR NOT NULL, provider VARCHAR, service VARCHAR, model VARCHAR, task_type VARCHAR,
    monthly_savings_usd DECIMAL(18, 2) NOT NULL, window_savings_usd DECIMAL(38, 18) NOT NULL,
    window_cost_usd DECIMAL(38, 18) NOT NULL, window_start DATE NOT NULL, window_end DATE NOT NULL,
    observed_days INTEGER NOT NULL, evidence JSON NOT NULL, recommended_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (as_of, rank)
)"""


def write_recommendations(
    con: duckdb.DuckDBPyConnection, as_of: date, window: Window, found: list[Recommendation]
) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "as_of": as_of, "rank": rank, "kind": r.kind, "title": r.title, "effort": r.effort,
            "provider": r.scope.get("provider"), "service": r.scope.get("service"), "model": r.scope.get("model"),
            "task_type": r.scope.get("task_type"),
            "monthly_savings_usd": str(r.monthly_savings_usd),
            # exact sums can carry more than 18 decimals (an assumed share times a rate); stored rounded
            "window_savings_usd": str(round(r.window_savings_usd, 18)),
            "window_cost_usd": str(round(r.window_cost_usd, 18)),
            "window_start": window.end - timedelta(days=r.observed_days - 1),
            "window_end": window.end, "observed_days": r.observed_days,
            "evidence": json.dumps(r.evidence, default=str), "recommended_at": now,
        }
        for rank, r in enumerate(found, start=1)
    ]  # fmt: skip
    replace_rows(con, {"recommendations": DDL}, "as_of", [as_of], {"recommendations": pa.Table.from_pylist(rows)})
