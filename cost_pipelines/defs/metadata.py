"""Helpers that turn warehouse query results into Dagster materialization metadata."""

from collections.abc import Sequence
from decimal import Decimal

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
