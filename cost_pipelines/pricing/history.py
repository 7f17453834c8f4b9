"""Stored days priced with other prices than the current ones, and the runs of days that re-price them.

Each day's marts are summed once, with the price rows and overrides in force then. `marts.llm_prices_summed_with`
keeps their fingerprint per day, provider and model; `marts.llm_prices_in_force` gives it for the price tables as
they stand. Where the two differ (a genai-prices upgrade changed a row, `llm_price_overrides.csv` was edited, a
model now resolves differently), the day's marts no longer agree with the priced requests.
"""

from datetime import date, timedelta
from pathlib import Path

import duckdb

from cost_pipelines.warehouse import scalar, table_exists

_DIFFERING = """
    SELECT coalesce(now.usage_date, summed.usage_date) AS usage_date,
           coalesce(now.provider, summed.provider) || '/' || coalesce(now.model, summed.model) AS provider_model
    FROM marts.llm_prices_in_force AS now
    FULL JOIN marts.llm_prices_summed_with AS summed
        ON now.usage_date = summed.usage_date AND now.provider = summed.provider AND now.model = summed.model
    WHERE now.price_fingerprint IS DISTINCT FROM summed.price_fingerprint
    ORDER BY 1, 2"""


def days_to_reprice(con: duckdb.DuckDBPyConnection) -> dict[date, list[str]]:
    """Each stored day summed with other prices than the current ones -> its `provider/model`s that differ. A day
    summed before fingerprints were kept counts as differing: what it was priced with is unknown."""
    if not table_exists(con, "marts", "llm_prices_in_force"):
        return {}
    if not table_exists(con, "marts", "llm_prices_summed_with"):
        rows = con.execute(
            "SELECT usage_date, provider || '/' || model FROM marts.llm_prices_in_force ORDER BY 1, 2"
        ).fetchall()
    else:
        rows = con.execute(_DIFFERING).fetchall()
    days: dict[date, list[str]] = {}
    for day, provider_model in rows:
        days.setdefault(day, []).append(provider_model)
    return days


def day_ranges(days: list[date]) -> list[tuple[date, date]]:
    """Consecutive days as (first, last) ranges, so each range can be one run."""
    ranges: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if ranges and ranges[-1][1] + timedelta(days=1) == day:
            ranges[-1] = (ranges[-1][0], day)
        else:
            ranges.append((day, day))
    return ranges


def price_inputs_not_loaded(
    con: duckdb.DuckDBPyConnection, overrides_csv: Path, genai_prices_version: str
) -> list[str]:
    """What the warehouse's price tables have not caught up with yet: an installed genai-prices other than the one
    raw.llm_prices was exported from, an overrides file that differs from the loaded seed. The next daily run loads
    both; until then, re-pricing uses the prices as loaded."""
    behind = []
    if table_exists(con, "raw", "llm_prices"):
        exported = scalar(con, "SELECT string_agg(DISTINCT source_version, ', ') FROM raw.llm_prices")
        if exported != genai_prices_version:
            behind.append(f"raw.llm_prices holds genai-prices {exported}; {genai_prices_version} is installed")
    if table_exists(con, "seeds", "llm_price_overrides") and overrides_csv.is_file():
        types = dict(con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'seeds' AND table_name = 'llm_price_overrides' ORDER BY ordinal_position"
        ).fetchall())  # fmt: skip
        file_rows = "SELECT * FROM read_csv(?, header = true, columns = ?)"
        loaded = "SELECT * FROM seeds.llm_price_overrides"
        differing = scalar(
            con,
            f"SELECT (SELECT count(*) FROM ({file_rows} EXCEPT ALL {loaded})) "
            f"+ (SELECT count(*) FROM ({loaded} EXCEPT ALL {file_rows}))",
            [str(overrides_csv), types, str(overrides_csv), types],
        )
        if differing:
            behind.append(
                f"{overrides_csv} differs from the overrides loaded in the warehouse (seeds.llm_price_overrides)"
            )
    return behind
