"""Spend and its forecast as a small self-contained SVG picture, for places that show an image but run no
script: Dagster's metadata (markdown with a data URI) and e-mail."""

import base64
import html
import math
from collections.abc import Sequence
from datetime import date

from cost_pipelines.analytics.forecast import SeriesForecast
from cost_pipelines.analytics.series import CostSeries

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 34, 42
BAR, LINE, BAND = "#2563eb", "#111827", "rgba(100,116,139,0.30)"


def _money(value: float) -> str:
    return f"${value:,.0f}" if value >= 10 or value == 0 else f"${value:,.2f}"


def _ticks(top: float, count: int = 4) -> list[float]:
    """Round steps (1, 2 or 5 times a power of ten) from 0 to at least `top`."""
    raw = max(top, 1e-9) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * i for i in range(count + 2) if step * (i - 1) < top]


def spend_forecast_svg(
    title: str,
    history: Sequence[tuple[date, float]],
    forecast: Sequence[tuple[date, float, float | None, float | None]],  # day, point, lower 80, upper 80
) -> str:
    """Daily spend as bars, then the forecast as a dashed line in its 80 % band, on one dollar axis."""
    days = [d for d, _ in history] + [row[0] for row in forecast]
    highest = max([v for _, v in history] + [max(r[1], r[3] or r[1]) for r in forecast] + [0.0])
    ticks = _ticks(highest)
    top_value = ticks[-1] or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(days), 1)

    def x(i: int) -> float:
        return LEFT + slot * (i + 0.5)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top_value)

    parts = [f'<text x="{LEFT}" y="20" font-size="14" font-weight="600">{html.escape(title)}</text>']
    for tick in ticks:
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e7eb"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{_money(tick)}</text>'
        )
    for i, (_, value) in enumerate(history):
        top = y(max(value, 0.0))
        parts.append(f'<rect x="{x(i) - slot * 0.4:.1f}" y="{top:.1f}" width="{slot * 0.8:.1f}" '
                     f'height="{y(0) - top:.1f}" fill="{BAR}"/>')  # fmt: skip
    start = len(history)
    banded = [(start + i, r) for i, r in enumerate(forecast) if r[2] is not None and r[3] is not None]
    if banded:
        upper = [f"{x(i):.1f},{y(r[3]):.1f}" for i, r in banded]
        lower = [f"{x(i):.1f},{y(max(r[2], 0.0)):.1f}" for i, r in reversed(banded)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="{BAND}"/>')
    if forecast:
        line = " ".join(f"{x(start + i):.1f},{y(r[1]):.1f}" for i, r in enumerate(forecast))
        parts.append(f'<polyline points="{line}" fill="none" stroke="{LINE}" stroke-width="2" stroke-dasharray="6 4"/>')
    labelled: list[int] = []
    for i, d in enumerate(days):  # the first day, each 1st of a month and the first forecast day, never crowded
        if (i == 0 or d.day == 1 or i == start) and (not labelled or x(i) - x(labelled[-1]) >= 48):
            labelled.append(i)
    for i in labelled:
        parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle">'
                     f"{days[i]:%b %d}</text>")  # fmt: skip
    legend_y = HEIGHT - 8
    parts.append(f'<rect x="{LEFT}" y="{legend_y - 9}" width="10" height="10" fill="{BAR}"/>'
                 f'<text x="{LEFT + 14}" y="{legend_y}" font-size="11">spend per day (USD)</text>'
                 f'<line x1="{LEFT + 150}" x2="{LEFT + 170}" y1="{legend_y - 4}" y2="{legend_y - 4}" stroke="{LINE}" '
                 f'stroke-width="2" stroke-dasharray="6 4"/><text x="{LEFT + 174}" y="{legend_y}" font-size="11">'
                 f'forecast</text><rect x="{LEFT + 236}" y="{legend_y - 9}" width="16" height="10" fill="{BAND}"/>'
                 f'<text x="{LEFT + 256}" y="{legend_y}" font-size="11">80% interval</text>')  # fmt: skip
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Helvetica,Arial,sans-serif" fill="#0f172a">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>{"".join(parts)}</svg>')  # fmt: skip


def markdown_image(svg: str, alt: str) -> str:
    """The picture inline in markdown, as a data URI: nothing to serve, nothing fetched."""
    return f"![{alt}](data:image/svg+xml;base64,{base64.b64encode(svg.encode()).decode()})"


def forecast_markdown(history: CostSeries, forecast: SeriesForecast, days: int = 45) -> str:
    """The total's last weeks and its forecast as a picture the asset page shows."""
    shown = history.daily.iloc[-days:]
    bands = forecast.intervals or {}
    rows = [
        (day, float(forecast.mean[i]), *((float(bands["lower_80"][i]), float(bands["upper_80"][i])) if bands
                                          else (None, None)))
        for i, day in enumerate(forecast.days)
    ]  # fmt: skip
    title = f"Total spend per day and its forecast from {forecast.as_of} ({forecast.method})"
    svg = spend_forecast_svg(title, [(d.date(), float(v)) for d, v in shown.items()], rows)
    return markdown_image(svg, "daily spend and forecast")
