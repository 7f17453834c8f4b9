"""The DuckDB warehouse: connections and the raw tables written by Python (dbt owns everything else)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from cost_pipelines import settings
from cost_pipelines.ingest.canonical import (
    COST_REPORT_COLUMNS,
    QUARANTINE_COLUMNS,
    UNREADABLE_FILE_COLUMNS,
    USAGE_OVERLAP_COLUMNS,
)

RAW_SCHEMA = "raw"

PRICE_COLUMNS: dict[str, str] = {
    "provider_id": "VARCHAR NOT NULL",
    "model_id": "VARCHAR NOT NULL",
    "model_name": "VARCHAR",
    "effective_from": "DATE NOT NULL",
    "effective_until": "DATE",
    "time_from": "TIME",
    "time_until": "TIME",
    "min_input_tokens": "BIGINT NOT NULL",
    "max_input_tokens": "BIGINT",
    "service_tier": "VARCHAR NOT NULL",
    "input_usd_per_mtok": "DECIMAL(38, 20)",
    "output_usd_per_mtok": "DECIMAL(38, 20)",
    "cache_read_usd_per_mtok": "DECIMAL(38, 20)",
    "cache_write_usd_per_mtok": "DECIMAL(38, 20)",
    "cache_write_1h_usd_per_mtok": "DECIMAL(38, 20)",
    "input_audio_usd_per_mtok": "DECIMAL(38, 20)",
    "output_audio_usd_per_mtok": "DECIMAL(38, 20)",
    "request_usd_per_k": "DECIMAL(38, 20)",
    "input_usd_per_token": "DECIMAL(38, 18)",
    "output_usd_per_token": "DECIMAL(38, 18)",
    "cache_read_usd_per_token": "DECIMAL(38, 18)",
    "cache_write_usd_per_token": "DECIMAL(38, 18)",
    "cache_write_1h_usd_per_token": "DECIMAL(38, 18)",
    "input_audio_usd_per_token": "DECIMAL(38, 18)",
    "output_audio_usd_per_token": "DECIMAL(38, 18)",
    "request_usd": "DECIMAL(38, 18)",
    "other_price_keys": "VARCHAR",
    "deprecated": "BOOLEAN NOT NULL",
    "prices_rounded": "BOOLEAN NOT NULL",
    "source_version": "VARCHAR NOT NULL",
}

MODEL_MAP_COLUMNS: dict[str, str] = {
    "provider": "VARCHAR NOT NULL",
    "model": "VARCHAR NOT NULL",
    "price_provider_id": "VARCHAR",
    "price_model_id": "VARCHAR",
    "price_model_name": "VARCHAR",
    "match_status": "VARCHAR NOT NULL",
    "resolved_with": "VARCHAR NOT NULL",
    "resolved_at": "TIMESTAMPTZ NOT NULL",
    "publisher": "VARCHAR",  # who made the model, apart from the provider that bills; resolved with the rest
}


CE_COLUMNS: dict[str, str] = {
    "usage_date": "DATE NOT NULL",
    "dimension_1": "VARCHAR",
    "value_1": "VARCHAR",
    "dimension_2": "VARCHAR",
    "value_2": "VARCHAR",
    "unblended_cost": "DECIMAL(38, 18) NOT NULL",
    "amortized_cost": "DECIMAL(38, 18) NOT NULL",
    "net_unblended_cost": "DECIMAL(38, 18) NOT NULL",
    "usage_quantity": "DECIMAL(38, 18) NOT NULL",
    "currency": "VARCHAR NOT NULL",
    "is_estimated": "BOOLEAN NOT NULL",
    "fetched_at": "TIMESTAMPTZ",
}


class WarehouseBusy(RuntimeError):
    """Another process held the warehouse file's lock for longer than the run waits."""


_LOCK_HOLDER = re.compile(
    r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)(?: by user (?P<user>\S+))?"
)


def _lock_holder(error: duckdb.Error) -> tuple[str, int, str | None] | None:
    """(program, PID, user) of the process holding the lock a connection could not take; None for other errors."""
    found = _LOCK_HOLDER.search(str(error))
    return None if found is None else (found["program"], int(found["pid"]), found["user"])


def _command_line(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)[:200] or None


def busy_message(path: Path | str, holder: tuple[str, int, str | None], waited: float) -> str:
    program, pid, user = holder
    command = _command_line(pid) or program
    by = f", user {user}" if user else ""
    return (
        f"the warehouse {path} is locked by process {pid} ({command}{by}); waited {waited:.0f} s and gave up, "
        "nothing was written. DuckDB lets one process at a time hold a file it writes, and a process that has it "
        "open, even read-only, keeps runs from writing. If that process is a run, let it finish; if it is a "
        "notebook or a duckdb shell, close its connection (or the program). To query while runs write, query a "
        "copy: `cost-pipelines snapshot` writes one. How long runs wait: "
        f"{settings.WAREHOUSE_LOCK_TIMEOUT_ENV} (seconds)."
    )


@contextmanager
def connect(
    path: Path | str,
    read_only: bool = False,
    lock_timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A short-lived connection; closing it releases the file lock so dbt (a subprocess) can write.

    While another process holds the file's lock, waits with backoff for up to `lock_timeout` seconds (default:
    the setting), telling `on_wait` once who holds it, then raises WarehouseBusy naming the holder."""
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = _open(path, read_only, settings.warehouse_lock_timeout() if lock_timeout is None else lock_timeout, on_wait)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


_FIRST_DELAY = 0.1  # seconds; doubled after each try, at most 5


def _open(
    path: Path | str, read_only: bool, timeout: float, on_wait: Callable[[str], None] | None
) -> duckdb.DuckDBPyConnection:
    started = time.monotonic()
    delay = _FIRST_DELAY
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            holder = _lock_holder(error)
            if holder is None:
                raise
            waited = time.monotonic() - started
            if waited + delay > timeout:
                raise WarehouseBusy(busy_message(path, holder, waited)) from None
            if on_wait is not None and delay == _FIRST_DELAY:
                on_wait(f"waiting up to {timeout:.0f} s for the warehouse: process {holder[1]} holds its lock")
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def wait_until_free(path: Path | str, on_wait: Callable[[str], None] | None = None) -> None:
    """Wait (as `connect` does) until this process could write the file, then let go: before a subprocess such as
    dbt opens it, which would fail at once on a lock."""
    if Path(path).exists():
        with connect(path, on_wait=on_wait):
            pass


def sql_literal(value: str) -> str:
    """`value` as a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """`name` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    """The first value of a query's first row. The result is read to its end: DuckDB refuses to register a table
    or start other work on a connection that still holds an unfinished result."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0][0] if rows else None


def fetch_dicts(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def existing_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """`schema.table` of every table and view: analytics tables appear with their asset's first run."""
    return {name for (name,) in con.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables").fetchall()}  # fmt: skip


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(scalar(con, "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? "
                            "AND table_name = ?", [schema, table]))  # fmt: skip


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All or nothing: a partition is replaced whole or left as it was."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str], extra: str = "") -> None:
    body = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS {RAW_SCHEMA}.{table} ({body}{extra})")


def _add_missing_columns(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    for name, kind in columns.items():
        nullable = kind.removesuffix(" NOT NULL")
        con.execute(f"ALTER TABLE {RAW_SCHEMA}.{table} ADD COLUMN IF NOT EXISTS {name} {nullable}")


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {RAW_SCHEMA}")
    from cost_pipelines.ingest import request_store

    request_store.ensure(con)
    _create(con, "llm_requests_quarantine", QUARANTINE_COLUMNS)
    _create(con, "llm_unreadable_files", UNREADABLE_FILE_COLUMNS)
    _create(con, "llm_usage_overlaps", USAGE_OVERLAP_COLUMNS)
    _create(con, "provider_cost_reports", COST_REPORT_COLUMNS)
    _create(con, "llm_model_map", MODEL_MAP_COLUMNS, ", PRIMARY KEY (provider, model)")
    _add_missing_columns(con, "llm_model_map", MODEL_MAP_COLUMNS)  # a row without a publisher is resolved again
    _create(con, "llm_prices", PRICE_COLUMNS)
    _add_missing_columns(con, "llm_prices", PRICE_COLUMNS)  # replaced whole on every load: nullable is enough
    _create(con, "aws_cost_explorer_daily", CE_COLUMNS)
    from cost_pipelines.focus.load import ensure_tables as ensure_focus_tables

    ensure_focus_tables(con)
