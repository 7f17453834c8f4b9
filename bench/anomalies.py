"""Benchmark: the anomaly detector on NAB's real labelled series, beside two rolling robust z-scores, in one run.

    python bench/anomalies.py [--data bench/data/nab] [--floor 0] [--per-series] [--linear 10000]

Each of the 24 series (realAWSCloudwatch and realKnownCause, 49 labelled windows) is scored at its own granularity
(5-minute or hourly points, no weekday season). The baselines: the median and MAD of the previous 24 points,
|z| > 3.5, and the same over 288 points (a day of 5-minute points); a flat past (MAD 0) flags nothing.

Scoring: a window is detected when any flag falls inside it; a false alarm is a run of flags outside every window
(the run continues while flags are at most 12 points apart; a run longer than 288 points counts once per 288).
Precision = detected / (detected + false alarms), recall = detected / windows; F1 pooled over all series, and
macro (the F1 of the per-series mean precision and recall); also the number of flags. `--floor` is the detector's
absolute floor on the change (the dollar floor in production; NAB values are not dollars: 19 % of its points are
below 1, and four windows lie entirely below 1, so the default here is 0). `--linear N` times the detector on
series of N and 2N points to show the cost per point stays flat.
"""

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from cost_pipelines.analytics.detector import DetectorSettings, flag_points  # noqa: E402

GAP, RUN_CAP = 12, 288
FOLDERS = ("realAWSCloudwatch", "realKnownCause")


def rolling_z(values: np.ndarray, window: int, threshold: float = 3.5) -> np.ndarray:
    """Indices where |x - median| / (1.4826 MAD) of the previous `window` points exceeds the threshold."""
    if len(values) <= window:
        return np.array([], dtype=int)
    windows = np.lib.stride_tricks.sliding_window_view(values, window)[:-1]  # windows[i] = values[i:i+window]
    centre = np.median(windows, axis=1)
    spread = np.median(np.abs(windows - centre[:, None]), axis=1) * 1.4826
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(values[window:] - centre) / spread
    return np.nonzero((spread > 0) & (z > threshold))[0] + window


def detector(settings: DetectorSettings) -> Callable[[np.ndarray], np.ndarray]:
    def run(values: np.ndarray) -> np.ndarray:
        return np.array([f.index for f in flag_points(values, settings) if f.alarm], dtype=int)

    return run


@dataclass
class Score:
    windows: int
    detected: int
    false_alarms: int
    flags: int

    @property
    def precision(self) -> float:
        found = self.detected + self.false_alarms
        return self.detected / found if found else 0.0

    @property
    def recall(self) -> float:
        return self.detected / self.windows if self.windows else 0.0


def f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def score(flags: np.ndarray, windows: list[tuple[int, int]]) -> Score:
    inside = np.zeros(len(flags), dtype=bool)
    detected = 0
    for start, end in windows:
        hit = (flags >= start) & (flags <= end)
        inside |= hit
        detected += bool(hit.any())
    outside = np.sort(flags[~inside])
    false_alarms = 0
    if len(outside):
        run_start = previous = outside[0]
        for index in [*outside[1:], None]:
            if index is not None and index - previous <= GAP:
                previous = index
                continue
            false_alarms += 1 + (previous - run_start) // RUN_CAP
            if index is not None:
                run_start = previous = index
    return Score(len(windows), detected, false_alarms, len(flags))


def load(data: Path) -> list[tuple[str, np.ndarray, list[tuple[int, int]]]]:
    labels = json.loads((data / "labels" / "combined_windows.json").read_text())
    series = []
    for folder in FOLDERS:
        for path in sorted((data / "data" / folder).glob("*.csv")):
            frame = pd.read_csv(path, parse_dates=["timestamp"])
            stamps = frame["timestamp"].to_numpy()
            windows = []
            for start, end in labels[f"{folder}/{path.name}"]:
                first = int(np.searchsorted(stamps, np.datetime64(pd.Timestamp(start))))
                last = int(np.searchsorted(stamps, np.datetime64(pd.Timestamp(end)), side="right")) - 1
                windows.append((first, last))
            series.append((f"{folder}/{path.stem}", frame["value"].to_numpy(dtype=float), windows))
    return series


def evaluate(name: str, method: Callable[[np.ndarray], np.ndarray], series: list, per_series: bool) -> dict:
    scores = []
    for label, values, windows in series:
        found = score(method(values), windows)
        scores.append(found)
        if per_series:
            print(f"  {name:<22} {label:<55} windows {found.windows} detected {found.detected} "
                  f"false {found.false_alarms:>4} flags {found.flags:>5}")  # fmt: skip
    pooled = Score(*(sum(getattr(s, f) for s in scores) for f in ("windows", "detected", "false_alarms", "flags")))
    mean_p = float(np.mean([s.precision for s in scores]))
    mean_r = float(np.mean([s.recall for s in scores]))
    return {"method": name, "precision": pooled.precision, "recall": pooled.recall,
            "f1": f1(pooled.precision, pooled.recall), "macro_f1": f1(mean_p, mean_r), "detected": pooled.detected,
            "windows": pooled.windows, "false_alarms": pooled.false_alarms, "flags": pooled.flags}  # fmt: skip


def linear(points: int, settings: DetectorSettings) -> None:
    rng = np.random.default_rng(7)
    for n in (points, 2 * points):
        values = 100 * rng.lognormal(0, 0.2, n)
        started = time.perf_counter()
        flag_points(values, settings)
        elapsed = time.perf_counter() - started
        print(f"detector on {n:>7} points: {elapsed:6.2f} s, {elapsed / n * 1e6:6.1f} µs per point")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=PROJECT_ROOT / "bench" / "data" / "nab")
    parser.add_argument("--floor", type=float, default=0.0)
    parser.add_argument("--per-series", action="store_true")
    parser.add_argument("--linear", type=int, default=0)
    args = parser.parse_args()
    series = load(args.data)
    settings = nab_settings(args.floor)
    methods = [
        ("detector", detector(settings)),
        ("robust z (24 points)", lambda v: rolling_z(v, 24)),
        ("robust z (288 points)", lambda v: rolling_z(v, 288)),
    ]
    print(f"{len(series)} series, {sum(len(w) for _, _, w in series)} labelled windows; detector {settings}")
    print(f"{'method':<22} {'precision':>9} {'recall':>7} {'F1':>6} {'macro F1':>8} {'detected':>9} "
          f"{'false alarms':>12} {'flags':>7}")  # fmt: skip
    for name, method in methods:
        r = evaluate(name, method, series, args.per_series)
        print(f"{r['method']:<22} {r['precision']:9.3f} {r['recall']:7.2f} {r['f1']:6.3f} {r['macro_f1']:8.3f} "
              f"{r['detected']:>4}/{r['windows']:<4} {r['false_alarms']:>12} {r['flags']:>7}")  # fmt: skip
    if args.linear:
        linear(args.linear, DetectorSettings())


def nab_settings(floor: float) -> DetectorSettings:
    """The production rules at NAB's granularity: no weekday season, a day of 5-minute points as the window."""
    return DetectorSettings(window=288, season=1, min_history=48, min_abs_change=floor)


if __name__ == "__main__":
    main()
