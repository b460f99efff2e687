"""Scheduled reports: the weekly merchant report and the daily ops report, as XLSX and PDF.

Numbers come from the published snapshot (read-only, like the dashboard); the PDF is HTML with
Plotly charts printed by the system Chromium (headless ``--print-to-pdf``: the CJK fonts it
uses, Noto Sans CJK, are embedded in the file); the XLSX is written with openpyxl and carries
native Excel charts. Each report goes out by e-mail through the outbox, keyed by report,
recipient set and period, so a rerun of the schedule never sends it twice.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from pipelines.errors import CardPulseError
from pipelines.settings import BUSINESS_TZ

FONT_FAMILY = "Noto Sans CJK SC, Noto Sans SC, sans-serif"
TOP_SKUS = 10
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


# --- the numbers ------------------------------------------------------------------------------


@dataclass
class WeeklyReport:
    merchant_id: str  # or ALL: the whole platform
    merchant_name: str
    week_start: dt.date
    week_end: dt.date
    kpis: pd.DataFrame  # kpi, label, this_week, last_week, wow_pct, last_year, yoy_pct
    daily: pd.DataFrame  # order_date, weekday, this_week, last_week, last_year (GMV)
    top_skus: pd.DataFrame  # sku_id, sku_name, units, gross_revenue, gross_margin
    forecast: pd.DataFrame  # ds, yhat, yhat_lower, yhat_upper (units)

    @property
    def period(self) -> str:
        return f"{self.week_start:%Y-%m-%d}–{self.week_end:%Y-%m-%d}"


@dataclass
class OpsReport:
    day: dt.date
    to_order: pd.DataFrame  # sku_id, sku_name, supplier_id, on_hand, order_qty, order_by, ...
    to_top_up: pd.DataFrame  # supplier_id, balance, daily_cost, days_of_cover, topup_amount, ...
    totals: dict[str, float] = field(default_factory=dict)


KPI_LABELS = {
    "gmv": "GMV（元）",
    "net_revenue": "净收入（元）",
    "gross_margin": "毛利（元）",
    "paid_orders": "支付订单数",
    "units": "销量（件）",
    "refund_rate": "退款率",
}
WEEKDAYS = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def last_full_week(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the last whole week that ended before ``day``."""
    week_end = day - dt.timedelta(days=day.weekday() + 1)
    return week_end - dt.timedelta(days=6), week_end


def weekly_merchant_report(conn, merchant_id: str, day: dt.date) -> WeeklyReport:
    """1. The merchant tree's (or the platform's, ``ALL``) KPIs for the last full week, the week
    before (week-on-week) and the same weekdays 52 weeks earlier (year-on-year); 2. GMV per day
    of each; 3. top SKUs of the week; 4. the unit forecast for the 7 days from ``day``."""
    start, end = last_full_week(day)
    windows = {
        "this_week": (start, end),
        "last_week": (start - dt.timedelta(days=7), end - dt.timedelta(days=7)),
        "last_year": (start - dt.timedelta(days=364), end - dt.timedelta(days=364)),
    }
    tree, params = _merchant_filter(merchant_id)
    sums = {}
    daily = pd.DataFrame({"order_date": [start + dt.timedelta(days=i) for i in range(7)]})
    daily["weekday"] = list(WEEKDAYS)
    for window, (first, last) in windows.items():
        row = conn.execute(
            f"""SELECT sum(gross_revenue)::DOUBLE, sum(net_revenue)::DOUBLE,
                       sum(gross_margin)::DOUBLE, sum(paid_orders)::DOUBLE, sum(units)::DOUBLE,
                       sum(refunded_orders)::DOUBLE / nullif(sum(paid_orders), 0)
                FROM analytics.fct_daily_merchant_sales s
                WHERE order_date BETWEEN ? AND ? AND {tree}""",
            [first, last, *params],
        ).fetchone()
        sums[window] = dict(zip(KPI_LABELS, row, strict=True))
        per_day = conn.execute(
            f"""SELECT order_date, sum(gross_revenue)::DOUBLE
                FROM analytics.fct_daily_merchant_sales s
                WHERE order_date BETWEEN ? AND ? AND {tree} GROUP BY 1""",
            [first, last, *params],
        ).fetchall()
        by_offset = {(d - first).days: v for d, v in per_day}
        daily[window] = [by_offset.get(i, 0.0) for i in range(7)]
    kpis = pd.DataFrame(
        [
            {
                "kpi": key,
                "label": label,
                "this_week": sums["this_week"][key],
                "last_week": sums["last_week"][key],
                "wow_pct": _change(sums["this_week"][key], sums["last_week"][key], key),
                "last_year": sums["last_year"][key],
                "yoy_pct": _change(sums["this_week"][key], sums["last_year"][key], key),
            }
            for key, label in KPI_LABELS.items()
        ]
    )
    top = conn.execute(
        f"""SELECT s.sku_id, coalesce(any_value(k.name), s.sku_id) AS sku_name,
                   sum(s.units)::BIGINT AS units, sum(s.gross_revenue)::DOUBLE AS gross_revenue,
                   sum(s.gross_margin)::DOUBLE AS gross_margin
            FROM analytics.fct_daily_merchant_sales s
            LEFT JOIN analytics.dim_skus k USING (sku_id)
            WHERE s.order_date BETWEEN ? AND ? AND {tree}
            GROUP BY s.sku_id ORDER BY gross_revenue DESC, s.sku_id LIMIT {TOP_SKUS}""",
        [start, end, *params],
    ).df()
    return WeeklyReport(
        merchant_id=merchant_id,
        merchant_name=_merchant_name(conn, merchant_id),
        week_start=start,
        week_end=end,
        kpis=kpis,
        daily=daily,
        top_skus=top,
        forecast=_next_week_forecast(conn, merchant_id, day),
    )


def _merchant_filter(merchant_id: str) -> tuple[str, list]:
    if merchant_id == "ALL":
        return "true", []
    return (
        "s.merchant_id IN (SELECT merchant_id FROM analytics.dim_merchant_hierarchy "
        "WHERE ancestor_merchant_id = ?)",
        [merchant_id],
    )


def _merchant_name(conn, merchant_id: str) -> str:
    if merchant_id == "ALL":
        return "全平台"
    row = conn.execute(
        "SELECT name FROM analytics.dim_merchants WHERE merchant_id = ?", [merchant_id]
    ).fetchone()
    if row is None:
        raise CardPulseError(f"weekly report: no merchant {merchant_id} in the snapshot")
    return row[0] or merchant_id


def _next_week_forecast(conn, merchant_id: str, day: dt.date) -> pd.DataFrame:
    if merchant_id == "ALL":
        sql = """SELECT ds::DATE AS ds, sum(yhat)::DOUBLE AS yhat,
                        sum(yhat_lower)::DOUBLE AS yhat_lower, sum(yhat_upper)::DOUBLE AS yhat_upper
                 FROM analytics.demand_forecast
                 WHERE region_code = 'ALL' AND ds::DATE BETWEEN ? AND ?
                   AND as_of = (SELECT max(as_of) FROM analytics.demand_forecast)
                 GROUP BY 1 ORDER BY 1"""
        params: list = [day, day + dt.timedelta(days=6)]
    else:
        sql = """SELECT ds::DATE AS ds, sum(yhat)::DOUBLE AS yhat,
                        sum(yhat_lower)::DOUBLE AS yhat_lower, sum(yhat_upper)::DOUBLE AS yhat_upper
                 FROM analytics.merchant_demand_forecast f
                 WHERE sku_id = 'ALL' AND ds BETWEEN ? AND ?
                   AND as_of = (SELECT max(as_of) FROM analytics.merchant_demand_forecast)
                   AND merchant_id IN (SELECT merchant_id FROM analytics.dim_merchant_hierarchy
                                       WHERE ancestor_merchant_id = ?)
                 GROUP BY 1 ORDER BY 1"""
        params = [day, day + dt.timedelta(days=6), merchant_id]
    return conn.execute(sql, params).df()


def daily_ops_report(conn, day: dt.date) -> OpsReport:
    """What to order today (restock lines due by ``day``) and balances to top up (suppliers
    with a top-up amount, soonest first)."""
    to_order = conn.execute(
        """SELECT r.sku_id, coalesce(k.name, r.sku_id) AS sku_name, r.supplier_id, r.on_hand,
                  r.order_qty, r.order_by, r.stockout_date, r.reason_zh
           FROM analytics.restock_plan r LEFT JOIN analytics.dim_skus k USING (sku_id)
           WHERE r.order_qty > 0 AND r.order_by <= ?
           ORDER BY r.order_by, r.stockout_date NULLS LAST, r.sku_id""",
        [day],
    ).df()
    to_top_up = conn.execute(
        """SELECT supplier_id, balance::DOUBLE AS balance, daily_cost::DOUBLE AS daily_cost,
                  days_of_cover, topup_amount::DOUBLE AS topup_amount, topup_by, reason_zh
           FROM analytics.funding_plan WHERE topup_amount > 0
           ORDER BY topup_by NULLS LAST, supplier_id"""
    ).df()
    totals = {
        "keys_to_order": float(to_order["order_qty"].sum()) if len(to_order) else 0.0,
        "topup_total": float(to_top_up["topup_amount"].sum()) if len(to_top_up) else 0.0,
    }
    return OpsReport(day=day, to_order=to_order, to_top_up=to_top_up, totals=totals)


def _change(now, before, kpi: str = "") -> float | None:
    """Change in % of the earlier value; for a rate (refund rate), in percentage points."""
    if kpi == "refund_rate":
        return None if now is None or before is None else (now - before) * 100.0
    if now is None or before in (None, 0):
        return None
    return (now - before) / abs(before) * 100.0


# --- XLSX -------------------------------------------------------------------------------------


def weekly_xlsx(report: WeeklyReport, path: Path) -> Path:
    """Sheets 指标 (KPIs, WoW, YoY), 每日GMV (with a line chart), 热销商品 (bar chart), 下周预测."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, LineChart, Reference

    book = Workbook()
    kpi = book.active
    kpi.title = "指标"
    kpi.append([f"{report.merchant_name}（{report.merchant_id}）周报 {report.period}"])
    kpi.append(["指标", "本周", "上周", "环比 %（率：百分点）", "去年同期", "同比 %（率：百分点）"])
    for row in report.kpis.itertuples():
        kpi.append([row.label, _cell(row.this_week), _cell(row.last_week), _cell(row.wow_pct),
                    _cell(row.last_year), _cell(row.yoy_pct)])  # fmt: skip
    daily = book.create_sheet("每日GMV")
    daily.append(["日期", "星期", "本周", "上周", "去年同期"])
    for row in report.daily.itertuples():
        daily.append([row.order_date, row.weekday, row.this_week, row.last_week, row.last_year])
    chart = LineChart()
    chart.title, chart.y_axis.title = "每日 GMV（元）", "元"
    chart.add_data(
        Reference(daily, min_col=3, max_col=5, min_row=1, max_row=8), titles_from_data=True
    )
    chart.set_categories(Reference(daily, min_col=2, min_row=2, max_row=8))
    daily.add_chart(chart, "G2")
    top = book.create_sheet("热销商品")
    top.append(["商品编号", "商品名称", "销量", "GMV（元）", "毛利（元）"])
    for row in report.top_skus.itertuples():
        top.append([row.sku_id, row.sku_name, int(row.units), row.gross_revenue, row.gross_margin])
    if len(report.top_skus):
        bars = BarChart()
        bars.type, bars.title = "bar", "本周热销商品 GMV"
        last = len(report.top_skus) + 1
        bars.add_data(Reference(top, min_col=4, min_row=1, max_row=last), titles_from_data=True)
        bars.set_categories(Reference(top, min_col=2, min_row=2, max_row=last))
        top.add_chart(bars, "G2")
    forecast = book.create_sheet("下周预测")
    forecast.append(["日期", "预测销量", "下限", "上限"])
    for row in report.forecast.itertuples():
        forecast.append([row.ds, row.yhat, row.yhat_lower, row.yhat_upper])
    book.save(path)
    return path


def ops_xlsx(report: OpsReport, path: Path) -> Path:
    """Sheets 今日订货 (with a bar chart) and 余额充值."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    book = Workbook()
    order = book.active
    order.title = "今日订货"
    order.append(["商品编号", "商品名称", "供应商", "现有库存", "订货数量", "最晚下单", "预计断货",
                  "原因"])  # fmt: skip
    for row in report.to_order.itertuples():
        order.append([row.sku_id, row.sku_name, row.supplier_id, _cell(row.on_hand),
                      _cell(row.order_qty), _cell(row.order_by), _cell(row.stockout_date),
                      row.reason_zh])  # fmt: skip
    if len(report.to_order):
        bars = BarChart()
        bars.title = "今日订货数量（张）"
        last = min(len(report.to_order), 20) + 1
        bars.add_data(Reference(order, min_col=5, min_row=1, max_row=last), titles_from_data=True)
        bars.set_categories(Reference(order, min_col=2, min_row=2, max_row=last))
        order.add_chart(bars, "J2")
    topup = book.create_sheet("余额充值")
    topup.append(["供应商", "余额（元）", "日均消耗（元）", "可用天数", "充值金额（元）",
                  "最晚到账", "原因"])  # fmt: skip
    for row in report.to_top_up.itertuples():
        topup.append([row.supplier_id, _cell(row.balance), _cell(row.daily_cost),
                      _cell(row.days_of_cover), _cell(row.topup_amount), _cell(row.topup_by),
                      row.reason_zh])  # fmt: skip
    book.save(path)
    return path


def _cell(value):
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value.item() if hasattr(value, "item") else value


# --- PDF --------------------------------------------------------------------------------------


def weekly_html(report: WeeklyReport) -> str:
    import plotly.graph_objects as go

    daily = go.Figure()
    for column, name in (("this_week", "本周"), ("last_week", "上周"), ("last_year", "去年同期")):
        daily.add_trace(go.Scatter(x=report.daily["weekday"], y=report.daily[column], name=name,
                                   mode="lines+markers"))  # fmt: skip
    _layout(daily, "每日 GMV（元）：本周、上周与去年同期")
    top = report.top_skus.iloc[::-1]
    bars = go.Figure(go.Bar(x=top["gross_revenue"], y=top["sku_name"], orientation="h"))
    _layout(bars, "本周热销商品（GMV，元）")
    forecast = go.Figure()
    if len(report.forecast):
        f = report.forecast
        forecast.add_trace(go.Scatter(x=f["ds"], y=f["yhat_upper"], line={"width": 0},
                                      showlegend=False))  # fmt: skip
        forecast.add_trace(go.Scatter(x=f["ds"], y=f["yhat_lower"], fill="tonexty",
                                      line={"width": 0}, name="区间"))  # fmt: skip
        forecast.add_trace(
            go.Scatter(x=f["ds"], y=f["yhat"], name="预测销量", mode="lines+markers")
        )
    _layout(forecast, "下周销量预测（件）")
    forecast.update_xaxes(tickformat="%m-%d")
    rows = "".join(
        f"<tr><td>{html.escape(r.label)}</td><td>{_fmt(r.this_week, r.kpi)}</td>"
        f"<td>{_fmt(r.last_week, r.kpi)}</td><td>{_pct(r.wow_pct, r.kpi)}</td>"
        f"<td>{_fmt(r.last_year, r.kpi)}</td><td>{_pct(r.yoy_pct, r.kpi)}</td></tr>"
        for r in report.kpis.itertuples()
    )
    kpi_table = (
        "<table><tr><th>指标</th><th>本周</th><th>上周</th><th>环比</th><th>去年同期</th>"
        f"<th>同比</th></tr>{rows}</table>"
    )
    top_rows = "".join(
        f"<tr><td>{html.escape(str(r.sku_name))}</td><td>{int(r.units):,}</td>"
        f"<td>{_fmt(r.gross_revenue)}</td><td>{_fmt(r.gross_margin)}</td></tr>"
        for r in report.top_skus.itertuples()
    )
    top_table = (
        f"<table><tr><th>商品</th><th>销量</th><th>GMV</th><th>毛利</th></tr>{top_rows}</table>"
    )
    body = (
        f"<h1>{html.escape(report.merchant_name)} 经营周报</h1>"
        f"<p class='sub'>商户 {html.escape(report.merchant_id)} · {report.period} · CardPulse</p>"
        f"<h2>核心指标（环比、同比）</h2>{kpi_table}{_figure(daily)}"
        f"<h2>热销商品</h2>{top_table}{_figure(bars)}"
        f"<h2>下周预测</h2>{_figure(forecast)}"
    )
    return _page(f"经营周报 {report.period}", body)


def ops_html(report: OpsReport) -> str:
    import plotly.graph_objects as go

    order_rows = "".join(
        f"<tr><td>{html.escape(str(r.sku_name))}</td><td>{html.escape(str(r.supplier_id))}</td>"
        f"<td>{_fmt(r.on_hand)}</td><td>{_fmt(r.order_qty)}</td><td>{r.order_by}</td>"
        f"<td>{html.escape(str(r.reason_zh or ''))}</td></tr>"
        for r in report.to_order.itertuples()
    )
    topup_rows = "".join(
        f"<tr><td>{html.escape(str(r.supplier_id))}</td><td>{_fmt(r.balance)}</td>"
        f"<td>{_fmt(r.daily_cost)}</td><td>{_fmt(r.topup_amount)}</td><td>{r.topup_by}</td>"
        f"<td>{html.escape(str(r.reason_zh or ''))}</td></tr>"
        for r in report.to_top_up.itertuples()
    )
    head = report.to_order.head(20).iloc[::-1]
    bars = go.Figure(go.Bar(x=head["order_qty"], y=head["sku_name"], orientation="h"))
    _layout(bars, "今日订货数量（张）")
    funding = go.Figure(
        go.Bar(x=report.to_top_up["supplier_id"], y=report.to_top_up["topup_amount"])
    )
    _layout(funding, "需充值金额（元）")
    body = (
        f"<h1>运营日报 {report.day}</h1>"
        f"<p class='sub'>今日需订货 {len(report.to_order)} 项，"
        f"共 {report.totals['keys_to_order']:,.0f} 张；"
        f"需充值 {len(report.to_top_up)} 家供应商，共 ¥{report.totals['topup_total']:,.0f}</p>"
        "<h2>今日订货</h2><table><tr><th>商品</th><th>供应商</th><th>现有库存</th><th>订货数量</th>"
        f"<th>最晚下单</th><th>原因</th></tr>{order_rows}</table>"
        + (_figure(bars) if len(report.to_order) else "<p>今日无需订货。</p>")
        + "<h2>余额充值</h2><table><tr><th>供应商</th><th>余额</th><th>日均消耗</th>"
        f"<th>充值金额</th><th>最晚到账</th><th>原因</th></tr>{topup_rows}</table>"
        + (_figure(funding) if len(report.to_top_up) else "<p>暂无需要充值的供应商。</p>")
    )
    return _page(f"运营日报 {report.day}", body)


def _layout(figure, title: str) -> None:
    figure.update_layout(
        title=title, width=720, height=320, margin={"l": 60, "r": 20, "t": 50, "b": 40},
        font={"family": FONT_FAMILY, "size": 12}, template="plotly_white",
    )  # fmt: skip


def _figure(figure) -> str:
    return figure.to_html(full_html=False, include_plotlyjs=False, config={"staticPlot": True})


def _page(title: str, body: str) -> str:
    from plotly.offline import get_plotlyjs

    style = f"""
      @page {{ size: A4; margin: 14mm; }}
      body {{ font-family: {FONT_FAMILY}; font-size: 11pt; color: #222; }}
      h1 {{ font-size: 18pt; margin: 0 0 4pt; }} h2 {{ font-size: 13pt; margin: 14pt 0 6pt; }}
      .sub {{ color: #666; margin: 0 0 8pt; }}
      table {{ border-collapse: collapse; width: 100%; margin-bottom: 6pt; }}
      th, td {{ border: 1px solid #ccc; padding: 3pt 5pt; text-align: left; font-size: 9.5pt; }}
      th {{ background: #f2f4f7; }}
      .plotly-graph-div {{ page-break-inside: avoid; }}
    """
    return (
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}"
        f"</title><style>{style}</style><script>{get_plotlyjs()}</script></head>"
        f"<body>{body}</body></html>"
    )


def _fmt(value, kpi: str = "") -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "—"
    if kpi == "refund_rate":
        return f"{value * 100:.1f}%"
    return f"{value:,.0f}" if isinstance(value, int | float) else html.escape(str(value))


def _pct(value, kpi: str = "") -> str:
    if value is None or pd.isna(value):
        return "—"
    return f"{value:+.1f} 个百分点" if kpi == "refund_rate" else f"{value:+.1f}%"


def chromium_path() -> str:
    """``$CARDPULSE_CHROMIUM``, else the first Chromium or Chrome on PATH."""
    configured = os.environ.get("CARDPULSE_CHROMIUM")
    if configured:
        return configured
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise CardPulseError(
        "reports need Chromium to print PDFs: install it (Debian: apt-get install chromium "
        "fonts-noto-cjk) or set CARDPULSE_CHROMIUM to its path"
    )


def html_to_pdf(page: str, pdf_path: Path, timeout: float = 120.0) -> Path:
    """Print ``page`` to ``pdf_path`` with headless Chromium; the fonts it used are embedded."""
    with tempfile.TemporaryDirectory(prefix="cardpulse-report-") as work:
        source = Path(work) / "report.html"
        source.write_text(page, encoding="utf-8")
        target = Path(work) / "report.pdf"
        command = [
            chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", f"--user-data-dir={Path(work) / 'profile'}",
            "--no-pdf-header-footer", "--virtual-time-budget=10000",
            f"--print-to-pdf={target}", source.as_uri(),
        ]  # fmt: skip
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CardPulseError(f"Chromium took more than {timeout:.0f} s to print") from None
        if done.returncode != 0 or not target.exists() or target.stat().st_size == 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise CardPulseError(f"Chromium could not print the report: {last}")
        pdf_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(target), pdf_path)
    return pdf_path


# --- sending ----------------------------------------------------------------------------------


def today_business() -> dt.date:
    return dt.datetime.now(ZoneInfo(BUSINESS_TZ)).date()


def report_day(conn, day: dt.date | str | None) -> dt.date:
    """The given day, else the snapshot's "today" (the build's as_of), else today."""
    if isinstance(day, str):
        try:
            return dt.date.fromisoformat(day)
        except ValueError:
            raise CardPulseError(f"expected a date as YYYY-MM-DD, got {day!r}") from None
    if day is not None:
        return day
    try:
        row = conn.execute("SELECT max(as_of) FROM analytics.build_info").fetchone()
    except Exception:
        row = None
    return row[0] if row and row[0] else today_business()


def render_weekly(conn, merchant_id: str, day: dt.date, folder: Path):
    report = weekly_merchant_report(conn, merchant_id, day)
    stem = f"weekly_{merchant_id}_{report.week_start:%Y%m%d}"
    xlsx = weekly_xlsx(report, folder / f"{stem}.xlsx")
    pdf = html_to_pdf(weekly_html(report), folder / f"{stem}.pdf")
    return report, (xlsx, pdf)


def render_ops(conn, day: dt.date, folder: Path):
    report = daily_ops_report(conn, day)
    stem = f"daily_ops_{day:%Y%m%d}"
    xlsx = ops_xlsx(report, folder / f"{stem}.xlsx")
    pdf = html_to_pdf(ops_html(report), folder / f"{stem}.pdf")
    return report, (xlsx, pdf)


def weekly_text(report: WeeklyReport) -> str:
    lines = [f"{report.merchant_name}（{report.merchant_id}）{report.period} 经营周报：", ""]
    for r in report.kpis.itertuples():
        change = f"环比 {_pct(r.wow_pct, r.kpi)}，同比 {_pct(r.yoy_pct, r.kpi)}"
        lines.append(f"- {r.label}：{_fmt(r.this_week, r.kpi)}（{change}）")
    lines += ["", "明细与图表见附件（PDF、XLSX）。"]
    return "\n".join(lines)


def ops_text(report: OpsReport) -> str:
    return (
        f"运营日报 {report.day}：\n\n- 今日需订货 {len(report.to_order)} 项，共 "
        f"{report.totals['keys_to_order']:,.0f} 张\n- 需充值 {len(report.to_top_up)} 家供应商，共 "
        f"¥{report.totals['topup_total']:,.0f}\n\n明细与图表见附件（PDF、XLSX）。"
    )


def send_report(name: str, config, day: dt.date | str | None = None) -> str:
    """Render ``name`` (``weekly_merchant`` or ``daily_ops``) from the snapshot, record one
    message per recipient set in the outbox and deliver; returns a line to print."""
    import duckdb

    from pipelines.notify import channels, outbox
    from pipelines.settings import home

    settings = getattr(config.reports, name)
    if settings is None or not settings.enabled:
        return f"{name}: not configured in cardpulse.toml [reports.{name}]; nothing sent"
    installation = home()
    if not installation.snapshot.exists():
        raise CardPulseError(f"no snapshot at {installation.snapshot}: run `cardpulse build` first")
    jobs = []  # (firing key, message)
    with duckdb.connect(str(installation.snapshot), read_only=True) as conn:
        day = report_day(conn, day)
        folder = installation.root / "reports" / name / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        if name == "weekly_merchant":
            for merchant_id, addresses in settings.merchants.items():
                report, files = render_weekly(conn, merchant_id, day, folder)
                title = f"CardPulse 经营周报 · {report.merchant_name} · {report.period}"
                key = f"report:weekly_merchant:{merchant_id}:{report.week_start}"
                jobs.append((key, channels.Message(title, weekly_text(report), files,
                                                   to=addresses)))  # fmt: skip
        else:
            report, files = render_ops(conn, day, folder)
            title = f"CardPulse 运营日报 · {day}"
            key = f"report:daily_ops:{day}"
            jobs.append((key, channels.Message(title, ops_text(report), files, to=settings.to)))
    with duckdb.connect(str(installation.warehouse)) as conn:
        fresh = sum(
            outbox.enqueue_message(conn, key, "report", settings.channel, message, batch_id=key)
            for key, message in jobs
        )
        delivery = outbox.deliver(conn, config)
    already = len(jobs) - fresh
    note = f" ({already} already sent for this period)" if already else ""
    return f"{name} for {day}: {len(jobs)} report(s) rendered in {folder}{note}; {delivery.line()}"
