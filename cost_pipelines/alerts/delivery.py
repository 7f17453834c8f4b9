"""Delivery of the notifications that are due, with the warehouse closed during every network call.

A run reads what is due and closes the warehouse. For each notification it then opens the warehouse briefly to
record the attempt as started (with a lease: how long the attempt may take), closes it, sends, and writes the
outcome together with the next claim. A process killed during a send leaves a started attempt behind: the next run
finds it once its lease has run out or its run has finished, records it as interrupted and tries again with the
same idempotency key (the receiver may then see the message twice: delivery is at least once).

An endpoint that answers 429 or 503 with Retry-After is held until then: no notification of that channel is tried
sooner, in this run or a later one (`alerts.channel_holds`).
"""

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb

from cost_pipelines.alerts.channels import Channel, DeliveryError, redact
from cost_pipelines.alerts.outbox import SCHEMA, Due, RetryPolicy, next_retry_at
from cost_pipelines.warehouse import transaction

INTERRUPTED = "interrupted: the alerts run stopped during this attempt (it may have been delivered)"
LEASE_TIMEOUTS = 6  # an attempt may take this many channel timeouts (connect, TLS, each SMTP command)

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # gave up: out of attempts, or an error no retry can fix
    retrying: int = 0
    held: int = 0  # not tried: its endpoint asked to be left alone (Retry-After)
    next_retry_at: datetime | None = None  # when the earliest pending notification is due (None: none waits)


@dataclass(frozen=True)
class Outcome:
    notification_id: str
    channel: str
    attempt: int
    started: datetime
    finished: datetime
    error: DeliveryError | None
    attempt_base: int = 0  # attempts made before the notification was last resent


def lease_for(timeout_seconds: float) -> timedelta:
    return timedelta(seconds=LEASE_TIMEOUTS * timeout_seconds)


def close_interrupted(
    con: duckdb.DuckDBPyConnection, now: datetime, run_finished: Callable[[str], bool], policy: RetryPolicy
) -> int:
    """Started attempts whose lease ran out or whose run finished become interrupted; their notification is due
    again at once (or failed, when that was its last attempt). Returns how many."""
    started = con.execute(
        f"""SELECT a.notification_id, a.attempt, a.attempt - COALESCE(n.attempt_base, 0), a.run_id, n.next_attempt_at
            FROM {SCHEMA}.notification_attempts a JOIN {SCHEMA}.notification_log n USING (notification_id)
            WHERE a.outcome = 'started' AND n.status = 'pending' AND n.attempts = a.attempt"""
    ).fetchall()
    stale = [(nid, attempt, counted) for nid, attempt, counted, run_id, lease in started
             if lease is None or lease <= now or not run_id or run_finished(run_id)]  # fmt: skip
    with transaction(con):
        for nid, attempt, counted in stale:
            con.execute(f"UPDATE {SCHEMA}.notification_attempts SET outcome = 'interrupted', error = ? "
                        "WHERE notification_id = ? AND attempt = ?", [INTERRUPTED, nid, attempt])  # fmt: skip
            last = counted >= policy.max_attempts
            con.execute(
                f"UPDATE {SCHEMA}.notification_log SET status = ?, error = ?, next_attempt_at = ?, updated_at = ? "
                "WHERE notification_id = ?",
                ["failed" if last else "pending", INTERRUPTED, None if last else now, now, nid],
            )
    return len(stale)


def active_holds(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, datetime]:
    rows = con.execute(f"SELECT channel, not_before FROM {SCHEMA}.channel_holds WHERE not_before > ?", [now])
    return dict(rows.fetchall())


def _claim(con: duckdb.DuckDBPyConnection, due: Due, now: datetime, lease: timedelta, run_id: str) -> int | None:
    """Record the next attempt as started, if the notification is still due; its number, or None."""
    claimed = con.execute(
        f"""UPDATE {SCHEMA}.notification_log SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
            WHERE notification_id = ? AND status = 'pending' AND attempts = ?
              AND (next_attempt_at IS NULL OR next_attempt_at <= ?) RETURNING attempts""",
        [now + lease, now, due.notification_id, due.attempts, now],
    ).fetchall()
    if not claimed:
        return None  # another run took it meanwhile
    attempt = claimed[0][0]
    con.execute(
        f"INSERT INTO {SCHEMA}.notification_attempts (notification_id, attempt, attempted_at, outcome, error, "
        "duration_ms, run_id) VALUES (?, ?, ?, 'started', NULL, 0, ?)",
        [due.notification_id, attempt, now, run_id],
    )
    return attempt


def _send(due: Due, channels: dict[str, Channel], problems: dict[str, str]) -> DeliveryError | None:
    try:
        if due.channel in problems:
            raise DeliveryError(problems[due.channel], False)
        channel = channels.get(due.channel)
        if channel is None:
            raise DeliveryError(f"{due.channel} is not configured", False)
        channel.send(due.alert, due.notification_id)
    except DeliveryError as failure:
        return failure
    except Exception as failure:  # whatever a channel raises stays on its own notification; its text could hold a URL
        return DeliveryError(f"unexpected {type(failure).__name__}", True)
    return None


def _write(con: duckdb.DuckDBPyConnection, outcomes: list[Outcome], policy: RetryPolicy, secrets: list[str],
           report: DeliveryReport) -> None:  # fmt: skip
    for o in outcomes:
        error = o.error
        message = None if error is None else redact(str(error), secrets)
        counted = o.attempt - o.attempt_base
        retry_at = policy.next_attempt(counted, o.finished) if error is not None and error.retryable else None
        if retry_at is not None and error.retry_after:
            retry_at = max(retry_at, o.finished + timedelta(seconds=error.retry_after))
        status = "sent" if error is None else "pending" if retry_at else "failed"
        con.execute(
            f"UPDATE {SCHEMA}.notification_attempts SET outcome = ?, error = ?, duration_ms = ? "
            "WHERE notification_id = ? AND attempt = ?",
            ["sent" if error is None else "failed", message, int((o.finished - o.started).total_seconds() * 1000),
             o.notification_id, o.attempt],
        )  # fmt: skip
        con.execute(
            f"UPDATE {SCHEMA}.notification_log SET status = ?, error = ?, next_attempt_at = ?, sent_at = ?, "
            "updated_at = ? WHERE notification_id = ? AND attempts = ?",
            [status, message, retry_at, o.finished if error is None else None, o.finished, o.notification_id,
             o.attempt],
        )  # fmt: skip
        if status == "sent":
            report.sent += 1
        elif status == "failed":
            report.failed += 1
        else:
            report.retrying += 1


def _hold(con: duckdb.DuckDBPyConnection, holds: dict[str, datetime], now: datetime) -> None:
    """Keep each held channel's endpoint alone until its time: stored, and every pending notification of it
    waits at least that long."""
    for channel, until in holds.items():
        con.execute(
            f"""INSERT INTO {SCHEMA}.channel_holds VALUES (?, ?, 'Retry-After', ?) ON CONFLICT (channel)
                DO UPDATE SET not_before = greatest(channel_holds.not_before, excluded.not_before),
                              updated_at = excluded.updated_at""",
            [channel, until, now],
        )
        con.execute(
            f"UPDATE {SCHEMA}.notification_log SET next_attempt_at = ? WHERE channel = ? AND status = 'pending' "
            "AND (next_attempt_at IS NULL OR next_attempt_at < ?)",
            [until, channel, until],
        )


def deliver(
    connect: Connect,
    due: list[Due],
    holds: dict[str, datetime],
    channels: dict[str, Channel],
    problems: dict[str, str],
    policy: RetryPolicy,
    secrets: list[str],
    run_id: str,
    lease: timedelta,
    clock: Callable[[], datetime],
) -> DeliveryReport:
    """Attempt each notification of `due` in turn, the warehouse open only between the sends."""
    report = DeliveryReport()
    holds = dict(holds)
    unwritten: list[Outcome] = []
    for item in due:
        if item.channel in holds and holds[item.channel] > clock():
            report.held += 1
            continue
        with connect() as con, transaction(con):
            _write(con, unwritten, policy, secrets, report)
            unwritten = []
            attempt = _claim(con, item, clock(), lease, run_id)
        if attempt is None:
            continue
        started = clock()
        error = _send(item, channels, problems)
        finished = clock()
        unwritten.append(
            Outcome(item.notification_id, item.channel, attempt, started, finished, error, item.attempt_base)
        )
        if error is not None and error.retry_after:
            until = finished + timedelta(seconds=error.retry_after)
            holds[item.channel] = max(until, holds.get(item.channel, until))
    with connect() as con, transaction(con):
        _write(con, unwritten, policy, secrets, report)
        _hold(con, {c: until for c, until in holds.items() if until > clock()}, clock())
        report.next_retry_at = next_retry_at(con)
    return report
