"""``cardpulse build`` with ``[engine] dbt_target = "spark"`` runs dbt on Spark (issue 21).

The tiny platform of test_build.py is built twice by the real command, in two installations:
once with the defaults (dbt on DuckDB), once with the lake on and dbt on Spark local[2]. The
Spark build must succeed end to end (forecasts, restock, pricing, publish read the marts it
copied into DuckDB), its dbt results must name Spark's runs, and every mart in the published
snapshot must hold the same rows as the DuckDB build's.
Slow: a Spark session and some twenty models on it cost minutes here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from test_build import write_tiny_platform

pytest.importorskip("pyspark")
pytestmark = pytest.mark.slow

CARDPULSE = Path(sys.executable).parent / "cardpulse"
SPARK_TOML = """[engine]
lake = "lake"
dbt_target = "spark"
[engine.spark_conf]
"spark.sql.shuffle.partitions" = "2"
"""


def build(home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CARDPULSE_HOME": str(home)}
    return subprocess.run(
        [str(CARDPULSE), "build"], env=env, capture_output=True, text=True, timeout=3600
    )


def marts(snapshot: Path, names: list[str]) -> dict[str, list]:
    def normal(value):
        if isinstance(value, Decimal | float):
            return round(float(value), 6)
        return value

    def select(conn, name: str) -> str:
        # _loaded_at is when each installation loaded the files: the only column that differs.
        columns = {c for c, *_ in conn.execute(f"DESCRIBE analytics.{name}").fetchall()}
        exclude = " EXCLUDE (_loaded_at)" if "_loaded_at" in columns else ""
        return f"SELECT *{exclude} FROM analytics.{name}"

    with duckdb.connect(str(snapshot), read_only=True) as conn:
        return {
            name: sorted(
                (
                    tuple(normal(v) for v in row)
                    for row in conn.execute(select(conn, name)).fetchall()
                ),
                key=repr,
            )
            for name in names
        }


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory):
    homes = {}
    for kind in ("spark", "duckdb"):
        home = tmp_path_factory.mktemp(f"home-{kind}")
        write_tiny_platform(home / "landing")
        if kind == "spark":
            (home / "cardpulse.toml").write_text(SPARK_TOML)
        done = build(home)
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        homes[kind] = home
    return homes


def test_the_spark_build_runs_dbt_on_spark_and_publishes(two_builds):
    home = two_builds["spark"]
    assert (home / "lake" / "orders").is_dir()
    assert (home / "spark" / "warehouse" / "analytics.db" / "fct_orders").is_dir()
    with duckdb.connect(str(home / "snapshot.duckdb"), read_only=True) as conn:
        results = dict(conn.execute("SELECT name, status FROM analytics.dbt_results").fetchall())
        assert conn.execute("SELECT count(*) FROM analytics.demand_forecast").fetchone()[0] > 0
    assert results["fct_orders"] == "success"
    assert results["recon_orders_payments"] == "success"  # DuckDB-only, built after the copy
    log = json.dumps(results)
    assert "error" not in log


def test_every_mart_matches_the_duckdb_build(two_builds):
    with duckdb.connect(str(two_builds["duckdb"] / "snapshot.duckdb"), read_only=True) as conn:
        names = [
            name
            for (name,) in conn.execute(
                """SELECT name FROM analytics.dbt_results
                   WHERE resource_type = 'model' AND name NOT LIKE 'stg_%'
                     AND name NOT LIKE 'int_%' ORDER BY name"""
            ).fetchall()
        ]
    assert "fct_daily_sku_sales" in names
    duck = marts(two_builds["duckdb"] / "snapshot.duckdb", names)
    spark = marts(two_builds["spark"] / "snapshot.duckdb", names)
    differing = [name for name in names if duck[name] != spark[name]]
    assert differing == []
