"""Helpers that turn warehouse query results into Dagster materialization metadata."""

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import dagster as dg
import duckdb


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.4f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    if not rows:
        return "_no rows_"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def query_markdown(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> str:
    result = con.execute(sql, list(params))
    columns = [d[0] for d in result.description]
    return markdown_table(columns, result.fetchall())


def window_label(days: Sequence[date]) -> str:
    """How a run of many days labels its own figures, as against one partition's."""
    return f"{days[0]} to {days[-1] + timedelta(days=1)} (end exclusive): {len(days)} days in one run"


def results_by_day(
    days: Sequence[date],
    each_day: Mapping[date, Mapping[str, Any]],
    run: Mapping[str, Any],
    asset_key: dg.AssetKey,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization]:
    """A materialization whose partitions each show their own day's figures.

    One day: a single result with that day's figures and the run's. Many days in one run (a single-run backfill):
    the run's result holds only the figures of the whole window, labelled as such, and each partition then gets a
    materialization of its own day, recorded after the run's so that it is the one the UI shows.
    """
    if len(days) == 1:
        yield dg.MaterializeResult(asset_key=asset_key, metadata={**each_day[days[0]], **run})
        return
    yield dg.MaterializeResult(asset_key=asset_key, metadata={"window": window_label(days), **run})
    for day in days:
        yield dg.AssetMaterialization(asset_key=asset_key, partition=day.isoformat(), metadata=dict(each_day[day]))
