"""Forecast machinery: model choice by backtest, intervals, month-end projection, and the awkward histories."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from cost_pipelines.analytics.forecast import (
    FLAT_HISTORY,
    SHORT_HISTORY,
    ForecastSettings,
    forecast_many,
    forecast_series,
    month_bounds,
    temper_outliers,
)

AS_OF = date(2026, 10, 20)
WEEKLY = np.array([1.0, 1.05, 1.1, 1.05, 1.0, 0.7, 0.65])  # Monday first


def synthetic(days: int, end: date = AS_OF, level: float = 100.0, trend: float = 0.3, noise: float = 3.0, seed=1):
    index = pd.date_range(end=pd.Timestamp(end), periods=days, freq="D")
    rng = np.random.default_rng(seed)
    values = (level + trend * np.arange(days)) * WEEKLY[index.day_of_week] + rng.normal(0, noise, days)
    return pd.Series(values, index=index)


def horizon(as_of: date) -> int:
    return (month_bounds(as_of)[1] - as_of).days + 30


def assert_ordered_intervals(forecast) -> None:
    i = forecast.intervals
    assert np.all(i["lower_95"] <= i["lower_80"] + 1e-9)
    assert np.all(i["lower_80"] <= forecast.mean + 1e-9)
    assert np.all(forecast.mean <= i["upper_80"] + 1e-9)
    assert np.all(i["upper_80"] <= i["upper_95"] + 1e-9)
    assert np.all(i["upper_95"] - i["lower_95"] > 0)
    end = forecast.month_end
    assert end["lower_95"] <= end["lower_80"] <= end["p80"] <= end["upper_80"] <= end["upper_95"]


def test_trend_and_weekly_pattern_beat_seasonal_naive_in_the_backtest():
    forecast = forecast_series("total", "all", synthetic(92), AS_OF, Decimal("1500"))
    assert forecast.method not in ("seasonal_naive", SHORT_HISTORY, FLAT_HISTORY)
    assert forecast.chosen_backtest.days == 28
    assert forecast.chosen_backtest.mape < forecast.benchmark.mape
    assert set(forecast.backtests) >= {"seasonal_naive", "ets_damped_trend", "sarimax", "combination"}
    assert len(forecast.days) == len(forecast.mean) == horizon(AS_OF)
    assert forecast.days[0] == AS_OF + timedelta(days=1)
    assert_ordered_intervals(forecast)
    # the weekly shape carries into the forecast: weekends below weekdays
    weekend = [m for d, m in zip(forecast.days, forecast.mean, strict=True) if d.weekday() >= 5]
    weekdays = [m for d, m in zip(forecast.days, forecast.mean, strict=True) if d.weekday() < 5]
    assert max(weekend) < min(weekdays)


def test_month_end_projection_is_month_to_date_plus_the_rest_of_the_month():
    mtd = Decimal("1234.56")
    forecast = forecast_series("total", "all", synthetic(92), AS_OF, mtd)
    rest = (date(2026, 10, 31) - AS_OF).days
    assert forecast.month_end["mean"] == pytest.approx(float(mtd) + forecast.mean[:rest].sum())
    assert forecast.month_end["lower_95"] > float(mtd)  # spend can only add to what is already spent


def test_intervals_cover_about_their_level_on_a_known_process():
    hits80 = hits95 = total = 0
    for seed in range(6):
        series = synthetic(120, end=AS_OF + timedelta(days=28), seed=seed)
        history, future = series.iloc[:-28], series.iloc[-28:]
        forecast = forecast_series("total", "all", history, AS_OF, Decimal(0))
        i = forecast.intervals
        actual = future.to_numpy()
        hits80 += np.sum((actual >= i["lower_80"][:28]) & (actual <= i["upper_80"][:28]))
        hits95 += np.sum((actual >= i["lower_95"][:28]) & (actual <= i["upper_95"][:28]))
        total += 28
    assert 0.65 <= hits80 / total <= 0.95
    assert hits95 / total >= 0.85


def test_one_day_of_history_is_a_labelled_fallback_without_interval():
    forecast = forecast_series("team", "new", pd.Series([12.5], index=[pd.Timestamp(AS_OF)]), AS_OF, Decimal("12.5"))
    assert forecast.method == SHORT_HISTORY
    assert forecast.intervals is None
    assert "1 day" in forecast.note
    assert np.all(forecast.mean == 12.5)
    assert forecast.month_end == {"mean": pytest.approx(12.5 + 12.5 * 11)}


def test_all_zero_series_is_flat_with_no_interval():
    series = pd.Series(0.0, index=pd.date_range(end=pd.Timestamp(AS_OF), periods=60, freq="D"))
    forecast = forecast_series("service", "idle", series, AS_OF, Decimal(0))
    assert forecast.method == FLAT_HISTORY
    assert forecast.intervals is None
    assert np.all(forecast.mean == 0)
    assert forecast.month_end["mean"] == 0


def test_series_that_starts_mid_period_uses_its_own_history_only():
    series = synthetic(23)  # first spend on 2026-09-28
    forecast = forecast_series("service", "new", series, AS_OF, Decimal(0))
    assert forecast.first_day == date(2026, 9, 28)
    assert forecast.history_days == 23
    assert forecast.method in ("seasonal_naive", "ets")
    assert forecast.chosen_backtest.days == 7  # a single weekly origin fits in 23 days
    assert_ordered_intervals(forecast)


def test_missing_days_are_zero_spend_not_dropped():
    series = synthetic(60)
    gap = series.drop(series.index[30:35])  # five days without any rows
    forecast = forecast_series("team", "gappy", gap, AS_OF, Decimal(0))
    assert forecast.history_days == 60
    assert np.all(np.isfinite(forecast.mean))
    assert_ordered_intervals(forecast)


def test_a_negative_credit_day_is_tempered_and_does_not_drag_the_forecast():
    series = synthetic(92)
    series.iloc[-10] = -400.0  # a refund credited on one day
    forecast = forecast_series("provider", "AWS", series, AS_OF, Decimal(0))
    assert "tempered" in forecast.note
    clean = forecast_series("provider", "AWS", synthetic(92), AS_OF, Decimal(0))
    assert abs(forecast.mean[:7].sum() - clean.mean[:7].sum()) < 0.1 * clean.mean[:7].sum()
    assert_ordered_intervals(forecast)


def test_temper_outliers_replaces_only_the_one_off_day():
    series = synthetic(60)
    spiked = series.copy()
    spiked.iloc[45] *= 4
    tempered, count = temper_outliers(spiked)
    assert count == 1
    assert abs(tempered.iloc[45] - series.iloc[45]) < 0.2 * series.iloc[45]
    assert tempered.drop(tempered.index[45]).equals(spiked.drop(spiked.index[45]))


def test_short_backtest_settings_still_choose_by_backtest():
    forecast = forecast_series("total", "all", synthetic(40), AS_OF, Decimal(0), ForecastSettings(backtest_weeks=2))
    assert forecast.chosen_backtest.days == 14
    assert "ets" in forecast.backtests and "seasonal_naive" in forecast.backtests


def test_forecast_many_in_worker_processes_matches_one_process():
    jobs = [("team", f"t{i}", synthetic(70, seed=i), AS_OF, Decimal(0)) for i in range(8)]
    parallel = forecast_many(jobs, workers=2)
    serial = forecast_many(jobs, workers=1)
    assert [f.key for f in parallel] == [f"t{i}" for i in range(8)]
    for a, b in zip(parallel, serial, strict=True):
        assert a.method == b.method
        np.testing.assert_allclose(a.mean, b.mean)
        np.testing.assert_allclose(a.intervals["upper_80"], b.intervals["upper_80"])


def test_log_scale_models_compete_only_for_series_with_spend_every_day():
    index = pd.date_range(end=pd.Timestamp(AS_OF), periods=92, freq="D")
    rng = np.random.default_rng(7)
    # multiplicative weekly pattern and lognormal day-to-day noise, like LLM spend
    skewed = pd.Series(20 * WEEKLY[index.day_of_week] * rng.lognormal(0, 0.35, len(index)), index=index)
    forecast = forecast_series("provider", "anthropic", skewed, AS_OF, Decimal(0))
    assert {"log_ets_damped_trend", "log_sarimax", "log_combination"} <= set(forecast.backtests)
    assert all(forecast.backtests[name].days == 28 for name in ("log_ets_damped_trend", "log_sarimax"))
    assert_ordered_intervals(forecast)
    with_zero_day = skewed.copy()
    with_zero_day.iloc[40] = 0.0
    forecast = forecast_series("provider", "anthropic", with_zero_day, AS_OF, Decimal(0))
    assert not any(name.startswith("log_") for name in forecast.backtests)
