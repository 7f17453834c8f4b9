"""`cost-pipelines` command line: run the demo pipeline, summarise the warehouse, list and acknowledge alerts, and
check an estimated cost against the budgets before spending it."""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import duckdb

from cost_pipelines import quality, settings, warehouse
from cost_pipelines.money import CENT
from cost_pipelines.sample_data.generate import DEFAULT_END, DEFAULT_START

PARTITION_RANGE_START_TAG = "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG = "dagster/asset_partition_range_end"

# What `_dagster_home` wrote before the instance had run monitoring: such a file is brought up to date.
_EARLIER_INSTANCE_CONFIG = """\
telemetry:
  enabled: false
concurrency:
  runs:
    max_concurrent_runs: 1
"""


USER_ERROR_EXIT_CODE = 2


class UserError(Exception):
    """A mistake the person running the command can fix (an argument, a missing file): one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: the usage is what --help is for."""

    def error(self, message: str) -> NoReturn:
        self.exit(USER_ERROR_EXIT_CODE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day: write it as YYYY-MM-DD, e.g. 2026-10-31") from None


def _usd(text: str) -> Decimal:
    try:
        amount = Decimal(text)
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite() or amount < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of USD: write it as 15 or 0.75, not negative")
    return amount


def _positive(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return number


def _port(text: str) -> int:
    number = _positive(text)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return number


def _dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME", settings.data_dir() / "dagster_home")).resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    from cost_pipelines.instance import EMBEDDED_INSTANCE_CONFIG

    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() == _EARLIER_INSTANCE_CONFIG:
        config.write_text(EMBEDDED_INSTANCE_CONFIG)
    return home


def _ensure_sample_logs(start: date, end: date) -> Path:
    from cost_pipelines.sample_data.generate import generate

    logs = settings.llm_logs_dir()
    missing = [d for d in _days(start, end) if not (logs / d.isoformat()).is_dir()]
    if missing:
        print(f"generating sample LLM logs for {start}..{end} into {logs}")
        generate(logs, start, end)
    return logs


def _ensure_focus_exports() -> None:
    from cost_pipelines.sample_data.focus import write_shifted_sample

    exports = settings.focus_exports_dir()
    if not exports.is_dir() or not any(exports.iterdir()):
        # The FOCUS sample is September 2024; two years later it sits inside the demo period.
        print(f"placing the FOCUS 1.0 sample (moved to September 2026) in {exports}")
        write_shifted_sample(exports, (date(2026, 9, 1) - date(2024, 9, 1)).days)


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def execute_job(job: str, tags: dict[str, str] | None = None) -> None:
    """Run a job of the code location once, recorded in the instance at DAGSTER_HOME. Runs a killed process left
    "started" are marked failed first, as the daemon's run monitoring would."""
    import dagster as dg

    from cost_pipelines.instance import fail_dead_runs

    with dg.DagsterInstance.get() as instance:
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} was left started by a process that is gone: marked failed")
    command = [
        sys.executable, "-m", "dagster", "job", "execute",
        "-m", "cost_pipelines.definitions", "-j", job, "--tags", json.dumps(tags or {}),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-20_000:] + result.stderr[-20_000:])
        raise SystemExit(f"{job} failed (exit {result.returncode}); the run is in the Dagster UI")


def run_daily_job_range(start: date, end: date) -> None:
    """Run daily_cost_job once over every day in [start, end]."""
    execute_job(
        "daily_cost_job", {PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()}
    )


def summary(start: date, end: date) -> str:
    window = [start, end + timedelta(days=1)]
    with _warehouse(read_only=True) as con:
        days, requests, unpriced, total = con.execute(
            "SELECT count(*), sum(request_count), sum(unpriced_request_count), sum(total_cost_usd) "
            "FROM marts.cost_summary_daily WHERE usage_date >= ? AND usage_date < ?",
            window,
        ).fetchone()
        by_provider = con.execute(
            "SELECT provider, sum(request_count), sum(total_cost_usd) FROM marts.llm_cost_by_provider "
            "WHERE usage_date >= ? AND usage_date < ? GROUP BY provider ORDER BY 3 DESC",
            window,
        ).fetchall()
        unpriced_models = con.execute(
            "SELECT provider || '/' || model, sum(unpriced_request_count) FROM marts.llm_cost_by_model "
            "WHERE usage_date >= ? AND usage_date < ? GROUP BY 1 HAVING sum(unpriced_request_count) > 0 "
            "ORDER BY 2 DESC",
            window,
        ).fetchall()
        aws_total, aws_estimated = con.execute(
            "SELECT sum(unblended_cost_usd), count(DISTINCT usage_date) FILTER (WHERE is_estimated) "
            "FROM marts.aws_cost_by_service WHERE usage_date >= ? AND usage_date < ?",
            window,
        ).fetchone()
        fact = quality.reconcile_fact(con, start, end + timedelta(days=1))
        # Analytics tables appear with their assets' first materialization; until then their lines are left out.
        present = warehouse.existing_tables(con)
        anomalies = (
            []
            if "analytics.cost_anomalies" not in present
            else con.execute(
                "SELECT usage_date, dimension, series_key, actual_usd - expected_usd AS excess, contributors "
                "FROM analytics.cost_anomalies WHERE usage_date >= ? AND usage_date < ? ORDER BY excess DESC LIMIT 3",
                window,
            ).fetchall()
        )
        quarantined = con.execute(
            "SELECT count(*) FROM raw.llm_requests_quarantine WHERE partition_date >= ? AND partition_date < ?",
            window,
        ).fetchone()[0]
        forecast = (
            None
            if "analytics.spend_forecast_series" not in present
            else con.execute(
                "SELECT s.as_of, s.method, s.mape, s.seasonal_naive_mape, s.month_to_date_usd, s.month_end_usd, "
                "       s.month_end_lower_80_usd, s.month_end_upper_80_usd, sum(f.forecast_usd) "
                "FROM analytics.spend_forecast_series s "
                "JOIN analytics.spend_forecast f USING (as_of, dimension, series_key) "
                "WHERE s.dimension = 'total' AND s.as_of = ? AND f.forecast_date <= s.as_of + INTERVAL 30 DAY "
                "GROUP BY ALL",
                [end],
            ).fetchone()
        )
        recommendations = (
            []
            if "analytics.recommendations" not in present
            else con.execute(
                "SELECT title, effort, monthly_savings_usd FROM analytics.recommendations WHERE as_of = ? "
                "ORDER BY rank LIMIT 5",
                [end],
            ).fetchall()
        )
        alerts = None
        if warehouse.table_exists(con, "alerts", "cost_alerts"):
            raised = warehouse.scalar(con, "SELECT count(*) FROM alerts.cost_alerts")
            rows = con.execute(
                "SELECT a.alert_id, a.severity, a.title, COALESCE(string_agg(n.channel || ': ' || n.status, ', ' "
                "ORDER BY n.channel), 'told by ' || (a.details->>'covered_by'), 'history, not sent') "
                "FROM alerts.cost_alerts a LEFT JOIN alerts.notification_log n USING (alert_id) "
                "GROUP BY a.alert_id, a.severity, a.title, a.created_at, a.details "
                "ORDER BY a.created_at DESC, list_position(['critical', 'warning', 'info'], a.severity), a.alert_id "
                "LIMIT 6"
            ).fetchall()
            alerts = (raised, rows)
    lines = [
        f"days: {days}   LLM requests: {requests:,}   LLM total: ${_money(total)}",
        "LLM by provider:",
        *(f"  {p:<12} {n:>10,} requests  ${_money(c):>14}" for p, n, c in by_provider),
        f"unpriced requests: {unpriced:,}"
        + (" (" + ", ".join(f"{m}: {n:,}" for m, n in unpriced_models) + ")" if unpriced_models else ""),
        f"quarantined rows: {quarantined:,}",
        f"AWS (Cost Explorer, unblended): ${_money(aws_total)}   estimated days: {aws_estimated}",
        f"fct_costs: ${_money(fact.fact_cloud_usd + fact.fact_llm_usd + fact.fact_focus_usd)} = Cost Explorer "
        f"${_money(fact.cost_explorer_usd)} + LLM ${_money(fact.llm_priced_usd)} + FOCUS ${_money(fact.focus_usd)}"
        f" ({'exact' if fact.balanced else 'MISMATCH'})",
        "largest anomalies:",
        *(
            f"  {day} {dimension}={key}: +${_money(excess)} ({', '.join(f'{d}={v}' for d, v, _ in json.loads(c))})"
            for day, dimension, key, excess, c in anomalies
        ),
    ]
    if forecast:
        as_of, method, mape, naive_mape, month_to_date, month_end, low, high, next_30 = forecast
        backtest = f", backtest MAPE {mape:.1%} vs seasonal-naive {naive_mape:.1%}" if mape and naive_mape else ""
        lines += [
            f"forecast as of {as_of} ({method}{backtest}):",
            f"  {as_of:%B} to date ${_money(month_to_date)}, projected month end ${_money(month_end)}"
            + (f" (80% interval ${_money(low)} to ${_money(high)})" if high is not None and low != high else ""),
            f"  the next 30 days: ${_money(next_30)} expected",
        ]
    if alerts is not None:
        raised, rows = alerts
        lines.append(f"alerts raised: {raised} (cost-pipelines alerts list, alerts show <id>)")
        lines += [f"  {alert_id} {severity:<8} {title}  [{deliveries or 'no channel'}]"
                  for alert_id, severity, title, deliveries in rows]  # fmt: skip
    if recommendations:
        lines += [
            "top recommendations (monthly savings; overlapping ones do not add up):",
            *(f"  ${_money(saving):>9}  {title} ({effort})" for title, effort, saving in recommendations),
        ]
    return "\n".join(lines)


def _money(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)).quantize(Decimal('0.01')):,}"


def demo(args: argparse.Namespace) -> None:
    start, end = args.start, args.end
    if end < start:
        raise UserError(f"--end {end} is before --start {start}")
    home = _dagster_home()
    _ensure_sample_logs(start, end)
    _ensure_focus_exports()
    # The demo never calls AWS, even where credentials exist: Cost Explorer answers come from the recording.
    os.environ.setdefault("COST_PIPELINES_CE_SOURCE", "recorded")
    print(f"running daily_cost_job over {start}..{end} as one run (Dagster instance: {home})")
    run_daily_job_range(start, end)
    # What budget_alert_sensor requests after a daily run when the daemon is up (`dagster dev`), on the day after the
    # sample's last: alerts about its periods are news, as they would have been then.
    os.environ.setdefault(settings.ALERTS_TODAY_ENV, (end + timedelta(days=1)).isoformat())
    today = os.environ[settings.ALERTS_TODAY_ENV]
    print(f"running alerts_job (budget and anomaly alerts as of the last day, taking {today} as today)")
    started = datetime.now(UTC)
    execute_job("alerts_job", {"cost_pipelines/trigger": "demo"})
    print(summary(start, end))
    _show_delivered(started)
    print(f"\nwarehouse: {settings.duckdb_path()}")
    report = settings.data_dir() / "reports" / "cost_report.html"
    if report.exists():
        print(f"cost report (opens offline): {report}")
    print(f"open the Dagster UI on these runs, the report served beside it:  DAGSTER_HOME={home} make ui")


def _show_delivered(since: datetime) -> None:
    """The messages the file channel delivered since `since`, and the first of them as a person receives it."""
    folder = settings.notifications_dir()
    new = sorted((p for p in folder.glob("*.txt") if p.stat().st_mtime >= since.timestamp()), key=lambda p: p.name)
    if not new:
        print(f"\nno message delivered this run (the file channel writes them to {folder})")
        return
    print(f"\n{len(new)} message(s) delivered to {folder} (the file channel; Slack, email and webhooks once set up).")
    print(f"the first, {new[0].name}:\n")
    print("  " + new[0].read_text().rstrip().replace("\n", "\n  "))


@contextmanager
def _warehouse(read_only: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    path = settings.duckdb_path()
    if not path.exists():
        raise UserError(
            f"no warehouse at {path}: run the daily job first (make demo), or set COST_PIPELINES_DUCKDB_PATH"
        )
    try:
        with warehouse.connect(path, read_only=read_only, on_wait=_say) as con:
            yield con
    except warehouse.WarehouseBusy as error:
        raise SystemExit(str(error)) from None


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def snapshot(args: argparse.Namespace) -> None:
    """A copy of the warehouse to query as long as one likes: holding it open blocks no run."""
    source = settings.duckdb_path()
    target = (
        Path(args.to)
        if args.to
        else settings.data_dir() / "snapshots" / f"warehouse-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.duckdb"
    )
    if target.exists():
        raise UserError(f"{target} exists; name another file with --to")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with _warehouse(read_only=True) as con:  # waits while a run writes
        con.execute(f"ATTACH {_sql_text(str(partial))} AS snapshot (READ_WRITE)")
        name = str(warehouse.scalar(con, "SELECT current_database()")).replace('"', '""')
        con.execute(f'COPY FROM DATABASE "{name}" TO snapshot')
        con.execute("DETACH snapshot")
    partial.replace(target)
    print(f"snapshot of {source} written to {target}")
    print(f"query it without blocking runs:  duckdb -readonly {target}")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _figures(alert: dict) -> str:
    """What a budget alert measured: `budget b (scope), monthly from 2026-10-01: $90.00 of $100.00 (90.0%)`."""
    from cost_pipelines.money import usd

    if alert["budget"] is None:
        return f"{alert['kind']}{' ' + alert['scope'] if alert['scope'] else ''}" + (
            f", {usd(alert['spent_usd'])}" if alert["spent_usd"] is not None else "")  # fmt: skip
    percent = "" if alert["percent_used"] is None else f" ({alert['percent_used']:.1f}%)"
    return (f"budget {alert['budget']} ({alert['scope']}), {alert['period']} from {alert['period_start']}: "
            f"{usd(alert['spent_usd'])} of {usd(alert['limit_usd'])}{percent}")  # fmt: skip


def _delivery(d: dict) -> str:
    attempts = f", {d['attempts']} attempt{'s' if d['attempts'] != 1 else ''}" if d["attempts"] else ""
    return f"{d['channel']}: {d['status']}{attempts}" + (f" ({d['error']})" if d["error"] else "")


def _not_sent(details: dict, notified: bool, no_channel: str) -> str | None:
    """Why an alert sent no message of its own, or None when it did."""
    if details.get("history"):
        return f"history: {details['history']}"
    if details.get("covered_by"):
        return f"told by {details['covered_by']}, a higher threshold reached in the same evaluation"
    return None if notified else f"no channel: {no_channel}"


def alerts_list(args: argparse.Namespace) -> None:
    from cost_pipelines.alerts.outbox import list_alerts

    with _warehouse(read_only=True) as con:
        rows = list_alerts(con, include_acknowledged=args.all, limit=args.limit)
    if not rows:
        print("no alerts" if args.all else "no unacknowledged alerts")
    for r in rows:
        print(f"{r['alert_id']}  {r['severity']:<8}  {r['created_at']:%Y-%m-%d %H:%M}  {r['title']}")
        print(f"              {_figures(r)}")
        for d in r["deliveries"] or []:
            print(f"              {_delivery(d)}")
        if why := _not_sent(json.loads(r["details"] or "{}"), bool(r["deliveries"]), "the budget names none"):
            print(f"              {why}")
        if r["acknowledged_at"]:
            print(f"              acknowledged {r['acknowledged_at']:%Y-%m-%d %H:%M} by {r['acknowledged_by']}")


def alerts_show(args: argparse.Namespace) -> None:
    from dataclasses import asdict as fields_of

    from cost_pipelines.alerts.outbox import show_alert

    with _warehouse(read_only=True) as con:
        found = show_alert(con, args.alert_id)
    if found is None:
        raise UserError(f"no alert {args.alert_id} (see: cost-pipelines alerts list --all)")
    alert, notifications, attempts = found
    print(f"{alert.alert_id}  {alert.severity}  {alert.title}")
    print(f"  {_figures(fields_of(alert))}")
    print(f"  as of {alert.as_of}; key {alert.key}")
    print(f"\n  {alert.message}\n")
    for n in notifications:
        sent = f", sent {n['sent_at']:%Y-%m-%d %H:%M:%S}" if n["sent_at"] else ""
        print(f"  {_delivery(n)} to {n['recipient']}{sent}")
        for a in (a for a in attempts if a["channel"] == n["channel"]):
            error = f": {a['error']}" if a["error"] else ""
            print(f"    attempt {a['attempt']} {a['attempted_at']:%Y-%m-%d %H:%M:%S} {a['outcome']} "
                  f"({a['duration_ms']} ms){error}")  # fmt: skip
    if why := _not_sent(alert.details, bool(notifications), "the alert names no channel"):
        print(f"  {why}")


def alerts_resend(args: argparse.Namespace) -> None:
    """Make notifications due again (one alert's, or every failed one), then run alerts_job to send them."""
    from cost_pipelines.alerts.outbox import resend, show_alert

    if bool(args.alert_id) == args.failed:
        raise UserError("name one alert id, or --failed for every failed notification")
    with _warehouse(read_only=False) as con:
        if args.alert_id and show_alert(con, args.alert_id) is None:
            raise UserError(f"no alert {args.alert_id} (see: cost-pipelines alerts list --all)")
        chosen = resend(con, args.alert_id, datetime.now(UTC))
    if not chosen:
        print("nothing to resend: " + ("its notifications are pending or waiting for their channel"
                                       if args.alert_id else "no notification has failed"))  # fmt: skip
        return
    for notification, before in chosen:
        print(f"{notification}: {before} -> pending")
    if args.no_run:
        print("the next alerts run sends them")
        return
    home = _dagster_home()
    print(f"running alerts_job to send them (Dagster instance: {home})")
    execute_job("alerts_job", {"cost_pipelines/trigger": "resend"})
    with _warehouse(read_only=True) as con:
        states = dict(con.execute(
            "SELECT notification_id, status || COALESCE(' (' || error || ')', '') FROM alerts.notification_log "
            "WHERE notification_id IN (SELECT unnest(?))", [[n for n, _ in chosen]]).fetchall())  # fmt: skip
    for notification, _ in chosen:
        print(f"{notification}: {states.get(notification)}")


def alerts_ack(args: argparse.Namespace) -> None:
    from cost_pipelines.alerts.outbox import acknowledge

    with _warehouse(read_only=False) as con:
        found = acknowledge(con, args.alert_id, args.by, datetime.now(UTC))
    if found is None:
        raise UserError(f"no alert {args.alert_id} (see: cost-pipelines alerts list --all)")
    at, by = found
    print(f"alert {args.alert_id} acknowledged by {by} at {at:%Y-%m-%d %H:%M} UTC")


REFUSED_EXIT_CODE = 3
CONFIG_ERROR_EXIT_CODE = 2


def check_spend_command(args: argparse.Namespace) -> None:
    """Exit 0 when the spend fits (warnings included), 3 when a hard limit refuses it, 2 when the budgets file is
    missing or invalid. Scope values the cost data has never seen (a typo, most likely) are warned about, and so is
    a day to check past the last day the cost data holds (spend since then is not counted)."""
    from cost_pipelines.alerts.budgets import BudgetConfigError, load_budgets
    from cost_pipelines.alerts.prespend import applies, check_spend
    from cost_pipelines.alerts.scope_values import budget_scopes, unknown_scope_values
    from cost_pipelines.alerts.status import budget_status

    scope = {key: getattr(args, key) for key in ("provider", "service", "model", "user", "team", "project")}
    scope = {key: value for key, value in scope.items() if value}
    as_of = args.as_of or datetime.now(UTC).date()
    try:
        budgets = load_budgets(settings.budgets_path())
    except BudgetConfigError as error:
        print(f"check-spend: {error}", file=sys.stderr)
        raise SystemExit(CONFIG_ERROR_EXIT_CODE) from None
    scopes = [*budget_scopes(budgets), *((f"--{key}", key, value) for key, value in scope.items())]
    with _warehouse(read_only=True) as con:
        statuses = budget_status(con, budgets, as_of)
        unknown = unknown_scope_values(con, scopes)
        last_day = warehouse.scalar(con, "SELECT max(usage_date) FROM marts.fct_costs")
    result = check_spend(statuses, scope, args.estimated_usd)
    for u in unknown:
        print(f"warning: {u.message}", file=sys.stderr)
    if last_day is None or last_day < as_of - timedelta(days=1):
        behind = "holds no day" if last_day is None else f"ends on {last_day}, {(as_of - last_day).days} days before"
        print(f"warning: the cost data {behind} {as_of}: spend since then is not counted", file=sys.stderr)
    checked = [s for s in statuses if applies(s, scope)]
    report = {
        "allowed": result.allowed,
        "as_of": as_of.isoformat(),
        "last_day_with_data": last_day.isoformat() if last_day else None,
        "currency": "USD",
        "estimated_usd": _cents(args.estimated_usd),
        "budgets_checked": [
            {
                "budget": s.budget.name,
                "scope": s.budget.scope_label,
                "period_start": s.period_start.isoformat(),
                "limit_usd": _cents(s.budget.limit_usd),
                "spent_usd": _cents(s.spent),
                "hard_limit": s.budget.hard_limit,
            }
            for s in checked
        ],
        "violations": [_finding(f) for f in result.violations],
        "warnings": [_finding(f) for f in result.warnings],
        "unknown_scope_values": [asdict(u) for u in unknown],
    }
    print(json.dumps(report, indent=2))
    verdict = "allowed" if result.allowed else "refused by a hard limit"
    print(
        f"check-spend: ${_money(args.estimated_usd)} {verdict}; {len(checked)} budget(s) checked as of {as_of}",
        file=sys.stderr,
    )
    if not result.allowed:
        raise SystemExit(REFUSED_EXIT_CODE)


def _cents(amount: Decimal) -> str:
    """An amount as text to the cent, as a person reads it (the check itself compares exact amounts)."""
    return str(amount.quantize(CENT))


def _finding(finding: Any) -> dict[str, Any]:
    found = asdict(finding)
    return {k: _cents(v) if k.endswith("_usd") else str(v) if isinstance(v, Decimal) else v for k, v in found.items()}


def doctor(args: argparse.Namespace) -> None:
    """Every check of the installation, grouped by area; exit 2 when one is a problem."""
    from cost_pipelines.doctor import PROBLEM, WARNING, diagnose

    day, findings = diagnose()
    marks = {"ok": "ok  ", WARNING: "warn", PROBLEM: "FAIL"}
    area = None
    for f in findings:
        if f.area != area:
            print(f"{f.area}:")
            area = f.area
        print(f"  {marks[f.level]}  {f.text}")
    problems = sum(f.level == PROBLEM for f in findings)
    warnings = sum(f.level == WARNING for f in findings)
    print(f"\nthe next scheduled run processes {day}; {problems} problem(s), {warnings} warning(s)")
    if problems:
        raise SystemExit(USER_ERROR_EXIT_CODE)


def reprice(args: argparse.Namespace) -> None:
    """Re-price the stored days summed with other prices than the current ones: reprice_job over exactly those days,
    one run per range of consecutive days."""
    from cost_pipelines.pricing.history import day_ranges, days_to_reprice, price_inputs_not_loaded
    from cost_pipelines.pricing.price_table import genai_prices_version

    overrides = settings.DBT_PROJECT_DIR / "seeds" / "llm_price_overrides.csv"
    with _warehouse(read_only=True) as con:
        behind = price_inputs_not_loaded(con, overrides, genai_prices_version())
        stale = days_to_reprice(con)
    for notice in behind:
        print(f"note: {notice}; the next daily run loads it, re-pricing uses the prices loaded now")
    if not stale:
        print("every stored day is priced with the current price rows and overrides")
        return
    ranges = day_ranges(list(stale))
    print(f"{len(stale)} day(s) priced with other prices than the current ones:")
    for first, last in ranges:
        models = sorted({m for day, found in stale.items() if first <= day <= last for m in found})
        print(f"  {first}..{last}: {', '.join(models)}")
    if args.dry_run:
        return
    home = _dagster_home()
    for first, last in ranges:
        print(f"re-pricing {first}..{last} (reprice_job, one run; Dagster instance: {home})")
        execute_job(
            "reprice_job", {PARTITION_RANGE_START_TAG: first.isoformat(), PARTITION_RANGE_END_TAG: last.isoformat()}
        )
    with _warehouse(read_only=True) as con:
        left = days_to_reprice(con)
    if left:
        raise SystemExit(
            f"still priced with other prices: {', '.join(map(str, sorted(left)))} (prices changed meanwhile?)"
        )
    print(f"re-priced {len(stale)} day(s); every stored day is priced with the current prices")


def _start_report_server(port: int) -> object | None:
    from cost_pipelines.report.serve import serve_reports

    folder = settings.data_dir() / "reports"
    try:
        server = serve_reports(folder, port)
    except OSError as error:
        print(f"the reports are not served: port {port} is taken ({error.strerror})", file=sys.stderr)
        return None
    print(f"reports in {folder} served on http://127.0.0.1:{port}/ (the cost report's link in the UI opens there)")
    return server


def ui(args: argparse.Namespace) -> None:
    """`dagster dev` on the project's instance, with the reports folder served beside it."""
    _dagster_home()
    dagster = Path(sys.executable).parent / "dagster"
    workspace = settings.PROJECT_ROOT / "workspace.yaml"
    server = _start_report_server(args.reports_port)
    try:
        subprocess.run([str(dagster), "dev", "-w", str(workspace), "-p", str(args.port)], check=False)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


def reports(args: argparse.Namespace) -> None:
    """Serve the reports folder on loopback until interrupted."""
    import time

    server = _start_report_server(args.port)
    if server is None:
        raise SystemExit(1)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cost-pipelines",
        epilog="exit codes: 0 done; 1 a run or the warehouse failed; 2 a mistake in the command or its "
        "configuration (one line on stderr); 3 check-spend refused the spend",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_parser = commands.add_parser("demo", help="generate sample logs and run the daily pipeline over them")
    demo_parser.add_argument("--start", type=_day, default=DEFAULT_START, help="first day (YYYY-MM-DD)")
    demo_parser.add_argument("--end", type=_day, default=DEFAULT_END, help="last day (YYYY-MM-DD)")
    demo_parser.set_defaults(func=demo)
    summary_parser = commands.add_parser("summary", help="print days, requests and dollars by provider")
    summary_parser.add_argument("--start", type=_day, default=DEFAULT_START, help="first day (YYYY-MM-DD)")
    summary_parser.add_argument("--end", type=_day, default=DEFAULT_END, help="last day (YYYY-MM-DD)")
    summary_parser.set_defaults(func=lambda a: print(summary(a.start, a.end)))
    snapshot_parser = commands.add_parser(
        "snapshot", help="copy the warehouse to a file to query freely (an open warehouse blocks runs)"
    )
    snapshot_parser.add_argument("--to", help="the copy's path (default: <data dir>/snapshots/warehouse-<time>.duckdb)")
    snapshot_parser.set_defaults(func=snapshot)
    ui_parser = commands.add_parser("ui", help="open the Dagster UI (and daemon) on the project's instance")
    ui_parser.add_argument("--port", type=_port, default=3000)
    ui_parser.add_argument("--reports-port", type=_port, default=8090, help="where the reports are served (loopback)")
    ui_parser.set_defaults(func=ui)
    reports_parser = commands.add_parser(
        "reports", help="serve the reports folder on loopback, so the report link in the Dagster UI opens"
    )
    reports_parser.add_argument("--port", type=_port, default=8090)
    reports_parser.set_defaults(func=reports)
    alerts_parser = commands.add_parser("alerts", help="list, show, resend and acknowledge cost alerts")
    alerts_commands = alerts_parser.add_subparsers(dest="alerts_command", required=True)
    list_parser = alerts_commands.add_parser(
        "list", help="most severe first, then newest; unacknowledged only unless --all"
    )
    list_parser.add_argument("--all", action="store_true", help="include acknowledged alerts")
    list_parser.add_argument("--limit", type=_positive, default=50)
    list_parser.set_defaults(func=alerts_list)
    show_parser = alerts_commands.add_parser("show", help="an alert's message, its notifications and every attempt")
    show_parser.add_argument("alert_id")
    show_parser.set_defaults(func=alerts_show)
    resend_parser = alerts_commands.add_parser(
        "resend", help="send an alert's notifications again, or every failed one (--failed), with fresh attempts"
    )
    resend_parser.add_argument("alert_id", nargs="?", help="the alert whose failed or sent notifications to resend")
    resend_parser.add_argument("--failed", action="store_true", help="every failed notification")
    resend_parser.add_argument(
        "--no-run", action="store_true", help="only make them due: the next alerts run sends them"
    )
    resend_parser.set_defaults(func=alerts_resend)
    ack_parser = alerts_commands.add_parser("ack", help="acknowledge an alert by its id")
    ack_parser.add_argument("alert_id")
    ack_parser.add_argument("--by", default=os.environ.get("USER", "cli"), help="who acknowledges (default $USER)")
    ack_parser.set_defaults(func=alerts_ack)
    check_parser = commands.add_parser(
        "check-spend",
        help="does an estimated cost fit the budgets? exit 0 allowed, 3 refused by a hard limit",
    )
    check_parser.add_argument("estimated_usd", type=_usd, help="the estimated cost in USD, e.g. 15 or 0.75")
    for key in ("provider", "service", "model", "user", "team", "project"):
        check_parser.add_argument(f"--{key}", help=f"the {key} the spend is attributed to")
    check_parser.add_argument(
        "--as-of", type=_day, help="evaluate the budget periods containing this day (YYYY-MM-DD; default: today, UTC)"
    )
    check_parser.set_defaults(func=check_spend_command)
    doctor_parser = commands.add_parser(
        "doctor", help="check the configuration, credentials (never shown), sources and channels; exit 2 on a problem"
    )
    doctor_parser.set_defaults(func=doctor)
    reprice_parser = commands.add_parser(
        "reprice", help="re-price the stored days summed with other prices than the current ones (one run per range)"
    )
    reprice_parser.add_argument("--dry-run", action="store_true", help="only list the days and models that differ")
    reprice_parser.set_defaults(func=reprice)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        args.func(args)
        sys.stdout.flush()
    except UserError as error:
        command = " ".join(filter(None, (args.command, getattr(args, "alerts_command", None))))
        print(f"cost-pipelines {command}: {error}", file=sys.stderr)
        raise SystemExit(USER_ERROR_EXIT_CODE) from None
    except BrokenPipeError:
        # The reader stopped (`alerts list | head`): what is left unprinted is not wanted, which is no error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None


if __name__ == "__main__":
    main()
