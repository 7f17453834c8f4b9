"""Ingest one UTC day of LLM request logs into the warehouse, replacing that day atomically."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from cost_pipelines import settings
from cost_pipelines.faults import crash_point
from cost_pipelines.ingest import normalize, readers, request_store
from cost_pipelines.ingest.sources import LogSource, SourceFile, uncompressed_name
from cost_pipelines.pricing.model_resolution import read_model_aliases, resolution_tag, resolve_models
from cost_pipelines.warehouse import RAW_SCHEMA, ensure_raw_tables, scalar, transaction
from cost_pipelines.warehouse import sql_literal as _lit

QUARANTINE = f"{RAW_SCHEMA}.llm_requests_quarantine"
UNREADABLE = f"{RAW_SCHEMA}.llm_unreadable_files"
OVERLAPS = f"{RAW_SCHEMA}.llm_usage_overlaps"
# A day whose files are smaller than this is read numbered at once: a second read of a small day costs more (its
# plan, mostly) than reading it on one thread, and small days (samples, tests, quiet gateways) often need positions.
READ_NUMBERED_BELOW_BYTES = 32 * 1024 * 1024


class RowAccountingError(RuntimeError):
    """Records read ≠ records kept + quarantined + duplicates: a row would have been lost."""


class NoLogFiles(RuntimeError):
    """The source lists no log file for the day: an error, never an empty day, unless the run allows it."""


class DayShrinkRefused(RuntimeError):
    """Re-ingesting a stored day would leave it with none, or far fewer, of its requests."""


class UnreadableLogFiles(RuntimeError):
    """Some log files could not be read and the run asked to refuse the day rather than quarantine them."""


class PositionsNeeded(RuntimeError):
    """A pass that read text files without positions found what only numbered records can settle."""


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
    read_in_python: int = 0  # provider bodies only genai-prices' extractors read exactly (an unknown shape, …)
    not_requests: int = 0  # a tool's records that are no LLM request (trace spans): counted, not kept
    files_kept_as_is: int = 0  # canonical Parquet stored as it arrived, not rewritten
    replaced_requests: int = 0  # what the day held before this run
    overlapping_providers: list[str] = field(default_factory=list)  # logs and usage buckets both cover (OVERLAPS)


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
        numbered = _is_small(files)
        relations, unreadable = readers.read_files(con, files, numbered=numbered)
        probed = False
        for _ in range(3):  # read without positions, then numbered, then without the files that failed
            readable = [i for i, relation in enumerate(relations) if relation is not None]
            if unreadable and policy.refuse_unreadable_files:
                raise UnreadableLogFiles(f"{day}: unreadable log files, the day was refused: " + "; ".join(
                    f"{u.source}: {u.reason}" for u in unreadable))  # fmt: skip
            try:
                report = _replace_day(
                    con, day, [files[i] for i in readable], [relations[i] for i in readable], unreadable, root, policy
                )
            except readers.FAULTS_OF_THE_QUERY:
                raise
            except (duckdb.Error, PositionsNeeded):
                if not numbered:
                    # A line that is not JSON, or repeated request ids: read the day again, numbering records.
                    numbered = True
                    renumbered, _ = readers.read_files(con, [files[i] for i in readable], numbered=True)
                    for i, relation in zip(readable, renumbered, strict=True):
                        relations[i] = relation
                    continue
                # Files are only read whole when the day is written: a truncated gzip, a line too long or Parquet
                # data that does not decode fails that pass. Find which file it was, set it aside, write again.
                broken = [] if probed else readers.unreadable_files(
                    con, [files[i] for i in readable], [relations[i] for i in readable])  # fmt: skip
                probed = True
                if not broken:
                    raise
                for position, found in broken:
                    relations[readable[position]] = None
                    unreadable.append(found)
                continue
            break
        else:
            raise RuntimeError(f"{day}: the day's files could not be written")
    finally:
        normalize.drop_work_tables(con)
    report.skipped_files = source.skipped_files_for(day)
    return report


# What a compressed log file holds per byte on disk, about: JSON and CSV logs compress tenfold or more.
_COMPRESSED_RATIO = 10


def _is_small(files: list[SourceFile]) -> bool:
    sizes = [readers.file_size(f.path) for f in files]
    if any(s is None for s in sizes):
        return False
    text = sum(
        (s or 0) * (_COMPRESSED_RATIO if uncompressed_name(f.path) != f.path.lower() else 1)
        for f, s in zip(files, sizes, strict=True)
    )
    return text < READ_NUMBERED_BELOW_BYTES


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
    version = request_store.next_version(con, day)
    shutil.rmtree(request_store.day_dir(root, day, version), ignore_errors=True)  # left by a run that stopped
    try:
        with transaction(con):
            crash_point("ingest.before_write", day)
            con.execute(f"DELETE FROM {QUARANTINE} WHERE partition_date = ?", [day])
            con.execute(f"DELETE FROM {UNREADABLE} WHERE partition_date = ?", [day])
            con.execute(f"DELETE FROM {OVERLAPS} WHERE usage_date = ?", [day])
            stored = _write_day(con, files, relations, day, root, version, report)
            crash_point("ingest.after_write", day)
            report.replaced_requests = request_store.stored_requests(con, day)
            _refuse_shrinking(report, policy)
            readers.record_unreadable(con, day, unreadable, UNREADABLE)
            request_store.point_day_at(con, root, day, version, stored)
            report.files_kept_as_is = sum(f.stored_as == "kept" for f in stored)
            report.quarantine_reasons = _reason_counts(con, day)
            report.new_models = update_model_map(
                con, f"SELECT DISTINCT provider, model FROM {request_store.VIEW} WHERE usage_date = ?", [day]
            )
            report.overlapping_providers = _record_overlaps(con, day)
            crash_point("ingest.before_commit", day)
    except BaseException:
        shutil.rmtree(request_store.day_dir(root, day, version), ignore_errors=True)
        raise
    crash_point("ingest.after_commit", day)
    request_store.delete_other_versions(root, day, keep=version)
    return report


def _record_overlaps(con: duckdb.DuckDBPyConnection, day: date) -> list[str]:
    """The providers whose day both request logs and usage buckets cover, recorded in OVERLAPS; dbt counts only the
    logs of those (see int_llm_requests_priced)."""
    bucket, logged = "record_kind = 'usage_bucket'", "record_kind = 'request'"
    con.execute(
        f"""INSERT INTO {OVERLAPS}
        SELECT usage_date, provider, count(*) FILTER ({logged}), COALESCE(sum(input_tokens) FILTER ({logged}), 0),
               COALESCE(sum(output_tokens) FILTER ({logged}), 0), count(*) FILTER ({bucket}),
               sum(request_count) FILTER ({bucket}), COALESCE(sum(input_tokens) FILTER ({bucket}), 0),
               COALESCE(sum(output_tokens) FILTER ({bucket}), 0), now()
        FROM {request_store.VIEW} WHERE usage_date = ?
        GROUP BY usage_date, provider
        HAVING count(*) FILTER ({bucket}) > 0 AND count(*) FILTER ({logged}) > 0""",
        [day],
    )
    return [
        p for (p,) in con.execute(f"SELECT provider FROM {OVERLAPS} WHERE usage_date = ? ORDER BY 1", [day]).fetchall()
    ]


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

    Large canonical Parquet files are copied as they are. Every other file is read once, all of them in one pass
    that writes each record to its part: the usable rows become the day's normalised file, the others are
    quarantined, the bodies only Python reads exactly are read after. Repeats are looked for in the files written,
    and only when there are some (rare) is the day loaded into a temporary table, resolved and written again."""
    as_is = [
        i
        for i, relation in enumerate(relations)
        if (relation.rows or 0) >= request_store.KEEP_AS_IS_MIN_ROWS and normalize.can_keep_as_is(con, relation, day)
    ]
    for i in as_is:
        request_store.keep_file(files[i].path, root, day, version, i)
    others = [i for i in range(len(relations)) if i not in as_is]
    normalised = request_store.stored_file(root, day, version, file_no=len(files))
    records = {i: relations[i].rows or 0 for i in as_is}
    if others:
        records |= _write_parts(con, files, relations, others, day, normalised, report)
    for i, file in enumerate(files):
        report.rows_in += records.get(i, 0)
        report.rows_by_format[file.format] = report.rows_by_format.get(file.format, 0) + records.get(i, 0)
    report.quarantined += scalar(
        con,
        f"INSERT INTO {QUARANTINE} (partition_date, source, row_number, reason, raw_record, quarantined_at) "
        f"SELECT ?, source, row_number, reason, raw_record, now() FROM {readers.REJECTS}",
        [day],
    )
    usable = _rows_per_file(con, normalised)
    written = sum(relations[i].rows or 0 for i in as_is) + sum(usable.values())
    stored = [request_store.stored_file(root, day, version, i) for i in as_is]
    stored += [normalised] if normalised.exists() else []
    if stored and normalize.has_repeats(con, [str(p) for p in stored]):
        if any(not relations[i].numbered for i in others):
            raise PositionsNeeded("repeated request ids: which copy is the first takes every record's position")
        report.duplicates, moved = _resolve_repeats(con, files, relations, as_is, day, root, version)
        report.quarantined += moved
        written -= moved
        as_is, usable = [], _rows_per_file(con, normalised)
    report.rows_kept = written - report.duplicates
    if report.rows_in != report.rows_kept + report.quarantined + report.duplicates + report.not_requests:
        raise RowAccountingError(
            f"{day}: read {report.rows_in} records but kept {report.rows_kept}, quarantined "
            f"{report.quarantined}, dropped {report.duplicates} duplicates and set aside {report.not_requests} "
            "that are no request; nothing was written"
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


def _write_parts(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    relations: list[normalize.Relation],
    others: list[int],
    day: date,
    normalised: Path,
    report: DayReport,
) -> dict[int, int]:
    """One pass over the files `others`: usable rows into `normalised`, the rejected ones into the quarantine,
    the bodies for Python read and added. Records read per file."""
    # One file, not one per part: DuckDB's partitioned write costs a fifth more than the pass itself. When every
    # record is kept (most days), that file is the day's normalised file; otherwise the parts are taken from it.
    passed = normalised.parent.parent / "pass.parquet"
    passed.parent.mkdir(parents=True, exist_ok=True)
    union = " UNION ALL ".join(normalize.parted_sql(relations[i], day, i) for i in others)
    con.execute(f"COPY ({union}) TO {_lit(str(passed))} (FORMAT parquet)")
    records: dict[int, int] = dict.fromkeys(others, 0)
    parts: dict[str, int] = {}
    for file_no, part, count in con.execute(
        f"SELECT source_file_no, _part, count(*) FROM read_parquet({_lit(str(passed))}) GROUP BY ALL"
    ).fetchall():
        records[file_no] += count
        parts[part] = parts.get(part, 0) + count
    names = [f.name for f in files]
    for i in others:
        records[i] += readers.take_csv_rejects(con, relations[i], names[i])
    if set(parts) == {normalize.KEPT_PART}:
        normalised.parent.mkdir(parents=True, exist_ok=True)
        passed.replace(normalised)  # its pass columns (`_part`, `_reason`, `_raw_record`) are 'kept' and NULL
        return records
    of_part = f"SELECT * FROM read_parquet({_lit(str(passed))}) WHERE _part"
    if parts.get(normalize.KEPT_PART):
        request_store.write_normalised(con, f"{of_part} = '{normalize.KEPT_PART}'", normalised)
    report.not_requests += parts.get(normalize.NOT_REQUEST_PART, 0)
    if parts.get(normalize.REJECTED_PART) or parts.get(normalize.PYTHON_PART):
        _set_aside(con, relations, others, f"{of_part} IN ('{normalize.REJECTED_PART}', '{normalize.PYTHON_PART}')")
        report.quarantined += scalar(
            con,
            f"""INSERT INTO {QUARANTINE} (partition_date, source, row_number, reason, raw_record, quarantined_at)
            SELECT ?, list_extract(?, source_file_no + 1), source_row, _reason, _raw_record, now()
            FROM {readers.SET_ASIDE} WHERE _part = '{normalize.REJECTED_PART}'""",
            [day, names],
        )
        bodies = f"(SELECT * FROM {readers.SET_ASIDE} WHERE _part = '{normalize.PYTHON_PART}')"
        if scalar(con, f"SELECT count(*) FROM {bodies}"):
            report.read_in_python = readers.read_python_bodies(con, bodies, names)
            _add_python_bodies(con, files, others, day, normalised, report)
    passed.unlink()
    return records


def _set_aside(
    con: duckdb.DuckDBPyConnection, relations: list[normalize.Relation], others: list[int], set_aside: str
) -> None:
    """Load what a pass did not keep (`set_aside`, SQL) into `SET_ASIDE`, with the position of every record."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {readers.SET_ASIDE} AS
        SELECT source_file_no, source_row, _reason, _raw_record, _part FROM ({set_aside})"""
    )
    unplaced = {n for (n,) in con.execute(
        f"SELECT DISTINCT source_file_no FROM {readers.SET_ASIDE} WHERE source_row IS NULL").fetchall()}  # fmt: skip
    for i in sorted(unplaced & set(others)):
        readers.place(con, relations[i], i)
    if scalar(con, f"SELECT count(*) FROM {readers.SET_ASIDE} WHERE source_row IS NULL"):
        raise PositionsNeeded("records set aside whose text no numbered scan of their file found")


def _add_python_bodies(
    con: duckdb.DuckDBPyConnection,
    files: list[SourceFile],
    others: list[int],
    day: date,
    normalised: Path,
    report: DayReport,
) -> None:
    """The usable bodies Python read join the normalised file (written again: rare); the others are quarantined."""
    candidates = [(i, readers.candidates_relation(files[i].name)) for i in others]
    stored = ", ".join(request_store.STORED_COLUMNS)
    parts = [
        f"SELECT {stored} FROM (SELECT *, {i} AS source_file_no FROM ({normalize.usable_sql(relation, day)}))"
        for i, relation in candidates
    ]
    if normalised.exists():
        parts.insert(0, f"SELECT {stored} FROM read_parquet({_lit(str(normalised))})")
    combined = normalised.with_suffix(".parquet.combined")
    normalised.parent.mkdir(parents=True, exist_ok=True)
    request_store.write_normalised(con, " UNION ALL ".join(parts), combined)
    combined.replace(normalised)
    for _, relation in candidates:
        report.quarantined += normalize.insert_rejected(con, relation, day, QUARANTINE)


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
        stored = ", ".join("r." + c for c in request_store.STORED_COLUMNS if c != "source_file_no")
        con.execute(
            f"""INSERT INTO {normalize.KEPT} BY NAME
            SELECT {stored}, DATE '{day.isoformat()}' AS usage_date, n.source, now() AS ingested_at
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
    """Resolve (provider, model) pairs that are new, or were resolved by another genai-prices version or with
    other model aliases (`settings.model_aliases_path`)."""
    aliases_path = settings.model_aliases_path()
    aliases = read_model_aliases(aliases_path) if aliases_path else {}
    version = resolution_tag(aliases)
    pairs = con.execute(
        f"""SELECT p.provider, p.model FROM ({pairs_sql}) p
        LEFT JOIN {RAW_SCHEMA}.llm_model_map m USING (provider, model)
        WHERE m.provider IS NULL OR m.resolved_with <> ? OR m.publisher IS NULL
        UNION
        SELECT provider, model FROM {RAW_SCHEMA}.llm_model_map WHERE resolved_with <> ? OR publisher IS NULL""",
        [*(params or []), version, version],
    ).fetchall()
    resolutions = resolve_models(pairs, aliases)
    if resolutions:
        con.executemany(
            f"INSERT OR REPLACE INTO {RAW_SCHEMA}.llm_model_map (provider, model, price_provider_id, price_model_id, "
            "price_model_name, match_status, resolved_with, resolved_at, publisher) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, now(), ?)",
            [
                [
                    r.provider,
                    r.model,
                    r.price_provider_id,
                    r.price_model_id,
                    r.price_model_name,
                    r.match_status,
                    r.resolved_with,
                    r.publisher,
                ]
                for r in resolutions
            ],
        )
    return [f"{r.provider}/{r.model} ({r.match_status})" for r in resolutions]
