"""Reconciliation state and report, and risk signals (issue #19).

``recon_state``: after dbt has built the ``analytics.recon_*`` marts, records each
discrepancy's first_seen and status in ``ops.recon_state`` (the marts read it back next build,
macros/recon_state.sql) and writes the day's reconciliation report per supplier as XLSX to
``$CARDPULSE_HOME/reports/recon-<as_of>.xlsx``.

``risk_signals``: runs the rules of ``pipelines.risk.signals`` with the ``[risk]`` thresholds
of cardpulse.toml, keeps the alert budget's highest scores, carries state in
``ops.risk_state`` (fire once, re-arm) and publishes ``analytics.risk_signals``.
A rebuild for the same or an earlier date replaces that date's state: reruns change nothing.
"""

import time

import dagster as dg
import pandas as pd
from dagster_duckdb import DuckDBResource

from pipelines.assets.tables import insert_rows, transaction
from pipelines.resources import WAREHOUSE_POOL, BuildSettings
from pipelines.risk.signal_state import STATE_COLUMNS, STATE_SCHEMA, advance_signals
from pipelines.risk.signals import find_signals
from pipelines.settings import home

GROUP = "reconciliation"
RECON_TABLES = ("recon_orders_payments", "recon_card_keys", "recon_supplier_balances")
RISK_STATE_TABLE = "ops.risk_state"


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[dg.AssetKey(name) for name in RECON_TABLES],
)
def recon_state(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
) -> dg.MaterializeResult:
    """1. Today's rows of every recon mart into ``ops.recon_state`` (today's earlier rows
    replaced); 2. the per-supplier XLSX report of the day. Today is the build's as-of date,
    the one the marts (dbt var as_of) and ``risk_signals`` use."""
    started = _clock()
    with duckdb.get_connection() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
        if conn.execute("SELECT count(*) FROM analytics.fct_orders").fetchone()[0] == 0:
            return dg.MaterializeResult(metadata={"open": 0})
        as_of = build_settings.as_of_date(conn)
        selects = []
        for table in RECON_TABLES:
            check = table.removeprefix("recon_")
            columns = {r[0] for r in conn.execute(f"DESCRIBE analytics.{table}").fetchall()}

            def col(name: str, columns=columns) -> str:
                return name if name in columns else f"NULL AS {name}"

            selects.append(
                f"SELECT discrepancy_id, '{check}' AS check_name, kind, {col('order_id')},"
                f" {col('related_order_id')}, {col('batch_id')}, {col('supplier_id')},"
                f" {col('merchant_id')}, amount, first_seen, status, as_of_date AS as_of"
                f" FROM analytics.{table}"
            )

        def write() -> None:
            conn.execute("DELETE FROM ops.recon_state WHERE as_of >= ?", [as_of])
            conn.execute("INSERT INTO ops.recon_state " + " UNION ALL ".join(selects))

        with transaction(conn):
            write()
        frames = {t: conn.execute(f"SELECT * FROM analytics.{t}").df() for t in RECON_TABLES}
    counts = {t: int((f["status"] == "open").sum()) for t, f in frames.items()}
    path = write_recon_report(frames, as_of)
    spent = _spent(started)
    context.log.info(f"reconciliation: {counts} open; report {path}; {_spent_text(spent)}")
    return dg.MaterializeResult(
        metadata={**{f"open_{t}": n for t, n in counts.items()}, "report": str(path), **spent}
    )


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _spent(started: tuple[float, float]) -> dict[str, float]:
    """Wall and CPU seconds since ``started`` (the build runs steps one after another in one
    process, so this process's CPU time is the step's)."""
    wall, cpu = _clock()
    return {"wall_seconds": round(wall - started[0], 2), "cpu_seconds": round(cpu - started[1], 2)}


def _spent_text(spent: dict[str, float]) -> str:
    return f"{spent['wall_seconds']:.1f} s wall, {spent['cpu_seconds']:.1f} s CPU"


def write_recon_report(frames: dict[str, pd.DataFrame], as_of) -> str:
    """One workbook per day: a summary sheet (supplier x kind: discrepancies, CNY), then one
    sheet per supplier with its discrepancies. Written to a temporary name, then renamed."""
    reports = home().root / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    rows = pd.concat(
        [f.assign(check=t.removeprefix("recon_")) for t, f in frames.items() if not f.empty]
        or [pd.DataFrame(columns=["supplier_id", "kind", "amount", "status", "check"])],
        ignore_index=True,
    )
    rows["supplier_id"] = rows["supplier_id"].fillna("(none)")
    rows["amount"] = rows["amount"].astype(float)
    summary = (
        rows[rows["status"] == "open"]
        .groupby(["supplier_id", "check", "kind"], as_index=False)
        .agg(discrepancies=("kind", "size"), amount_cny=("amount", "sum"))
    )
    path = reports / f"recon-{as_of}.xlsx"
    tmp = path.with_name(f".{path.name}.tmp")
    with pd.ExcelWriter(tmp, engine="openpyxl") as writer:
        summary.to_excel(writer, sheet_name="summary", index=False)
        for supplier, part in rows.groupby("supplier_id"):
            sheet = str(supplier)[:31].replace("/", "_")
            part.dropna(axis=1, how="all").to_excel(writer, sheet_name=sheet, index=False)
    tmp.replace(path)
    return str(path)


@dg.asset(
    group_name=GROUP,
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "python"},
    deps=[dg.AssetKey(n) for n in ("fct_orders", "fct_payments", "dim_skus")],
)
def risk_signals(
    context: dg.AssetExecutionContext, duckdb: DuckDBResource, build_settings: BuildSettings
) -> dg.MaterializeResult:
    """1. Thresholds from ``[risk]``; 2. today's signals; 3. advance the state (budget, fire
    once, re-arm) and store it; 4. ``analytics.risk_signals`` = today's state rows."""
    settings = build_settings.settings().risk
    started = _clock()
    with duckdb.get_connection() as conn:
        as_of = build_settings.as_of_date(conn)
        found = find_signals(conn, settings, as_of)
        columns = ", ".join(f"{n} {t}" for n, t in STATE_SCHEMA.items())
        conn.execute("CREATE SCHEMA IF NOT EXISTS ops")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {RISK_STATE_TABLE} ({columns})")
        # A state table from before a column was added gains it (empty on the old rows).
        for name, kind in STATE_SCHEMA.items():
            conn.execute(f"ALTER TABLE {RISK_STATE_TABLE} ADD COLUMN IF NOT EXISTS {name} {kind}")
        previous = conn.execute(
            f"SELECT * FROM {RISK_STATE_TABLE} WHERE as_of < ? QUALIFY row_number() OVER "
            "(PARTITION BY signal_id ORDER BY as_of DESC) = 1",
            [as_of],
        ).df()
        state = advance_signals(previous, found, as_of, settings.alert_budget)

        def write() -> None:
            conn.execute(f"DELETE FROM {RISK_STATE_TABLE} WHERE as_of >= ?", [as_of])
            insert_rows(conn, RISK_STATE_TABLE, state[STATE_COLUMNS], STATE_SCHEMA)
            conn.execute(
                "CREATE OR REPLACE TABLE analytics.risk_signals AS SELECT * EXCLUDE (as_of),"
                f" as_of FROM {RISK_STATE_TABLE} WHERE as_of = ? ORDER BY status, score DESC",
                [as_of],
            )

        with transaction(conn):
            write()
    fired = int(state["is_new"].fillna(False).sum())
    opened = int((state["status"] == "open").sum())
    spent = _spent(started)
    context.log.info(
        f"risk signals: {len(found)} found, {opened} open, {fired} fired today; "
        + _spent_text(spent)
    )
    return dg.MaterializeResult(
        metadata={"found": len(found), "open": opened, "fired": fired, **spent}
    )
