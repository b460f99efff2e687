"""Merchant overview: headline numbers against the previous period, trend with forecast,
top SKUs, provinces and channels, for the signed-in scope and the chosen filters."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st

from dashboard import figures, periods, prefetch, ui
from dashboard.data import exports, queries
from dashboard.data.overview import Filters
from dashboard.i18n import business_date, code_label, duration, money, percent

ctx = ui.page_context(("merchant", "ops", "pricing", "admin"))
st.title(ctx.t("page_overview"))
ui.build_caption(ctx)

options = ctx.query("filter_options")
if options["min_date"] is None:
    ui.empty_notice(ctx, None, "fct_daily_merchant_sales")
    st.stop()
first_day, last_day = options["min_date"], options["max_date"]
sku_options = options["skus"]
merchant_options = options["merchants"]


def _param_list(name: str) -> list[str]:
    raw = st.query_params.get(name, "")
    return [value for value in raw.split(",") if value] if raw else []


def _param_date(name: str, fallback: date) -> date:
    try:
        chosen = date.fromisoformat(st.query_params.get(name, ""))
    except ValueError:
        return fallback
    return min(max(chosen, first_day), last_day)


# Query parameters only preselect widgets, and only with values the scope offers. Without
# them: the filters a sign-in has already queried in the background (dashboard/prefetch.py).
unpicked = prefetch.default_filters(first_day, last_day)
default_start = _param_date("start", unpicked.start)
default_end = _param_date("end", unpicked.end)
all_categories = sorted(sku_options["category"].unique()) if not sku_options.empty else []
default_categories = [c for c in _param_list("category") if c in all_categories]
merchant_ids = list(merchant_options["merchant_id"]) if not merchant_options.empty else []
merchant_names = dict(zip(merchant_ids, merchant_options.get("name", []), strict=False))
requested_merchant = st.query_params.get("merchant")

# Widget state is seeded once (from query parameters when given); presets and drill-down
# callbacks then write it, which a widget's default value would fight.
DATES_KEY = "ov_dates"
if DATES_KEY not in st.session_state:
    st.session_state[DATES_KEY] = (default_start, min(max(default_end, default_start), last_day))
if "ov_preset" not in st.session_state:
    asked = "start" in st.query_params or "end" in st.query_params
    st.session_state["ov_preset"] = "custom" if asked else periods.DEFAULT_PRESET


def _apply_preset() -> None:
    preset = st.session_state["ov_preset"]
    chosen = periods.preset_range(preset, first_day, last_day)
    if chosen is not None:
        st.session_state[DATES_KEY] = chosen
    elif preset != "custom":
        st.session_state["ov_preset_empty"] = True


def _dates_changed() -> None:
    st.session_state["ov_preset"] = "custom"


def _clicked(chart_key: str) -> str | None:
    """The id a click on a chart picked (each point carries its id first in customdata)."""
    points = st.session_state[chart_key].selection.points
    picked = [p.get("customdata") for p in points if p.get("customdata")]
    if not picked:
        return None
    return str(picked[0][0] if isinstance(picked[0], list) else picked[0])


def _drill_to_sku() -> None:
    """A click on a top-SKU bar narrows the filters to that SKU."""
    sku = _clicked("top_skus")
    if sku:
        st.session_state["ov_skus"] = [sku]


def _drill_to_region(chart_key: str):
    """A click on a province (tile or ranked bar) narrows the filters to that province."""

    def drill() -> None:
        region = _clicked(chart_key)
        if region in REGION_CODES:
            st.session_state["ov_regions"] = [region]

    return drill


REGION_CODES = [*figures.PROVINCE_TILES, "UNKNOWN"]
if "ov_regions" not in st.session_state:
    st.session_state["ov_regions"] = [r for r in _param_list("region") if r in REGION_CODES]


with st.expander(ctx.t("filters"), expanded=True):
    top_row = st.columns([2, 3, 2])
    top_row[0].selectbox(
        ctx.t("date_preset"),
        periods.PRESETS,
        format_func=lambda preset: ctx.t(f"preset_{preset}"),
        key="ov_preset",
        on_change=_apply_preset,
    )
    # The date range needs room for two full dates.
    picked_dates = top_row[1].date_input(
        ctx.t("date_range"),
        min_value=first_day,
        max_value=last_day,
        key=DATES_KEY,
        on_change=_dates_changed,
    )
    compare = top_row[2].segmented_control(
        ctx.t("compare_with"),
        periods.COMPARISONS,
        format_func=lambda c: ctx.t(f"compare_{c}"),
        default=prefetch.DEFAULT_COMPARE,
        required=True,
        key="ov_compare",
    )
    # The SKU list needs room for long names.
    columns = st.columns([2, 3, 2, 2])
    categories = columns[0].multiselect(
        ctx.t("category"),
        all_categories,
        default=default_categories,
        format_func=lambda code: code_label("category", code, ctx.lang),
        placeholder=ctx.t("choose"),
        select_all=False,  # Streamlit writes "Select all" in English; nothing picked = all
        key="ov_categories",
    )
    shown_skus = (
        sku_options[sku_options["category"].isin(categories)] if categories else sku_options
    )
    sku_labels = dict(zip(shown_skus["sku_id"], shown_skus["name"], strict=True))
    if "ov_skus" not in st.session_state:
        st.session_state["ov_skus"] = [s for s in _param_list("sku") if s in sku_labels]
    # A category change can leave a picked SKU outside the list: it is dropped, not an error.
    st.session_state["ov_skus"] = [s for s in st.session_state["ov_skus"] if s in sku_labels]
    skus = columns[1].multiselect(
        ctx.t("sku"),
        list(sku_labels),
        format_func=lambda sku: f"{sku_labels.get(sku, sku)} ({sku})",
        placeholder=ctx.t("choose"),
        select_all=False,
        key="ov_skus",
    )
    regions = columns[2].multiselect(
        ctx.t("region"),
        REGION_CODES,
        format_func=lambda code: code_label("region", code, ctx.lang),
        placeholder=ctx.t("choose"),
        select_all=False,
        key="ov_regions",
    )
    merchant_choices = [None, *merchant_ids]
    merchant = columns[3].selectbox(
        ctx.t("merchant"),
        merchant_choices,
        index=merchant_choices.index(requested_merchant)
        if requested_merchant in merchant_ids
        else 0,
        format_func=lambda m: (
            ctx.t("all_merchants") if m is None else f"{merchant_names.get(m, m)} ({m})"
        ),
        key="ov_merchant",
    )

if st.session_state.pop("ov_preset_empty", False):
    st.info(ctx.t("preset_no_data", first=business_date(first_day)))
if isinstance(picked_dates, tuple) and len(picked_dates) == 2:
    start, end = picked_dates
elif isinstance(picked_dates, tuple) and picked_dates:
    start = end = picked_dates[0]
else:
    start, end = default_start, default_end
filters = Filters(start, end, tuple(categories), tuple(skus), merchant, tuple(regions))
if ctx.scope.is_merchant:
    st.caption(
        ctx.t(
            "merchant_scope",
            merchant=f"{merchant_names.get(ctx.scope.merchant_id, '')} ({ctx.scope.merchant_id})",
        )
    )

# --- headline numbers
compare = compare or "previous"
figures_now = ctx.query("kpis", filters, compare)
current, previous = figures_now["current"], figures_now["previous"]


def _change(now: float | None, before: float | None) -> str | None:
    if now is None or not before:
        return None
    return f"{(now - before) / abs(before):+.1%}"


def _points(now: float | None, before: float | None) -> str | None:
    if now is None or before is None:
        return None
    return ctx.t("points", value=f"{(now - before) * 100:+.2f}")


# Two rows: money needs room for ¥ and thousands separators without being cut off.
metrics = st.columns(4) + st.columns(4)[:3]
metrics[0].metric(ctx.t("gmv"), money(current["gmv"], 0), _change(current["gmv"], previous["gmv"]))
metrics[1].metric(
    ctx.t("net_revenue"),
    money(current["net_revenue"], 0),
    _change(current["net_revenue"], previous["net_revenue"]),
)
metrics[2].metric(
    ctx.t("gross_margin"),
    money(current["gross_margin"], 0),
    _change(current["gross_margin"], previous["gross_margin"]),
)
metrics[3].metric(
    ctx.t("orders"), f"{current['orders']:,.0f}", _change(current["orders"], previous["orders"])
)
metrics[4].metric(
    ctx.t("refund_rate"),
    percent(current["refund_rate"]),
    _points(current["refund_rate"], previous["refund_rate"]),
    delta_color="inverse",
)
metrics[5].metric(
    ctx.t("failure_rate"),
    percent(current["failure_rate"]),
    _points(current["failure_rate"], previous["failure_rate"]),
    delta_color="inverse",
)
metrics[6].metric(
    ctx.t("avg_delivery"),
    duration(current["avg_delivery_seconds"], ctx.lang),
    _change(current["avg_delivery_seconds"], previous["avg_delivery_seconds"]),
    delta_color="inverse",
)
compared_start, compared_end = periods.comparison_range(start, end, compare)
st.caption(
    ctx.t("vs_year" if compare == "year" else "vs_previous")
    + f": {business_date(compared_start)} – {business_date(compared_end)}"
)

# --- trend with forecast
daily = ctx.query("daily_sales", filters)
if daily.empty:
    st.info(ctx.t("no_rows_in_filter"))
    st.stop()
predicted = ctx.query("forecast", filters)
horizon_end = pd.Timestamp(predicted["ds"].max()).date() if not predicted.empty else end
marked_events = ctx.query("events", start, horizon_end, tuple(categories), tuple(skus))
labels = {
    "title": ctx.t("daily_trend"),
    "units": ctx.t("units"),
    "forecast": ctx.t("forecast"),
    "forecast_band": ctx.t("forecast_band"),
}
st.plotly_chart(
    figures.trend(
        daily,
        predicted,
        figures.holiday_ranges(start, horizon_end, ctx.lang),
        marked_events,
        labels,
    ),
    key="trend",
)
if "source" in predicted and not predicted.empty:
    st.caption(ctx.t(f"forecast_{predicted['source'].iloc[0]}_note"))
elif regions:
    st.caption(ctx.t("forecast_all_provinces"))

left, right = st.columns(2)
top = ctx.query("top_skus", filters)
left.plotly_chart(
    figures.ranked_bar(top, "sku_id", "gmv", ctx.t("top_skus"), label_column="name"),
    key="top_skus",
    on_select=_drill_to_sku,
    selection_mode="points",
)
left.caption(ctx.t("drill_hint"))
by_region = ctx.query("provinces", filters)
by_region = by_region.assign(
    region_name=by_region["region_code"].map(lambda code: code_label("region", code, ctx.lang))
)
# Only the open tab runs and draws (on_change="rerun"): a hidden chart costs the browser as
# much as a shown one.
tiles, ranked = right.tabs(
    [ctx.t("province_map"), ctx.t("province_ranking")], key="ov_province_tab", on_change="rerun"
)
if tiles.open:
    tiles.plotly_chart(
        figures.province_tiles(by_region, "gmv", ctx.t("provinces"), ctx.lang, legend=ctx.t("gmv")),
        key="province_tiles",
        on_select=_drill_to_region("province_tiles"),
        selection_mode="points",
    )
if ranked.open:
    ranked.plotly_chart(
        figures.ranked_bar(
            by_region, "region_code", "gmv", ctx.t("provinces"), label_column="region_name"
        ),
        key="provinces",
        on_select=_drill_to_region("provinces"),
        selection_mode="points",
    )
right.caption(ctx.t("region_drill_hint"))
left, right = st.columns(2)
channels = ctx.query("channels", filters)
channels = channels.assign(
    channel=channels["channel"].map(lambda code: code_label("channel", code, ctx.lang))
)
left.plotly_chart(figures.channel_pie(channels, ctx.t("channels")), key="channels")
with right:
    # The SKU's name says what it is; its id is in the CSV. Fewer columns leave GMV room.
    ui.table(
        ctx,
        top.drop(columns=["sku_id"], errors="ignore"),
        key="top_table",
        formats={"gmv": "money0", "gross_margin": "money0"},
    )

ui.download_button(
    st,
    ctx.t("download_csv"),
    # Built only when clicked, with the scope and filters of this render.
    data=lambda: exports.to_csv(queries.load("shown_sales", ctx.snapshot, ctx.scope, filters)),
    file_name=f"cardpulse_overview_{start}_{end}.csv",
    mime="text/csv",
    key="download_overview",
)
