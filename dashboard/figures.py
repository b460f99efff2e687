"""Pure Plotly figure builders: frames and labels in, a ``go.Figure`` out (no Streamlit, no I/O)."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.graph_objects as go

RISK_COLOURS = {
    "out_now": "#d62728",
    "before_arrival": "#ff9f1c",
    "fine": "#2ca02c",
    "expiring": "#9467bd",
    "low_stock": "#ff7f0e",
}
BAND_COLOUR = "rgba(31, 119, 180, 0.18)"
_LAYOUT = {
    "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
    "separators": ".,",
    "legend": {"orientation": "h", "y": -0.15},
    "height": 380,
}


def _layout(figure: go.Figure, title: str) -> go.Figure:
    """The shared layout; a height the builder set (one row per bar, say) is kept."""
    shared = {k: v for k, v in _LAYOUT.items() if k != "height" or figure.layout.height is None}
    figure.update_layout(title=title, **shared)
    return figure


def holiday_ranges(start: date, end: date, lang: str = "zh") -> list[tuple[date, date, str]]:
    """Mainland China statutory holidays in the period as (first, last, names) runs.

    Consecutive holiday days form one run even when two festivals meet (2025's National Day
    and Mid-autumn), so their shading and labels do not overlap.
    """
    try:
        import chinese_calendar
    except ImportError:  # the marks are a nicety; the trend still draws without them
        return []
    from dashboard.i18n import holiday_name

    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    runs: list[tuple[date, date, list[str]]] = []
    day = start
    while day <= end:
        try:
            is_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:  # outside the years the calendar knows
            is_holiday, name = False, None
        if is_holiday and name:
            label = holiday_name(name, lang)
            if runs and runs[-1][1] == day - timedelta(days=1):
                first, _, names = runs[-1]
                runs[-1] = (first, day, names if label in names else [*names, label])
            else:
                runs.append((day, day, [label]))
        day += timedelta(days=1)
    return [(first, last, "/".join(names)) for first, last, names in runs]


def trend(
    daily: pd.DataFrame,
    forecast: pd.DataFrame,
    holidays: list[tuple[date, date, str]],
    events: pd.DataFrame,
    labels: dict[str, str],
) -> go.Figure:
    """Daily units, the forecast with its interval band, holidays shaded and events marked."""
    figure = go.Figure()
    if not forecast.empty:
        figure.add_trace(
            go.Scatter(
                x=list(forecast["ds"]) + list(forecast["ds"])[::-1],
                y=list(forecast["yhat_upper"]) + list(forecast["yhat_lower"])[::-1],
                fill="toself",
                fillcolor=BAND_COLOUR,
                line={"width": 0},
                hoverinfo="skip",
                name=labels["forecast_band"],
            )
        )
        figure.add_trace(
            go.Scatter(
                x=forecast["ds"],
                y=forecast["yhat"],
                mode="lines",
                line={"dash": "dash", "color": "#1f77b4"},
                name=labels["forecast"],
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,.1f}<extra></extra>",
            )
        )
    if not daily.empty:
        figure.add_trace(
            go.Scatter(
                x=daily["order_date"],
                y=daily["units"],
                mode="lines",
                line={"color": "#0b3c5d"},
                name=labels["units"],
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,}<extra></extra>",
            )
        )
    # Shapes and labels go in with one layout update: add_vrect/add_vline per item re-validate
    # the whole layout each time and cost seconds with a few dozen marks.
    shapes, notes = [], []
    for first, last, name in holidays:
        shapes.append(
            {
                "type": "rect",
                "xref": "x",
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "x0": pd.Timestamp(first) - pd.Timedelta(hours=12),
                "x1": pd.Timestamp(last) + pd.Timedelta(hours=12),
                "fillcolor": "rgba(214, 39, 40, 0.10)",
                "line": {"width": 0},
                "layer": "below",
            }
        )
        notes.append(
            {
                "x": pd.Timestamp(first),
                "y": 1,
                "xref": "x",
                "yref": "paper",
                "text": name,
                "showarrow": False,
                "font": {"size": 10},
                "xanchor": "left",
                "yanchor": "top",
            }
        )
    first_day = daily["order_date"].min() if not daily.empty else None
    for index, row in enumerate(events.itertuples() if not events.empty else []):
        # An event that began before the chart is marked where the chart begins.
        at = pd.Timestamp(row.start_date)
        if first_day is not None:
            at = max(at, pd.Timestamp(first_day))
        shapes.append(
            {
                "type": "line",
                "xref": "x",
                "yref": "paper",
                "x0": at,
                "x1": at,
                "y0": 0,
                "y1": 1,
                "line": {"dash": "dot", "color": "#7f7f7f", "width": 1},
            }
        )
        notes.append(
            {
                "x": at,
                "y": 0.94 - 0.06 * (index % 4),
                "xref": "x",
                "yref": "paper",
                "text": row.name,
                "showarrow": False,
                "font": {"size": 10},
                "xanchor": "left",
            }
        )
    figure.update_layout(shapes=shapes, annotations=notes)
    figure.update_xaxes(tickformat="%Y-%m-%d")
    return _layout(figure, labels["title"])


def ranked_bar(
    frame: pd.DataFrame,
    category: str,
    value: str,
    title: str,
    money: bool = True,
    label_column: str | None = None,
) -> go.Figure:
    """Horizontal bars, biggest on top; money axes in ¥ with thousands separators."""
    ordered = frame.sort_values(value, ascending=True)
    labels = ordered[label_column] if label_column else ordered[category]
    template = "¥%{x:,.2f}" if money else "%{x:,}"
    figure = go.Figure(
        go.Bar(
            x=ordered[value],
            y=labels.astype(str),
            customdata=ordered[[category]].astype(str).to_numpy(),  # for a click's drill-down
            orientation="h",
            marker_color="#1f77b4",
            hovertemplate="%{y}<br>" + template + "<extra></extra>",
        )
    )
    if money:
        figure.update_xaxes(tickprefix="¥", tickformat=",.0f")
    figure.update_layout(height=max(260, 28 * len(ordered) + 80))
    return _layout(figure, title)


# A tile-grid map: one square per province at a hand-placed (column, row), roughly where it
# lies. It draws no boundaries, so it needs no boundary file (none ships with a clean licence,
# and a map of China published there needs an approved one); codes as in region_code.
PROVINCE_TILES: dict[str, tuple[int, int, str]] = {
    "CN-HL": (8, 0, "黑龙江"), "CN-XJ": (1, 1, "新疆"), "CN-NM": (6, 1, "内蒙古"),
    "CN-JL": (8, 1, "吉林"), "CN-GS": (3, 2, "甘肃"), "CN-NX": (4, 2, "宁夏"),
    "CN-BJ": (6, 2, "北京"), "CN-TJ": (7, 2, "天津"), "CN-LN": (8, 2, "辽宁"),
    "CN-QH": (2, 3, "青海"), "CN-SN": (4, 3, "陕西"), "CN-SX": (5, 3, "山西"),
    "CN-HE": (6, 3, "河北"), "CN-SD": (7, 3, "山东"), "CN-XZ": (1, 4, "西藏"),
    "CN-SC": (3, 4, "四川"), "CN-CQ": (4, 4, "重庆"), "CN-HA": (5, 4, "河南"),
    "CN-AH": (6, 4, "安徽"), "CN-JS": (7, 4, "江苏"), "CN-SH": (8, 4, "上海"),
    "CN-YN": (3, 5, "云南"), "CN-GZ": (4, 5, "贵州"), "CN-HB": (5, 5, "湖北"),
    "CN-JX": (6, 5, "江西"), "CN-ZJ": (7, 5, "浙江"), "CN-GX": (4, 6, "广西"),
    "CN-HN": (5, 6, "湖南"), "CN-FJ": (7, 6, "福建"), "CN-TW": (8, 6, "台湾"),
    "CN-GD": (5, 7, "广东"), "CN-HI": (4, 8, "海南"), "CN-MO": (5, 8, "澳门"),
    "CN-HK": (6, 8, "香港"),
}  # fmt: skip


def province_tiles(
    frame: pd.DataFrame,
    value: str,
    title: str,
    lang: str = "zh",
    money: bool = True,
    legend: str = "",
) -> go.Figure:
    """Provinces as a tile grid coloured by ``value`` (darker = more) with a colour bar that
    reads the colours as amounts; a province without a row is a grey tile. Rows whose
    region_code has no tile (``UNKNOWN``) are not drawn: the ranked bar beside it shows them."""
    values = frame.groupby("region_code")[value].sum() if not frame.empty else pd.Series()
    codes = list(PROVINCE_TILES)
    amounts = [float(values.get(code, 0.0)) for code in codes]
    labels = [PROVINCE_TILES[c][2] if lang == "zh" else c.removeprefix("CN-") for c in codes]
    template = "¥%{customdata[1]:,.2f}" if money else "%{customdata[1]:,}"
    top = max(amounts) if any(amounts) else 1.0
    figure = go.Figure(
        go.Scatter(
            x=[PROVINCE_TILES[c][0] for c in codes],
            y=[-PROVINCE_TILES[c][1] for c in codes],
            mode="markers+text",
            text=labels,
            # White on the darker half of the scale, where dark text would vanish.
            textfont={
                "size": 11,
                "color": ["#ffffff" if (a / top) ** 0.5 > 0.55 else "#333333" for a in amounts],
            },
            # The code first, for a click's drill-down; the amount for the hover.
            customdata=[[code, amount] for code, amount in zip(codes, amounts, strict=True)],
            marker={
                "symbol": "square",
                "size": 40,
                # The colours as a scale over the amounts, so the colour bar can label them.
                "color": amounts,
                "cmin": 0.0,
                "cmax": top,
                "colorscale": _tile_scale(),
                "showscale": True,
                "colorbar": {
                    "title": {"text": legend, "side": "top"},
                    "tickprefix": "¥" if money else "",
                    "tickformat": ",.0f",
                    "thickness": 12,
                    "len": 0.6,
                },
                "line": {"color": "#ffffff", "width": 1},
            },
            hovertemplate="%{text}<br>" + template + "<extra></extra>",
        )
    )
    figure.update_xaxes(visible=False, range=[0.3, 8.7])
    figure.update_yaxes(visible=False, range=[-8.7, 0.7], scaleanchor="x")
    figure.update_layout(height=470)
    return _layout(figure, title)


def _tile_scale(steps: int = 10) -> list[list]:
    """The colour scale ``_tile_colour`` draws: grey at zero, then light to dark blue."""
    stops: list[list] = [[0.0, _tile_colour(0.0)], [1e-9, _tile_colour(1e-9)]]
    stops += [[i / steps, _tile_colour(i / steps)] for i in range(1, steps + 1)]
    return stops


def _tile_colour(share: float) -> str:
    """Light to dark blue by the square root of the share of the largest (small provinces
    stay tellable apart); grey for no sales."""
    if share <= 0:
        return "#eeeeee"
    light, dark = (222, 235, 247), (33, 113, 181)
    weight = min(share, 1.0) ** 0.5
    r, g, b = (round(lo + (hi - lo) * weight) for lo, hi in zip(light, dark, strict=True))
    return f"rgb({r}, {g}, {b})"


def channel_pie(frame: pd.DataFrame, title: str) -> go.Figure:
    figure = go.Figure(
        go.Pie(
            labels=frame["channel"],
            values=frame["gmv"],
            hole=0.45,
            hovertemplate="%{label}<br>¥%{value:,.2f} (%{percent})<extra></extra>",
        )
    )
    return _layout(figure, title)


def days_of_cover(plan: pd.DataFrame, risk_names: dict[str, str], title: str) -> go.Figure:
    """Days of cover per SKU coloured by restock risk."""
    figure = go.Figure()
    for risk, colour in RISK_COLOURS.items():
        rows = plan[plan["risk"] == risk]
        if rows.empty:
            continue
        figure.add_trace(
            go.Bar(
                x=rows["sku_id"],
                y=rows["days_of_cover"].astype(float),
                marker_color=colour,
                name=risk_names.get(risk, risk),
                hovertemplate="%{x}<br>%{y:,.1f}<extra></extra>",
            )
        )
    return _layout(figure, title)


def supplier_performance(frame: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Success rate as bars, p95 latency as markers on a second axis."""
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=frame["supplier_name"],
            y=frame["success_rate"],
            name=labels["success_rate"],
            marker_color="#2ca02c",
            hovertemplate="%{x}<br>%{y:.1%}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=frame["supplier_name"],
            y=frame["latency_p95_seconds"],
            name=labels["latency_p95"],
            mode="markers",
            marker={"size": 12, "color": "#d62728"},
            yaxis="y2",
        )
    )
    figure.update_layout(
        yaxis={"tickformat": ".0%", "range": [0, 1.05], "title": {"text": labels["success_rate"]}},
        yaxis2={
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "title": {"text": labels["latency_p95"]},
            "showgrid": False,
        },
    )
    return _layout(figure, labels["title"])


def elasticities(frame: pd.DataFrame, title: str, regions: pd.Series | None = None) -> go.Figure:
    """Each SKU x region's elasticity with its interval as an error bar, every row labelled."""
    where = regions if regions is not None else frame["region_code"]
    names = frame["sku_name"].fillna(frame["sku_id"]).astype(str) + " · " + where.astype(str)
    point = frame["elasticity"].astype(float)
    figure = go.Figure(
        go.Scatter(
            x=point,
            y=names,
            mode="markers",
            marker={"size": 10, "color": "#1f77b4"},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": frame["elasticity_high"].astype(float) - point,
                "arrayminus": point - frame["elasticity_low"].astype(float),
            },
            hovertemplate="%{y}<br>%{x:.2f}<extra></extra>",
        )
    )
    figure.add_vline(x=-1, line_dash="dot", line_color="#7f7f7f")
    # Plotly thins out category labels it thinks crowded: name every row, top to bottom.
    figure.update_yaxes(
        tickmode="array", tickvals=list(names), ticktext=list(names), autorange="reversed"
    )
    figure.update_layout(height=max(260, 30 * len(frame) + 80))
    return _layout(figure, title)


def what_if_curve(
    prices: list[float],
    profits: list[float],
    current_price: float,
    trial_price: float,
    labels: dict[str, str],
    lows: list[float] | None = None,
    highs: list[float] | None = None,
) -> go.Figure:
    """Expected profit against price, with its interval as a band when given."""
    figure = go.Figure()
    if lows is not None and highs is not None:
        figure.add_trace(
            go.Scatter(
                x=list(prices) + list(prices)[::-1],
                y=list(highs) + list(lows)[::-1],
                fill="toself",
                fillcolor="rgba(31, 119, 180, 0.15)",
                line={"width": 0},
                name=labels.get("band", ""),
                hoverinfo="skip",
            )
        )
    figure.add_trace(
        go.Scatter(
            x=prices,
            y=profits,
            mode="lines",
            name=labels["profit"],
            hovertemplate="¥%{x:,.2f}<br>¥%{y:,.2f}<extra></extra>",
        )
    )
    figure.add_vline(
        x=current_price, line_dash="dot", line_color="#7f7f7f", annotation_text=labels["current"]
    )
    figure.add_vline(x=trial_price, line_color="#d62728", annotation_text=labels["trial"])
    figure.update_xaxes(tickprefix="¥", tickformat=",.2f")
    figure.update_yaxes(tickprefix="¥", tickformat=",.0f")
    return _layout(figure, labels["title"])


def accuracy(frame: pd.DataFrame, title: str) -> go.Figure:
    figure = go.Figure(
        go.Bar(
            x=frame["model"],
            y=frame["median_wape"],
            marker_color="#1f77b4",
            hovertemplate="%{x}<br>WAPE %{y:.1%}<extra></extra>",
        )
    )
    figure.update_yaxes(tickformat=".0%")
    return _layout(figure, title)


def profit_waterfall(steps: list[tuple[str, float]], total_label: str, title: str) -> go.Figure:
    """GMV, then each deduction as a falling bar, then net profit as a total (issue #18).

    ``steps``: (label, amount) with GMV first and the deductions as positive amounts.
    """
    (first_label, first), *deductions = steps
    net = first - sum(amount for _, amount in deductions)
    labels = [first_label, *(label for label, _ in deductions), total_label]
    values = [first, *(-amount for _, amount in deductions), net]
    figure = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", *["relative"] * len(deductions), "total"],
            text=[f"¥{abs(v):,.0f}" if v >= 0 else f"−¥{abs(v):,.0f}" for v in values],
            textposition="outside",
            connector={"line": {"color": "#999999"}},
            decreasing={"marker": {"color": "#d62728"}},
            increasing={"marker": {"color": "#1f77b4"}},
            totals={"marker": {"color": "#2ca02c" if net >= 0 else "#d62728"}},
            hovertemplate="%{x}<br>¥%{y:,.2f}<extra></extra>",
        )
    )
    figure.update_yaxes(tickprefix="¥", tickformat=",.0f")
    return _layout(figure, title)


def period_lines(frame: pd.DataFrame, value: str, names: dict[str, str], title: str) -> go.Figure:
    """One line per period (this period, the same days last year) over the period's dates."""
    figure = go.Figure()
    for period, dash in (("current", None), ("last_year", "dot")):
        part = frame[frame["period"] == period]
        figure.add_trace(
            go.Scatter(
                x=part["order_date"],
                y=part[value],
                mode="lines",
                name=names[period],
                line={"dash": dash} if dash else None,
                hovertemplate="%{x}<br>¥%{y:,.2f}<extra></extra>",
            )
        )
    figure.update_yaxes(tickprefix="¥", tickformat=",.0f")
    return _layout(figure, title)


AGENT_LINES = 8


def agent_lines(
    frame: pd.DataFrame, names: dict[str, str], title: str, most: int = AGENT_LINES
) -> go.Figure:
    """Each agent's weekly revenue as its own line, for the ``most`` agents with the most
    revenue in ``frame`` (a line per agent of a whole platform is neither readable nor light
    for the browser to draw)."""
    figure = go.Figure()
    if not frame.empty:
        totals = frame.groupby("agent_id", as_index=False)["revenue"].sum()
        totals = totals.sort_values(["revenue", "agent_id"], ascending=[False, True])
        frame = frame[frame["agent_id"].isin(totals["agent_id"].head(most))]
    for agent, part in frame.groupby("agent_id", sort=True):
        figure.add_trace(
            go.Scatter(
                x=part["week"],
                y=part["revenue"],
                mode="lines+markers",
                name=names.get(agent, str(agent)),
                hovertemplate="%{x}<br>¥%{y:,.2f}<extra></extra>",
            )
        )
    figure.update_yaxes(tickprefix="¥", tickformat=",.0f")
    return _layout(figure, title)
