"""The hourly LLM spend series and their anomalies in the warehouse."""

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import duckdb
import pandas as pd

from cost_pipelines.analytics.hourly import HourlyAnomaly
from cost_pipelines.warehouse import scalar, table_exists, transaction

SERIES_TABLE = "analytics.llm_spend_hourly_series"
ANOMALIES_TABLE = "analytics.llm_spend_hourly_anomalies"
SERIES_DDL = f"""CREATE TABLE IF NOT EXISTS {SERIES_TABLE} (usage_date DATE NOT NULL, usage_hour TIMESTAMP NOT NULL,
    provider VARCHAR NOT NULL, model VARCHAR NOT NULL, team VARCHAR NOT NULL, user_id VARCHAR NOT NULL,
    request_count BIGINT NOT NULL, total_cost_usd DECIMAL(38, 18) NOT NULL)"""
ANOMALIES_DDL = f"""CREATE TABLE IF NOT EXISTS {ANOMALIES_TABLE} (hour TIMESTAMP NOT NULL, usage_date DATE NOT NULL,
    dimension VARCHAR NOT NULL, series_key VARCHAR NOT NULL, kinds VARCHAR NOT NULL,
    actual_usd DECIMAL(38, 18) NOT NULL, expected_usd DECIMAL(38, 18) NOT NULL, request_count BIGINT NOT NULL,
    expected_requests DOUBLE, score DOUBLE, alarm BOOLEAN NOT NULL, episode_start TIMESTAMP NOT NULL,
    contributors VARCHAR, folded_into VARCHAR, also VARCHAR, detected_at TIMESTAMPTZ)"""


def refresh_series(con: duckdb.DuckDBPyConnection, days: list[date], history_days: int) -> list[date]:
    """Copy the hourly series of the judged `days` (every time) and of the `history_days` before them (once) from
    marts.llm_cost_hourly, which prices the requests as it is read; returns the days read."""
    first = days[0] - timedelta(days=history_days)
    con.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    con.execute(SERIES_DDL)
    stored = {d for (d,) in con.execute(f"SELECT DISTINCT usage_date FROM {SERIES_TABLE}").fetchall()}
    wanted = [first + timedelta(days=i) for i in range((days[-1] - first).days + 1)]
    # the day before the judged ones is read again too: it may have been copied while it was still arriving
    reload = [d for d in wanted if d not in stored or d >= days[0] - timedelta(days=1)]
    with transaction(con):
        con.execute(f"DELETE FROM {SERIES_TABLE} WHERE usage_date < ? OR list_contains(?, usage_date)", [first, reload])
        con.execute(
            f"INSERT INTO {SERIES_TABLE} SELECT usage_date, usage_hour, provider, model, team, user_id, request_count, "
            "total_cost_usd FROM marts.llm_cost_hourly WHERE list_contains(?, usage_date)",
            [reload],
        )
    return reload


def series_frame(con: duckdb.DuckDBPyConnection, judged_from: date) -> pd.DataFrame:
    """The stored series as `hourly.judge_hours` reads them: float cost for scoring, and the exact cost (Decimal)
    of the hours from `judged_from` on, which are the ones reported."""
    frame = con.execute(
        "SELECT usage_hour AS hour, provider, model, team, user_id, request_count AS requests, "
        "CAST(total_cost_usd AS DOUBLE) AS cost, "
        f"CASE WHEN usage_date >= ? THEN CAST(total_cost_usd AS VARCHAR) END AS cost_exact FROM {SERIES_TABLE}",
        [judged_from],
    ).df()
    frame["cost_exact"] = [None if v is None else Decimal(v) for v in frame["cost_exact"]]
    return frame


def write_anomalies(con: duckdb.DuckDBPyConnection, judged_from: datetime, found: list[HourlyAnomaly]) -> None:
    """Replace the anomalies of every hour from `judged_from` on (judging again gives the same rows)."""
    con.execute(ANOMALIES_DDL)
    rows = [
        (a.hour, a.hour.date(), a.dimension, a.key, ",".join(a.kinds), str(a.actual), str(a.expected), a.requests,
         a.expected_requests, a.score, a.alarm, a.episode_start,
         json.dumps([[d, v, str(c)] for d, v, c in a.contributors]), a.folded_into, json.dumps(a.also))
        for a in found
    ]  # fmt: skip
    with transaction(con):
        con.execute(f"DELETE FROM {ANOMALIES_TABLE} WHERE hour >= ?", [judged_from])
        if rows:
            placeholders = ", ".join("?" * 15)
            con.executemany(f"INSERT INTO {ANOMALIES_TABLE} VALUES ({placeholders}, now())", rows)


def latest_hour(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """The newest hour of the stored series: how recent the data the hourly alerts speak of is."""
    if not table_exists(con, "analytics", "llm_spend_hourly_series"):
        return None
    return scalar(con, f"SELECT max(usage_hour) FROM {SERIES_TABLE}")


def episode_alarms(con: duckdb.DuckDBPyConnection, since: datetime) -> list[tuple]:
    """The first hour of each episode since `since` that no finer series explains: (hour, dimension, series,
    actual, expected, requests, expected requests, contributors, also)."""
    if not table_exists(con, "analytics", "llm_spend_hourly_anomalies"):
        return []
    rows = con.execute(
        "SELECT hour, dimension, series_key, actual_usd, expected_usd, request_count, expected_requests, "
        f"contributors, also FROM {ANOMALIES_TABLE} WHERE alarm AND folded_into IS NULL AND hour >= ? "
        "ORDER BY hour, dimension, series_key",
        [since],
    ).fetchall()
    return [(*r[:7], json.loads(r[7] or "[]"), json.loads(r[8] or "[]")) for r in rows]
