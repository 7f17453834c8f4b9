"""`budgets.yaml`: the budget model, validated whole on load, and the budget periods (UTC).

A file either loads completely or not at all: every problem is reported at once, each naming the budget (by
name, or by position when it has none) and the field, so a half-applied configuration never exists.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import yaml

from cost_pipelines import settings

PERIODS = ("daily", "weekly", "monthly", "quarterly", "yearly")
SCOPE_KEYS = ("provider", "service", "model", "user", "team", "project")
CHANNELS = ("slack", "email", "webhook", "file")
ANOMALY_DIMENSIONS = ("total", "provider", "team", "service", "model")
HOURLY_DIMENSIONS = ("provider", "model", "team", "user")
SEVERITIES = ("info", "warning", "critical")
DEFAULT_THRESHOLDS = (50, 80, 95, 100)
FIELDS = {"name", "scope", "period", "limit_usd", "thresholds", "forecast_threshold", "hard_limit", "notify"}


class BudgetConfigError(ValueError):
    """The budgets file is invalid; `problems` lists every problem found, each naming its budget and field."""

    def __init__(self, source: str, problems: list[str]):
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems))


class BudgetsFileMissing(BudgetConfigError):
    """The configured budgets file does not exist. Never read as "no budgets": that takes an empty file."""

    def __init__(self, path: Path, origin: str):
        message = (
            f"the budgets file {path} does not exist ({origin}). Point {settings.BUDGETS_ENV} at your budgets "
            "file, or create it; for no budgets at all, make it an empty file."
        )
        self.problems = [message]
        ValueError.__init__(self, message)


@dataclass(frozen=True)
class Budget:
    name: str
    scope: tuple[tuple[str, str], ...]  # () = total spend; otherwise one (dimension, value)
    period: str
    limit_usd: Decimal
    thresholds: tuple[int, ...]  # percent of the limit, ascending
    forecast_threshold: int | None  # percent; alert when the p80 forecast at period end crosses it
    hard_limit: bool
    notify: tuple[str, ...]

    @property
    def scope_label(self) -> str:
        return "total" if not self.scope else ", ".join(f"{k}={v}" for k, v in self.scope)


def severity(threshold_percent: float) -> str:
    """Severity levels: info below 80 %, warning below 95 %, critical from 95 %."""
    return "info" if threshold_percent < 80 else "warning" if threshold_percent < 95 else "critical"


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """[start, end) of the budget period containing `day` (UTC calendar; weeks start on Monday)."""
    if period == "daily":
        return day, day + timedelta(days=1)
    if period == "weekly":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "monthly":
        start = day.replace(day=1)
    elif period == "quarterly":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    elif period == "yearly":
        start = day.replace(month=1, day=1)
    else:
        raise ValueError(f"unknown budget period {period!r}; expected one of {', '.join(PERIODS)}")
    months = {"monthly": 1, "quarterly": 3, "yearly": 12}[period]
    year, month = divmod(start.month - 1 + months, 12)
    return start, date(start.year + year, month + 1, 1)


def _percent(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return None
    return int(value) if 0 < value <= 1000 else None


def _budget(raw: object, where: str, problems: list[str]) -> Budget | None:
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with name, scope, period, limit_usd, …")
        return None
    start = len(problems)

    def bad(field: str, message: str) -> None:
        problems.append(f"{where}, field '{field}': {message}")

    for unknown in sorted(set(raw) - FIELDS):
        bad(unknown, f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        bad("name", "required, a non-empty string")
    scope = raw.get("scope") or {}
    if not isinstance(scope, dict) or len(scope) > 1:
        bad("scope", "{} for total spend, or exactly one of " + ", ".join(SCOPE_KEYS) + " with its value")
        scope = {}
    for key, value in scope.items():
        if key not in SCOPE_KEYS:
            bad("scope", f"unknown dimension {key!r} (one of {', '.join(SCOPE_KEYS)})")
        if not isinstance(value, (str, int)) or isinstance(value, bool) or not str(value).strip():
            bad("scope", f"{key} needs a non-empty value")
    period = raw.get("period")
    if period not in PERIODS:
        bad("period", f"{period!r} is not one of {', '.join(PERIODS)}")
    limit = None
    try:
        limit = Decimal(str(raw.get("limit_usd")))
        if not limit.is_finite() or limit <= 0 or isinstance(raw.get("limit_usd"), bool):
            raise InvalidOperation
    except InvalidOperation:
        bad("limit_usd", f"{raw.get('limit_usd')!r} is not a positive amount in USD")
    thresholds_raw = raw.get("thresholds", list(DEFAULT_THRESHOLDS))
    thresholds = [_percent(t) for t in thresholds_raw] if isinstance(thresholds_raw, list) else [None]
    if not thresholds or None in thresholds:
        bad("thresholds", f"{thresholds_raw!r}: a non-empty list of whole percentages in 1..1000")
    elif len(set(thresholds)) != len(thresholds):
        bad("thresholds", f"{thresholds_raw!r} repeats a percentage")
    forecast = raw.get("forecast_threshold")
    if forecast is not None and _percent(forecast) is None:
        bad("forecast_threshold", f"{forecast!r} is not a whole percentage in 1..1000")
    hard_limit = raw.get("hard_limit", False)
    if not isinstance(hard_limit, bool):
        bad("hard_limit", f"{hard_limit!r} is not true or false")
    notify = raw.get("notify", [])
    if not isinstance(notify, list) or any(c not in CHANNELS for c in notify):
        bad("notify", f"{notify!r}: a list of {', '.join(CHANNELS)}")
    if len(problems) > start:
        return None
    return Budget(
        name=name.strip(),
        scope=tuple((k, str(v).strip()) for k, v in scope.items()),
        period=period,
        limit_usd=limit,
        thresholds=tuple(sorted(thresholds)),
        forecast_threshold=_percent(forecast) if forecast is not None else None,
        hard_limit=hard_limit,
        notify=tuple(dict.fromkeys(notify)),
    )


@dataclass(frozen=True)
class AnomalyAlerting:
    """Which anomalies of `cost_anomalies` become alerts, and where they go."""

    notify: tuple[str, ...] = ()
    min_change_usd: Decimal = Decimal(10)  # actual minus expected, below this an anomaly is not worth a message
    dimensions: tuple[str, ...] = ANOMALY_DIMENSIONS
    max_age_days: int = 3  # older anomalies (a backfill of past months) are stored, never announced
    drop_severity: str = "info"  # a fall in spend (logs stopped, a service off, a credit): worth knowing, seldom urgent


@dataclass(frozen=True)
class HourlyAlerting:
    """Which hourly LLM spend anomalies of `llm_spend_hourly` (a runaway loop) become alerts, and where they go."""

    notify: tuple[str, ...] = ()
    min_change_usd: Decimal = Decimal(1)  # the hour's cost minus its expectation
    dimensions: tuple[str, ...] = HOURLY_DIMENSIONS
    severity: str = "critical"
    max_age_hours: int = 6  # an older hour (history loaded late, a backfill) is stored, never announced


@dataclass(frozen=True)
class AlertingConfig:
    budgets: list[Budget] = field(default_factory=list)
    anomalies: AnomalyAlerting = AnomalyAlerting()
    hourly_anomalies: HourlyAlerting = HourlyAlerting()
    run_failures: tuple[str, ...] = ()  # channels told when the daily job fails


def _channels(value: object, where: str, problems: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or any(c not in CHANNELS for c in value):
        problems.append(f"{where}, field 'notify': {value!r}: a list of {', '.join(CHANNELS)}")
        return ()
    return tuple(dict.fromkeys(value))


def _anomaly_alerting(raw: object, problems: list[str]) -> AnomalyAlerting:
    where = "section 'anomalies'"
    if raw is None:
        return AnomalyAlerting()
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with notify, min_change_usd, dimensions, max_age_days")
        return AnomalyAlerting()
    for unknown in sorted(set(raw) - {"notify", "min_change_usd", "dimensions", "max_age_days", "drop_severity"}):
        problems.append(f"{where}, field '{unknown}': unknown field")
    return AnomalyAlerting(
        _channels(raw.get("notify", []), where, problems),
        _amount(raw, "min_change_usd", Decimal(10), where, problems),
        _dimensions(raw, ANOMALY_DIMENSIONS, where, problems),
        _whole(raw, "max_age_days", 3, "days", where, problems),
        _severity(raw, "drop_severity", "info", where, problems),
    )


def _hourly_alerting(raw: object, problems: list[str]) -> HourlyAlerting:
    where = "section 'hourly_anomalies'"
    if raw is None:
        return HourlyAlerting()
    fields = {"notify", "min_change_usd", "dimensions", "severity", "max_age_hours"}
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be a mapping with {', '.join(sorted(fields))}")
        return HourlyAlerting()
    for unknown in sorted(set(raw) - fields):
        problems.append(f"{where}, field '{unknown}': unknown field")
    return HourlyAlerting(
        _channels(raw.get("notify", []), where, problems),
        _amount(raw, "min_change_usd", Decimal(1), where, problems),
        _dimensions(raw, HOURLY_DIMENSIONS, where, problems),
        _severity(raw, "severity", "critical", where, problems),
        _whole(raw, "max_age_hours", 6, "hours", where, problems),
    )


def _amount(raw: dict, name: str, default: Decimal, where: str, problems: list[str]) -> Decimal:
    try:
        value = Decimal(str(raw.get(name, default)))
        if not value.is_finite() or value < 0:
            raise InvalidOperation
        return value
    except InvalidOperation:
        problems.append(f"{where}, field '{name}': {raw.get(name)!r} is not an amount >= 0")
        return default


def _dimensions(raw: dict, allowed: tuple[str, ...], where: str, problems: list[str]) -> tuple[str, ...]:
    dimensions = raw.get("dimensions", list(allowed))
    if not isinstance(dimensions, list) or not dimensions or any(d not in allowed for d in dimensions):
        problems.append(f"{where}, field 'dimensions': {dimensions!r}: a list of {', '.join(allowed)}")
        return allowed
    return tuple(dimensions)


def _whole(raw: dict, name: str, default: int, unit: str, where: str, problems: list[str]) -> int:
    value = raw.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        problems.append(f"{where}, field '{name}': {value!r} is not a whole number of {unit} >= 1")
        return default
    return value


def _severity(raw: dict, name: str, default: str, where: str, problems: list[str]) -> str:
    value = raw.get(name, default)
    if value not in SEVERITIES:
        problems.append(f"{where}, field '{name}': {value!r}: one of {', '.join(SEVERITIES)}")
        return default
    return value


def parse_config(text: str, source: str = "budgets.yaml") -> AlertingConfig:
    """The whole file (budgets, anomaly alerting, run-failure channels), or BudgetConfigError listing every
    problem."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise BudgetConfigError(source, [f"not valid YAML: {error}"]) from None
    if document is None:
        return AlertingConfig()
    if not isinstance(document, dict) or not isinstance(document.get("budgets", []), list):
        raise BudgetConfigError(source, ["the file must hold a mapping with a 'budgets' list"])
    problems: list[str] = []
    for unknown in sorted(set(document) - {"budgets", "anomalies", "hourly_anomalies", "run_failures"}):
        problems.append(f"section '{unknown}': unknown (allowed: budgets, anomalies, hourly_anomalies, run_failures)")
    anomalies = _anomaly_alerting(document.get("anomalies"), problems)
    hourly = _hourly_alerting(document.get("hourly_anomalies"), problems)
    run_failures_raw = document.get("run_failures") or {}
    if not isinstance(run_failures_raw, dict) or set(run_failures_raw) - {"notify"}:
        problems.append("section 'run_failures': must be a mapping with notify only")
        run_failures: tuple[str, ...] = ()
    else:
        run_failures = _channels(run_failures_raw.get("notify", []), "section 'run_failures'", problems)
    budgets = _parse_budget_list(document.get("budgets", []), problems)
    if problems:
        raise BudgetConfigError(source, problems)
    return AlertingConfig(budgets, anomalies, hourly, run_failures)


def parse_budgets(text: str, source: str = "budgets.yaml") -> list[Budget]:
    """Every budget of the file, or BudgetConfigError listing every problem."""
    return parse_config(text, source).budgets


def _parse_budget_list(entries: list, problems: list[str]) -> list[Budget]:
    budgets = []
    first_use: dict[str, int] = {}
    for i, raw in enumerate(entries, start=1):
        name = raw.get("name") if isinstance(raw, dict) else None
        named = isinstance(name, str) and bool(name.strip())
        where = f"budget {name!r} (#{i})" if named else f"budget #{i}"
        budget = _budget(raw, where, problems)
        if budget is not None:
            budgets.append(budget)
        if named and name.strip() in first_use:
            problems.append(f"{where}, field 'name': already used by budget #{first_use[name.strip()]}")
        elif named:
            first_use[name.strip()] = i
    return budgets


def load_config(path: Path) -> AlertingConfig:
    """The alerting configuration of `path`. A missing file is an error (BudgetsFileMissing); an empty one means
    no budgets and no alerting."""
    if not path.is_file():
        origin = settings.budgets_path_origin() if path == settings.budgets_path() else "the path given"
        raise BudgetsFileMissing(path, origin)
    return parse_config(path.read_text(), str(path))


def load_budgets(path: Path) -> list[Budget]:
    """The budgets of `path` (see load_config)."""
    return load_config(path).budgets
