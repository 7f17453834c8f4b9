"""Ingest one UTC day of LLM request logs into the warehouse, replacing that day atomically."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from cost_pipelines import settings
from cost_pipelines.faults import crash_point
from cost_pipelines.ingest import normalize, request_store
from cost_pipelines.ingest.sources import LogSource, SourceFile
from cost_pipelines.pricing.model_resolution import resolve_models
from cost_pipelines.pricing.price_table import genai_prices_version
from cost_pipelines.warehouse import RAW_SCHEMA, ensure_raw_tables, scalar, transaction

QUARANTINE = f"{RAW_SCHEMA}.llm_requests_quarantine"
UNREADABLE = f"{RAW_SCHEMA}.llm_unreadable_files"


class RowAccountingError(RuntimeError):
    """Records read ≠ records kept + quarantined + duplicates: a row would have been lost."""


class NoLogFiles(RuntimeError):
    """The source lists no log file for the day: an error, never an empty day, unless the run allows it."""


class DayShrinkRefused(RuntimeError):
    """Re-ingesting a stored day would leave it with none, or far fewer, of its requests."""


class UnreadableLogFiles(RuntimeError):
    """Some log files could not be read and the run asked to refuse the day rather than quarantine them."""


@dataclass(frozen=True)
class IngestPolicy:
    """What a run accepts that would otherwise stop it, each on purpose: an empty day, a stored day that
    shrinks, unreadable files (quarantined by default; `refuse_unreadable_files` fails the day instead)."""

    allow_empty_days: bool = False
    allow_shrink: bool = False
    max_shrink_share: float = 0.5  # a re-ingested day may lose at most this share of its stored requests
    refuse_unreadable_files: bool = False


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
    unreadable_files: list[normalize.UnreadableFile] = field(default_factory=list)  # quarantined whole
    files_kept_as_is: int = 0  # canonical Parquet stored as it arrived, not rewritten
    replaced_requests: int = 0  # what the day held before this run


def ingest_day(
    con: duckdb.DuckDBPyConnection, source: LogSource, day: date, policy: IngestPolicy = IngestPolicy()
) -> DayReport:
    ensure_raw_tables(con)
    # Rows keep their file and position, so the order they are written in does not matter: let DuckDB stream.
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit()}'")
    files = source.files_for(day)
    if not files and not policy.allow_empty_days:
        raise NoLogFiles(
            f"{day}: no log files under {source.describe()}; nothing was ingested and the stored day is unchanged. "
            "If the day really had no requests, re-run with allow_empty_days: true"
        )
    root = request_store.store_root(con)
    try:
        relations, unreadable = normalize.read_files(con, files)
        for attempt in range(2):
            readable = [i for i, relation in enumerate(relations) if relation is not None]
            if unreadable and policy.refuse_unreadable_files:
                raise UnreadableLogFiles(f"{day}: unreadable log files, the day was refused: " + "; ".join(
                    f"{u.source}: {u.reason}" for u in unreadable))  # fmt: skip
            try:
                report = _replace_day(
                    con, day, [files[i] for i in readable], [relations[i] for i in readable], unreadable, root, policy
                )
            except duckdb.Error:
                # A Parquet file whose footer reads but whose data does not fails only when the day is written.
                broken = normalize.unreadable_parquet(
                    con, [files[i] for i in readable], [relations[i] for i in readable]
                )
                if attempt or not broken:
                    raise
                for position, found in broken:
                    relations[readable[position]] = None
                    unreadable.append(found)
                continue
            break
    finally:
        normalize.drop_work_tables(con)
    report.skipped_files = source.skipped_files_for(day)
    return report


def _replace_day(
    con: duckdb.DuckDBPyConnection,
    day: date,
    files: list[SourceFile],
    relations: list[normalize.Relation],
    unreadable: list[normalize.UnreadableFile],
    root: Path,
    policy: IngestPolicy,
) -> DayReport:
    """Write the day's readable files as a new version and switch the day to it in one transaction."""
    report = DayReport(day=day, files=len(files) + len(unreadable), unreadable_files=list(unreadable))
    for file, relation in zip(files, relations, strict=True):
        report.rows_in += relation.records
        report.rows_by_format[file.format] = report.rows_by_format.get(file.format, 0) + relation.records
    version = request_store.next_version(con, day)
    shutil.rmtree(request_store.day_dir(root, day, version), ignore_errors=True)  # left by a run that stopped
    try:
        with transaction(con):
            crash_point("ingest.before_write", day)
            con.execute(f"DELETE FROM {QUARANTINE} WHERE partition_date = ?", [day])
            con.execute(f"DELETE FROM {UNREADABLE} WHERE partition_date = ?", [day])
            stored = _write_day(con, files, relations, day, root, version, report)
            crash_point("ingest.after_write", day)
            report.replaced_requests = request_store.stored_requests(con, day)
            _refuse_shrinking(report, policy)
            normalize.record_unreadable(con, day, unreadable, UNREADABLE)
            request_store.point_day_at(con, root, day, version, stored)
            report.files_kept_as_is = sum(f.stored_as == "kept" for f in stored)
            report.quarantine_reasons = _reason_counts(con, day)
            report.new_models = update_model_map(
                con, f"SELECT DISTINCT provider, model FROM {request_store.VIEW} WHERE usage_date = ?", [day]
            )
            crash_point("ingest.before_commit", day)
    except BaseException:
        shutil.rmtree(request_store.day_dir(root, day, version), ignore_errors=True)
        raise
    crash_point("ingest.after_commit", day)
    request_store.delete_other_versions(root, day, keep=version)
    return report


def _refuse_shrinking(report: DayReport, policy: IngestPolicy) -> None:
    old, new = report.replaced_requests, report.rows_kept
    if policy.allow_shrink or old == 0 or new >= old * (1 - policy.max_shrink_share):
        return
    raise DayShrinkRefused(
        f"{report.day}: the stored day has {old:,} requests and this run would leave {new:,} "
        f"({(old - new) / old:.0%} fewer; at most {policy.max_shrink_share:.0%} is accepted): nothing was written. "
        "Check the log source; if the smaller day is right, re-run with allow_shrink: true"
    )


def _write_day(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    relations: list[normalize.Relation],
    day: date,
    root: Path,
    version: int,
    report: DayReport,
) -> list[request_store.StoredFile]:
    """Quarantine what cannot be used, write the day's files and resolve repeated request ids; their list.

    Large canonical Parquet files are copied as they are; the usable rows of all the others are streamed into one
    normalised file. Repeats are looked for in the files written, and only when there are some (rare) is the day
    loaded into a temporary table, resolved and the normalised file written again."""
    as_is = [
        i
        for i, relation in enumerate(relations)
        if (relation.rows or 0) >= request_store.KEEP_AS_IS_MIN_ROWS and normalize.can_keep_as_is(con, relation, day)
    ]
    for i in as_is:
        request_store.keep_file(files[i].path, root, day, version, i)
    others = [i for i in range(len(relations)) if i not in as_is]
    normalised = request_store.stored_file(root, day, version, file_no=len(files))
    if others:
        request_store.write_normalised(
            con,
            " UNION ALL ".join(
                f"SELECT *, {i} AS source_file_no FROM ({normalize.usable_sql(relations[i], day)})" for i in others
            ),
            normalised,
        )
    usable = _rows_per_file(con, normalised)
    for i in others:
        if relations[i].rows != usable.get(i, 0):  # a Parquet file whose every record was usable needs no second scan
            report.quarantined += normalize.insert_rejected(con, relations[i], day, QUARANTINE)
    report.quarantined += scalar(
        con,
        f"INSERT INTO {QUARANTINE} (partition_date, source, row_number, reason, raw_record, quarantined_at) "
        "SELECT ?, source, row_number, reason, raw_record, now() FROM _rejects",
        [day],
    )
    written = sum(relations[i].rows or 0 for i in as_is) + sum(usable.values())
    stored = [request_store.stored_file(root, day, version, i) for i in as_is]
    stored += [normalised] if normalised.exists() else []
    if stored and normalize.has_repeats(con, [str(p) for p in stored]):
        report.duplicates, moved = _resolve_repeats(con, files, relations, as_is, day, root, version)
        report.quarantined += moved
        written -= moved
        as_is, usable = [], _rows_per_file(con, normalised)
    report.rows_kept = written - report.duplicates
    if report.rows_in != report.rows_kept + report.quarantined + report.duplicates:
        raise RowAccountingError(
            f"{day}: read {report.rows_in} records but kept {report.rows_kept}, quarantined "
            f"{report.quarantined} and dropped {report.duplicates} duplicates; nothing was written"
        )
    return [
        request_store.StoredFile(
            i, f.name, "kept", relations[i].rows or 0, request_store.stored_file(root, day, version, i)
        )
        if i in as_is
        else request_store.StoredFile(
            i, f.name, "normalised", usable.get(i, 0), normalised if normalised.exists() else None
        )
        for i, f in enumerate(files)
    ]


def _rows_per_file(con: duckdb.DuckDBPyConnection, normalised: Path) -> dict[int, int]:
    """Rows of the day's normalised file by the log file they came from."""
    if not normalised.exists():
        return {}
    return dict(con.execute(f"SELECT source_file_no, count(*) FROM read_parquet('{normalised}') GROUP BY 1").fetchall())


def _resolve_repeats(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    relations: list[normalize.Relation],
    as_is: list[int],
    day: date,
    root: Path,
    version: int,
) -> tuple[int, int]:
    """Keep the first copy of each repeated request id: the day's rows go through a temporary table and are all
    written normalised (no file stays as it arrived). Returns (identical copies dropped, differing ones moved)."""
    normalize.create_kept_table(con, [f.name for f in files])
    normalised = request_store.stored_file(root, day, version, file_no=len(files))
    if normalised.exists():
        con.execute(
            f"""INSERT INTO {normalize.KEPT} BY NAME
            SELECT r.* EXCLUDE (source_file_no), DATE '{day.isoformat()}' AS usage_date, n.source, now() AS ingested_at
            FROM read_parquet('{normalised}', hive_partitioning = false) r
            JOIN _file_numbers n ON n.file = r.source_file_no"""
        )
    for i in as_is:
        normalize.insert_usable(con, relations[i], day, normalize.KEPT)
        shutil.rmtree(request_store.stored_file(root, day, version, i).parent)
    repeats = normalize.resolve_repeats(con, day, normalize.KEPT, QUARANTINE)
    request_store.write_normalised(con, normalize.kept_rows_sql(), normalised)
    return repeats


def _reason_counts(con: duckdb.DuckDBPyConnection, day: date) -> dict[str, int]:
    # Reasons carry the offending value after a colon; group by the kind of problem.
    rows = con.execute(
        f"SELECT split_part(reason, ':', 1) AS kind, count(*) FROM {QUARANTINE} "
        "WHERE partition_date = ? GROUP BY kind ORDER BY 2 DESC, 1",
        [day],
    ).fetchall()
    return dict(rows)


def update_model_map(con: duckdb.DuckDBPyConnection, pairs_sql: str, params: list | None = None) -> list[str]:
    """Resolve (provider, model) pairs that are new, or were resolved by another genai-prices version."""
    version = genai_prices_version()
    pairs = con.execute(
        f"""SELECT p.provider, p.model FROM ({pairs_sql}) p
        LEFT JOIN {RAW_SCHEMA}.llm_model_map m USING (provider, model)
        WHERE m.provider IS NULL OR m.resolved_with <> ?
        UNION
        SELECT provider, model FROM {RAW_SCHEMA}.llm_model_map WHERE resolved_with <> ?""",
        [*(params or []), version, version],
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
