"""Daily cost anomalies per series, explained by the contributors that moved.

A day is compared with what the same weekday usually costs (the median of that weekday over the trailing
weeks), so ordinary weekends are not anomalies. Rules (thresholds configurable):
- robust z-score: |actual - seasonal median| / (1.4826 * MAD of the trailing seasonal residuals);
- spike: actual ≥ `spike_ratio` x trailing mean (default 3x);
- day-over-day jump: actual ≥ (1 + `day_over_day`) x the seasonal expectation (default +50 %);
- week-average jump: trailing 7-day mean ≥ (1 + `week_over_week`) x the 7 days before (default +100 %);
- new spend: a series (service, model, …) that had no spend in the trailing window.
A flagged day needs a robust score of at least `robust_z` and to be `min_relative_change` above the seasonal
expectation (or be new spend); the other rules label what kind of jump it is.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

MAD_TO_SIGMA = 1.4826
Q90_TO_SIGMA = 1.6449  # the 90th percentile of |x| for a normal x, in sigmas


@dataclass(frozen=True)
class AnomalyThresholds:
    robust_z: float = 4.0
    min_relative_change: float = 0.25  # and at least this far above the expectation: small wobbles are not news
    spike_ratio: float = 3.0
    day_over_day: float = 0.5
    week_over_week: float = 1.0
    window_days: int = 28
    min_history_days: int = 14
    min_daily_cost: Decimal = Decimal("1.00")  # series below this on the day are not judged


@dataclass(frozen=True)
class Anomaly:
    day: date
    dimension: str
    key: str
    kinds: tuple[str, ...]
    actual: Decimal
    expected: Decimal
    score: float
    contributors: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (dimension, value, change)


def _judge_day(
    history: pd.Series, day: pd.Timestamp, actual: float, t: AnomalyThresholds, data_start: pd.Timestamp
) -> tuple[list[str], float, float]:
    window = history[(history.index < day) & (history.index >= day - pd.Timedelta(days=t.window_days))]
    if (day - data_start).days < t.min_history_days:
        return [], 0.0, 0.0
    if window.sum() == 0:
        return (["new_spend"] if actual > 0 else []), float("inf") if actual > 0 else 0.0, 0.0
    same_weekday = window[window.index.dayofweek == day.dayofweek]
    expected = float(same_weekday.median()) if len(same_weekday) else float(window.median())
    # Spend varies multiplicatively (one long-context request can double a small team's day), so the score is
    # measured on log costs: residuals of each past day from its weekday's median give the usual spread.
    logs = np.log1p(window)
    residuals = logs - logs.groupby(logs.index.dayofweek).transform("median")
    mad = float(np.median(np.abs(residuals - np.median(residuals))))
    # Heavy tails fool the MAD alone; the 90th percentile of the residuals keeps the scale honest there.
    tail = float(np.quantile(np.abs(residuals), 0.9)) / Q90_TO_SIGMA
    scale = max(MAD_TO_SIGMA * mad, tail, 0.02)
    score = (np.log1p(actual) - np.log1p(expected)) / scale
    kinds = []
    if score >= t.robust_z and actual >= (1 + t.min_relative_change) * expected:
        kinds.append("robust_z")
        if actual >= t.spike_ratio * float(window.mean()):
            kinds.append("spike")
        if actual >= (1 + t.day_over_day) * expected:
            kinds.append("day_over_day")
        last_week = history[(history.index <= day) & (history.index > day - pd.Timedelta(days=7))]
        week_before = history[
            (history.index <= day - pd.Timedelta(days=7)) & (history.index > day - pd.Timedelta(days=14))
        ]
        if week_before.mean() > 0 and last_week.mean() >= (1 + t.week_over_week) * week_before.mean():
            kinds.append("week_over_week")
    return kinds, float(score), expected


def detect(costs: pd.DataFrame, days: list[date], thresholds: AnomalyThresholds = AnomalyThresholds()) -> list[Anomaly]:
    """`costs`: usage_date, dimension, key, cost (one row per day and series). Judges each day in `days`."""
    anomalies = []
    frame = costs.assign(usage_date=pd.to_datetime(costs["usage_date"]))
    data_start = frame["usage_date"].min()
    for (dimension, key), group in frame.groupby(["dimension", "key"], sort=True):
        series = group.groupby("usage_date")["cost"].sum()
        full = series.reindex(pd.date_range(series.index.min(), max(series.index.max(), pd.Timestamp(max(days)))),
                              fill_value=0).map(float)  # fmt: skip
        for day in days:
            stamp = pd.Timestamp(day)
            actual = Decimal(str(series.get(stamp, 0)))
            if actual < thresholds.min_daily_cost:
                continue
            kinds, score, expected = _judge_day(full, stamp, float(actual), thresholds, data_start)
            if kinds:
                expected_money = Decimal(str(round(expected, 6)))
                anomalies.append(Anomaly(day, str(dimension), str(key), tuple(kinds), actual, expected_money, score))
    return anomalies


def top_contributors(detail: pd.DataFrame, anomaly: Anomaly, dimensions: list[str], n: int = 3,
                     window_days: int = 28) -> list[tuple[str, str, Decimal]]:  # fmt: skip
    """What moved: per contributor value, the day's cost minus its usual cost on that weekday.

    `detail`: usage_date, cost and the contributor `dimensions` columns, already restricted to the series.
    """
    frame = detail.assign(usage_date=pd.to_datetime(detail["usage_date"]))
    day = pd.Timestamp(anomaly.day)
    past = frame[(frame.usage_date < day) & (frame.usage_date >= day - pd.Timedelta(days=window_days))]
    past = past[past.usage_date.dt.dayofweek == day.dayofweek]
    weeks = max(past.usage_date.nunique(), 1)
    changes = []
    for dimension in dimensions:
        today = frame[frame.usage_date == day].groupby(dimension)["cost"].sum()
        usual = past.groupby(dimension)["cost"].sum() / weeks
        delta = today.sub(usual, fill_value=0)
        changes += [(dimension, str(value), Decimal(str(round(float(change), 6)))) for value, change in delta.items()]
    return sorted(changes, key=lambda c: c[2], reverse=True)[:n]


# Series dimensions, as columns of the detail frame the contributors are drawn from.
SERIES_DIMENSIONS = {"provider": "provider", "team": "team", "service": "service", "model": "model"}
CONTRIBUTOR_DIMENSIONS = ["user_id", "model", "team", "service", "provider"]


def series_from_detail(detail: pd.DataFrame) -> pd.DataFrame:
    """Daily series per total / provider / team / service / model from detail rows (usage_date, cost, dims)."""
    frames = [detail.groupby("usage_date", as_index=False)["cost"].sum().assign(dimension="total", key="all")]
    for dimension, column in SERIES_DIMENSIONS.items():
        present = detail[detail[column].notna()]
        grouped = present.groupby(["usage_date", column], as_index=False)["cost"].sum()
        frames.append(grouped.rename(columns={column: "key"}).assign(dimension=dimension))
    return pd.concat(frames, ignore_index=True)[["usage_date", "dimension", "key", "cost"]]


def explain(detail: pd.DataFrame, anomalies: list[Anomaly], n: int = 3) -> list[Anomaly]:
    explained = []
    for anomaly in anomalies:
        rows = (
            detail
            if anomaly.dimension == "total"
            else detail[detail[SERIES_DIMENSIONS[anomaly.dimension]] == anomaly.key]
        )
        dims = [d for d in CONTRIBUTOR_DIMENSIONS if d != SERIES_DIMENSIONS.get(anomaly.dimension)]
        # Rows without a value for a dimension (AWS rows have no user) do not compete in it.
        top = top_contributors(rows, anomaly, dims, n=n)
        explained.append(Anomaly(anomaly.day, anomaly.dimension, anomaly.key, anomaly.kinds, anomaly.actual,
                                 anomaly.expected, anomaly.score, top))  # fmt: skip
    return explained
