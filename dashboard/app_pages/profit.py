"""Profit and channels (issue #18): the waterfall from GMV to net profit against the same period
last year, coupon results, payment channels and agents, for the signed-in scope and filters."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from dashboard import figures, ui
from dashboard.data import exports, queries
from dashboard.data.profit import ProfitFilters
from dashboard.i18n import code_label, money

ctx = ui.page_context(("merchant", "ops", "pricing", "admin"))
st.title(ctx.t("page_profit"))
ui.build_caption(ctx)

options = ctx.query("profit_options")
if options["min_date"] is None:
    st.info(ctx.t("no_profit_data"))
    st.stop()
first_day, last_day = options["min_date"], options["max_date"]
if ctx.scope.agent_id:
    st.caption(ctx.t("agent_scope", agent=ctx.scope.agent_id))

with st.expander(ctx.t("filters"), expanded=True):
    columns = st.columns([3, 2, 2, 2, 2])
    picked = columns[0].date_input(
        ctx.t("date_range"),
        value=(max(first_day, last_day - timedelta(days=29)), last_day),
        min_value=first_day,
        max_value=last_day,
        key="pf_dates",
    )
    common = {"placeholder": ctx.t("choose"), "select_all": False}
    skus = columns[1].multiselect(ctx.t("sku"), options["skus"], key="pf_skus", **common)
    channels = columns[2].multiselect(
        ctx.t("payment_channel"),
        options["channels"],
        format_func=lambda code: code_label("payment_channel", code, ctx.lang),
        key="pf_channels",
        **common,
    )
    agents = columns[3].multiselect(
        ctx.t("agent"),
        options["agents"],
        disabled=bool(ctx.scope.agent_id),
        key="pf_agents",
        **common,
    )
    coupons = columns[4].multiselect(
        ctx.t("coupon"), options["coupons"], key="pf_coupons", **common
    )

if isinstance(picked, tuple) and len(picked) == 2:
    start, end = picked
elif isinstance(picked, tuple) and picked:
    start = end = picked[0]
else:
    start, end = max(first_day, last_day - timedelta(days=29)), last_day
filters = ProfitFilters(start, end, tuple(skus), tuple(channels), tuple(agents), tuple(coupons))

# --- waterfall, this period against the same weekdays a year before
sums = ctx.query("waterfall", filters)
now, before = sums["current"], sums["last_year"]
steps = [
    (ctx.t("wf_gmv"), now["gmv"]),
    (ctx.t("wf_discount"), now["discount_amount"]),
    (ctx.t("wf_fee"), now["payment_fee"]),
    (ctx.t("wf_commission"), now["agent_commission"]),
    (ctx.t("wf_cost"), now["cost_amount"]),
]
left, right = st.columns([3, 2])
left.plotly_chart(
    figures.profit_waterfall(steps, ctx.t("wf_profit"), ctx.t("profit_waterfall")),
    key="waterfall",
)


def _change(value: float, previous: float) -> str | None:
    return f"{(value - previous) / abs(previous):+.1%}" if previous else None


with right:
    st.subheader(ctx.t("vs_last_year"))
    for label, key in (
        ("wf_gmv", "gmv"),
        ("wf_discount", "discount_amount"),
        ("wf_fee", "payment_fee"),
        ("wf_commission", "agent_commission"),
        ("wf_profit", "net_profit"),
    ):
        st.metric(ctx.t(label), money(now[key], 0), _change(now[key], before[key]))
    if now["uncosted_orders"]:
        st.caption(ctx.t("uncosted_orders", count=f"{now['uncosted_orders']:,.0f}"))

daily = ctx.query("profit_daily", filters)
if not daily.empty:
    names = {"current": ctx.t("this_period"), "last_year": ctx.t("same_period_last_year")}
    st.plotly_chart(
        figures.period_lines(daily, "net_profit", names, ctx.t("profit_trend")), key="trend"
    )

# --- coupons
st.subheader(ctx.t("coupon_results"))
coupon_table = ctx.query("coupon_results", filters)
if coupon_table.empty:
    st.info(ctx.t("no_rows_in_filter"))
else:
    ui.table(
        ctx,
        coupon_table,
        key="coupons",
        money=("discount_amount", "revenue", "net_profit"),
        formats={
            "incremental_orders": "float1",
            "incremental_low": "float1",
            "incremental_high": "float1",
        },  # fmt: skip
    )
    st.caption(ctx.t("coupon_note"))

# --- payment channels
st.subheader(ctx.t("payment_channel_results"))
channel_table = ctx.query("payment_channels", filters)
if channel_table.empty:
    st.info(ctx.t("no_rows_in_filter"))
else:
    left, right = st.columns(2)
    shown = channel_table.assign(
        channel=channel_table["payment_channel"].map(
            lambda code: code_label("payment_channel", code, ctx.lang)
        )
    )
    left.plotly_chart(
        figures.channel_pie(shown.rename(columns={"revenue": "gmv"}), ctx.t("payment_channel")),
        key="channel_share",
    )
    with right:
        ui.table(
            ctx,
            channel_table,
            key="channels",
            money=("revenue", "payment_fee"),
            percent=("share", "success_rate", "fee_rate"),
        )

# --- agents
st.subheader(ctx.t("agent_results"))
agent_table = ctx.query("agent_ranking", filters)
if not agent_table.empty:
    ui.table(
        ctx,
        agent_table,
        key="agents",
        money=("revenue", "agent_commission", "net_profit"),
        formats={"commission_pct": "float1"},
    )
    trend = ctx.query("agent_trend", filters)
    st.plotly_chart(figures.agent_lines(trend, {}, ctx.t("agent_trend")), key="agent_trend")
    if len(agent_table) > figures.AGENT_LINES:  # the chart keeps the biggest; the table all
        st.caption(ctx.t("agent_trend_top", shown=figures.AGENT_LINES, total=len(agent_table)))

# --- exports: built only when clicked, with the scope and filters of this render
left, right = st.columns(2)
ui.download_button(
    left,
    ctx.t("download_csv"),
    data=lambda: exports.to_csv(queries.load("profit_orders", ctx.snapshot, ctx.scope, filters)),
    file_name=f"cardpulse_profit_{start}_{end}.csv",
    mime="text/csv",
    key="download_profit_csv",
)
ui.download_button(
    right,
    ctx.t("download_xlsx"),
    data=lambda: exports.to_xlsx(
        {
            "orders": queries.load("profit_orders", ctx.snapshot, ctx.scope, filters),
            "coupons": coupon_table,
            "channels": channel_table,
            "agents": agent_table,
        }
    ),
    file_name=f"cardpulse_profit_{start}_{end}.xlsx",
    mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    key="download_profit_xlsx",
)
