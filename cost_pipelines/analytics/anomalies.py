"""Daily cost anomalies per series, explained by the contributors that moved.

Each series is read over its own history, in one pass (`detector.flag_points`): a day is compared with what the
same weekday usually costs (the median of that weekday over the trailing `window_days`), scored on log cost by
the robust spread of the trailing days, and flagged in either direction when the score reaches `robust_z`, the
change is at least `min_relative_change` of the expectation and at least `min_daily_cost` in dollars. An episode
alarms once, on its first day; one that lasts `level_shift_days` is a level shift and the new level becomes
normal. A series with no spend before (within the data) alarms as new spend on its first day; a day whose charge
recurs on the same day of the previous month (a monthly fee) is not news. Labels on a rise: `spike` (at least
`spike_ratio` x the trailing mean), `day_over_day` (at least 1 + `day_over_day` x the expectation),
`week_over_week` (the trailing 7-day mean at least 1 + `week_over_week` x the 7 days before); a fall is a `drop`.
"""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pandas as pd

from cost_pipelines.analytics.detector import DetectorSettings, Flag, flag_points

WEEK = 7


@dataclass(frozen=True)
class AnomalyThresholds:
    robust_z: float = 4.0
    min_relative_change: float = 0.25  # and at least this far from the expectation: small wobbles are not news
    spike_ratio: float = 3.0
    day_over_day: float = 0.5
    week_over_week: float = 1.0
    window_days: int = 28
    min_history_days: int = 14
    min_daily_cost: Decimal = Decimal("1.00")  # the smallest change in dollars worth judging
    level_shift_days: int = 3  # an episode this long is the new normal

    def detector(self) -> DetectorSettings:
        return DetectorSettings(
            window=max(self.window_days // WEEK, 1), season=WEEK, min_history=self.min_history_days,
            threshold=self.robust_z, min_relative_change=self.min_relative_change,
            min_abs_change=float(self.min_daily_cost), adapt_after=self.level_shift_days,
        )  # fmt: skip


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

    @property
    def direction(self) -> str:
        return "drop" if "drop" in self.kinds else "rise"


def _kinds(full: pd.Series, flag: Flag, t: AnomalyThresholds) -> tuple[str, ...]:
    i = flag.index
    actual = float(full.iloc[i])
    if flag.direction < 0:
        return ("robust_z", "drop")
    trailing = full.iloc[max(0, i - t.window_days) : i]
    if flag.expected <= 0 and float(trailing.sum()) == 0:
        return ("new_spend",)
    kinds = ["robust_z"]
    if actual >= t.spike_ratio * float(trailing.mean()):
        kinds.append("spike")
    if actual >= (1 + t.day_over_day) * flag.expected:
        kinds.append("day_over_day")
    last_week, week_before = full.iloc[max(0, i - WEEK + 1) : i + 1], full.iloc[max(0, i - 2 * WEEK + 1) : i - WEEK + 1]
    if len(week_before) and week_before.mean() > 0 and last_week.mean() >= (1 + t.week_over_week) * week_before.mean():
        kinds.append("week_over_week")
    return tuple(kinds)


def _recurs_monthly(full: pd.Series, i: int) -> bool:
    """The same charge stood out on the same day of the previous month (a monthly fee): about as large then, and
    well above the days around it."""
    before = full.index[i] - pd.DateOffset(months=1)
    if before < full.index[0]:
        return False
    j = full.index.get_loc(before)
    earlier = float(full.iloc[j])
    around = pd.concat([full.iloc[max(0, j - 3) : j], full.iloc[j + 1 : j + 4]])
    return earlier > 0 and 0.5 <= float(full.iloc[i]) / earlier <= 2.0 and float(around.median()) < 0.5 * earlier


def detect(costs: pd.DataFrame, days: list[date], thresholds: AnomalyThresholds = AnomalyThresholds()) -> list[Anomaly]:
    """`costs`: usage_date, dimension, key, cost (one row per day and series). Reports the alarms on `days`."""
    anomalies = []
    frame = costs.assign(usage_date=pd.to_datetime(costs["usage_date"]))
    data_start = frame["usage_date"].min()
    wanted = {pd.Timestamp(d) for d in days}
    settings = thresholds.detector()
    for (dimension, key), group in frame.groupby(["dimension", "key"], sort=True):
        series = group.groupby("usage_date")["cost"].sum()
        # From the first day of the data: zeros before a series' first day are its history (new spend), and a
        # series that is there from the start has only its own days.
        index = pd.date_range(data_start, max(series.index.max(), pd.Timestamp(max(days))))
        full = series.reindex(index, fill_value=0).astype(float)
        for flag in flag_points(full.to_numpy(), settings, start_phase=int(index[0].day_of_week)):
            stamp = index[flag.index]
            if not flag.alarm or stamp not in wanted:
                continue
            if flag.direction > 0 and _recurs_monthly(full, flag.index):
                continue
            actual = Decimal(str(series.get(stamp, 0)))
            kinds = _kinds(full, flag, thresholds)
            expected = Decimal(str(round(flag.expected, 6)))
            score = float("inf") if kinds == ("new_spend",) else flag.score
            anomalies.append(Anomaly(stamp.date(), str(dimension), str(key), kinds, actual, expected, score))
    return anomalies


def top_contributors(detail: pd.DataFrame, anomaly: Anomaly, dimensions: list[str], n: int = 3,
                     window_days: int = 28) -> list[tuple[str, str, Decimal]]:  # fmt: skip
    """What moved: per contributor value, the day's cost minus its usual cost on that weekday, largest first in
    the anomaly's direction (a drop lists what fell).

    `detail`: usage_date, cost and the contributor `dimensions` columns, already restricted to the series.
    """
    frame = detail.assign(usage_date=pd.to_datetime(detail["usage_date"]))
    day = pd.Timestamp(anomaly.day)
    past = frame[(frame.usage_date < day) & (frame.usage_date >= day - pd.Timedelta(days=window_days))]
    past = past[past.usage_date.dt.day_of_week == day.day_of_week]
    weeks = max(past.usage_date.nunique(), 1)
    changes = []
    for dimension in dimensions:
        today = frame[frame.usage_date == day].groupby(dimension)["cost"].sum()
        usual = past.groupby(dimension)["cost"].sum() / weeks
        delta = today.sub(usual, fill_value=0)
        changes += [(dimension, str(value), Decimal(str(round(float(change), 6)))) for value, change in delta.items()]
    # only what moved the way the series did, by at least a cent: never padded with unchanged values
    sign = -1 if anomaly.direction == "drop" else 1
    moved = [c for c in changes if c[2] * sign >= Decimal("0.01")]
    return sorted(moved, key=lambda c: c[2] * sign, reverse=True)[:n]


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
