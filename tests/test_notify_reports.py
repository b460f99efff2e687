"""Scheduled reports: the weekly merchant report and the daily ops report rendered from a
published snapshot (XLSX with charts; PDF printed by the system Chromium with Chinese fonts
embedded) and e-mailed through a real SMTP server, once per period, by the Dagster job the
schedule runs in Asia/Shanghai time."""

from __future__ import annotations

import io
import shutil
import textwrap
import unicodedata
from datetime import timedelta

import dashboard_fixtures as fx
import duckdb
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from pipelines.notify import reports
from pipelines.notify.dispatch import load_config
from tests import notify_servers as servers

pytestmark = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (.ci/run installs it)"
)

AS_OF = fx.LAST_DAY + timedelta(days=1)  # 2025-11-01, a Saturday
WEEK_START, WEEK_END = reports.last_full_week(AS_OF)


@pytest.fixture
def installation(tmp_path, monkeypatch, cert):
    """A CardPulse home with the dashboard's fixture snapshot (plus a year-ago week for M001's
    tree), cardpulse.toml naming an SMTP channel and both reports, and the SMTP server."""
    fx.build_snapshot(tmp_path / "snapshot.duckdb")
    with duckdb.connect(str(tmp_path / "snapshot.duckdb")) as conn:
        conn.execute(
            """INSERT INTO analytics.fct_daily_merchant_sales (merchant_id, order_date, sku_id,
               region_code, channel, orders, paid_orders, units, gross_revenue, net_revenue,
               gross_margin, refunded_orders, failed_orders, delivered_orders)
               VALUES ('M002', ?, 'SKU-QQ100', 'CN-GD', 'web', 10, 10, 20, 1000, 1000, 80,
                       0, 0, 10)""",
            [WEEK_START - timedelta(days=364)],
        )
    mailbox = servers.MailBox()
    controller = servers.start_smtp(mailbox, "starttls", cert)
    monkeypatch.setenv("T_SMTP_PASSWORD", servers.SMTP_PASSWORD)
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    (tmp_path / "cardpulse.toml").write_text(
        textwrap.dedent(
            f"""
            [notify.channels.mail]
            type = "email"
            host = "127.0.0.1"
            port = {controller.port}
            security = "starttls"
            ca_file = "{cert[0]}"
            from = "CardPulse <reports@shop.example>"
            to = ["ops@shop.example"]
            username = "{servers.SMTP_USER}"
            password_env = "T_SMTP_PASSWORD"

            [reports.weekly_merchant]
            channel = "mail"
            cron = "0 9 * * 1"
            [reports.weekly_merchant.merchants]
            M001 = ["boss@m001.example"]

            [reports.daily_ops]
            channel = "mail"
            """
        ),
        encoding="utf-8",
    )
    yield tmp_path, mailbox
    controller.stop()


@pytest.fixture
def cert(tmp_path_factory):
    return servers.self_signed(tmp_path_factory.mktemp("cert"))


def attachments(mail) -> dict[str, bytes]:
    return {part.get_filename(): part.get_content() for part in mail.iter_attachments()}


def pdf_text(data: bytes) -> tuple[str, set[str]]:
    """The PDF's text and the names of the fonts it embeds."""
    reader = PdfReader(io.BytesIO(data))
    # Noto CJK shares glyphs between radicals and ideographs, and the PDF's ToUnicode map may
    # name the Kangxi radical (U+2F3C) for 心: NFKC folds those back to the ideograph.
    text = unicodedata.normalize("NFKC", "\n".join(page.extract_text() for page in reader.pages))
    embedded = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendants = [d.get_object() for d in font.get("/DescendantFonts", [])]
            for holder in [font, *descendants]:
                descriptor = holder.get("/FontDescriptor")
                if descriptor is None:
                    continue
                descriptor = descriptor.get_object()
                # embedded: a font program (FontFile*), or Type 3 glyph procedures, which is
                # how Chromium's PDF backend writes the subset of Noto Sans CJK it used
                has_program = any(k.startswith("/FontFile") for k in descriptor)
                if has_program or holder.get("/CharProcs"):
                    embedded.add(str(descriptor["/FontName"]))
    return text, embedded


def expected_week(merchants: list[str], start, end) -> dict[str, float]:
    sales = fx.merchant_sales()
    week = sales[
        sales["merchant_id"].isin(merchants)
        & (sales["order_date"] >= start)
        & (sales["order_date"] <= end)
    ]
    return {
        "gmv": week["gross_revenue"].sum(),
        "units": week["units"].sum(),
        "refund_rate": week["refunded_orders"].sum() / week["paid_orders"].sum(),
    }


def test_weekly_merchant_report_is_mailed_with_pdf_and_xlsx_once_per_week(installation):
    home, mailbox = installation
    config = load_config()
    line = reports.send_report("weekly_merchant", config, day=AS_OF)
    assert "1 sent" in line, line
    (mail,) = mailbox.messages
    assert mailbox.envelopes[0][1] == ["boss@m001.example"]
    assert mail["Subject"] == f"CardPulse 经营周报 · 星河卡盟 · {WEEK_START}–{WEEK_END}"
    files = attachments(mail)
    stem = f"weekly_M001_{WEEK_START:%Y%m%d}"
    assert set(files) == {f"{stem}.pdf", f"{stem}.xlsx"}

    this_week = expected_week(["M001", "M002", "M003"], WEEK_START, WEEK_END)
    last_week = expected_week(["M001", "M002", "M003"], WEEK_START - timedelta(days=7),
                              WEEK_END - timedelta(days=7))  # fmt: skip
    book = load_workbook(io.BytesIO(files[f"{stem}.xlsx"]))
    kpis = {row[0]: row[1:] for row in book["指标"].iter_rows(min_row=3, values_only=True)}
    gmv_now, gmv_before, wow, gmv_last_year, yoy = kpis["GMV（元）"]
    assert gmv_now == pytest.approx(this_week["gmv"])
    assert gmv_before == pytest.approx(last_week["gmv"])
    assert wow == pytest.approx((this_week["gmv"] - last_week["gmv"]) / last_week["gmv"] * 100)
    assert gmv_last_year == 1000 and yoy == pytest.approx((this_week["gmv"] - 1000) / 10)
    assert kpis["销量（件）"][0] == this_week["units"]
    rate_now, rate_before, rate_wow = kpis["退款率"][:3]
    assert rate_now == pytest.approx(this_week["refund_rate"])
    assert rate_wow == pytest.approx((rate_now - rate_before) * 100)  # percentage points
    assert len(book["每日GMV"]._charts) == 1 and len(book["热销商品"]._charts) == 1
    forecast = list(book["下周预测"].iter_rows(min_row=2, values_only=True))
    assert len(forecast) == 7 and forecast[0][1] == pytest.approx(10.0 + 20.0 + 30.0)

    text, fonts = pdf_text(files[f"{stem}.pdf"])
    for words in ("经营周报", "核心指标", "环比", "同比", "热销商品", "下周预测", "魔兽点卡"):
        assert words in text, words
    assert any("CJK" in name for name in fonts), fonts  # the Chinese font travels with the file

    again = reports.send_report("weekly_merchant", load_config(), day=AS_OF)
    assert "already sent for this period" in again and len(mailbox.messages) == 1


def test_daily_ops_report_lists_what_to_order_today_and_balances_to_top_up(installation):
    home, mailbox = installation
    line = reports.send_report("daily_ops", load_config(), day=AS_OF)
    assert "1 sent" in line, line
    (mail,) = mailbox.messages
    assert mailbox.envelopes[0][1] == ["ops@shop.example"]  # the channel's own recipients
    assert mail["Subject"] == f"CardPulse 运营日报 · {AS_OF}"
    body = mail.get_body(("plain",)).get_content()
    assert "今日需订货 2 项，共 450 张" in body and "需充值 1 家供应商，共 ¥5,500" in body
    files = attachments(mail)
    book = load_workbook(io.BytesIO(files[f"daily_ops_{AS_OF:%Y%m%d}.xlsx"]))
    ordered = [row[0] for row in book["今日订货"].iter_rows(min_row=2, values_only=True)]
    assert ordered == ["SKU-QQ100", "SKU-WOW60"]  # SKU-WIN11 is due tomorrow
    topups = [row[:5] for row in book["余额充值"].iter_rows(min_row=2, values_only=True)]
    assert topups == [("SUP-B", 800.0, 900.0, 0.9, 5500.0)]
    text, fonts = pdf_text(files[f"daily_ops_{AS_OF:%Y%m%d}.pdf"])
    for words in ("运营日报", "今日订货", "余额充值", "余额不足 1 天", "SUP-B"):
        assert words in text, words
    assert any("CJK" in name for name in fonts), fonts


def test_the_schedules_run_in_shanghai_time_and_their_job_sends(installation):
    home, mailbox = installation
    from pipelines.schedules import daily_ops_report_job, report_schedules

    schedules = {s.name: s for s in report_schedules()}
    weekly = schedules["weekly_merchant_report_schedule"]
    assert (weekly.cron_schedule, weekly.execution_timezone) == ("0 9 * * 1", "Asia/Shanghai")
    daily = schedules["daily_ops_report_schedule"]
    assert daily.cron_schedule == "30 8 * * *"
    assert daily.default_status.value == "RUNNING"
    with duckdb.connect(str(home / "snapshot.duckdb")) as conn:
        conn.execute("UPDATE analytics.build_info SET as_of = ?", [AS_OF])
    result = daily_ops_report_job.execute_in_process()
    assert result.success
    (mail,) = mailbox.messages
    assert mail["Subject"] == f"CardPulse 运营日报 · {AS_OF}"
