"""LLM spend per hour, judged as each hour's requests arrive: a runaway agent loop is news within the hour.

Daily anomaly detection tells of a loop that burnt money all night the next morning. Here every series (provider,
model, team, user) is an hourly series of cost and request count. An hour is compared with the same hour of the
trailing `days` days and with the same hour and weekday of the trailing `weeks` weeks (hour-of-day x weekday
season): its expectation is the larger of the two medians, so a busy weekday hour is not news for beating the
weekend's. It is scored on log cost by the robust spread of the same hour over the trailing days, and flagged when
the score reaches `robust_z`, both cost and requests are at least `min_ratio` times their expectation, there are at
least `min_requests` requests, and the cost is at least `min_change_usd` above its expectation. Requiring the
request count to rise too is what tells a loop (many requests) from an hour with one expensive request.

A run of consecutive flagged hours of a series is one episode that alarms on its first hour. A series with no
spend before, in data that has `min_history_days` of history, is new spend. A coarser series (provider, model,
team) flagged in the same hour as one of the users who contributed most to its rise is folded into that user's
anomaly, so one loop is one alarm, naming the user.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import numpy as np
import pandas as pd

HOURLY_DIMENSIONS = ("provider", "model", "team", "user")
COLUMNS = {"provider": "provider", "model": "model", "team": "team", "user": "user_id"}
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)
WEEK = pd.Timedelta(days=7)
MAD_TO_SIGMA = 1.4826
Q90_TO_SIGMA = 1.6449
EPISODE_LOOKBACK_HOURS = 12  # judged before the first hour asked for, only to know whether an episode goes on


@dataclass(frozen=True)
class HourlySettings:
    days: int = 14  # the same hour of this many trailing days
    weeks: int = 4  # the same hour and weekday of this many trailing weeks
    min_history_days: int = 3  # days of a series' own history before its hours are judged
    robust_z: float = 4.0
    min_ratio: float = 3.0  # cost and requests at least this multiple of their expectation
    min_requests: int = 20  # at least this many requests in the hour: one heavy request is no loop
    min_change_usd: Decimal = Decimal("1.00")  # and at least this many dollars above the expectation
    scale_floor: float = 0.1  # the spread of log cost is at least this


@dataclass(frozen=True)
class HourlyAnomaly:
    hour: datetime  # the hour's start, UTC
    dimension: str
    key: str
    kinds: tuple[str, ...]
    actual: Decimal
    expected: Decimal
    requests: int
    expected_requests: float
    score: float
    alarm: bool  # the first hour of its episode
    episode_start: datetime
    contributors: list[tuple[str, str, Decimal]] = field(default_factory=list)  # (dimension, value, change)
    folded_into: str | None = None  # "user=<id>": the user flagged in the same hour who explains it
    also: list[str] = field(default_factory=list)  # the coarser series folded into this one

    @property
    def ratio(self) -> float | None:
        return None if self.expected <= 0 else float(self.actual / self.expected)


def _wide(frame: pd.DataFrame, column: str, hours: pd.DatetimeIndex) -> tuple[pd.DataFrame, pd.DataFrame]:
    grouped = frame.groupby(["hour", column], observed=True)[["cost", "requests"]].sum()
    cost = grouped["cost"].unstack(column, fill_value=0.0).reindex(hours, fill_value=0.0)
    requests = grouped["requests"].unstack(column, fill_value=0).reindex(hours, fill_value=0)
    return cost, requests


def _samples(values: np.ndarray, index: dict[pd.Timestamp, int], hour: pd.Timestamp, step: pd.Timedelta,
             count: int) -> np.ndarray:  # fmt: skip
    rows = [index[t] for t in (hour - step * k for k in range(1, count + 1)) if t in index]
    return values[rows]


def _spread(samples: np.ndarray) -> np.ndarray:
    """Per column: 1.4826 x MAD, or the 90th percentile of the absolute residuals where that is wider (the MAD of a
    few mostly equal samples is zero, and heavy tails fool it)."""
    residuals = np.abs(samples - np.median(samples, axis=0))
    return np.maximum(MAD_TO_SIGMA * np.median(residuals, axis=0), np.quantile(residuals, 0.9, axis=0) / Q90_TO_SIGMA)


def _flags(cost: pd.DataFrame, requests: pd.DataFrame, judged: pd.DatetimeIndex, data_start: pd.Timestamp,
           s: HourlySettings) -> dict[pd.Timestamp, dict]:  # fmt: skip
    """Per judged hour: the boolean flags, scores and expectations of every series (columns) at once."""
    c, r = cost.to_numpy(dtype=float), requests.to_numpy(dtype=float)
    index = {t: i for i, t in enumerate(cost.index)}
    spent = np.cumsum((c > 0) | (r > 0), axis=0)
    first = np.where(spent[-1] > 0, np.argmax(spent > 0, axis=0), len(c))
    out = {}
    for hour in judged:
        i = index[hour]
        by_day, by_week = _samples(c, index, hour, DAY, s.days), _samples(c, index, hour, WEEK, s.weeks)
        if len(by_day) == 0:
            continue
        requests_by_day = _samples(r, index, hour, DAY, s.days)
        requests_by_week = _samples(r, index, hour, WEEK, s.weeks)
        expected = np.median(by_day, axis=0)
        expected_requests = np.median(requests_by_day, axis=0)
        if len(by_week) >= 2:
            expected = np.maximum(expected, np.median(by_week, axis=0))
            expected_requests = np.maximum(expected_requests, np.median(requests_by_week, axis=0))
        scale = np.maximum(_spread(np.log1p(np.maximum(by_day, 0.0))), s.scale_floor)
        actual, actual_requests = c[i], r[i]
        cost_score = (np.log1p(np.maximum(actual, 0.0)) - np.log1p(np.maximum(expected, 0.0))) / scale
        # Counts: at least Poisson spread, or the wider spread the same hour really shows (sessions come in bursts)
        count_spread = np.maximum(np.sqrt(np.maximum(expected_requests, 1.0)), _spread(requests_by_day))
        score = np.maximum(cost_score, (actual_requests - expected_requests) / count_spread)
        history_hours = i - first
        mature = history_hours >= s.min_history_days * 24
        # a series that had no spend at all, in data old enough to say so, is new spend when it starts big
        new = (first == i) & ((hour - data_start) >= DAY * s.min_history_days)
        big = (
            (actual_requests >= s.min_requests)
            & (actual - expected >= float(s.min_change_usd))
            & (actual >= s.min_ratio * expected)
            & (actual_requests >= s.min_ratio * expected_requests)
        )
        flagged = big & ((mature & (score >= s.robust_z)) | new)
        out[hour] = {"flagged": flagged, "new": new, "score": score, "expected": expected,
                     "expected_requests": expected_requests, "actual_requests": actual_requests}  # fmt: skip
    return out


def _contributors(frame: pd.DataFrame, column: str, key: str, hour: pd.Timestamp, finer: str,
                  s: HourlySettings, top: int = 3) -> list[tuple[str, str, Decimal]]:  # fmt: skip
    """The finer values (users, or a user's models) whose cost in the hour rose most over their same-hour median."""
    mine = frame[frame[column] == key]
    days = [hour - DAY * k for k in range(1, s.days + 1)]
    now = mine[mine["hour"] == hour].groupby(finer, observed=True)["cost_exact"].sum()
    before = (
        mine[mine["hour"].isin(days)].groupby(["hour", finer], observed=True)["cost"].sum()
        .unstack(finer, fill_value=0.0).reindex(days, fill_value=0.0)
    )  # fmt: skip
    changes = []
    for value, cost in now.items():
        typical = float(np.median(before[value])) if value in before else 0.0
        change = cost - Decimal(str(round(typical, 6)))
        if change >= Decimal("0.01"):
            changes.append((COLUMN_DIMENSIONS[finer], str(value), change))
    return sorted(changes, key=lambda c: c[2], reverse=True)[:top]


COLUMN_DIMENSIONS = {column: dimension for dimension, column in COLUMNS.items()}


def judge_hours(frame: pd.DataFrame, first_hour: datetime, last_hour: datetime,
                settings: HourlySettings = HourlySettings()) -> list[HourlyAnomaly]:  # fmt: skip
    """Flagged series of every hour from `first_hour` to `last_hour` (inclusive, UTC hour starts).

    `frame`: one row per hour (tz-naive UTC hour start) and provider, model, team, user_id, with `requests`, `cost`
    (float, for scoring) and `cost_exact` (Decimal); it holds the history the hours are judged against.
    """
    if frame.empty:
        return []
    first, last = pd.Timestamp(first_hour), pd.Timestamp(last_hour)
    data_start = frame["hour"].min()
    hours = pd.date_range(min(data_start, first), last, freq="h")
    judged = hours[hours >= first - HOUR * EPISODE_LOOKBACK_HOURS]
    found: list[HourlyAnomaly] = []
    for dimension in HOURLY_DIMENSIONS:
        column = COLUMNS[dimension]
        cost, requests = _wide(frame, column, hours)
        flags = _flags(cost, requests, judged, data_start, settings)
        episode_start: dict[str, pd.Timestamp] = {}
        for hour in judged:
            if hour not in flags:
                continue
            f = flags[hour]
            for j, key in enumerate(cost.columns):
                if not f["flagged"][j]:
                    episode_start.pop(key, None)
                    continue
                start = episode_start.setdefault(key, hour)
                if hour < first:
                    continue
                found.append(_anomaly(frame, dimension, str(key), hour, start, f, j, settings))
    return _fold(found)


def _anomaly(frame: pd.DataFrame, dimension: str, key: str, hour: pd.Timestamp, start: pd.Timestamp, f: dict,
             j: int, s: HourlySettings) -> HourlyAnomaly:  # fmt: skip
    column = COLUMNS[dimension]
    rows = frame[(frame["hour"] == hour) & (frame[column] == key)]
    actual = sum(rows["cost_exact"], Decimal(0))
    finer = "model" if dimension == "user" else "user_id"
    return HourlyAnomaly(
        hour=hour.to_pydatetime(), dimension=dimension, key=key,
        kinds=("new_spend",) if f["new"][j] else ("hourly_spike",), actual=actual,
        expected=Decimal(str(round(float(f["expected"][j]), 6))), requests=int(f["actual_requests"][j]),
        expected_requests=float(f["expected_requests"][j]), score=float(f["score"][j]),
        alarm=start == hour, episode_start=start.to_pydatetime(),
        contributors=_contributors(frame, column, key, hour, finer, s),
    )  # fmt: skip


def _fold(found: list[HourlyAnomaly]) -> list[HourlyAnomaly]:
    """A coarser series among whose top contributors is a user flagged in the same hour becomes part of that
    user's anomaly: one loop, one alarm (the loop's requests may cost less than another user's heavier hour)."""
    users = {(a.hour, a.key): a for a in found if a.dimension == "user"}
    also: dict[tuple, list[str]] = {}
    folded = []
    for a in found:
        flagged = [v for d, v, _ in a.contributors if d == "user" and (a.hour, v) in users]
        top_user = flagged[0] if flagged and a.dimension != "user" else None
        if top_user is not None:
            also.setdefault((a.hour, top_user), []).append(f"{a.dimension}={a.key}")
            folded.append(HourlyAnomaly(**{**a.__dict__, "alarm": False, "folded_into": f"user={top_user}"}))
        else:
            folded.append(a)
    return [
        HourlyAnomaly(**{**a.__dict__, "also": also.get((a.hour, a.key), [])}) if a.dimension == "user" else a
        for a in folded
    ]
