"""Forecast machinery: model choice by backtest, intervals, month-end projection, and the awkward histories."""

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from cost_pipelines.analytics.forecast import (
    DRIFT,
    FLAT_HISTORY,
    NAIVE,
    SEASONAL_NAIVE,
    SHORT_HISTORY,
    Backtest,
    ForecastSettings,
    _choose,
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


def days_ending(end: date, days: int) -> pd.DatetimeIndex:
    return pd.date_range(end=pd.Timestamp(end), periods=days, freq="D")


def test_the_better_simple_method_is_published_unless_a_model_beats_both():
    def backtests(**mapes: float) -> dict[str, Backtest]:
        return {name: Backtest(name, 28, mape, None, None) for name, mape in mapes.items()}

    # ETS beats seasonal-naive but not naive: naive is published
    assert _choose(backtests(seasonal_naive=0.10, naive=0.05, drift=0.08, ets=0.07)) == NAIVE
    assert _choose(backtests(seasonal_naive=0.05, naive=0.10, drift=0.08, ets=0.07)) == SEASONAL_NAIVE
    assert _choose(backtests(seasonal_naive=0.10, naive=0.09, drift=0.04, ets=0.07)) == DRIFT
    assert _choose(backtests(seasonal_naive=0.10, naive=0.09, drift=0.08, ets=0.07)) == "ets"


def test_naive_is_the_floor_on_random_walks_without_a_weekly_pattern():
    chosen = []
    for seed in range(8):
        walk = 200 + np.cumsum(np.random.default_rng(seed).normal(0, 4, 60))
        forecast = forecast_series("team", "walk", pd.Series(walk, index=days_ending(AS_OF, 60)), AS_OF, Decimal(0))
        assert forecast.backtests[NAIVE].mape < forecast.backtests[SEASONAL_NAIVE].mape
        assert forecast.chosen_backtest.mape <= forecast.backtests[NAIVE].mape
        chosen.append(forecast.method)
    # the models can only match naive on a random walk by luck: naive is published most often, seasonal-naive never
    assert pd.Series(chosen).value_counts().index[0] == NAIVE
    assert SEASONAL_NAIVE not in chosen


def test_drift_is_chosen_on_a_steady_ramp():
    for seed in range(3):
        ramp = 20 + 3 * np.arange(35) + np.random.default_rng(seed).normal(0, 2, 35)  # a new service growing
        forecast = forecast_series("service", "new", pd.Series(ramp, index=days_ending(AS_OF, 35)), AS_OF, Decimal(0))
        assert forecast.method == DRIFT
        assert forecast.chosen_backtest.mape < min(forecast.backtests[n].mape for n in (NAIVE, SEASONAL_NAIVE))
        assert forecast.mean[13] - forecast.mean[0] == pytest.approx(13 * 3, rel=0.25)
        assert_ordered_intervals(forecast)


def test_a_steady_trend_is_not_tempered_as_one_off_days():
    ramp = pd.Series(20 + 3 * np.arange(60) + np.random.default_rng(1).normal(0, 2, 60), index=days_ending(AS_OF, 60))
    assert temper_outliers(ramp)[1] == 0
    spiked = ramp.copy()
    spiked.iloc[50] *= 3
    tempered, count = temper_outliers(spiked)
    assert count == 1
    assert tempered.iloc[50] == pytest.approx(ramp.iloc[50], rel=0.1)


def spiky_shifted(seed: int, days: int = 104) -> pd.Series:
    """Weekly pattern, a 40 % level shift eight weeks before the end, and one day in 12 a heavy spike."""
    index = days_ending(AS_OF + timedelta(days=14), days)
    rng = np.random.default_rng(seed)
    level = np.where(np.arange(days) < days - 64, 100.0, 140.0)
    spikes = np.where(rng.random(days) < 0.08, rng.uniform(1.5, 2.5, days), 1.0)
    return pd.Series(level * WEEKLY[index.day_of_week] * spikes + rng.normal(0, 4, days), index=index)


def test_calibrated_intervals_cover_their_level_on_spiky_shifted_series():
    hits80 = hits95 = total = 0
    for seed in range(10):
        series = spiky_shifted(seed)
        history, future = series.iloc[:-14], series.iloc[-14:].to_numpy()  # scored only after the as-of day
        forecast = forecast_series("provider", "spiky", history, AS_OF, Decimal(0))
        assert forecast.calibration is not None and "calibrated" in forecast.note
        i = forecast.intervals
        hits80 += np.sum((future >= i["lower_80"][:14]) & (future <= i["upper_80"][:14]))
        hits95 += np.sum((future >= i["lower_95"][:14]) & (future <= i["upper_95"][:14]))
        total += 14
        assert_ordered_intervals(forecast)
    assert 0.70 <= hits80 / total <= 0.90
    assert 0.88 <= hits95 / total <= 0.99


def test_horizon_days_sets_the_published_days_and_the_month_end_stays_projected():
    series, mtd = synthetic(92), Decimal("1500")
    default = forecast_series("total", "all", series, AS_OF, mtd)
    short = forecast_series("total", "all", series, AS_OF, mtd, ForecastSettings(horizon_days=5))
    assert len(short.days) == len(short.mean) == 5 and short.days[-1] == AS_OF + timedelta(days=5)
    assert all(len(values) == 5 for values in short.intervals.values())
    np.testing.assert_allclose(short.mean, default.mean[:5])
    # the rest of October is 11 days: still forecast, only not published
    assert short.month_end["mean"] == pytest.approx(default.month_end["mean"])
    assert short.month_end["upper_80"] == pytest.approx(default.month_end["upper_80"], rel=0.02)
    long = forecast_series("total", "all", series, AS_OF, mtd, ForecastSettings(horizon_days=60))
    assert len(long.days) == len(long.mean) == 60
    assert long.month_end["mean"] == pytest.approx(default.month_end["mean"])
    new = forecast_series("team", "new", synthetic(3), AS_OF, mtd, ForecastSettings(horizon_days=3))
    assert new.method == SHORT_HISTORY and len(new.mean) == 3
    assert new.month_end["mean"] == pytest.approx(float(mtd) + 11 * new.mean[0])
    with pytest.raises(ValueError, match="horizon_days"):
        ForecastSettings(horizon_days=0)
