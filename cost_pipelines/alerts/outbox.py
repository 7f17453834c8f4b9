"""The alert store and its outbox, in the warehouse: `alerts.cost_alerts`, `alerts.notification_log` and
`alerts.notification_attempts`.

An alert key is stored once (a second evaluation of the same facts finds it and adds nothing). Each new alert gets
one notification per channel, whose id is the idempotency key every attempt carries. Delivery (`delivery.py`) is
at-least-once: a notification is retried with exponential backoff while it is pending and has attempts left, every
attempt is written down, and one that runs out of attempts (or fails for good, e.g. HTTP 404) stays visible as
failed.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from cost_pipelines.alerts.evaluate import Alert, collapse_thresholds, details_json
from cost_pipelines.warehouse import fetch_dicts, scalar, table_exists, transaction

SCHEMA = "alerts"
DDL = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.cost_alerts (
        alert_id VARCHAR PRIMARY KEY, alert_key VARCHAR NOT NULL UNIQUE, kind VARCHAR NOT NULL,
        severity VARCHAR NOT NULL, title VARCHAR NOT NULL, message VARCHAR NOT NULL, as_of DATE,
        channels VARCHAR NOT NULL, budget VARCHAR, scope VARCHAR, period VARCHAR, period_start DATE,
        threshold INTEGER, spent_usd DECIMAL(38, 18), limit_usd DECIMAL(18, 2), percent_used DECIMAL(18, 2),
        projected_usd DECIMAL(38, 18), days_left INTEGER, details VARCHAR NOT NULL, created_at TIMESTAMPTZ NOT NULL,
        acknowledged_at TIMESTAMPTZ, acknowledged_by VARCHAR)""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.notification_log (
        notification_id VARCHAR PRIMARY KEY, alert_id VARCHAR NOT NULL, channel VARCHAR NOT NULL,
        recipient VARCHAR NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL, error VARCHAR,
        next_attempt_at TIMESTAMPTZ, sent_at TIMESTAMPTZ, created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.notification_attempts (
        notification_id VARCHAR NOT NULL, attempt INTEGER NOT NULL, attempted_at TIMESTAMPTZ NOT NULL,
        outcome VARCHAR NOT NULL, error VARCHAR, duration_ms INTEGER NOT NULL,
        PRIMARY KEY (notification_id, attempt))""",
    # which run made the attempt: a started attempt of a run that has finished was interrupted
    f"ALTER TABLE {SCHEMA}.notification_attempts ADD COLUMN IF NOT EXISTS run_id VARCHAR",
    # attempts made before the notification was last resent: the retry limit counts the attempts after it
    f"ALTER TABLE {SCHEMA}.notification_log ADD COLUMN IF NOT EXISTS attempt_base INTEGER DEFAULT 0",
    # an endpoint that asked (Retry-After) not to be called before `not_before`
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.channel_holds (
        channel VARCHAR PRIMARY KEY, not_before TIMESTAMPTZ NOT NULL, reason VARCHAR NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL)""",
)
ALERT_COLUMNS = (
    "alert_id", "alert_key", "kind", "severity", "title", "message", "as_of", "channels", "budget", "scope", "period",
    "period_start", "threshold", "spent_usd", "limit_usd", "percent_used", "projected_usd", "days_left", "details",
    "created_at",
)  # fmt: skip


ALERT_ROW_SCHEMA = pa.schema([
    ("alert_id", pa.string()), ("alert_key", pa.string()), ("kind", pa.string()), ("severity", pa.string()),
    ("title", pa.string()), ("message", pa.string()), ("as_of", pa.date32()), ("channels", pa.string()),
    ("budget", pa.string()), ("scope", pa.string()), ("period", pa.string()), ("period_start", pa.date32()),
    ("threshold", pa.int32()), ("spent_usd", pa.string()), ("limit_usd", pa.string()), ("percent_used", pa.string()),
    ("projected_usd", pa.string()), ("days_left", pa.int32()), ("details", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip
NOTIFICATION_ROW_SCHEMA = pa.schema([
    ("notification_id", pa.string()), ("alert_id", pa.string()), ("channel", pa.string()), ("recipient", pa.string()),
    ("created_at", pa.timestamp("us", tz="UTC")),
])  # fmt: skip


def _text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    backoff_seconds: float = 60.0  # before the 2nd attempt; doubled before each later one

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.backoff_seconds * 2 ** (attempts - 1))


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    for statement in DDL:
        con.execute(statement)


def notification_id(alert: Alert, channel: str) -> str:
    return f"{alert.alert_id}-{channel}"


def record_alerts(
    con: duckdb.DuckDBPyConnection, alerts: Iterable[Alert], recipients: dict[str, str], now: datetime
) -> list[Alert]:
    """Store the alerts whose key is new, each with a pending notification per channel; return those. Budget
    thresholds first reached together notify once, at the highest (`collapse_thresholds`).

    `recipients`: channel -> who it reaches (a label, never a secret); a channel missing there is not configured.
    """
    ensure_tables(con)
    alerts = list({a.key: a for a in alerts}.values())
    if not alerts:
        return []
    known = {k for (k,) in con.execute(f"SELECT alert_key FROM {SCHEMA}.cost_alerts WHERE alert_key IN "
                                       "(SELECT unnest(?))", [[a.key for a in alerts]]).fetchall()}  # fmt: skip
    new = collapse_thresholds([a for a in alerts if a.key not in known])
    alert_rows = pa.Table.from_pylist(
        [
            {"alert_id": a.alert_id, "alert_key": a.key, "kind": a.kind, "severity": a.severity, "title": a.title,
             "message": a.message, "as_of": a.as_of, "channels": ",".join(a.channels), "budget": a.budget,
             "scope": a.scope, "period": a.period, "period_start": a.period_start, "threshold": a.threshold,
             "spent_usd": _text(a.spent_usd), "limit_usd": _text(a.limit_usd), "percent_used": _text(a.percent_used),
             "projected_usd": _text(a.projected_usd), "days_left": a.days_left, "details": details_json(a),
             "created_at": now}
            for a in new
        ],
        schema=ALERT_ROW_SCHEMA,
    )  # fmt: skip
    notification_rows = pa.Table.from_pylist(
        [
            {"notification_id": notification_id(a, channel), "alert_id": a.alert_id, "channel": channel,
             "recipient": recipients.get(channel, "(not configured)"), "created_at": now}
            for a in new
            for channel in a.channels
        ],
        schema=NOTIFICATION_ROW_SCHEMA,
    )  # fmt: skip
    # Money travels as text and is cast by DuckDB, so no amount passes through a float.
    casts = {"spent_usd": "DECIMAL(38, 18)", "limit_usd": "DECIMAL(18, 2)", "percent_used": "DECIMAL(18, 2)",
             "projected_usd": "DECIMAL(38, 18)"}  # fmt: skip
    select = ", ".join(f"CAST({c} AS {casts[c]})" if c in casts else c for c in ALERT_COLUMNS)
    con.register("_new_alerts", alert_rows)
    con.register("_new_notifications", notification_rows)
    try:
        with transaction(con):
            con.execute(f"INSERT INTO {SCHEMA}.cost_alerts ({', '.join(ALERT_COLUMNS)}) SELECT {select} "
                        "FROM _new_alerts")  # fmt: skip
            con.execute(
                f"INSERT INTO {SCHEMA}.notification_log (notification_id, alert_id, channel, recipient, status, "
                "attempts, created_at, updated_at, attempt_base) SELECT notification_id, alert_id, channel, "
                "recipient, 'pending', 0, created_at, created_at, 0 FROM _new_notifications"
            )
    finally:
        con.unregister("_new_alerts")
        con.unregister("_new_notifications")
    return new


def _alert(row: dict) -> Alert:
    names = {f.name for f in fields(Alert)}
    values = {k: v for k, v in row.items() if k in names}
    values["key"] = row["alert_key"]
    values["channels"] = tuple(c for c in row["channels"].split(",") if c)
    values["details"] = json.loads(row["details"])
    return Alert(**values)


@dataclass(frozen=True)
class Due:
    notification_id: str
    channel: str
    attempts: int
    alert: Alert
    attempt_base: int = 0  # attempts made before it was last resent


def due_notifications(con: duckdb.DuckDBPyConnection, now: datetime, limit: int = 500) -> list[Due]:
    ensure_tables(con)
    rows = fetch_dicts(
        con,
        f"""SELECT n.notification_id AS nid, n.channel AS n_channel, n.attempts AS n_attempts,
                   COALESCE(n.attempt_base, 0) AS n_attempt_base, a.*
            FROM {SCHEMA}.notification_log n JOIN {SCHEMA}.cost_alerts a USING (alert_id)
            WHERE n.status = 'pending' AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= ?)
            ORDER BY a.created_at, n.notification_id LIMIT ?""",
        [now, limit],
    )
    return [Due(r["nid"], r["n_channel"], r["n_attempts"], _alert(r), r["n_attempt_base"]) for r in rows]


def next_retry_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the earliest pending notification is due again (None when nothing is waiting)."""
    ensure_tables(con)
    return scalar(
        con,
        f"SELECT min(coalesce(next_attempt_at, created_at)) FROM {SCHEMA}.notification_log WHERE status = 'pending'",
    )


NOT_CONFIGURED = "not_configured"  # waits, without using an attempt, until its channel is configured


def park_unconfigured(con: duckdb.DuckDBPyConnection, reasons: dict[str, str], now: datetime) -> int:
    """Due notifications of the channels of `reasons` (channel -> why, for channels not configured) wait as
    `not_configured` instead of being tried; how many."""
    ensure_tables(con)
    parked = 0
    for channel, reason in reasons.items():
        parked += len(con.execute(
            f"""UPDATE {SCHEMA}.notification_log SET status = '{NOT_CONFIGURED}', error = ?, next_attempt_at = NULL,
                   updated_at = ?
                WHERE channel = ? AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?)
                RETURNING notification_id""",
            [reason, now, channel, now],
        ).fetchall())  # fmt: skip
    return parked


def resume_configured(con: duckdb.DuckDBPyConnection, recipients: dict[str, str], now: datetime) -> int:
    """The waiting notifications of the channels now configured (`recipients`: channel -> who it reaches) are due
    at once; how many."""
    ensure_tables(con)
    resumed = 0
    for channel, recipient in recipients.items():
        resumed += len(con.execute(
            f"""UPDATE {SCHEMA}.notification_log SET status = 'pending', error = NULL, next_attempt_at = NULL,
                   recipient = ?, updated_at = ?
                WHERE channel = ? AND status = '{NOT_CONFIGURED}' RETURNING notification_id""",
            [recipient, now, channel],
        ).fetchall())  # fmt: skip
    return resumed


def resend(con: duckdb.DuckDBPyConnection, alert_id: str | None, now: datetime) -> list[tuple[str, str]]:
    """Make notifications due again with a fresh set of attempts: every notification of alert `alert_id` that is
    not pending, or (`alert_id` None) every failed one. Their (notification id, status before); the next alerts run
    sends them, under the same idempotency key."""
    ensure_tables(con)
    which = "alert_id = ? AND status IN ('failed', 'sent')" if alert_id else "status = 'failed'"
    with transaction(con):
        chosen = con.execute(
            f"SELECT notification_id, status FROM {SCHEMA}.notification_log WHERE {which} ORDER BY 1",
            [alert_id] if alert_id else [],
        ).fetchall()
        con.execute(
            f"""UPDATE {SCHEMA}.notification_log SET status = 'pending', error = NULL, next_attempt_at = NULL,
                   attempt_base = attempts, updated_at = ?
                WHERE notification_id IN (SELECT unnest(?))""",
            [now, [nid for nid, _ in chosen]],
        )
    return chosen


def waiting_channels(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The channels that have notifications waiting to be configured."""
    ensure_tables(con)
    rows = con.execute(
        f"SELECT DISTINCT channel FROM {SCHEMA}.notification_log WHERE status = '{NOT_CONFIGURED}' ORDER BY 1"
    ).fetchall()
    return [c for (c,) in rows]


def _present(con: duckdb.DuckDBPyConnection) -> bool:
    return table_exists(con, SCHEMA, "cost_alerts")


SEVERITY_ORDER = ("critical", "warning", "info")


def list_alerts(con: duckdb.DuckDBPyConnection, include_acknowledged: bool = False, limit: int = 50) -> list[dict]:
    """Most severe first, then newest, each with its figures and `deliveries` (channel, status, attempts, error);
    works on a read-only connection."""
    if not _present(con):
        return []
    where = "" if include_acknowledged else "WHERE a.acknowledged_at IS NULL"
    return fetch_dicts(
        con,
        f"""SELECT * FROM (
            SELECT a.alert_id, a.created_at, a.severity, a.kind, a.title, a.as_of, a.budget, a.scope, a.period,
                   a.period_start, a.threshold, a.spent_usd, a.limit_usd, a.percent_used, a.acknowledged_at,
                   a.acknowledged_by, a.details,
                   list({{'channel': n.channel, 'status': n.status, 'attempts': n.attempts, 'error': n.error}}
                        ORDER BY n.channel) FILTER (WHERE n.channel IS NOT NULL) AS deliveries
            FROM {SCHEMA}.cost_alerts a LEFT JOIN {SCHEMA}.notification_log n USING (alert_id)
            {where} GROUP BY ALL)
            ORDER BY list_position({list(SEVERITY_ORDER)}, severity), created_at DESC, alert_id LIMIT ?""",
        [limit],
    )


def show_alert(con: duckdb.DuckDBPyConnection, alert_id: str) -> tuple[Alert, list[dict], list[dict]] | None:
    """An alert, its notifications and every attempt of each, oldest first; None when there is no such alert."""
    if not _present(con):
        return None
    rows = fetch_dicts(con, f"SELECT * FROM {SCHEMA}.cost_alerts WHERE alert_id = ?", [alert_id])
    if not rows:
        return None
    notifications = fetch_dicts(
        con,
        f"""SELECT notification_id, channel, recipient, status, attempts, error, next_attempt_at, sent_at
            FROM {SCHEMA}.notification_log WHERE alert_id = ? ORDER BY channel""",
        [alert_id],
    )
    attempts = fetch_dicts(
        con,
        f"""SELECT n.channel, a.attempt, a.attempted_at, a.outcome, a.error, a.duration_ms
            FROM {SCHEMA}.notification_attempts a JOIN {SCHEMA}.notification_log n USING (notification_id)
            WHERE n.alert_id = ? ORDER BY a.attempted_at, n.channel, a.attempt""",
        [alert_id],
    )
    return _alert(rows[0]), notifications, attempts


def acknowledge(con: duckdb.DuckDBPyConnection, alert_id: str, by: str, now: datetime) -> tuple[datetime, str] | None:
    """Mark an alert acknowledged and return (when, by whom); None when no such alert. Acknowledging again keeps
    the first acknowledgement."""
    if not _present(con):
        return None
    found = con.execute(
        f"SELECT acknowledged_at, acknowledged_by FROM {SCHEMA}.cost_alerts WHERE alert_id = ?", [alert_id]
    ).fetchall()
    if not found:
        return None
    if found[0][0] is not None:
        return found[0]
    con.execute(
        f"UPDATE {SCHEMA}.cost_alerts SET acknowledged_at = ?, acknowledged_by = ? WHERE alert_id = ?",
        [now, by, alert_id],
    )
    return now, by
