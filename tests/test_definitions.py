"""The Dagster project: definitions, ingest checks, landing sensor, schedule, manifest, UI."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster_dbt import DbtProject
from dagster_duckdb import DuckDBResource

from pipelines.assets.publish_snapshot import PUBLISH_ASSET_KEY
from pipelines.assets.warehouse import ingest_landing
from pipelines.checks import FILES_READABLE, ROWS_BALANCE
from pipelines.definitions import build_definitions
from pipelines.resources import DBT_PROJECT_DIR, manifest_is_stale
from pipelines.schedules import daily_build
from pipelines.sensors import landing_sensor

REPO_ROOT = Path(__file__).resolve().parents[1]
LONG_AGO = time.time() - 3600


@pytest.fixture(scope="module")
def defs():
    return build_definitions()


def settled(path: Path, content: str) -> Path:
    """Write a file whose modification time is an hour ago (the sensor waits for new files
    to settle)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    os.utime(path, (LONG_AGO, LONG_AGO))
    return path


# --- definitions ---------------------------------------------------------------------------


def test_build_job_runs_every_asset_in_process(defs):
    job = defs.resolve_job_def("build")
    assert job.executor_def.name == "in_process"
    graph = defs.resolve_asset_graph()
    assert job.asset_layer.selected_asset_keys == graph.materializable_asset_keys
    assert {"ingest_landing", "warehouse_models", "publish_snapshot"} <= {
        node.name for node in job.graph.nodes
    }


def test_publish_snapshot_runs_after_every_other_asset(defs):
    graph = defs.resolve_asset_graph()
    others = graph.materializable_asset_keys - {PUBLISH_ASSET_KEY}
    assert graph.get(PUBLISH_ASSET_KEY).parent_keys == others
    assert dg.AssetKey("fct_orders") in others and dg.AssetKey(["raw", "orders"]) in others


def test_every_dependency_is_an_asset_of_this_project(defs):
    # A dependency on a key nobody materialises would let an asset run before its input.
    graph = defs.resolve_asset_graph()
    dangling = {
        (key.to_user_string(), parent.to_user_string())
        for key in graph.materializable_asset_keys
        for parent in graph.get(key).parent_keys
        if parent not in graph.materializable_asset_keys
    }
    assert dangling == set()


def test_dbt_models_are_keyed_by_name_and_grouped_by_folder(defs):
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("fct_daily_sku_sales")).group_name == "analytics"
    staging = [k for k in graph.materializable_asset_keys if k.path[-1].startswith("stg_")]
    assert staging and all(graph.get(k).group_name == "staging" for k in staging)
    # dbt sources are the ingest asset's keys: lineage runs landing -> raw -> marts.
    orders_stage = graph.get(dg.AssetKey("stg_cardpulse__orders"))
    assert dg.AssetKey(["raw", "orders"]) in orders_stage.parent_keys


def test_dbt_tests_and_ingest_checks_are_asset_checks(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    by_asset = {}
    for check in checks:
        by_asset.setdefault(check.asset_key, set()).add(check.name)
    assert any(name.startswith("unique") for name in by_asset[dg.AssetKey("fct_orders")])
    assert any("not_null" in name for name in by_asset[dg.AssetKey(["raw", "orders"])])
    assert {ROWS_BALANCE, FILES_READABLE} <= by_asset[dg.AssetKey(["raw", "file_ledger"])]


def test_resources_come_from_cardpulse_home(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    resources = build_definitions(as_of="2026-04-01").resources
    assert resources["duckdb"].database == str(tmp_path / "warehouse.duckdb")
    assert resources["build_settings"].as_of == "2026-04-01"


def test_manifest_is_stale_when_missing_or_older_than_a_project_file(tmp_path):
    project_dir = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir)
    assert manifest_is_stale(project)
    project.manifest_path.parent.mkdir()
    project.manifest_path.write_text("{}")
    assert not manifest_is_stale(project)
    model = next(project_dir.glob("models/**/*.sql"))
    later = project.manifest_path.stat().st_mtime + 10
    os.utime(model, (later, later))
    assert manifest_is_stale(project)


# --- ingest asset and its checks -----------------------------------------------------------

SKUS_CSV = (
    "sku_id,name,category,brand,face_value,delivery_type,supplier_id,shelf_life_days,active\n"
    "S1,Steam 100,game_card,Steam,100,card_key,SUP-A,,true\n"
)
ORDERS_CSV = (
    "order_id,created_at,merchant_id,sku_id,quantity,unit_price,status,region_code\n"
    "O1,2026-03-01T10:00:00,M1,S1,1,98,delivered,CN-GD\n"
    "O2,2026-03-01T11:00:00,M1,S1,2,98,paid,广东\n"
    "O3,2026-03-01T12:00:00,M1,S1,0,98,paid,CN-GD\n"  # quantity 0: quarantined
    "O1,2026-03-01T10:00:00,M1,S1,1,98,delivered,CN-GD\n"  # the same row again: duplicate
)


def materialize_ingest(warehouse: Path, paths: list[Path]) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [ingest_landing],
        resources={"duckdb": DuckDBResource(database=str(warehouse))},
        run_config={"ops": {"ingest_landing": {"config": {"paths": [str(p) for p in paths]}}}},
        raise_on_error=False,
    )


def test_ingest_checks_rows_read_balance_from_the_ledger(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    skus = settled(tmp_path / "landing" / "skus.csv", SKUS_CSV)
    orders = settled(tmp_path / "landing" / "orders.csv", ORDERS_CSV)
    broken = tmp_path / "landing" / "orders_broken.csv.gz"
    broken.write_bytes(b"\x1f\x8b\x08 truncated")
    warehouse = tmp_path / "warehouse.duckdb"

    result = materialize_ingest(warehouse, [skus, orders, broken])

    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert checks[ROWS_BALANCE].passed
    assert checks[ROWS_BALANCE].metadata["files_checked"].value == 2
    assert not checks[FILES_READABLE].passed  # the truncated gzip, as a warning
    assert checks[FILES_READABLE].severity == dg.AssetCheckSeverity.WARN
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        ledger = conn.execute(
            "SELECT rows_read, loaded + updated + duplicate + quarantined, quarantined "
            "FROM raw.file_ledger WHERE entity = 'orders'"
        ).fetchall()
    assert ledger == [(4, 4, 1)]
    materialised = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey(["raw", "orders"]) in materialised


def test_ingest_fails_the_build_when_no_orders_were_ever_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    skus = settled(tmp_path / "landing" / "skus.csv", SKUS_CSV)
    result = materialize_ingest(tmp_path / "warehouse.duckdb", [skus])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "holds no orders" in str(failure.event_specific_data.error)


# --- landing sensor ------------------------------------------------------------------------


def evaluate_sensor(cursor: str | None):
    context = dg.build_sensor_context(cursor=cursor)
    return landing_sensor(context)


def requested_paths(result) -> list[str]:
    [request] = result.run_requests
    return request.run_config["ops"]["ingest_landing"]["config"]["paths"]


def test_sensor_requests_one_build_per_new_file_and_not_twice(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    landing = tmp_path / "landing"
    assert isinstance(evaluate_sensor(None), dg.SkipReason)  # no landing folder yet

    settled(landing / "orders_2026-03.csv", ORDERS_CSV)
    settled(landing / "_truth" / "expected.csv", "not data\n")  # ingest skips _ entries too
    first = evaluate_sensor(None)
    assert requested_paths(first) == [str(landing / "orders_2026-03.csv")]
    assert first.run_requests[0].job_name in (None, "build")

    again = evaluate_sensor(first.cursor)
    assert isinstance(again, dg.SkipReason)  # the same file is not picked up twice

    settled(landing / "skus.csv", SKUS_CSV)
    second = evaluate_sensor(first.cursor)
    assert requested_paths(second) == [str(landing / "skus.csv")]
    assert second.run_requests[0].run_key != first.run_requests[0].run_key


def test_sensor_waits_for_a_file_still_being_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    growing = tmp_path / "landing" / "orders.csv"
    growing.parent.mkdir(parents=True)
    growing.write_text(ORDERS_CSV, encoding="utf-8")  # modified just now
    assert isinstance(evaluate_sensor(None), dg.SkipReason)
    os.utime(growing, (LONG_AGO, LONG_AGO))
    assert requested_paths(evaluate_sensor(None)) == [str(growing)]


class Clock:
    """The sensor's clock, moved on by hand (ticks are 30 s apart in real life)."""

    def __init__(self, monkeypatch):
        self.now = time.time()
        monkeypatch.setattr("pipelines.sensors.time.time", lambda: self.now)

    def tick(self, seconds: float = 30.0) -> None:
        self.now += seconds


def test_sensor_cursor_stays_small_however_many_files_land(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    clock = Clock(monkeypatch)
    cursor, sizes = None, []
    for day in range(1, 61):
        name = (
            f"orders_2026-03-{day:02d}.csv" if day <= 31 else f"orders_2026-04-{day - 31:02d}.csv"
        )
        settled(tmp_path / "landing" / name, ORDERS_CSV)
        clock.tick()
        result = evaluate_sensor(cursor)
        assert requested_paths(result) == [str(tmp_path / "landing" / name)]
        cursor = result.cursor
        sizes.append(len(cursor))
    assert max(sizes) < 200 and sizes[-1] <= sizes[0] + 10  # not one entry per file
    assert list(json.loads(cursor)["seen"]) == [name]


def test_sensor_picks_up_a_copy_that_kept_an_old_modification_time(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    clock = Clock(monkeypatch)
    settled(tmp_path / "landing" / "orders.csv", ORDERS_CSV)
    first = evaluate_sensor(None)
    old = settled(tmp_path / "old_orders.csv", ORDERS_CSV.replace("O1", "O9"))
    clock.tick()
    shutil.copy2(old, tmp_path / "landing" / "orders_restored.csv")  # cp -p: mtime an hour ago
    clock.tick()
    assert requested_paths(evaluate_sensor(first.cursor)) == [
        str(tmp_path / "landing" / "orders_restored.csv")
    ]


def test_sensor_does_not_pass_over_a_file_still_being_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    clock = Clock(monkeypatch)
    growing = tmp_path / "landing" / "orders_big.csv"
    growing.parent.mkdir(parents=True)
    growing.write_text(ORDERS_CSV, encoding="utf-8")  # being written: modified just now
    settled(tmp_path / "landing" / "skus.csv", SKUS_CSV)  # settled, and arrived after it
    first = evaluate_sensor(None)
    assert requested_paths(first) == [str(tmp_path / "landing" / "skus.csv")]
    clock.tick()  # the big file is left alone from now on: settled
    assert requested_paths(evaluate_sensor(first.cursor)) == [str(growing)]


def test_sensor_reads_an_earlier_versions_cursor(tmp_path, monkeypatch):
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    Clock(monkeypatch)
    landing = tmp_path / "landing"
    kept = settled(landing / "orders.csv", ORDERS_CSV)
    changed = settled(landing / "skus.csv", SKUS_CSV)
    stat = kept.stat()
    earlier = json.dumps(
        {"orders.csv": f"{stat.st_size}:{stat.st_mtime_ns}", "skus.csv": "1:1", "gone.csv": "2:2"}
    )
    result = evaluate_sensor(earlier)
    assert requested_paths(result) == [str(changed)]
    assert set(json.loads(result.cursor)) == {"mark", "seen"}


def test_every_job_runs_its_steps_in_process(defs):
    # The UI's "Materialize all" runs the implicit asset job: one writer on the warehouse too.
    jobs = [*defs.resolve_all_job_defs(), defs.resolve_implicit_global_asset_job_def()]
    assert {job.name for job in jobs} >= {"build", "__ASSET_JOB"}
    assert {job.name: job.executor_def.name for job in jobs} == {
        job.name: "in_process" for job in jobs
    }


def test_every_step_that_opens_the_warehouse_is_in_the_warehouse_pool(defs):
    from pipelines.resources import WAREHOUSE_POOL

    pools = {
        assets_def.node_def.name: assets_def.node_def.pool
        for assets_def in defs.resolve_asset_graph().assets_defs
        if assets_def.is_executable and {"duckdb", "dbt"} & assets_def.required_resource_keys
    }
    assert {"ingest_landing", "warehouse_models", "publish_snapshot"} <= set(pools)
    assert pools == {name: WAREHOUSE_POOL for name in pools}


def test_the_instance_lets_one_warehouse_step_run_at_a_time(tmp_path, monkeypatch):
    from pipelines.commands.build_run import _EARLIER_DAGSTER_YAML, prepare_dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # prepare_dagster_home sets it

    fresh, upgraded = tmp_path / "fresh", tmp_path / "upgraded"
    upgraded.mkdir()
    (upgraded / "dagster.yaml").write_text(_EARLIER_DAGSTER_YAML)
    for dagster_home in (fresh, upgraded):
        prepare_dagster_home(dagster_home)
        with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
            concurrency = instance.get_concurrency_config()
        assert concurrency.pool_config.default_pool_limit == 1
        assert concurrency.run_queue_config.max_concurrent_runs == 1


# --- schedule ------------------------------------------------------------------------------


def test_daily_build_at_two_in_the_morning_shanghai_time():
    assert daily_build.cron_schedule == "0 2 * * *"
    assert daily_build.execution_timezone == "Asia/Shanghai"
    assert daily_build.job_name == "build"
    ticks = daily_build.evaluate_tick(dg.build_schedule_context())
    assert len(ticks.run_requests) == 1


# --- cardpulse ui --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_ui_serves_the_dagster_webserver(tmp_path):
    port = free_port()
    env = {**os.environ, "CARDPULSE_HOME": str(tmp_path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped as one below
    )
    try:
        status, body = None, b""
        deadline = time.monotonic() + 300  # dagster dev loads the code location first
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as r:
                    status, body = r.status, r.read()
                break
            except OSError:
                time.sleep(1)
        assert status == 200, f"no answer from the Dagster UI (exit code {server.poll()})"
        assert b"dagster_webserver_version" in body
        assert (tmp_path / "dagster" / "dagster.yaml").exists()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def test_ui_on_a_port_in_use_is_one_clear_line(tmp_path, monkeypatch, capsys):
    from pipelines.cli import main

    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["ui", "--port", str(taken.getsockname()[1])]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "choose another with --port" in err[0]
