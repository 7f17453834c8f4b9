"""The cost report as one self-contained HTML file: plotly figures rendered by the plotly.js basic bundle, inlined,
so the file opens anywhere, offline, with nothing fetched."""

import html
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import plotly.graph_objects as go

from cost_pipelines.money import usd
from cost_pipelines.report.data import ReportData

PLOTLY_JS = Path(__file__).parent / "vendor" / "plotly-basic.min.js"
PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777", "#4b5563"]
CONFIG = {"displaylogo": False, "responsive": True}


def _f(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _layout(title: str, **extra) -> dict:
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 16}},
        "margin": {"l": 60, "r": 20, "t": 50, "b": 40},
        "template": "plotly_white",
        "hovermode": "x unified",
        **extra,
    }


def spend_figure(data: ReportData) -> go.Figure:
    """Daily spend stacked by provider, the total's forecast with its 80 % and 95 % bands, anomalies marked."""
    fig = go.Figure()
    providers = sorted({p for _, p, _ in data.daily_by_provider})
    totals: dict[date, Decimal] = {}
    for i, provider in enumerate(providers):
        days = [(d, c) for d, p, c in data.daily_by_provider if p == provider]
        for d, c in days:
            totals[d] = totals.get(d, Decimal(0)) + c
        fig.add_bar(x=[d for d, _ in days], y=[float(c) for _, c in days], name=provider,
                    marker_color=PALETTE[i % len(PALETTE)])  # fmt: skip
    if data.forecast:
        days = [row[0] for row in data.forecast]
        if data.forecast[0][4] is not None:
            fig.add_scatter(x=days, y=[_f(r[5]) for r in data.forecast], mode="lines", line={"width": 0},
                            showlegend=False, hoverinfo="skip")  # fmt: skip
            fig.add_scatter(x=days, y=[_f(r[4]) for r in data.forecast], mode="lines", line={"width": 0},
                            fill="tonexty", fillcolor="rgba(100,116,139,0.15)", name="95% interval")  # fmt: skip
            fig.add_scatter(x=days, y=[_f(r[3]) for r in data.forecast], mode="lines", line={"width": 0},
                            showlegend=False, hoverinfo="skip")  # fmt: skip
            fig.add_scatter(x=days, y=[_f(r[2]) for r in data.forecast], mode="lines", line={"width": 0},
                            fill="tonexty", fillcolor="rgba(100,116,139,0.30)", name="80% interval")  # fmt: skip
        method = f" ({data.forecast_method})" if data.forecast_method else ""
        fig.add_scatter(x=days, y=[_f(r[1]) for r in data.forecast], mode="lines",
                        line={"color": "#111827", "dash": "dash"}, name=f"forecast{method}")  # fmt: skip
    marked = [a for a in data.anomalies if a[1] == "total" or a[1] == "provider"]
    if marked:
        fig.add_scatter(
            x=[a[0] for a in marked], y=[float(totals.get(a[0], a[3])) for a in marked], mode="markers",
            marker={"symbol": "x", "size": 12, "color": "#dc2626", "line": {"width": 2}}, name="anomaly",
            text=[f"{a[1]}={a[2]}: {usd(a[3])} vs {usd(a[4])} expected ({a[5]})" for a in marked],
            hovertemplate="%{text}<extra></extra>",
        )  # fmt: skip
    fig.update_layout(_layout("Daily spend by provider, with the forecast of the total", barmode="stack",
                              yaxis={"title": "USD per day", "tickprefix": "$"},
                              legend={"orientation": "h", "y": -0.3}))  # fmt: skip
    # The forecast and the anomalies are of the total, so they show with every provider only.
    _offline_filters(fig, providers, "every provider")
    return fig


def team_figure(data: ReportData) -> go.Figure:
    """Daily spend stacked by team (the team tag of cloud spend, the team of LLM requests), unallocated shown."""
    fig = go.Figure()
    teams = sorted({t for _, t, _ in data.daily_by_team}, key=lambda t: (t == "(unallocated)", t))
    for i, team in enumerate(teams):
        days = [(d, c) for d, t, c in data.daily_by_team if t == team]
        colour = "#94a3b8" if team == "(unallocated)" else PALETTE[i % len(PALETTE)]
        fig.add_bar(x=[d for d, _ in days], y=[float(c) for _, c in days], name=team, marker_color=colour)
    fig.update_layout(_layout("Daily spend by team", barmode="stack", yaxis={"title": "USD per day", "tickprefix": "$"},
                              legend={"orientation": "h", "y": -0.3}))  # fmt: skip
    _offline_filters(fig, teams, "every team")
    return fig


def _offline_filters(fig: go.Figure, keys: list[str], every: str) -> None:
    """Filters that work offline, inside the file: a date range (buttons and a slider) and one series at a time
    (traces not named after a key show with every key only)."""
    fig.update_xaxes(rangeslider={"visible": True, "thickness": 0.06}, rangeselector={"buttons": [
        {"count": 7, "label": "7 days", "step": "day", "stepmode": "backward"},
        {"count": 30, "label": "30 days", "step": "day", "stepmode": "backward"},
        {"step": "all", "label": "all"}]})  # fmt: skip
    names = [trace.name for trace in fig.data]
    buttons = [{"label": every, "method": "restyle", "args": [{"visible": [True] * len(names)}]}]
    buttons += [{"label": k, "method": "restyle", "args": [{"visible": [n == k for n in names]}]} for k in keys]
    fig.update_layout(updatemenus=[{"buttons": buttons, "direction": "down", "x": 1, "xanchor": "right", "y": 1.18,
                                    "yanchor": "top", "showactive": True}])  # fmt: skip


def burn_figure(data: ReportData) -> go.Figure:
    """This month's cumulative spend, its projection to month end, and each monthly budget on the total."""
    fig = go.Figure()
    cumulative, running = [], Decimal(0)
    for d, c in data.month_daily_total:
        running += c
        cumulative.append((d, running))
    fig.add_scatter(x=[d for d, _ in cumulative], y=[float(c) for _, c in cumulative], mode="lines+markers",
                    name="spent this month", line={"color": PALETTE[0]})  # fmt: skip
    month_end = (data.as_of.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    ahead = [r for r in data.forecast if r[0] <= month_end]
    if ahead:
        path, band_low, band_high = [(data.as_of, running)], [running], [running]
        low = high = point = running
        for r in ahead:
            point += r[1]
            low += r[2] if r[2] is not None else r[1]
            high += r[3] if r[3] is not None else r[1]
            path.append((r[0], point))
            band_low.append(low)
            band_high.append(high)
        x = [d for d, _ in path]
        fig.add_scatter(x=x, y=[float(v) for v in band_high], mode="lines", line={"width": 0}, showlegend=False,
                        hoverinfo="skip")  # fmt: skip
        fig.add_scatter(x=x, y=[float(v) for v in band_low], mode="lines", line={"width": 0}, fill="tonexty",
                        fillcolor="rgba(100,116,139,0.25)", name="projection, 80% band of daily forecasts")  # fmt: skip
        fig.add_scatter(x=x, y=[float(v) for _, v in path], mode="lines", line={"dash": "dash", "color": "#111827"},
                        name="projected month end")  # fmt: skip
    for b in data.budgets:
        if b["period"] == "monthly" and b["scope"] == "total":
            fig.add_hline(y=float(b["limit_usd"]), line={"color": "#dc2626", "dash": "dot"},
                          annotation_text=f"budget {b['budget']}: {usd(b['limit_usd'])}")  # fmt: skip
    fig.update_layout(_layout(f"{data.as_of:%B %Y}: spend to date and projected month end against the budget",
                              yaxis={"title": "USD this month", "tickprefix": "$"},
                              legend={"orientation": "h", "y": -0.15}))  # fmt: skip
    return fig


def budget_figure(data: ReportData) -> go.Figure:
    """Every budget's spend so far and its projection at period end, in percent of its limit."""
    names, spent, projected, text = [], [], [], []
    for b in data.budgets:
        elapsed = (data.as_of - b["period_start"]).days + 1
        run_rate = b["spent_usd"] * (elapsed + b["days_left"]) / elapsed
        projection = b["forecast_p80_usd"] if b["forecast_p80_usd"] is not None else run_rate
        label = f"{b['budget']} ({b['period']})"
        spent.append(float(b["spent_usd"] * 100 / b["limit_usd"]))
        projected.append(float(projection * 100 / b["limit_usd"]))
        basis = "p80 forecast" if b["forecast_p80_usd"] is not None else "run rate"
        text.append(f"{usd(b['spent_usd'])} of {usd(b['limit_usd'])}; {usd(projection)} projected ({basis})")
        # The figures are part of the budget's axis label, which Plotly never hides or clips: a label on or in a
        # bar is lost exactly for the budgets nearest or over their limit, whose bars are the longest.
        names.append(f"<b>{html.escape(label)}</b><br>{usd(b['spent_usd'])} of {usd(b['limit_usd'])}, "
                     f"{usd(projection)} projected")  # fmt: skip
    fig = go.Figure()
    fig.add_bar(y=names, x=projected, orientation="h", name="projected at period end", marker_color="#cbd5e1",
                text=text, textposition="none", hovertemplate="%{x:.0f}%: %{text}<extra></extra>")  # fmt: skip
    fig.add_bar(y=names, x=spent, orientation="h", name="spent so far", marker_color=PALETTE[0], width=0.4,
                hovertemplate="%{y}: %{x:.0f}% spent<extra></extra>")  # fmt: skip
    fig.add_vline(x=100, line={"color": "#dc2626", "dash": "dot"}, annotation_text="limit")
    fig.update_layout(_layout("Budgets: spent and projected, percent of the limit", barmode="overlay",
                              hovermode="closest", xaxis={"ticksuffix": "%"}, yaxis={"automargin": True},
                              height=max(260, 80 + 56 * len(names)),
                              legend={"orientation": "h", "y": -0.2}))  # fmt: skip
    return fig


def top_figure(title: str, rows: list[tuple[str, Decimal]], colour: str) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(y=[label for label, _ in rows][::-1], x=[float(c) for _, c in rows][::-1], orientation="h",
                marker_color=colour, hovertemplate="%{y}: $%{x:,.2f}<extra></extra>", name=title)  # fmt: skip
    margin = {"l": 220, "r": 20, "t": 50, "b": 40}  # room for long service and model names
    fig.update_layout(_layout(f"{title}, last 30 days", hovermode="closest", showlegend=False,
                              xaxis={"tickprefix": "$"}, height=360, margin=margin))  # fmt: skip
    return fig


def _figure_div(fig: go.Figure, element_id: str, scripts: list[str]) -> str:
    """The chart's element; its drawing goes to `scripts`, run once the page is laid out so each chart takes
    the width of its final place."""
    spec = fig.to_json().replace("</", "<\\/")  # a figure's text must not close the script element
    scripts.append(
        f'(function(){{var f={spec};Plotly.newPlot("{element_id}",f.data,f.layout,{json.dumps(CONFIG)});}})();'
    )
    return f'<div class="chart" id="{element_id}"></div>'


def _recommendations_table(data: ReportData) -> str:
    if not data.recommendations:
        return "<p class='muted'>No recommendations for this day.</p>"
    rows = "".join(
        f"<tr><td>{r['rank']}</td><td>{html.escape(r['title'])}</td><td>{html.escape(r['kind'])}</td>"
        f"<td>{html.escape(r['effort'])}</td><td class='num'>{usd(r['monthly_savings_usd'])}</td></tr>"
        for r in data.recommendations
    )
    return ("<table><thead><tr><th>#</th><th>Recommendation</th><th>Kind</th><th>Effort</th>"
            f"<th class='num'>Monthly savings</th></tr></thead><tbody>{rows}</tbody></table>"
            "<p class='muted'>Savings are each measured against today's spend: overlapping ones do not add "
            "up.</p>")  # fmt: skip


def _anomalies(data: ReportData) -> list[tuple]:
    """The anomalies the report tells of: one per day and series (total or a provider), as the card counts them
    and the chart marks them."""
    return list({(a[0], a[1], a[2]): a for a in data.anomalies}.values())


def _anomalies_table(data: ReportData) -> str:
    found = _anomalies(data)
    if not found:
        return "<p class='muted'>No anomaly of the total or a provider in the last 90 days.</p>"
    rows = "".join(
        f"<tr><td>{day}</td><td>{html.escape(dimension)}={html.escape(key)}</td><td class='num'>{usd(actual)}</td>"
        f"<td class='num'>{usd(expected)}</td><td>{html.escape(kinds)}</td></tr>"
        for day, dimension, key, actual, expected, kinds in sorted(
            found, key=lambda a: (a[0], a[1], a[2]), reverse=True
        )
    )
    return ("<table id='anomalies'><thead><tr><th>Day</th><th>Series</th><th class='num'>Spent</th>"
            f"<th class='num'>Expected</th><th>Found by</th></tr></thead><tbody>{rows}</tbody></table>")  # fmt: skip


def _kpis(data: ReportData) -> str:
    change = (
        f"{(data.day_total - data.day_before_total) * 100 / data.day_before_total:+.1f}% vs the day before"
        if data.day_before_total
        else "no spend the day before"
    )
    end = data.month_end.get("month_end_usd")
    band = ""
    if data.month_end.get("month_end_lower_80_usd") is not None:
        low, high = data.month_end["month_end_lower_80_usd"], data.month_end["month_end_upper_80_usd"]
        band = f"80% interval {usd(low)} to {usd(high)}"
    cards = [
        (f"Spend on {data.as_of}", usd(data.day_total), change),
        (f"{data.as_of:%B} to date", usd(data.month_to_date), "exact, from the cost facts"),
        ("Projected month end", usd(end), band or "no forecast interval"),
        ("Anomalies (90 days)", str(len(_anomalies(data))), "of the total and the providers: the table below"),
    ]
    return "".join(f"<div class='kpi'><div class='label'>{html.escape(label)}</div><div class='value'>{value}</div>"
                   f"<div class='muted'>{html.escape(note)}</div></div>" for label, value, note in cards)  # fmt: skip


STYLE = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;margin:0;background:#f8fafc;color:#0f172a}
header{background:#0f172a;color:#fff;padding:18px 28px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cbd5e1}main{padding:20px 28px;max-width:1400px;margin:auto}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:14px;margin-bottom:18px}
.kpi,.panel{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px}
.kpi .label{color:#475569;font-size:13px}.kpi .value{font-size:26px;font-weight:600;margin:4px 0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:14px;margin-bottom:14px}
.panel{margin-bottom:14px;min-width:0;overflow:hidden}.chart{width:100%;min-height:360px}.muted{color:#64748b;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:14px}th,td{border-bottom:1px solid #e2e8f0;padding:6px 8px;
text-align:left}.num{text-align:right}h2{font-size:17px;margin:0 0 8px}
"""


def render_report(data: ReportData, generated_at: str) -> str:
    """The whole report as one HTML document."""
    figures = [("spend", spend_figure(data)), ("burn", burn_figure(data)), ("budgets", budget_figure(data))]
    teams = ("teams", team_figure(data))
    colours = iter(PALETTE)
    tops = [(f"top-{i}", top_figure(title, rows, next(colours))) for i, (title, rows) in enumerate(data.top.items())
            if rows]  # fmt: skip
    panel = "<div class='panel'>{}</div>"
    scripts: list[str] = []
    body = [
        f"<div class='kpis'>{_kpis(data)}</div>",
        panel.format(_figure_div(figures[0][1], figures[0][0], scripts)),
        panel.format(_figure_div(teams[1], teams[0], scripts)),
        "<div class='grid'>"
        + "".join(panel.format(_figure_div(fig, fid, scripts)) for fid, fig in figures[1:])
        + "</div>",
        "<div class='grid'>" + "".join(panel.format(_figure_div(fig, fid, scripts)) for fid, fig in tops) + "</div>",
        panel.format("<h2>Top recommendations</h2>" + _recommendations_table(data)),
        panel.format("<h2>Anomalies of the last 90 days (the total and the providers)</h2>" + _anomalies_table(data)),
        f"<script>{''.join(scripts)}</script>",
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Cost report {data.as_of}</title><style>{STYLE}</style>"
        f"<script>{PLOTLY_JS.read_text()}</script></head><body>"
        f"<header><h1>Cloud and LLM cost report — {data.as_of}</h1>"
        f"<p>Generated {html.escape(generated_at)} by cost_pipelines from the cost facts, forecasts, anomalies, "
        "budgets and recommendations of the warehouse. Every amount is in US dollars (USD).</p></header>"
        f"<main>{''.join(body)}</main></body></html>"
    )
