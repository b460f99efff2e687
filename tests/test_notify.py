"""Alerts that reach people: cardpulse.toml's notify config, the four channels against real
servers (aiosmtpd; an HTTP server that checks each robot's format and signature), the outbox's
once-only delivery through crashes, retries and digests, and `cardpulse notify test`."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from cardpulse.settings import SettingsError
from pipelines.notify import alert_kinds, channels, outbox
from pipelines.notify.dispatch import load_config, notify_open_alerts
from tests import notify_servers as servers

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def robots():
    server = servers.RobotServer().start()
    yield server
    server.stop()


@pytest.fixture
def cert(tmp_path):
    return servers.self_signed(tmp_path)


def robot_env(monkeypatch, robots) -> None:
    monkeypatch.setenv("T_WECOM_URL", f"{robots.base}/wecom?key={servers.WECOM_KEY}")
    monkeypatch.setenv(
        "T_DINGTALK_URL", f"{robots.base}/dingtalk?access_token={servers.DINGTALK_TOKEN}"
    )
    monkeypatch.setenv("T_DINGTALK_SECRET", servers.DINGTALK_SECRET)
    monkeypatch.setenv("T_FEISHU_URL", f"{robots.base}/feishu")
    monkeypatch.setenv("T_FEISHU_SECRET", servers.FEISHU_SECRET)
    monkeypatch.setenv("T_BROKEN_URL", f"{robots.base}/broken")


ROBOTS_TOML = """
[notify]
digest_threshold = {digest}
max_attempts = 3
backoff_seconds = 0.05
dashboard_url = "http://cardpulse.example/health"

[notify.channels.ops_wecom]
type = "wecom"
webhook_url_env = "T_WECOM_URL"

[notify.channels.ops_dingtalk]
type = "dingtalk"
webhook_url_env = "T_DINGTALK_URL"
secret_env = "T_DINGTALK_SECRET"
mentioned_mobiles = ["13800000000"]

[notify.channels.ops_feishu]
type = "feishu"
webhook_url_env = "T_FEISHU_URL"
secret_env = "T_FEISHU_SECRET"

[notify.channels.broken]
type = "wecom"
webhook_url_env = "T_BROKEN_URL"

[notify.roles]
ops = ["ops_wecom", "ops_dingtalk", "ops_feishu"]
finance = ["ops_feishu"]
pager = ["broken"]

[notify.routes]
low_stock = ["ops"]
funding = ["finance"]
build_failed = [{failed_roles}]

[notify.thresholds]
funding_days = 3
"""


def write_config(tmp_path, digest=5, failed_roles='"pager"', text=None) -> Path:
    path = tmp_path / "cardpulse.toml"
    path.write_text(
        text or ROBOTS_TOML.format(digest=digest, failed_roles=failed_roles), encoding="utf-8"
    )
    return path


def warehouse_with_alerts(path: Path, skus: list[str]) -> Path:
    """A warehouse holding open low-stock firings for ``skus`` and one supplier to top up."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS analytics")
        conn.execute(
            """CREATE OR REPLACE TABLE analytics.low_stock_alerts (sku_id VARCHAR,
               supplier_id VARCHAR, fired_on DATE, on_hand INTEGER, order_qty INTEGER,
               order_by DATE, stockout_date DATE, reason_zh VARCHAR, reason_en VARCHAR,
               is_open BOOLEAN)"""
        )
        for sku in skus:
            conn.execute(
                "INSERT INTO analytics.low_stock_alerts VALUES (?, 'SUP1', DATE '2026-12-01', "
                "12, 300, DATE '2026-12-02', DATE '2026-12-04', '预计 3 天后断货', "
                "'runs out in 3 days', true)",
                [sku],
            )
        conn.execute(
            """CREATE OR REPLACE TABLE analytics.funding_plan AS SELECT 'SUPTOP' AS supplier_id,
               DATE '2026-12-01' AS as_of, 1200.00 AS balance, 800.0 AS daily_cost,
               1.5 AS days_of_cover, 6000.0 AS topup_amount, DATE '2026-12-02' AS topup_by,
               '余额约 1.5 天用完' AS reason_zh, 'balance lasts 1.5 days' AS reason_en"""
        )
    return path


# --- config ---------------------------------------------------------------------------------


def test_config_reads_channels_roles_routes_and_reports(tmp_path):
    path = tmp_path / "cardpulse.toml"
    path.write_text(
        ROBOTS_TOML.format(digest=4, failed_roles='"pager", "ops"')
        + textwrap.dedent(
            """
            [notify.channels.mail]
            type = "email"
            host = "smtp.example.com"
            security = "ssl"
            from = "CardPulse <alerts@example.com>"
            to = ["ops@example.com"]
            username = "alerts@example.com"
            password_env = "SMTP_PASSWORD"

            [reports.weekly_merchant]
            channel = "mail"
            [reports.weekly_merchant.merchants]
            M001 = ["boss@m001.example"]

            [reports.daily_ops]
            channel = "mail"
            cron = "0 8 * * *"
            """
        ),
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.digest_threshold == 4
    assert config.channels["mail"].email.port == 465  # ssl's port when none is given
    assert config.channels_for("build_failed") == [
        "broken", "ops_wecom", "ops_dingtalk", "ops_feishu"
    ]  # fmt: skip
    assert config.channels_for("funding") == ["ops_feishu"]
    assert config.channels_for("quarantine") == []
    assert config.reports.weekly_merchant.merchants == {"M001": ("boss@m001.example",)}
    assert config.reports.weekly_merchant.cron == "0 9 * * 1"
    assert config.reports.daily_ops.cron == "0 8 * * *"


def test_no_file_means_nothing_configured(tmp_path):
    config = load_config(tmp_path / "cardpulse.toml")
    assert config.channels == {} and config.channels_for("low_stock") == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('webhook_url_env = "T_WECOM_URL"', 'webhook_url = "https://x"'),
         "notify.channels.ops_wecom.webhook_url: secrets are not written in cardpulse.toml"),
        (('type = "feishu"', 'type = "slack"'),
         "notify.channels.ops_feishu.type: expected one of email, wecom, dingtalk, feishu"),
        (("low_stock = [\"ops\"]", "low_stok = [\"ops\"]"),
         "notify.routes.low_stok: unknown alert kind"),
        (('finance = ["ops_feishu"]', 'finance = ["ops_lark"]'),
         "notify.roles.finance: no channel named 'ops_lark'"),
        (("max_attempts = 3", "max_attempts = \"three\""),
         "notify.max_attempts: expected a number"),
        (("funding_days = 3", "funding_days = 3\nfunding_dayz = 2"),
         "notify.thresholds.funding_dayz: unknown key"),
        (("[notify.roles]", "[notify.roles\n"), "not valid TOML"),
    ],
)  # fmt: skip
def test_each_bad_key_is_one_clear_error(tmp_path, change, message):
    text = ROBOTS_TOML.format(digest=5, failed_roles='"pager"').replace(*change)
    with pytest.raises(SettingsError) as error:
        load_config(write_config(tmp_path, text=text))
    assert message in str(error.value)
    assert "\n" not in str(error.value).strip()


# --- robots -----------------------------------------------------------------------------------


def test_each_robot_gets_its_documented_format_and_a_valid_signature(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    config = load_config(write_config(tmp_path))
    message = channels.Message(title="低库存：SKU1", text="- 库存 **12** 张\n- 明天前订 300 张")
    for name in ("ops_wecom", "ops_dingtalk", "ops_feishu"):
        answer = channels.send(config.channel(name), message)
        assert answer.ok, (name, answer.detail)
    (wecom,) = robots.of("wecom")
    assert wecom.payload == {
        "msgtype": "markdown",
        "markdown": {"content": "## 低库存：SKU1\n- 库存 **12** 张\n- 明天前订 300 张"},
    }
    (ding,) = robots.of("dingtalk")
    assert set(ding.query) == {"access_token", "timestamp", "sign"}
    assert ding.payload["markdown"]["title"] == "低库存：SKU1"
    assert ding.payload["markdown"]["text"].endswith("@13800000000")
    assert ding.payload["at"] == {"atMobiles": ["13800000000"], "isAtAll": False}
    (feishu,) = robots.of("feishu")
    assert feishu.payload["msg_type"] == "interactive"
    assert feishu.payload["card"]["header"]["title"]["content"] == "低库存：SKU1"
    assert feishu.payload["card"]["elements"][0]["content"].startswith("- 库存 **12** 张")


def test_a_wrong_secret_is_refused_and_the_answer_says_why(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    monkeypatch.setenv("T_DINGTALK_SECRET", "not-the-secret")
    monkeypatch.setenv("T_FEISHU_SECRET", "not-the-secret")
    config = load_config(write_config(tmp_path))
    message = channels.Message(title="t", text="x")
    ding = channels.send(config.channel("ops_dingtalk"), message)
    feishu = channels.send(config.channel("ops_feishu"), message)
    assert not ding.ok and "310000" in ding.detail
    assert not feishu.ok and "19021" in feishu.detail


def test_an_unset_secret_variable_is_named(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    monkeypatch.delenv("T_FEISHU_SECRET")
    answer = channels.send(load_config(write_config(tmp_path)).channel("ops_feishu"),
                           channels.Message(title="t", text="x"))  # fmt: skip
    assert not answer.ok and "T_FEISHU_SECRET is not set" in answer.detail
    assert robots.requests == []


def test_notify_test_command_prints_the_answer(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    write_config(tmp_path)
    env = {**os.environ, "CARDPULSE_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "pipelines.cli", "notify", "test"]
    done = subprocess.run([*cmd, "ops_dingtalk"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert 'ops_dingtalk (dingtalk): HTTP 200: {"errcode": 0, "errmsg": "ok"}' in done.stdout
    assert "测试消息" in robots.of("dingtalk")[0].payload["markdown"]["title"]
    broken = subprocess.run([*cmd, "broken"], env=env, capture_output=True, text=True)
    assert broken.returncode == 1
    assert "HTTP 502" in broken.stdout and "upstream unavailable" in broken.stdout
    assert broken.stderr.strip() == (
        "cardpulse notify: error: channel broken did not accept the test message"
    )
    unknown = subprocess.run([*cmd, "nope"], env=env, capture_output=True, text=True)
    assert unknown.returncode == 1 and "Traceback" not in unknown.stderr
    assert "no channel named 'nope'" in unknown.stderr


# --- e-mail -----------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_email_goes_through_a_real_smtp_server_with_tls_and_login(
    tmp_path, cert, monkeypatch, security
):
    mailbox = servers.MailBox()
    controller = servers.start_smtp(mailbox, security, cert)
    try:
        monkeypatch.setenv("T_SMTP_PASSWORD", servers.SMTP_PASSWORD)
        path = write_config(
            tmp_path,
            text=textwrap.dedent(
                f"""
                [notify.channels.mail]
                type = "email"
                host = "127.0.0.1"
                port = {controller.port}
                security = "{security}"
                ca_file = "{cert[0]}"
                from = "CardPulse <alerts@shop.example>"
                to = ["ops@shop.example", "boss@shop.example"]
                username = "{servers.SMTP_USER}"
                password_env = "T_SMTP_PASSWORD"
                """
            ),
        )
        attachment = tmp_path / "订货单.csv"
        attachment.write_text("sku_id,order_qty\nSKU1,300\n", encoding="utf-8")
        message = channels.Message(
            title="低库存：SKU1", text="明天前订 300 张", attachments=(attachment,),
            message_id="low_stock:SKU1:2026-12-01@mail",
        )  # fmt: skip
        answer = channels.send(load_config(path).channel("mail"), message)
    finally:
        controller.stop()
    assert answer.ok, answer.detail
    assert mailbox.logins == [servers.SMTP_USER]
    ((sender, recipients),) = mailbox.envelopes
    assert recipients == ["ops@shop.example", "boss@shop.example"]
    (mail,) = mailbox.messages
    assert mail["Subject"] == "低库存：SKU1"
    assert mail["Message-ID"].startswith("<low_stock-SKU1-2026-12-01-mail@shop.example")
    assert mail.get_body(("plain",)).get_content().strip() == "明天前订 300 张"
    (part,) = list(mail.iter_attachments())
    assert part.get_filename() == "订货单.csv"
    assert part.get_content() == "sku_id,order_qty\nSKU1,300\n"


def test_a_wrong_smtp_password_is_a_failed_answer(tmp_path, cert, monkeypatch):
    mailbox = servers.MailBox()
    controller = servers.start_smtp(mailbox, "starttls", cert)
    monkeypatch.setenv("T_SMTP_PASSWORD", "wrong")
    try:
        path = write_config(
            tmp_path,
            text=f"""[notify.channels.mail]
type = "email"
host = "127.0.0.1"
port = {controller.port}
ca_file = "{cert[0]}"
from = "alerts@shop.example"
to = ["ops@shop.example"]
username = "{servers.SMTP_USER}"
password_env = "T_SMTP_PASSWORD"
""",
        )
        answer = channels.send(
            load_config(path).channel("mail"), channels.Message(title="t", text="x")
        )
    finally:
        controller.stop()
    assert not answer.ok and "SMTPAuthenticationError" in answer.detail
    assert mailbox.messages == []


# --- outbox -----------------------------------------------------------------------------------


def outbox_rows(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse)) as conn:
        return conn.execute(
            "SELECT message_key, status, attempts, kind, channel FROM ops.notify_outbox "
            "ORDER BY message_key"
        ).fetchall()


def test_each_firing_goes_out_once_per_channel_and_a_rerun_sends_nothing(
    tmp_path, robots, monkeypatch
):
    robot_env(monkeypatch, robots)
    config = load_config(write_config(tmp_path))
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", ["SKU1", "SKU2"])
    for run in ("run-1", "run-2"):
        with duckdb.connect(str(warehouse)) as conn:
            notify_open_alerts(conn, run, config)
    # two low-stock firings to the three ops robots; the funding firing to Feishu only
    assert len(robots.of("wecom")) == 2 and len(robots.of("dingtalk")) == 2
    assert len(robots.of("feishu")) == 3
    statuses = {status for _, status, *_ in outbox_rows(warehouse)}
    assert statuses == {"sent"}
    keys = [key for key, *_ in outbox_rows(warehouse)]
    assert "low_stock:SKU1:2026-12-01@ops_dingtalk" in keys
    assert "funding:SUPTOP:2026-12-01@ops_feishu" in keys
    funding = [r.payload for r in robots.of("feishu") if "SUPTOP" in str(r.payload)]
    assert "¥6,000" in funding[0]["card"]["elements"][0]["content"]


def test_a_flood_becomes_one_digest_with_the_count_and_a_link(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    config = load_config(write_config(tmp_path, digest=2))
    skus = [f"SKU{i}" for i in range(7)]
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", skus)
    with duckdb.connect(str(warehouse)) as conn:
        notify_open_alerts(conn, "run-1", config)
        notify_open_alerts(conn, "run-2", config)
    (wecom,) = robots.of("wecom")
    content = wecom.payload["markdown"]["content"]
    assert content.startswith("## 低库存：7 条提醒")
    assert "另有 2 条" in content and "(http://cardpulse.example/health)" in content
    rows = outbox_rows(warehouse)
    assert sum(status == "in_digest" for _, status, *_ in rows) == 7 * 3
    assert sum(status == "sent" for _, status, *_ in rows) == 3 + 1  # a digest per robot, funding


def test_a_failing_endpoint_is_retried_with_back_off_then_shown_failed(
    tmp_path, robots, monkeypatch
):
    robot_env(monkeypatch, robots)
    config = load_config(write_config(tmp_path))
    warehouse = tmp_path / "warehouse.duckdb"
    pauses = []
    with duckdb.connect(str(warehouse)) as conn:
        alert = alert_kinds.build_failed_alert("run-abc", "build failed at dbt: 2 tests", config)
        outbox.record(conn, config, [alert], "run-abc")
        delivery = outbox.deliver(conn, config, sleep=lambda s: (pauses.append(s), time.sleep(s)))
        (row,) = conn.execute(
            "SELECT status, attempts, last_answer FROM ops.notify_outbox"
        ).fetchall()
    assert len(robots.of("broken")) == 3  # max_attempts
    assert delivery.failed == 1 and delivery.sent == 0
    assert row[0] == "failed" and row[1] == 3
    assert "HTTP 502" in row[2] and "upstream unavailable" in row[2]
    assert len(pauses) == 2 and pauses[1] > pauses[0] * 1.5  # 0.05 s, then 0.1 s


CRASH_SCRIPT = """
import os, sys, duckdb
sys.path.insert(0, {root!r})
from pipelines.notify import alert_kinds, channels, outbox
from pipelines.notify.dispatch import load_config
config = load_config({config!r})
conn = duckdb.connect({warehouse!r})
outbox.record(conn, config, alert_kinds.collect_all(conn, config), "run-crashed")
if {during_send}:
    def send_then_die(channel, message):
        channels.send(channel, message)
        os._exit(137)
    outbox.deliver(conn, config, send=send_then_die)
os._exit(137)
"""


def crash(tmp_path, config_path, warehouse, during_send: bool) -> None:
    script = CRASH_SCRIPT.format(
        root=str(ROOT), config=str(config_path), warehouse=str(warehouse), during_send=during_send
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 137, done.stderr


def test_crash_between_record_and_send_then_rerun_sends_exactly_once(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    config_path = write_config(tmp_path)
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", ["SKU1"])
    crash(tmp_path, config_path, warehouse, during_send=False)
    assert robots.requests == []
    assert {status for _, status, *_ in outbox_rows(warehouse)} == {"pending"}
    config = load_config(config_path)
    for run in ("rerun-1", "rerun-2"):
        with duckdb.connect(str(warehouse)) as conn:
            notify_open_alerts(conn, run, config)
    assert len(robots.of("wecom")) == 1 and len(robots.of("dingtalk")) == 1
    assert len(robots.of("feishu")) == 2  # SKU1 and the supplier
    assert {status for _, status, *_ in outbox_rows(warehouse)} == {"sent"}


def test_crash_during_a_send_is_never_sent_twice_and_is_shown(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    config_path = write_config(tmp_path)
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", ["SKU1"])
    crash(tmp_path, config_path, warehouse, during_send=True)
    assert len(robots.requests) == 1  # the server got it; the process died before noting it
    config = load_config(config_path)
    with duckdb.connect(str(warehouse)) as conn:
        delivery = notify_open_alerts(conn, "rerun", config)[1]
        first = robots.requests[0]
    assert delivery.interrupted == 1
    resent = [r for r in robots.requests[1:] if r.payload == first.payload]
    assert resent == []
    statuses = sorted(status for _, status, *_ in outbox_rows(warehouse))
    assert statuses == ["interrupted", "sent", "sent", "sent"]


def test_a_re_armed_supplier_fires_again_with_a_new_key(tmp_path, robots, monkeypatch):
    robot_env(monkeypatch, robots)
    config = load_config(write_config(tmp_path))
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", [])
    with duckdb.connect(str(warehouse)) as conn:
        notify_open_alerts(conn, "day-1", config)
        conn.execute("UPDATE analytics.funding_plan SET topup_amount = 0")  # topped up
        notify_open_alerts(conn, "day-2", config)
        conn.execute(
            "UPDATE analytics.funding_plan SET topup_amount = 5000, as_of = DATE '2026-12-09', "
            "topup_by = DATE '2026-12-10'"
        )
        notify_open_alerts(conn, "day-9", config)
        notify_open_alerts(conn, "day-9-rerun", config)
    keys = [key for key, *_ in outbox_rows(warehouse)]
    assert keys == ["funding:SUPTOP:2026-12-01@ops_feishu", "funding:SUPTOP:2026-12-09@ops_feishu"]
    assert len(robots.of("feishu")) == 2


def test_a_failed_build_run_alerts_once_from_the_command_or_the_daemon(
    tmp_path, robots, monkeypatch
):
    """`cardpulse build` and the run-failure sensor (schedule and sensor runs) both raise
    build_failed for a failed run; the run id keys it, so the message goes out once."""
    import dagster as dg

    from pipelines.notify.dispatch import notify_build_failed
    from pipelines.sensors import build_failure_alert

    robot_env(monkeypatch, robots)
    write_config(tmp_path, failed_roles='"finance"')  # -> ops_feishu
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))

    @dg.op
    def dbt_step():
        raise RuntimeError("2 dbt tests failed: not_null_fct_orders_order_id, unique_sku")

    @dg.job(name="build")
    def build():
        dbt_step()

    instance = dg.DagsterInstance.ephemeral()
    result = build.execute_in_process(instance=instance, raise_on_error=False)
    run_id = result.dagster_run.run_id
    context = dg.build_run_status_sensor_context(
        sensor_name="build_failure_alert",
        dagster_instance=instance,
        dagster_run=result.dagster_run,
        dagster_event=result.get_run_failure_event(),
    ).for_run_failure()
    build_failure_alert(context)  # the daemon's path sends it
    assert len(robots.of("feishu")) == 1
    line = notify_build_failed(tmp_path / "warehouse.duckdb", run_id, "build failed at dbt_step")
    assert line == "notifications: 0 sent, 0 failed"  # the command's path finds it sent
    (sent,) = robots.of("feishu")
    assert sent.payload["card"]["header"]["title"]["content"] == "CardPulse 构建失败"
    assert run_id[:8] in sent.payload["card"]["elements"][0]["content"]
    assert outbox_rows(tmp_path / "warehouse.duckdb") == [
        (f"build_failed:{run_id}@ops_feishu", "sent", 1, "build_failed", "ops_feishu")
    ]


def test_reconciliation_and_risk_findings_go_out_once_and_re_arm(tmp_path, robots, monkeypatch):
    """Issue #19's findings are alert kinds like the others: routed by kind, sent once per
    firing (its first_seen), and sent again when a resolved finding comes back."""
    robot_env(monkeypatch, robots)
    text = ROBOTS_TOML.format(digest=5, failed_roles='"pager"').replace(
        "[notify.routes]\n", '[notify.routes]\nreconciliation = ["finance"]\nrisk = ["finance"]\n'
    )
    config = load_config(write_config(tmp_path, text=text))
    warehouse = warehouse_with_alerts(tmp_path / "warehouse.duckdb", [])
    with duckdb.connect(str(warehouse)) as conn:
        conn.execute(
            """CREATE TABLE analytics.recon_orders_payments AS SELECT 'paid_twice:O1' AS
               discrepancy_id, 'paid_twice' AS kind, 25.50::DECIMAL(18, 2) AS amount,
               DATE '2026-12-01' AS first_seen, 'open' AS status"""
        )
        conn.execute(
            """CREATE TABLE analytics.risk_signals AS SELECT 'card_testing:K9' AS signal_id,
               'card_testing' AS kind, 'buyer_key' AS subject_type, 'K9' AS subject,
               7.5 AS score, '9 failed payments then a success in 10 min' AS evidence,
               '10 分钟内 9 次支付失败后成功' AS evidence_zh,
               DATE '2026-12-01' AS first_seen, 'open' AS status"""
        )
        notify_open_alerts(conn, "day-1", config)
        notify_open_alerts(conn, "day-1-rerun", config)
        conn.execute("UPDATE analytics.recon_orders_payments SET status = 'resolved'")
        notify_open_alerts(conn, "day-2", config)
        conn.execute(
            "UPDATE analytics.recon_orders_payments SET status = 'open', "
            "first_seen = DATE '2026-12-05'"
        )
        notify_open_alerts(conn, "day-5", config)
    keys = sorted(key for key, *_ in outbox_rows(warehouse) if not key.startswith("funding"))
    assert keys == [
        "reconciliation:paid_twice:O1:2026-12-01@ops_feishu",
        "reconciliation:paid_twice:O1:2026-12-05@ops_feishu",
        "risk:card_testing:K9:2026-12-01@ops_feishu",
    ]
    sent = [str(r.payload) for r in robots.of("feishu")]
    assert sum("¥25.50" in body for body in sent) == 2
    # The evidence in the configured language (issue #19 writes both).
    evidence = "9 次支付失败" if config.language == "zh" else "9 failed payments"
    assert sum(evidence in body for body in sent) == 1
