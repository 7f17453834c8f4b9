"""What the providers billed, from their saved cost report pages: OpenAI's Costs API (`organization.costs.result`,
per project and line item, in dollars) and Anthropic's cost report (per workspace, model and token type, in cents).
One day at a time into `raw.provider_cost_reports`, replacing the day; reconciled against what the price table
computes in `marts/llm_cost_reconciliation`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from cost_pipelines.ingest.usage_apis import UsageApi, pages_dir
from cost_pipelines.pricing.model_resolution import resolve_model
from cost_pipelines.warehouse import RAW_SCHEMA, scalar, transaction
from cost_pipelines.warehouse import sql_literal as _lit

TABLE = f"{RAW_SCHEMA}.provider_cost_reports"

# One SELECT list per report: its results, each with the day of its bucket. `r` is a result, `b` its bucket (JSON).
_ROWS = {
    "openai": """
        CAST(timezone('UTC', to_timestamp(CAST(b->>'start_time' AS BIGINT))) AS DATE) AS usage_date,
        'openai' AS provider,
        CASE WHEN contains(r->>'line_item', ', ') THEN split_part(r->>'line_item', ', ', 1) END AS model,
        r->>'project_id' AS project, r->>'line_item' AS line_item,
        TRY_CAST(r->'amount'->>'value' AS DECIMAL(38, 18)) AS amount, upper(r->'amount'->>'currency') AS currency""",
    # amounts in the currency's lowest unit (cents), as decimal strings
    "anthropic": """
        CAST(timezone('UTC', CAST(b->>'starting_at' AS TIMESTAMPTZ)) AS DATE) AS usage_date,
        'anthropic' AS provider, r->>'model' AS model, r->>'workspace_id' AS project,
        concat_ws(' ', r->>'token_type', r->>'context_window', r->>'service_tier') AS line_item,
        TRY_CAST(r->>'amount' AS DECIMAL(36, 16)) * CAST(0.01 AS DECIMAL(3, 2)) AS amount,  -- exact, not a division
        upper(r->>'currency') AS currency""",
}


def load_day(con: duckdb.DuckDBPyConnection, root: Path, apis: list[UsageApi], day: date) -> tuple[int, int]:
    """Replace the day's rows with those of the saved cost pages; (rows loaded, results without a readable
    amount, left out)."""
    selects = []
    for api in apis:
        files = sorted(pages_dir(root, api, day).glob("*.json")) if pages_dir(root, api, day).is_dir() else []
        if not files:
            continue
        pages = "read_json_objects([" + ", ".join(_lit(str(f)) for f in files) + "], format = 'auto')"
        selects.append(f"""
            SELECT {_ROWS[api.provider]}, {_lit(api.name)} AS source
            FROM (SELECT unnest(json_extract(json, '$.data[*]')) AS b FROM {pages}) AS buckets,
                 LATERAL (SELECT unnest(json_extract(b, '$.results[*]')) AS r) AS results""")
    with transaction(con):
        con.execute(f"DELETE FROM {TABLE} WHERE usage_date = ?", [day])
        if not selects:
            return 0, 0
        con.execute(f"CREATE OR REPLACE TEMP TABLE _cost_rows AS {' UNION ALL BY NAME '.join(selects)}")
        unreadable = scalar(con, "SELECT count(*) FROM _cost_rows WHERE amount IS NULL")
        loaded = scalar(
            con,
            f"""INSERT INTO {TABLE} (usage_date, provider, model, project, line_item, amount, currency, source,
                                     loaded_at)
            SELECT usage_date, provider, model, project, line_item, amount, currency, source, now()
            FROM _cost_rows WHERE usage_date = ? AND amount IS NOT NULL""",
            [day],
        )
        con.execute("DROP TABLE _cost_rows")
        named = con.execute(
            f"SELECT DISTINCT provider, model FROM {TABLE} WHERE usage_date = ? AND model IS NOT NULL", [day]
        ).fetchall()
        for provider, model in named:
            con.execute(
                f"UPDATE {TABLE} SET price_model_id = ? WHERE usage_date = ? AND provider = ? AND model = ?",
                [resolve_model(provider, model).price_model_id, day, provider, model],
            )
    return int(loaded), int(unreadable)
