"""Daily spend forecasts with calibrated prediction intervals; the method is chosen per series by a rolling-origin
backtest.

Candidates: the simple methods naive (the last day carried forward), drift (the last day plus the average daily
change over the last four weeks) and seasonal-naive (same weekday last week); statsmodels ETS(A,Ad,A) with weekly
seasonality from six weeks of history, SARIMAX(1,0,0)(0,1,1)7 with drift from eight, and the equal-weight
combination of those with seasonal-naive; ETS(A,N,A) while the history is too short for them. A series with spend
on every day also gets the same models fitted to log cost, and their combination: LLM spend is multiplicative (a
weekly factor times volume) and right-skewed (a few heavy requests make an expensive day), which log-scale models
describe and additive ones do not.

The backtest fits each candidate once on the history before the first origin, then rolls the origin forward a week
at a time with those parameters, forecasting 14 days from each origin. The first 7 days of each origin are scored:
the lowest MAPE wins, but the better of naive and seasonal-naive is the floor: anything else (drift included) is
only chosen when its MAPE beats both, and the better of the two is published otherwise. The chosen method is then
refitted on the whole history for the published forecast.

Intervals are split-conformal: every backtest day with a known actual (up to 14 days ahead) gives the published
method's error as a multiple of its own 80 % (and 95 %) interval half-width on the side the actual fell. The
published half-widths are the model's times the conformal quantile of those multiples, per horizon week (days 1-7,
days 8 on), pooled over the whole backtest when a week has too few errors; the sample paths behind the month-end
quantiles have their deviations from the point forecast scaled by the same 80 % factor per day. The errors come
from origins before the as-of day only, so a forecast never calibrates on the days it is later scored on.

Short history (under two weeks) and flat history (no variation at all) get a labelled fallback: a point forecast
and no interval, rather than an interval that pretends to know the spread. Too short to backtest (under three
weeks) is seasonal-naive with its own, uncalibrated, interval.
"""

import calendar
import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing import get_context

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

WEEK = 7
Z80 = 1.2815515655446004
Z95 = 1.959963984540054
SHORT_HISTORY = "short_history"
FLAT_HISTORY = "flat_history"
SEASONAL_NAIVE = "seasonal_naive"
NAIVE = "naive"
DRIFT = "drift"
DRIFT_WINDOW = 4 * WEEK
CALIBRATION_DAYS = 2 * WEEK  # each backtest origin forecasts this far ahead; the known days calibrate the interval
MIN_WEEK_ERRORS = 14  # fewer errors than this in a horizon week: that week uses the errors of the whole backtest


@dataclass(frozen=True)
class ForecastSettings:
    backtest_weeks: int = 4
    min_history_days: int = 14
    damped_trend_min_days: int = 42
    sarimax_min_days: int = 56
    extra_days: int = 30  # forecast this far past the end of the as-of month, unless horizon_days is set
    # Forecast exactly this many days. The month end is still projected when they stop short of it (the rest of
    # the month is forecast internally, only the first horizon_days are published).
    horizon_days: int | None = None
    outlier_z: float = 5.0
    simulations: int = 1000
    seed: int = 20260801

    def __post_init__(self) -> None:
        if self.horizon_days is not None and self.horizon_days < 1:
            raise ValueError(f"horizon_days must be at least 1, got {self.horizon_days}")


@dataclass(frozen=True)
class Backtest:
    method: str
    days: int
    mape: float | None  # over backtest days with non-zero actual spend
    coverage_80: float | None  # of the model's own interval, before calibration
    coverage_95: float | None


@dataclass
class SeriesForecast:
    dimension: str
    key: str
    as_of: date
    method: str
    note: str
    history_days: int
    first_day: date | None
    days: list[date]
    mean: np.ndarray
    intervals: dict[str, np.ndarray] | None  # lower_80, upper_80, lower_95, upper_95
    month_to_date: Decimal
    month_end: dict[str, float] | None  # mean, lower_80, upper_80, lower_95, upper_95, p80
    backtests: dict[str, Backtest] = field(default_factory=dict)  # candidates, fitted on the tempered history
    benchmark: Backtest | None = None  # seasonal-naive on the untouched history, the reference reports show
    calibration: "Calibration | None" = None  # how the published interval was widened (or narrowed)

    @property
    def chosen_backtest(self) -> Backtest | None:
        return self.backtests.get(self.method)

    @property
    def month_start(self) -> date:
        return month_bounds(self.as_of)[0]


@dataclass(frozen=True)
class _Prediction:
    mean: np.ndarray  # the point forecast (the median for log-scale models)
    lower_80: np.ndarray
    upper_80: np.ndarray
    lower_95: np.ndarray
    upper_95: np.ndarray

    @classmethod
    def gaussian(cls, mean: np.ndarray, sd: np.ndarray) -> "_Prediction":
        return cls(mean, mean - Z80 * sd, mean + Z80 * sd, mean - Z95 * sd, mean + Z95 * sd)

    def map(self, function) -> "_Prediction":
        return _Prediction(*(function(getattr(self, f)) for f in PREDICTION_FIELDS))


PREDICTION_FIELDS = ("mean", "lower_80", "upper_80", "lower_95", "upper_95")


class _Simple:
    """A method without fitted state: the forecast from each origin is the forecast from that shorter history."""

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        return [self.predict(params, y.iloc[:o], horizon) for o in origins]


class _SeasonalNaive(_Simple):
    """Same weekday last week; errors of a weekly random walk (they add up week by week).

    Every model has the same methods: `fit` (parameters from a history), `predict` (the point forecast and interval
    bounds from the end of a history), `at_origins` (what `predict` gives from the end of each shorter history
    `y[:origin]`, with the noise scale known at the first origin) and `forecast` (the prediction and `n` paths).
    """

    name = SEASONAL_NAIVE

    def fit(self, y: pd.Series) -> np.ndarray:
        residuals = y.to_numpy()[WEEK:] - y.to_numpy()[:-WEEK]
        return np.array([np.sqrt(np.mean(residuals**2))])

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        last_week = y.to_numpy()[-WEEK:]
        steps = np.arange(horizon)
        sd = params[0] * np.sqrt(steps // WEEK + 1)
        return _Prediction.gaussian(last_week[steps % WEEK], sd)

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        prediction = self.predict(params, y, horizon)
        weeks = -(-horizon // WEEK)
        shocks = rng.normal(0.0, params[0], size=(n, weeks, WEEK)).cumsum(axis=1).reshape(n, weeks * WEEK)
        return prediction, prediction.mean + shocks[:, :horizon]


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2))) if len(values) else 0.0


class _Naive(_Simple):
    """The last day carried forward; errors of a daily random walk."""

    name = NAIVE

    def fit(self, y: pd.Series) -> np.ndarray:
        return np.array([_rms(np.diff(y.to_numpy()))])

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        steps = np.arange(1, horizon + 1)
        return _Prediction.gaussian(np.full(horizon, float(y.iloc[-1])), params[0] * np.sqrt(steps))

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        prediction = self.predict(params, y, horizon)
        return prediction, prediction.mean + rng.normal(0.0, params[0], size=(n, horizon)).cumsum(axis=1)


def _drift_window(length: int) -> int:
    """Whole weeks, so that both ends of the window are the same weekday and the weekly pattern is no trend."""
    span = min(DRIFT_WINDOW, length - 1)
    return span - span % WEEK if span >= WEEK else max(span, 0)


class _Drift(_Simple):
    """The last day plus the average daily change over the last four weeks; a random walk with estimated drift."""

    name = DRIFT

    def fit(self, y: pd.Series) -> np.ndarray:
        changes = np.diff(y.to_numpy())
        return np.array([_rms(changes - changes.mean()) if len(changes) else 0.0])

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        values = y.to_numpy()
        window = _drift_window(len(values))
        slope = (values[-1] - values[-1 - window]) / window if window else 0.0
        steps = np.arange(1, horizon + 1)
        sd = params[0] * np.sqrt(steps * (1 + steps / max(window, 1)))  # the walk, and the slope's own error
        return _Prediction.gaussian(values[-1] + slope * steps, sd)

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        prediction = self.predict(params, y, horizon)
        walk = rng.normal(0.0, params[0], size=(n, horizon)).cumsum(axis=1)
        slopes = rng.normal(0.0, params[0] / np.sqrt(max(_drift_window(len(y)), 1)), size=(n, 1))
        return prediction, prediction.mean + walk + slopes * np.arange(1, horizon + 1)


class _Ets:
    def __init__(self, damped: bool):
        self.damped = damped
        self.name = "ets_damped_trend" if damped else "ets"

    def _model(self, y: pd.Series):
        from statsmodels.tsa.exponential_smoothing.ets import ETSModel

        trend = {"trend": "add", "damped_trend": True} if self.damped else {}
        return ETSModel(
            y.reset_index(drop=True),
            error="add",
            seasonal="add",
            seasonal_periods=WEEK,
            initialization_method="heuristic",
            **trend,
        )

    def fit(self, y: pd.Series) -> np.ndarray:
        return np.asarray(self._model(y).fit(disp=False, maxiter=200).params)

    @staticmethod
    def _prediction(result, start: int, horizon: int, rescale: float = 1.0) -> _Prediction:
        # dynamic from `start`: a multi-step forecast from the states filtered up to start - 1
        frame = result.get_prediction(start=start, end=start + horizon - 1, dynamic=0).summary_frame(alpha=0.2)
        mean = frame["mean"].to_numpy()
        sd = (frame["pi_upper"].to_numpy() - mean) / Z80  # additive errors: the interval is Gaussian
        return _Prediction.gaussian(mean, sd * rescale)

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        return self._prediction(self._model(y).smooth(params), len(y), horizon)

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        # One pass over the whole history serves every origin (the filter only looks back); the noise scale is
        # the one estimated before the first origin, so no interval learns from the days it is scored on.
        result = self._model(y).smooth(params)
        rescale = np.sqrt(self._model(y.iloc[: origins[0]]).smooth(params).scale / result.scale)
        return [self._prediction(result, o, horizon, rescale) for o in origins]

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        result = self._model(y).smooth(params)
        paths = np.asarray(result.simulate(horizon, anchor="end", repetitions=n, rng=rng)).T
        return self._prediction(result, len(y), horizon), paths


class _Sarimax:
    name = "sarimax"
    order = (1, 0, 0)
    seasonal_order = (0, 1, 1, WEEK)

    def _model(self, y: pd.Series):
        from statsmodels.tsa.statespace.sarimax import SARIMAX

        return SARIMAX(
            y.reset_index(drop=True),
            order=self.order,
            seasonal_order=self.seasonal_order,
            trend="c",
            concentrate_scale=True,
        )

    # intercept (drift per week), AR(1), seasonal MA(1): statsmodels' own start values cost more than the fit
    default_start = np.array([0.0, 0.2, -0.5])

    def fit(self, y: pd.Series) -> np.ndarray:
        # cov_type="none": the parameters' standard errors (a numerical Hessian) are never used and cost 40 % of a fit
        result = self._model(y).fit(disp=False, maxiter=100, start_params=self.default_start, cov_type="none")
        return np.asarray(result.params)

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        forecast = self._model(y).filter(params).get_forecast(horizon)
        return _Prediction.gaussian(np.asarray(forecast.predicted_mean), np.asarray(forecast.se_mean))

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        # As for ETS: one filter pass, dynamic predictions from each origin, the scale known at the first one.
        result = self._model(y).filter(params)
        rescale = np.sqrt(self._model(y.iloc[: origins[0]]).filter(params).scale / result.scale)
        predictions = []
        for o in origins:
            p = result.get_prediction(start=o, end=o + horizon - 1, dynamic=True)
            predictions.append(_Prediction.gaussian(np.asarray(p.predicted_mean), np.asarray(p.se_mean) * rescale))
        return predictions

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        # Forecast errors are sums of future shocks weighted by the impulse responses; drawing the shocks and
        # weighting them gives correlated paths fast (simulating the state space a thousand times does not).
        # Each day is then rescaled to the forecast's own standard error (which also carries state uncertainty).
        result = self._model(y).filter(params)
        forecast = result.get_forecast(horizon)
        sd = np.asarray(forecast.se_mean)
        mean = np.asarray(forecast.predicted_mean)
        psi = np.asarray(result.impulse_responses(horizon - 1)).ravel()[:horizon]
        weights = np.array([[psi[h - k] if k <= h else 0.0 for k in range(horizon)] for h in range(horizon)])
        errors = rng.normal(0.0, 1.0, size=(n, horizon)) @ weights.T
        paths = mean + errors * (sd / np.sqrt(np.cumsum(psi**2)))
        return _Prediction.gaussian(mean, sd), paths


class _LogScale:
    """A model fitted to log cost, for series that are positive every day: a multiplicative weekly pattern and
    right-skewed errors (a few heavy requests make an expensive day, nothing makes a negative one). Its point
    forecast is the median; intervals and paths are the log-scale ones, exponentiated."""

    def __init__(self, inner):
        self.inner = inner
        self.name = f"log_{inner.name}"

    @staticmethod
    def _exp(values: np.ndarray, cap: float) -> np.ndarray:
        return np.exp(np.minimum(values, cap))  # a runaway log forecast must not overflow to inf

    @staticmethod
    def _cap(y: pd.Series) -> float:
        return float(np.log(y.max())) + 5.0  # ~150x the largest day seen

    def fit(self, y: pd.Series) -> np.ndarray:
        return self.inner.fit(np.log(y))

    def predict(self, params: np.ndarray, y: pd.Series, horizon: int) -> _Prediction:
        cap = self._cap(y)
        return self.inner.predict(params, np.log(y), horizon).map(lambda v: self._exp(v, cap))

    def at_origins(self, params: np.ndarray, y: pd.Series, origins: list[int], horizon: int) -> list[_Prediction]:
        cap = self._cap(y.iloc[: origins[0]])
        return [p.map(lambda v: self._exp(v, cap)) for p in self.inner.at_origins(params, np.log(y), origins, horizon)]

    def forecast(
        self, params: np.ndarray, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        cap = self._cap(y)
        prediction, paths = self.inner.forecast(params, np.log(y), horizon, n, rng)
        return prediction.map(lambda v: self._exp(v, cap)), self._exp(paths, cap)


class _Combination:
    """Equal-weight average of structurally different members (forecast combinations are hard to beat).

    Interval bounds are the members' bounds averaged (their errors are positively correlated, so this does not
    understate the spread); sample paths are averaged across members drawn from common random numbers.
    """

    def __init__(self, members: list, name: str = "combination"):
        self.members = members
        self.name = name

    def fit(self, y: pd.Series) -> list:
        return [m.fit(y) for m in self.members]

    def predict(self, params: list, y: pd.Series, horizon: int) -> _Prediction:
        return self.combine([m.predict(p, y, horizon) for m, p in zip(self.members, params, strict=True)])

    @staticmethod
    def combine(predictions: list[_Prediction]) -> _Prediction:
        return _Prediction(*(np.mean([getattr(p, f) for p in predictions], axis=0) for f in PREDICTION_FIELDS))

    def forecast(
        self, params: list, y: pd.Series, horizon: int, n: int, rng: np.random.Generator
    ) -> tuple[_Prediction, np.ndarray]:
        seed = int(rng.integers(2**32))
        results = [
            m.forecast(p, y, horizon, n, np.random.default_rng(seed)) for m, p in zip(self.members, params, strict=True)
        ]
        return self.combine([r[0] for r in results]), np.mean([r[1] for r in results], axis=0)


def _candidates(history: pd.Series, settings: ForecastSettings) -> list:
    """The simple methods, ETS, and once there is enough history the trend models and their combination; for a
    series positive on every day, the same models on log cost too, with their own combination.

    Plain ETS(A,N,A) is dropped once the trend models can be fitted: with a few weeks of backtest it wins by luck
    as often as by merit, and it cannot follow a trend.
    """
    naive = _SeasonalNaive()
    simple = [naive, _Naive(), _Drift()]
    trend_models: list = []
    if len(history) >= settings.damped_trend_min_days:
        trend_models.append(_Ets(damped=True))
    if len(history) >= settings.sarimax_min_days:
        trend_models.append(_Sarimax())
    positive = bool((history > 0).all())
    if not trend_models:
        return [*simple, _Ets(damped=False), *([_LogScale(_Ets(damped=False))] if positive else [])]
    candidates = [*simple, *trend_models, _Combination([naive, *trend_models])]
    if positive:
        logs = [_LogScale(m) for m in trend_models]
        candidates += [*logs, _Combination([naive, *logs], name="log_combination")]
    return candidates


def origin_predictions(model, history: pd.Series, weeks: int) -> tuple[list[_Prediction], np.ndarray]:
    """Fit once before the first origin, then forecast 14 days from each weekly origin with those parameters."""
    first_origin = len(history) - weeks * WEEK
    params = model.fit(history.iloc[:first_origin])
    origins = list(range(first_origin, len(history), WEEK))
    return model.at_origins(params, history, origins, CALIBRATION_DAYS), params


def score(method: str, predictions: list[_Prediction], actual_costs: pd.Series) -> Backtest:
    """Errors and interval hits of the first 7 days of each weekly origin's forecast against the actual costs."""
    a = actual_costs.to_numpy()[-WEEK * len(predictions) :]
    joined = {f: np.concatenate([getattr(p, f)[:WEEK] for p in predictions]) for f in PREDICTION_FIELDS}
    if not all(np.all(np.isfinite(values)) for values in joined.values()):
        raise FloatingPointError(f"{method} produced non-finite forecasts")
    m = joined["mean"]
    nonzero = np.abs(a) > 1e-9
    return Backtest(
        method=method,
        days=len(a),
        mape=float(np.mean(np.abs(a - m)[nonzero] / np.abs(a[nonzero]))) if nonzero.any() else None,
        coverage_80=float(np.mean((joined["lower_80"] <= a) & (a <= joined["upper_80"]))),
        coverage_95=float(np.mean((joined["lower_95"] <= a) & (a <= joined["upper_95"]))),
    )


def backtest(model, history: pd.Series, actual_costs: pd.Series, weeks: int) -> Backtest:
    """Rolling-origin backtest of one model: it sees `history` (possibly tempered), is scored on `actual_costs`."""
    return score(model.name, origin_predictions(model, history, weeks)[0], actual_costs)


@dataclass(frozen=True)
class Calibration:
    """Factors on the model's own interval half-widths per horizon day; the last one serves every later day."""

    factor_80: np.ndarray
    factor_95: np.ndarray
    errors: int  # backtest days the factors come from

    def apply(self, prediction: _Prediction, paths: np.ndarray) -> tuple[_Prediction, np.ndarray]:
        steps = np.minimum(np.arange(len(prediction.mean)), len(self.factor_80) - 1)
        f80, f95, m = self.factor_80[steps], self.factor_95[steps], prediction.mean
        lower_80, upper_80 = m - f80 * (m - prediction.lower_80), m + f80 * (prediction.upper_80 - m)
        # the two levels have separate factors: keep the 95 % interval around the 80 % one
        lower_95 = np.minimum(m - f95 * (m - prediction.lower_95), lower_80)
        upper_95 = np.maximum(m + f95 * (prediction.upper_95 - m), upper_80)
        return _Prediction(m, lower_80, upper_80, lower_95, upper_95), m + f80 * (paths - m)


def _scaled_errors(predictions: list[_Prediction], actual_costs: pd.Series) -> tuple[np.ndarray, ...]:
    """Per known backtest day: its horizon day (0-based), and its error as a multiple of the model's 80 % and 95 %
    half-widths on the side of the point forecast the actual fell."""
    a = actual_costs.to_numpy()
    first_origin = len(a) - WEEK * len(predictions)
    steps, z80, z95 = [], [], []
    for i, p in enumerate(predictions):
        start = first_origin + WEEK * i
        known = min(len(p.mean), len(a) - start)
        actual, m = a[start : start + known], p.mean[:known]
        above = actual >= m
        steps.append(np.arange(known))
        for scores, level in ((z80, 80), (z95, 95)):
            upper, lower = getattr(p, f"upper_{level}")[:known], getattr(p, f"lower_{level}")[:known]
            width = np.where(above, upper - m, m - lower)
            scores.append(np.abs(actual - m) / np.where(width > 0, width, np.nan))
    step, s80, s95 = (np.concatenate(c) for c in (steps, z80, z95))
    usable = np.isfinite(s80) & np.isfinite(s95)  # a zero-width interval says nothing about its scale
    return step[usable], s80[usable], s95[usable]


def _conformal_quantile(scores: np.ndarray, level: float) -> float | None:
    """The ceil((n + 1) * level)-th smallest score: split-conformal, None when there are too few scores for it."""
    k = int(np.ceil((len(scores) + 1) * level))
    return float(np.sort(scores)[k - 1]) if 0 < k <= len(scores) else None


def _week_factor(week: np.ndarray, pooled: np.ndarray, level: float) -> float | None:
    own = _conformal_quantile(week, level) if len(week) >= MIN_WEEK_ERRORS else None
    return own if own is not None else _conformal_quantile(pooled, level)


def calibrate(predictions: list[_Prediction], actual_costs: pd.Series) -> Calibration | None:
    """Interval factors from the backtest's errors, per horizon week (days 1-7, days 8-14 and on); None when there
    are too few errors for even the 80 % quantile. Without enough errors for the 95 % one, the 95 % half-width gets
    the 80 % factor (the model's own tail shape)."""
    step, z80, z95 = _scaled_errors(predictions, actual_costs)
    factors_80, factors_95 = [], []
    for week in range(CALIBRATION_DAYS // WEEK):
        in_week = step // WEEK == week
        f80 = _week_factor(z80[in_week], z80, 0.8)
        if f80 is None:
            return None
        f95 = _week_factor(z95[in_week], z95, 0.95)
        factors_80.append(f80)
        factors_95.append(f80 if f95 is None else f95)
    return Calibration(np.repeat(factors_80, WEEK), np.repeat(factors_95, WEEK), len(step))


def temper_outliers(y: pd.Series, z: float = 5.0) -> tuple[pd.Series, int]:
    """Replace one-off days (far from the median of the same weekday over the previous four weeks, plus the usual
    gap to it) by that median plus the usual gap.

    A one-off spike or credit would otherwise drag the level and the weekly pattern for weeks. Each day is compared
    with earlier days only; the spread that decides what is far is the history's own. The usual gap (the median
    residual, per number of weeks the median is taken over) is what a trend puts between a day and its weekday's
    median: without it every day of a steadily growing series would count as one-off.
    """
    values = y.to_numpy()
    expected = np.full(len(values), np.nan)
    for i in range(2 * WEEK, len(values)):
        expected[i] = np.median(values[max(0, i - 4 * WEEK) : i][::-1][WEEK - 1 :: WEEK])
    residuals = values - expected
    known = ~np.isnan(residuals)
    if known.sum() < WEEK:
        return y, 0
    weeks = np.minimum(np.arange(len(values)) // WEEK, 4)
    gap = np.zeros(len(values))
    for n in np.unique(weeks[known]):
        gap[weeks == n] = np.median(residuals[known & (weeks == n)])
    deviations = residuals - gap
    scale = 1.4826 * np.median(np.abs(deviations[known]))
    outlying = known & (np.abs(np.nan_to_num(deviations)) > z * max(scale, 1e-9))
    if scale == 0 or not outlying.any():
        return y, 0
    return pd.Series(np.where(outlying, expected + gap, values), index=y.index), int(outlying.sum())


def month_bounds(as_of: date) -> tuple[date, date]:
    return as_of.replace(day=1), as_of.replace(day=calendar.monthrange(as_of.year, as_of.month)[1])


def prepare_series(daily: pd.Series, as_of: date) -> pd.Series:
    """Daily costs from the series' first day with spend data to `as_of`; days without rows are zero spend."""
    daily = daily[daily.index <= pd.Timestamp(as_of)]
    if daily.empty:
        return daily.astype(float)
    index = pd.date_range(daily.index.min(), pd.Timestamp(as_of), freq="D")
    return daily.groupby(level=0).sum().reindex(index, fill_value=0.0).astype(float)


def forecast_series(
    dimension: str,
    key: str,
    daily: pd.Series,
    as_of: date,
    month_to_date: Decimal,
    settings: ForecastSettings = ForecastSettings(),
) -> SeriesForecast:
    """Forecast one daily series (index: days, values: cost in USD) from `as_of`: `horizon_days` days, or by default
    to 30 days past its month end."""
    y = prepare_series(daily, as_of)
    rest_of_month = (month_bounds(as_of)[1] - as_of).days
    horizon = settings.horizon_days or rest_of_month + settings.extra_days
    steps = max(horizon, rest_of_month)  # forecast internally to the month end at least, publish `horizon` days
    base = {
        "dimension": dimension,
        "key": key,
        "as_of": as_of,
        "history_days": len(y),
        "first_day": y.index[0].date() if len(y) else None,
        "days": [as_of + timedelta(days=i + 1) for i in range(horizon)],
        "month_to_date": month_to_date,
    }
    recent = y.iloc[-4 * WEEK :].to_numpy()
    if len(y) < settings.min_history_days:
        level = float(recent[-WEEK:].mean()) if len(y) else 0.0
        note = f"{len(y)} day(s) of history: the recent daily average, no interval until {settings.min_history_days}"
        return _fallback(base, SHORT_HISTORY, note, level, steps, rest_of_month)
    if np.ptp(recent) == 0:
        note = f"no variation in the last {len(recent)} days: the same daily cost carried forward, no interval"
        return _fallback(base, FLAT_HISTORY, note, float(recent[-1]), steps, rest_of_month)

    weeks = min(settings.backtest_weeks, (len(y) - settings.min_history_days) // WEEK)
    notes: list[str] = []
    tempered, outliers = temper_outliers(y, settings.outlier_z)
    if outliers:
        notes.append(f"{outliers} one-off day(s) tempered to their weekday median before fitting")
    models = {m.name: m for m in _candidates(tempered, settings)} if weeks else {}
    with warnings.catch_warnings(), threadpool_limits(1):  # small matrices: BLAS threads only contend
        # statsmodels adds "always" filters for its convergence warnings when first imported: before ours, not after
        from statsmodels.tools import sm_exceptions  # noqa: F401

        warnings.simplefilter("ignore")
        backtests, predictions = _backtest_candidates(models, tempered, y, weeks, notes)
        model, prediction, paths = _publish(
            models.get(_choose(backtests)) or _SeasonalNaive(), tempered, steps, settings, notes
        )
    calibration = calibrate(predictions[model.name], y) if model.name in predictions else None
    if calibration is not None:
        prediction, paths = calibration.apply(prediction, paths)
        notes.append(f"interval calibrated on {calibration.errors} backtest days")
    if not weeks:
        notes.append(f"{len(y)} days of history: too short to backtest, seasonal-naive, uncalibrated interval")
    if (y >= 0).all():  # spend without credits cannot go below zero
        prediction, paths = prediction.map(lambda v: np.maximum(v, 0.0)), np.maximum(paths, 0.0)
    return SeriesForecast(
        **base,
        method=model.name,
        note="; ".join(notes),
        mean=prediction.mean[:horizon],
        intervals={name: getattr(prediction, name)[:horizon] for name in PREDICTION_FIELDS if name != "mean"},
        month_end=_month_end(month_to_date, prediction.mean, paths, rest_of_month),
        backtests=backtests,
        benchmark=backtest(_SeasonalNaive(), y, y, weeks) if weeks else None,
        calibration=calibration,
    )


def _backtest_candidates(
    models: dict, tempered: pd.Series, y: pd.Series, weeks: int, notes: list[str]
) -> tuple[dict[str, Backtest], dict[str, list[_Prediction]]]:
    """Every candidate's origin forecasts on the tempered history, scored on the untouched one; failures noted."""
    backtests: dict[str, Backtest] = {}
    predictions: dict[str, list[_Prediction]] = {}
    for name, model in models.items():
        try:
            if isinstance(model, _Combination):  # the members' backtests, averaged: nothing is refitted
                if not all(m.name in predictions for m in model.members):
                    continue
                predictions[name] = [
                    model.combine(list(origin))
                    for origin in zip(*(predictions[m.name] for m in model.members), strict=True)
                ]
            else:
                predictions[name] = origin_predictions(model, tempered, weeks)[0]
            backtests[name] = score(name, predictions[name], y)
        except (ValueError, np.linalg.LinAlgError, FloatingPointError) as error:
            predictions.pop(name, None)
            notes.append(f"{name} failed its backtest ({type(error).__name__})")
    return backtests, predictions


def _publish(
    model, tempered: pd.Series, steps: int, settings: ForecastSettings, notes: list[str]
) -> tuple[object, _Prediction, np.ndarray]:
    """The chosen model refitted on the whole history, its forecast and paths from the last day; seasonal-naive if
    it fails there."""
    rng = np.random.default_rng(settings.seed)
    try:
        # Refitted rather than kept at the backtest's parameters (fitted before the first origin, on a month less
        # data): on the sample's short histories that took the rolling-origin MAPE ratio from 0.91 to 0.85. The
        # intervals are calibrated on errors made with less data, so if anything they err on the wide side.
        return model, *model.forecast(model.fit(tempered), tempered, steps, settings.simulations, rng)
    except (ValueError, np.linalg.LinAlgError) as error:
        notes.append(f"{model.name} failed on the full history ({type(error).__name__}); seasonal-naive used")
        model = _SeasonalNaive()
        return model, *model.forecast(model.fit(tempered), tempered, steps, settings.simulations, rng)


def _choose(backtests: dict[str, Backtest]) -> str:
    """The lowest backtest MAPE, provided it beats both naive and seasonal-naive (on the same history); the better
    of those two otherwise."""
    floors = [backtests[n] for n in (SEASONAL_NAIVE, NAIVE) if n in backtests and backtests[n].mape is not None]
    scored = [b for b in backtests.values() if b.mape is not None]
    if not floors:
        return SEASONAL_NAIVE
    floor = min(floors, key=lambda b: b.mape)
    best = min(scored, key=lambda b: b.mape)
    return best.method if best.mape < floor.mape else floor.method


MONTH_END_QUANTILES = {"lower_95": 0.025, "lower_80": 0.1, "p80": 0.8, "upper_80": 0.9, "upper_95": 0.975}


def _month_end(month_to_date: Decimal, mean: np.ndarray, paths: np.ndarray | None, rest: int) -> dict[str, float]:
    """Month to date plus the rest of the month: the mean, and quantiles of the simulated totals when there are
    paths. Once the month is over its total is known, so every quantile is the month to date."""
    spent = float(month_to_date)
    projection = {"mean": spent + float(mean[:rest].sum())}
    if not rest:
        return projection | dict.fromkeys(MONTH_END_QUANTILES, spent)
    if paths is None:
        return projection
    totals = spent + paths[:, :rest].sum(axis=1)
    quantiles = np.quantile(totals, list(MONTH_END_QUANTILES.values()))
    return projection | {name: float(q) for name, q in zip(MONTH_END_QUANTILES, quantiles, strict=True)}


def _fallback(base: dict, method: str, note: str, level: float, steps: int, rest: int) -> SeriesForecast:
    mean = np.full(steps, level)
    month_end = _month_end(base["month_to_date"], mean, None, rest)
    return SeriesForecast(
        **base, method=method, note=note, mean=mean[: len(base["days"])], intervals=None, month_end=month_end
    )


def _forecast_one(job: tuple) -> SeriesForecast:
    return forecast_series(*job)


def forecast_many(
    jobs: list[tuple[str, str, pd.Series, date, Decimal]],
    settings: ForecastSettings = ForecastSettings(),
    workers: int | None = None,
) -> list[SeriesForecast]:
    """Forecast many series; with more than a handful, spread them over the machine's cores."""
    workers = workers or os.cpu_count() or 1
    full = [(*job, settings) for job in jobs]
    if workers == 1 or len(jobs) < 8:
        return [_forecast_one(job) for job in full]
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        return list(pool.map(_forecast_one, full, chunksize=max(1, len(full) // (workers * 4))))
