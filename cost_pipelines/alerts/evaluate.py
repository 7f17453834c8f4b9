"""What deserves an alert: budget thresholds crossed by actual or forecast spend, anomalies, failed daily runs.

An alert is identified by its key, and a key fires once: (budget, period start, threshold, actual|forecast) for
budgets, (dimension, series, day) for anomalies, the run id for a failed run. Evaluating the same facts again
gives the same keys, which the alert store already holds, so nothing is announced twice.
"""

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cost_pipelines.alerts.budgets import AnomalyAlerting, HourlyAlerting, period_bounds, severity
from cost_pipelines.alerts.status import BudgetStatus
from cost_pipelines.money import CENT, usd


@dataclass(frozen=True)
class Alert:
    key: str
    kind: str  # budget_actual | budget_forecast | anomaly | run_failure
    severity: str  # info | warning | critical
    title: str
    message: str
    as_of: date | None
    channels: tuple[str, ...]
    budget: str | None = None
    scope: str | None = None
    period: str | None = None
    period_start: date | None = None
    threshold: int | None = None
    spent_usd: Decimal | None = None
    limit_usd: Decimal | None = None
    percent_used: Decimal | None = None
    projected_usd: Decimal | None = None
    days_left: int | None = None
    details: dict = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        """Short, stable id derived from the key (what `alerts ack` takes)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:12]


def run_rate_projection(status: BudgetStatus) -> Decimal:
    """Spend at period end if the rest of the period costs what its elapsed days cost on average."""
    elapsed = (status.as_of - status.period_start).days + 1
    period_days = (status.period_end - status.period_start).days
    return status.spent * period_days / elapsed


def _projection(status: BudgetStatus) -> tuple[Decimal, str]:
    if status.forecast_p80 is not None:
        return status.forecast_p80, "p80 forecast"
    return run_rate_projection(status), "run-rate"


def budget_alerts(statuses: list[BudgetStatus]) -> list[Alert]:
    """One alert per threshold reached by actual spend, and one when the forecast reaches the forecast threshold."""
    alerts = []
    for s in statuses:
        b = s.budget
        projected, basis = _projection(s)
        common = {
            "as_of": s.as_of, "channels": b.notify, "budget": b.name, "scope": b.scope_label, "period": b.period,
            "period_start": s.period_start, "spent_usd": s.spent, "limit_usd": b.limit_usd,
            "percent_used": s.percent_used.quantize(CENT), "projected_usd": projected, "days_left": s.days_left,
        }  # fmt: skip
        where = f"{b.name} ({b.scope_label}, {b.period} from {s.period_start})"
        status_line = (
            f"{usd(s.spent)} spent of {usd(b.limit_usd)} ({s.percent_used.quantize(Decimal('0.1'))}%) as of "
            f"{s.as_of}; {s.days_left} day(s) left in the period; projected {usd(projected)} at period end "
            f"({basis})."
        )
        for threshold in s.thresholds_crossed:
            alerts.append(
                Alert(
                    key=f"budget|{b.name}|{s.period_start}|{threshold}|actual",
                    kind="budget_actual",
                    severity=severity(threshold),
                    title=f"Budget {b.name} has reached {threshold}% of its limit",
                    message=f"{where}: {status_line}",
                    threshold=threshold,
                    **common,
                )
            )
        if s.forecast_crossed:
            threshold = b.forecast_threshold
            alerts.append(
                Alert(
                    key=f"budget|{b.name}|{s.period_start}|{threshold}|forecast",
                    kind="budget_forecast",
                    severity=severity(threshold),
                    title=f"Budget {b.name} is forecast to reach {threshold}% of its limit",
                    message=f"{where}: forecast (p80) {usd(s.forecast_p80)} at period end, "
                    f"{(s.forecast_p80 * 100 / b.limit_usd).quantize(Decimal('0.1'))}% of {usd(b.limit_usd)}. "
                    f"{status_line}",
                    threshold=threshold,
                    **common,
                )
            )
    return alerts


def collapse_thresholds(new: list[Alert]) -> list[Alert]:
    """The new alerts of one evaluation with one notification per budget and period: of the actual-spend thresholds
    first reached together (50, 80 and 95 % in one day), the highest keeps its channels and names the others, which
    are recorded (so none fires later) without a notification of their own."""
    groups: dict[tuple, list[Alert]] = {}
    for a in new:
        if a.kind == "budget_actual" and a.threshold is not None:
            groups.setdefault((a.budget, a.period_start), []).append(a)
    told: dict[str, Alert] = {}
    for group in groups.values():
        *lower, top = sorted(group, key=lambda a: a.threshold or 0)
        if not lower:
            continue
        covered = [a.threshold for a in lower]
        also = ", ".join(f"{t}%" for t in covered)
        told[top.key] = replace(top, message=f"{top.message} Also reached in this evaluation: {also}.",
                                details={**top.details, "also_crossed": covered})  # fmt: skip
        told |= {a.key: replace(a, channels=(), details={**a.details, "covered_by": top.alert_id}) for a in lower}
    return [told.get(a.key, a) for a in new]


def past_as_history(alerts: list[Alert], today: date, anomaly_max_age_days: int) -> list[Alert]:
    """Alerts about what was over before `today` are recorded without a notification: a budget period that has
    ended (a backfill, or data that lags the calendar), an anomaly older than `anomaly_max_age_days`. Telling
    someone today that last month crossed 80 % asks them to act on what can no longer change."""
    oldest_anomaly = today - timedelta(days=anomaly_max_age_days)
    kept = []
    for a in alerts:
        ended = None
        if a.kind in ("budget_actual", "budget_forecast") and a.period and a.period_start:
            end = period_bounds(a.period, a.period_start)[1]
            ended = f"its {a.period} period ended on {end - timedelta(days=1)}" if end <= today else None
        elif a.kind == "anomaly" and a.as_of is not None and a.as_of < oldest_anomaly:
            ended = f"the anomaly is older than {anomaly_max_age_days} days"
        if ended:
            a = replace(
                a, channels=(), details={**a.details, "history": f"{ended}, before {today}: recorded, not sent"}
            )
        kept.append(a)
    return kept


@dataclass(frozen=True)
class AnomalyRow:
    usage_date: date
    dimension: str
    series_key: str
    kinds: str
    actual_usd: Decimal
    expected_usd: Decimal
    contributors: list  # [[dimension, value, change], ...]


def anomaly_severity(actual: Decimal, expected: Decimal) -> str:
    """Relative excess over what was expected: under +50 % info, under +200 % warning, from +200 % critical."""
    if expected <= 0:
        return "warning"
    excess = (actual - expected) / expected
    return "info" if excess < Decimal("0.5") else "warning" if excess < 2 else "critical"


def anomaly_alerts(rows: list[AnomalyRow], as_of: date, settings: AnomalyAlerting) -> list[Alert]:
    """Recent anomalies (within `max_age_days` of `as_of`) of the configured dimensions, large enough to tell."""
    oldest = as_of - timedelta(days=settings.max_age_days - 1)
    alerts = []
    for r in rows:
        change = r.actual_usd - r.expected_usd
        if r.usage_date < oldest or r.usage_date > as_of or r.dimension not in settings.dimensions:
            continue
        if abs(change) < settings.min_change_usd:
            continue
        contributors = "; ".join(f"{d}={v} ({'+' if Decimal(c) >= 0 else ''}{usd(Decimal(c))})"
                                 for d, v, c in r.contributors)  # fmt: skip
        sign = "+" if change >= 0 else "-"
        alerts.append(
            Alert(
                key=f"anomaly|{r.dimension}|{r.series_key}|{r.usage_date}",
                kind="anomaly",
                severity=settings.drop_severity if change < 0 else anomaly_severity(r.actual_usd, r.expected_usd),
                title=f"Unusual spend on {r.usage_date}: {r.dimension}={r.series_key}",
                message=(
                    f"{r.dimension}={r.series_key} cost {usd(r.actual_usd)} on {r.usage_date}, against "
                    f"{usd(r.expected_usd)} expected ({sign}{usd(abs(change))}; {r.kinds})."
                    + (f" Top contributors: {contributors}." if contributors else "")
                ),
                as_of=r.usage_date,
                channels=settings.notify,
                scope=f"{r.dimension}={r.series_key}",
                spent_usd=r.actual_usd,
                details={"expected_usd": str(r.expected_usd), "kinds": r.kinds, "contributors": r.contributors},
            )
        )
    return alerts


@dataclass(frozen=True)
class HourlyAnomalyRow:
    hour: datetime  # UTC
    dimension: str
    series_key: str
    actual_usd: Decimal
    expected_usd: Decimal
    requests: int
    expected_requests: float
    contributors: list  # [[dimension, value, change], ...]
    also: list  # the coarser series this hour's anomaly explains ("team=research", ...)


def hourly_alerts(rows: list[HourlyAnomalyRow], now: datetime, settings: HourlyAlerting) -> list[Alert]:
    """The first hour of each hourly spend episode, of the configured dimensions, large enough to tell; an hour
    older than `max_age_hours` is recorded without a notification (history loaded late, not a loop running now)."""
    alerts = []
    for r in rows:
        change = r.actual_usd - r.expected_usd
        if r.dimension not in settings.dimensions or change < settings.min_change_usd:
            continue
        hour = r.hour.replace(tzinfo=UTC) if r.hour.tzinfo is None else r.hour
        ratio = f"{r.actual_usd / r.expected_usd:.0f}x" if r.expected_usd > 0 else "new spend"
        contributors = "; ".join(f"{d}={v} (+{usd(Decimal(c))})" for d, v, c in r.contributors)
        message = (
            f"{r.dimension}={r.series_key} cost {usd(r.actual_usd)} in the hour from {hour:%Y-%m-%d %H:%M} UTC, "
            f"against {usd(r.expected_usd)} expected ({ratio}; {r.requests:,} requests against "
            f"{r.expected_requests:,.0f})."
            + (f" Top contributors: {contributors}." if contributors else "")
            + (f" Also unusual in that hour: {', '.join(r.also)}." if r.also else "")
        )
        old = now - hour > timedelta(hours=settings.max_age_hours + 1)
        details = {"hour": hour.isoformat(), "expected_usd": str(r.expected_usd), "requests": r.requests,
                   "contributors": r.contributors, "also": r.also}  # fmt: skip
        if old:
            details["history"] = f"the hour is older than {settings.max_age_hours} hours: recorded, not sent"
        alerts.append(
            Alert(
                key=f"hourly|{r.dimension}|{r.series_key}|{hour:%Y-%m-%dT%H}",
                kind="hourly_anomaly",
                severity=settings.severity,
                title=f"Runaway LLM spend? {r.dimension}={r.series_key} at {hour:%Y-%m-%d %H}:00 UTC ({ratio})",
                message=message,
                as_of=hour.date(),
                channels=() if old else settings.notify,
                scope=f"{r.dimension}={r.series_key}",
                spent_usd=r.actual_usd,
                details=details,
            )
        )
    return alerts


def run_failure_alert(run_id: str, job_name: str, error: str, channels: tuple[str, ...], as_of: date | None) -> Alert:
    first_line = (error.strip().splitlines() or ["(no error message)"])[0][:300]
    return Alert(
        key=f"run_failure|{run_id}",
        kind="run_failure",
        severity="critical",
        title=f"{job_name} failed",
        message=f"Run {run_id} of {job_name} failed: {first_line}",
        as_of=as_of,
        channels=channels,
        details={"run_id": run_id, "job_name": job_name},
    )


def details_json(alert: Alert) -> str:
    return json.dumps(alert.details, sort_keys=True, default=str)
