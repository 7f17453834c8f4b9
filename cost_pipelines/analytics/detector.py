"""One series, one pass: which points break from their own recent past, in which direction, and by how much.

Each point is compared with the median of the trailing `window` points of the series' own baseline (with a
season, the same phase of the trailing seasons: the same weekday) and scored by the robust spread of that
baseline (1.4826 x MAD of its residuals, or their 90th percentile where that is wider, with a floor so a flat
series does not alarm on a cent). A flagged point enters its episode, which alarms once; when it lasts
`adapt_after` points it is a level shift: the baseline moves by the shift, keeping its seasonal pattern, and the
new level is normal. A change that happened before the series could be judged is old news: it never alarms and
is taken as normal. Work per point is bounded by the window, so a series costs O(n).
"""

from collections import deque
from dataclasses import dataclass

import numpy as np

MAD_TO_SIGMA = 1.4826
Q90_TO_SIGMA = 1.6449  # the 90th percentile of |x| for a normal x, in sigmas


@dataclass(frozen=True)
class DetectorSettings:
    window: int = 28  # trailing baseline points (with a season: the trailing seasons these cover)
    season: int = 1  # 1: none; 7: daily points with a weekday pattern
    min_history: int = 14  # baseline points before a point is judged
    threshold: float = 4.0  # robust z-score to flag
    min_relative_change: float = 0.25  # and at least this share of the expectation away from it
    min_abs_change: float = 0.0  # and at least this far in absolute terms (a dollar floor)
    scale_floor: float = 0.02  # the spread is at least this share of the expectation's magnitude
    adapt_after: int = 3  # an episode this long is a level shift: the baseline moves to the new level
    log_scale: bool = True  # score on log(1 + x): cost varies multiplicatively


@dataclass(frozen=True)
class Flag:
    index: int
    direction: int  # +1 above the expectation, -1 below
    expected: float
    score: float  # robust z on the scale used
    alarm: bool  # the first point of its episode: the one that alarms


def _expected_and_scale(baseline: np.ndarray, phase: np.ndarray, now_phase: int, season: int) -> tuple[float, float]:
    """The median of the same phase (or of all points) and the robust spread of residuals from phase medians."""
    if season == 1:
        centre = float(np.median(baseline))
        residuals = baseline - centre
    else:
        medians = np.zeros(season)
        for p in np.unique(phase):
            medians[p] = np.median(baseline[phase == p])
        same = baseline[phase == now_phase]
        centre = float(np.median(same)) if len(same) else float(np.median(baseline))
        residuals = baseline - medians[phase]
    spread = MAD_TO_SIGMA * float(np.median(np.abs(residuals - np.median(residuals))))
    # Residuals from medians of a few points each are often zero, and heavy tails fool the MAD alone: the 90th
    # percentile of the residuals keeps the scale honest there.
    tail = float(np.quantile(np.abs(residuals), 0.9)) / Q90_TO_SIGMA
    return centre, max(spread, tail)


def flag_points(
    values: np.ndarray, settings: DetectorSettings = DetectorSettings(), start_phase: int = 0
) -> list[Flag]:
    """Flags over `values` (float, in time order, no gaps). `start_phase`: the season phase of the first point."""
    s = settings
    size = s.window * s.season if s.season > 1 else s.window
    base: deque[float] = deque(maxlen=size)  # the baseline, on the scoring scale
    phases: deque[int] = deque(maxlen=size)
    flags: list[Flag] = []
    episode: list[float] = []  # the current episode's values (scoring scale), its direction
    direction = 0
    centres: list[float] = []  # the expectations of the episode's points
    silent = False  # the episode began while the series was too young to judge: its change is old news
    judged_before = False
    for i, raw in enumerate(np.asarray(values, dtype=float)):
        x = float(np.log1p(max(raw, 0.0))) if s.log_scale else float(raw)
        phase = (start_phase + i) % s.season
        if len(base) < s.min_history:
            base.append(x)
            phases.append(phase)
            judged_before = False
            continue
        centre, spread = _expected_and_scale(np.fromiter(base, float), np.fromiter(phases, int), phase, s.season)
        floor = s.scale_floor * (1.0 if s.log_scale else max(abs(centre), 1e-12))  # on log cost: a share already
        scale = max(spread, floor)
        score = (x - centre) / scale
        expected = float(np.expm1(centre)) if s.log_scale else centre
        change = float(raw) - expected
        flagged = (
            abs(score) >= s.threshold
            and abs(change) >= s.min_relative_change * abs(expected)
            and abs(change) >= s.min_abs_change
        )
        if not flagged:
            episode, centres, direction = [], [], 0
            base.append(x)
            phases.append(phase)
            judged_before = True
            continue
        sign = 1 if score > 0 else -1
        if sign != direction:
            episode, centres, direction, silent = [], [], sign, not judged_before
        judged_before = True
        episode.append(x)
        flags.append(Flag(i, sign, expected, float(score), len(episode) == 1 and not silent))
        if silent:
            base.append(x)  # old news is the normal it is judged against from now on
            phases.append(phase)
            continue
        centres.append(centre)
        if len(episode) >= s.adapt_after:
            # A level shift: the baseline moves by the shift, keeping its pattern, and the new level is normal.
            shift = float(np.mean(episode)) - float(np.mean(centres))
            held = list(base)
            before = len(held) - (len(episode) - 1)  # the episode's earlier points are in already, on the new level
            base.clear()
            base.extend([value + shift for value in held[:before]] + held[before:])
            base.append(x)
            phases.append(phase)
            episode, centres, direction = [], [], 0
            continue
        base.append(x)  # in the baseline as it came: its spread is what the next days are judged by
        phases.append(phase)
    return flags
