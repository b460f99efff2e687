"""Alerts that reach people: after the alerts of a build are computed, record them in the outbox
and send them (``pipelines/notify``; configured in ``$CARDPULSE_HOME/cardpulse.toml``)."""

import dagster as dg
from dagster_duckdb import DuckDBResource

from pipelines.assets.restock import funding_plan, low_stock_alerts
from pipelines.notify.dispatch import notify_open_alerts
from pipelines.resources import WAREHOUSE_POOL


@dg.asset(
    group_name="notify",
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[low_stock_alerts, funding_plan],
)
def alert_notifications(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource
) -> dg.MaterializeResult:
    """``ops.notify_outbox``: 1. every open firing of every routed alert kind, once per
    channel (digests for floods), recorded before sending; 2. due messages sent, with retries.
    A channel that fails does not fail the build: its rows say so on the data-health page."""
    with duckdb.get_connection() as conn:
        recorded, delivery = notify_open_alerts(conn, batch_id=context.run_id)
    if recorded is None:
        context.log.info("notifications: no channels configured in cardpulse.toml")
        return dg.MaterializeResult(metadata={"configured": False})
    context.log.info(f"{recorded.messages} new message(s) recorded; {delivery.line()}")
    return dg.MaterializeResult(
        metadata={
            "configured": True,
            "recorded": recorded.messages,
            "in_digest": recorded.digested,
            "sent": delivery.sent,
            "failed": delivery.failed,
            "waiting": delivery.waiting,
            "interrupted": delivery.interrupted,
        }
    )
