"""Hourly LLM spend anomalies: a runaway loop in its first hour, and none in ordinary noise."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from cost_pipelines.alerts.budgets import BudgetConfigError, HourlyAlerting, parse_config
from cost_pipelines.alerts.evaluate import AnomalyRow, HourlyAnomalyRow, anomaly_alerts, hourly_alerts
from cost_pipelines.analytics.hourly import HourlySettings, judge_hours

START = datetime(2026, 9, 1)  # a Tuesday
USERS = {"u-1": "research", "u-2": "research", "u-3": "platform", "u-4": "platform"}


def _traffic(days: int, seed: int = 3, weekday_only_hours: bool = False) -> list[dict]:
    """Poisson requests per user and hour, busier in working hours, $0.02 each with heavy-tailed noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(days * 24):
        hour = START + timedelta(hours=h)
        working = 8 <= hour.hour < 18
        weekend = hour.weekday() >= 5
        for user, team in USERS.items():
            rate = (6.0 if working else 1.0) * (0.0 if weekday_only_hours and weekend and working else 1.0)
            if weekday_only_hours and weekend:
                rate = 0.3
            n = int(rng.poisson(rate))
            if n:
                rows.append({"hour": hour, "provider": "openai", "model": "gpt-4o", "team": team, "user_id": user,
                             "requests": n, "cost": float(n * 0.02 * rng.lognormal(0, 0.5))})  # fmt: skip
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["cost_exact"] = [Decimal(str(round(c, 6))) for c in frame["cost"]]
    return frame


def _runaway(rows: list[dict], user: str, first: datetime, hours: int, times: int) -> list[dict]:
    out = []
    for r in rows:
        if r["user_id"] == user and first <= r["hour"] < first + timedelta(hours=hours):
            r = {**r, "requests": r["requests"] * times, "cost": r["cost"] * times}
        out.append(r)
    return out


SETTINGS = HourlySettings(min_change_usd=Decimal("0.50"))


def test_ordinary_hours_are_not_news() -> None:
    frame = _frame(_traffic(28))
    assert judge_hours(frame, START + timedelta(days=14), START + timedelta(days=28, hours=-1), SETTINGS) == []


def test_a_runaway_user_alarms_in_its_first_hour_and_once_for_the_episode() -> None:
    first = START + timedelta(days=21, hours=14)
    rows = _runaway(_traffic(22), "u-3", first, 2, 20)
    # as the data arrives: only the first hour of the loop is in
    arrived = _frame([r for r in rows if r["hour"] <= first])
    found = judge_hours(arrived, START + timedelta(days=21), first, SETTINGS)
    alarms = [a for a in found if a.alarm and a.folded_into is None]
    assert [(a.hour, a.dimension, a.key) for a in alarms] == [(first, "user", "u-3")]
    (user,) = alarms
    assert user.actual == sum(arrived.loc[(arrived.hour == first) & (arrived.user_id == "u-3"), "cost_exact"])
    assert user.requests >= 20 * 3 and user.actual >= 10 * user.expected
    # the team and the model rose with the user: part of the user's anomaly, named on it
    assert {a.folded_into for a in found if a.dimension != "user"} <= {"user=u-3"}
    assert user.also and all(a.split("=")[0] in ("provider", "model", "team") for a in user.also)
    # an hour later the loop goes on: flagged, same episode, no second alarm
    found = judge_hours(_frame(rows), START + timedelta(days=21), first + timedelta(hours=1), SETTINGS)
    later = [a for a in found if a.dimension == "user" and a.hour == first + timedelta(hours=1)]
    assert [(a.alarm, a.episode_start) for a in later] == [(False, first)]


def test_one_expensive_request_is_no_loop() -> None:
    rows = _traffic(22)
    hour = START + timedelta(days=21, hours=3)  # a quiet night hour
    rows.append({"hour": hour, "provider": "openai", "model": "gpt-4o", "team": "research", "user_id": "u-1",
                 "requests": 1, "cost": 40.0})  # fmt: skip
    assert judge_hours(_frame(rows), START + timedelta(days=21), START + timedelta(days=22, hours=-1), SETTINGS) == []


def test_the_weekday_season_keeps_monday_morning_ordinary() -> None:
    frame = _frame(_traffic(35, weekday_only_hours=True))
    monday = START + timedelta(days=34 - (START + timedelta(days=34)).weekday())
    assert monday.weekday() == 0
    found = judge_hours(frame, monday, monday + timedelta(hours=23), SETTINGS)
    assert found == []


def test_new_spend_alarms_once_there_is_history_to_compare_with() -> None:
    rows = _traffic(10)
    hour = START + timedelta(days=9, hours=11)
    rows += [{"hour": hour, "provider": "anthropic", "model": "claude-opus-4-1", "team": "platform",
              "user_id": "agent-7", "requests": 300, "cost": 25.0}]  # fmt: skip
    found = judge_hours(_frame(rows), hour, hour, SETTINGS)
    alarms = [a for a in found if a.alarm and a.folded_into is None]
    assert [(a.key, a.kinds) for a in alarms] == [("agent-7", ("new_spend",))]
    # at the very start of the data every series is new: nothing can be said yet
    young = _frame([r for r in _traffic(2) if r["hour"] < START + timedelta(hours=30)])
    assert judge_hours(young, START, START + timedelta(hours=29), SETTINGS) == []


def test_empty_input_judges_nothing() -> None:
    assert judge_hours(pd.DataFrame(columns=["hour", "cost"]), START, START, SETTINGS) == []


def _row(hour: datetime, actual: str = "12.50", expected: str = "0.40") -> HourlyAnomalyRow:
    return HourlyAnomalyRow(hour, "user", "u-3", Decimal(actual), Decimal(expected), 640, 12.0,
                            [["model", "gpt-4o", "12.1"]], ["team=platform"])  # fmt: skip


def test_hourly_alerts_name_the_series_and_age_against_the_data() -> None:
    now = datetime(2026, 10, 12, 15, tzinfo=UTC)
    settings = HourlyAlerting(notify=("slack",), min_change_usd=Decimal(1))
    fresh, old, small = _row(datetime(2026, 10, 12, 14)), _row(datetime(2026, 10, 12, 2)), _row(now, "1.20", "0.40")
    alerts = hourly_alerts([fresh, old, small], now, settings)
    assert [a.channels for a in alerts] == [("slack",), ()]
    assert alerts[0].severity == "critical" and "u-3" in alerts[0].title and "31x" in alerts[0].title
    assert "team=platform" in alerts[0].message and "640 requests" in alerts[0].message
    assert "history" in alerts[1].details
    assert alerts[0].key != alerts[1].key


def test_drops_have_their_own_configurable_severity() -> None:
    drop = AnomalyRow(date(2026, 10, 12), "provider", "openai", "robust_z,drop", Decimal(5), Decimal(100), [])
    rise = AnomalyRow(date(2026, 10, 12), "provider", "openai", "robust_z", Decimal(400), Decimal(100), [])
    config = parse_config("anomalies:\n  notify: [slack]\n  drop_severity: warning\n")
    alerts = anomaly_alerts([drop, rise], date(2026, 10, 12), config.anomalies)
    assert [a.severity for a in alerts] == ["warning", "critical"]
    assert parse_config("anomalies:\n  notify: [slack]\n").anomalies.drop_severity == "info"


def test_the_hourly_section_is_validated() -> None:
    config = parse_config("hourly_anomalies:\n  notify: [file]\n  min_change_usd: 0.25\n  severity: warning\n")
    assert config.hourly_anomalies == HourlyAlerting(("file",), Decimal("0.25"), severity="warning")
    with pytest.raises(BudgetConfigError) as error:
        parse_config("hourly_anomalies:\n  severity: loud\n  max_age_hours: 0\n  dimensions: [service]\n  x: 1\n")
    problems = "\n".join(error.value.problems)
    for expected in ("'severity': 'loud'", "'max_age_hours': 0", "'dimensions': ['service']", "field 'x'"):
        assert expected in problems
