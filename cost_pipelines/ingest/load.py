"""Ingest one UTC day of LLM request logs into the warehouse, replacing that day atomically."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from cost_pipelines.ingest import normalize
from cost_pipelines.ingest.canonical import QUARANTINE_COLUMNS, REQUEST_COLUMNS
from cost_pipelines.ingest.sources import LogSource
from cost_pipelines.pricing.model_resolution import resolve_models
from cost_pipelines.pricing.price_table import genai_prices_version
from cost_pipelines.warehouse import RAW_SCHEMA, ensure_raw_tables, transaction


class RowAccountingError(RuntimeError):
    """Records read ≠ records kept + quarantined + duplicates: a row would have been lost."""


@dataclass
class DayReport:
    day: date
    files: int = 0
    rows_in: int = 0
    rows_kept: int = 0
    quarantined: int = 0
    duplicates: int = 0
    rows_by_format: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    new_models: list[str] = field(default_factory=list)
    skipped_files: list[str] = field(default_factory=list)  # matched the source but are in no accepted format


def ingest_day(con: duckdb.DuckDBPyConnection, source: LogSource, day: date) -> DayReport:
    ensure_raw_tables(con)
    files = source.files_for(day)
    stats = normalize.read_files(con, files)
    normalize.validate(con, day)
    report = DayReport(day=day, files=stats.files, rows_in=stats.rows_in, rows_by_format=stats.rows_by_format)
    report.skipped_files = source.unreadable_files_for(day)
    report.duplicates = normalize.duplicate_count(con)
    report.quarantine_reasons = _reason_counts(con)

    report.rows_kept = con.execute("SELECT count(*) FROM _valid").fetchone()[0]
    report.quarantined = con.execute("SELECT count(*) FROM _rejects").fetchone()[0]
    if report.rows_in != report.rows_kept + report.quarantined + report.duplicates:
        normalize.drop_work_tables(con)
        raise RowAccountingError(
            f"{day}: read {report.rows_in} records but kept {report.rows_kept}, quarantined {report.quarantined} "
            f"and dropped {report.duplicates} duplicates; nothing was written"
        )

    request_columns = ", ".join(c for c in REQUEST_COLUMNS if c != "ingested_at")
    try:
        with transaction(con):
            con.execute(f"DELETE FROM {RAW_SCHEMA}.llm_requests WHERE usage_date = ?", [day])
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.llm_requests ({request_columns}, ingested_at) "
                f"SELECT {request_columns}, now() FROM _valid"
            )
            con.execute(f"DELETE FROM {RAW_SCHEMA}.llm_requests_quarantine WHERE partition_date = ?", [day])
            quarantine_columns = ", ".join(QUARANTINE_COLUMNS)
            con.execute(
                f"INSERT INTO {RAW_SCHEMA}.llm_requests_quarantine ({quarantine_columns}) "
                "SELECT ?, source, row_number, reason, raw_record, now() FROM _rejects",
                [day],
            )
            report.new_models = update_model_map(con, "SELECT DISTINCT provider, model FROM _valid")
    finally:
        normalize.drop_work_tables(con)
    return report


def _reason_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    # Reasons carry the offending value after a colon; group by the kind of problem.
    rows = con.execute(
        "SELECT split_part(reason, ':', 1) AS kind, count(*) FROM _rejects GROUP BY kind ORDER BY 2 DESC, 1"
    ).fetchall()
    return dict(rows)


def update_model_map(con: duckdb.DuckDBPyConnection, pairs_sql: str) -> list[str]:
    """Resolve (provider, model) pairs that are new, or were resolved by another genai-prices version."""
    version = genai_prices_version()
    pairs = con.execute(
        f"""SELECT p.provider, p.model FROM ({pairs_sql}) p
        LEFT JOIN {RAW_SCHEMA}.llm_model_map m USING (provider, model)
        WHERE m.provider IS NULL OR m.resolved_with <> ?
        UNION
        SELECT provider, model FROM {RAW_SCHEMA}.llm_model_map WHERE resolved_with <> ?""",
        [version, version],
    ).fetchall()
    resolutions = resolve_models(pairs)
    if resolutions:
        con.executemany(
            f"INSERT OR REPLACE INTO {RAW_SCHEMA}.llm_model_map VALUES (?, ?, ?, ?, ?, ?, ?, now())",
            [
                [
                    r.provider,
                    r.model,
                    r.price_provider_id,
                    r.price_model_id,
                    r.price_model_name,
                    r.match_status,
                    r.resolved_with,
                ]
                for r in resolutions
            ],
        )
    return [f"{r.provider}/{r.model} ({r.match_status})" for r in resolutions]
