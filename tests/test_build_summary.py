"""The build summary names every failed and warned dbt test (issue #24, item 4), read from a
``run_results.json`` as dbt writes it."""

from __future__ import annotations

import json

from pipelines.commands.build_summary import BuildOutcome, add_results, format_summary
from pipelines.settings import home


def result(unique_id: str, status: str, failures: int | None = None) -> dict:
    return {"unique_id": unique_id, "status": status, "failures": failures, "message": None,
            "execution_time": 0.1}  # fmt: skip


def test_every_failed_and_warned_test_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    target = tmp_path / "dbt_target"
    target.mkdir()
    results = [
        result("model.cardpulse.fct_orders", "success"),
        result("test.cardpulse.not_null_fct_orders_order_id.1a", "pass", 0),
        *[result(f"test.cardpulse.unique_dim_{n}_id.2b", "fail", 2) for n in range(5)],
        result("test.cardpulse.expression_is_true_fct_orders_delivery.3c", "warn", 1),
        result("test.cardpulse.expression_is_true_fct_orders_refunds.4d", "warn", 7),
        result("unit_test.cardpulse.fct_orders.test_refunds", "pass"),
    ]
    (target / "run_results.json").write_text(json.dumps({"results": results}))
    outcome = BuildOutcome(run_id="0" * 36, succeeded=False, seconds=1.0)
    add_results(outcome, home())
    lines = format_summary(outcome).splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("dbt tests: "))
    assert lines[start : start + 8] == [
        "dbt tests: 2 passed, 5 failed, 2 warned",
        *[f"  failed: unique_dim_{n}_id" for n in range(5)],
        "  warned: expression_is_true_fct_orders_delivery (1 row)",
        "  warned: expression_is_true_fct_orders_refunds (7 rows)",
    ]


def test_a_clean_run_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    (tmp_path / "dbt_target").mkdir()
    (tmp_path / "dbt_target" / "run_results.json").write_text(
        json.dumps({"results": [result("test.cardpulse.not_null_x.1", "pass", 0)]})
    )
    outcome = BuildOutcome(run_id="0" * 36, succeeded=True, seconds=1.0)
    add_results(outcome, home())
    assert [line for line in format_summary(outcome).splitlines() if "test" in line] == [
        "dbt tests: 1 passed, 0 failed"
    ]


def test_the_notifications_this_build_recorded_are_counted(tmp_path, monkeypatch):
    import duckdb

    from cardpulse.notify_settings import parse
    from pipelines.notify import outbox
    from pipelines.notify.alert_kinds import Alert

    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    config = parse(
        {"notify": {"channels": {"ops": {"type": "wecom", "webhook_url_env": "X"}},
                    "roles": {"ops": ["ops"]}, "routes": {"low_stock": ["ops"]}}}
    )  # fmt: skip
    run_id = "1" * 36
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        conn.execute("CREATE SCHEMA analytics")
        conn.execute("CREATE TABLE analytics.fct_orders (order_id VARCHAR)")
        alerts = [Alert("low_stock", f"low_stock:S{n}:d", f"S{n}", "t", "x") for n in range(3)]
        outbox.record(conn, config, alerts[:1], "an earlier build")
        outbox.record(conn, config, alerts, run_id)
        conn.execute("UPDATE ops.notify_outbox SET status = 'failed' WHERE firing_key LIKE '%S2%'")
    outcome = BuildOutcome(run_id=run_id, succeeded=False, seconds=1.0)
    add_results(outcome, home())
    assert outcome.notifications == {"failed": 1, "pending": 1}
    assert (
        "notifications recorded by this build: 1 failed, 1 pending (cardpulse notify list)"
        in format_summary(outcome).splitlines()
    )
