"""The warehouse stage: landing files into the raw layer, then the dbt project.

``ingest_landing`` loads new files of ``$CARDPULSE_HOME/landing/`` (the file ledger makes a
file seen before a no-op) and checks that every row read is accounted for. The dbt project
follows as one ``@dbt_assets`` step running ``dbt build``: models become assets, dbt tests
become asset checks, and dbt sources on schema ``raw`` are the ingest assets' keys, so lineage
runs landing -> raw -> staging -> intermediate -> marts.
"""

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)
from dagster_duckdb import DuckDBResource

from pipelines import checks
from pipelines.ingest.schema import RAW_SCHEMA, RAW_TABLES
from pipelines.processes import dies_with_this_process
from pipelines.resources import (
    WAREHOUSE_POOL,
    BuildSettings,
    dbt_project,
    dbt_target_dir,
    warehouse_env,
)
from pipelines.settings import home

# dbt folders under models/ -> Dagster groups.
_DBT_GROUPS = {"staging": "staging", "intermediate": "intermediate", "marts": "analytics"}


class LandingConfig(dg.Config):
    """Which files to ingest: the sensor names the new ones; empty means the whole folder."""

    paths: list[str] = []


@dg.multi_asset(
    name="ingest_landing",
    pool=WAREHOUSE_POOL,
    specs=[
        dg.AssetSpec([RAW_SCHEMA, table], group_name=RAW_SCHEMA, kinds={"duckdb"})
        for table in RAW_TABLES
    ],
    check_specs=checks.CHECK_SPECS,
)
def ingest_landing(
    context: dg.AssetExecutionContext, config: LandingConfig, duckdb: DuckDBResource
):
    """Load landing files into the raw layer, one transaction per file.

    1. Ingest the named files (or every file under landing/); files already in the ledger
       change nothing.
    2. Check from raw.file_ledger that rows read = loaded + updated + duplicate + quarantined.
    3. Fail the build when the warehouse still holds no orders: there is nothing to model.
    """
    from pipelines.engine import load_engine_settings
    from pipelines.ingest.load import ingest_paths

    paths = [Path(p) for p in config.paths] or _landing_paths()
    gone = [p for p in paths if not p.exists()]
    if gone:  # named by the sensor, removed since: nothing to load, not an error
        context.log.warning(f"no longer in landing/: {', '.join(map(str, gone))}")
    paths = [p for p in paths if p.exists()]
    lake = load_engine_settings().lake
    results = ingest_paths(duckdb.database, paths, lake_path=lake) if paths else []
    for result in results:
        context.log.info(result.summary_line())
    just_loaded = [r.file_id for r in results if r.file_id and not r.error and not r.already_loaded]
    errors = {str(r.path): r.error for r in results if r.error}
    with duckdb.get_connection() as conn:
        yield checks.rows_balance_result(conn, just_loaded)
        yield checks.files_readable_result(errors)
        row_counts = _raw_row_counts(conn)
    if not row_counts.get("orders"):
        raise dg.Failure(
            "the warehouse holds no orders: nothing to build "
            f"(load files with `cardpulse ingest PATH` or put them in {home().landing})"
        )
    for table in RAW_TABLES:
        yield dg.MaterializeResult(
            asset_key=[RAW_SCHEMA, table],
            metadata={"dagster/row_count": row_counts.get(table, 0), "files": len(results)},
        )


class CardPulseDbtTranslator(DagsterDbtTranslator):
    """dbt sources on schema raw are the ingest assets; models are keyed by name and grouped
    by folder (staging, intermediate, marts -> analytics)."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])
        # Models by bare name ("fct_daily_sku_sales"): the key downstream assets depend on.
        return dg.AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return RAW_SCHEMA
        fqn = dbt_resource_props.get("fqn", [])
        folder = fqn[1] if len(fqn) > 2 else None
        return _DBT_GROUPS.get(folder, folder)


_PROJECT = dbt_project()
_TRANSLATOR = CardPulseDbtTranslator(
    settings=DagsterDbtTranslatorSettings(
        enable_asset_checks=True, enable_source_tests_as_checks=True
    )
)


@dbt_assets(
    manifest=_PROJECT.manifest_path,
    project=_PROJECT,
    pool=WAREHOUSE_POOL,
    dagster_dbt_translator=_TRANSLATOR,
)
def warehouse_models(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    duckdb: DuckDBResource,
    build_settings: BuildSettings,
):
    """``dbt build`` (models and data tests) into the warehouse the ``duckdb`` resource names.

    Unit tests are left to the test suite, as dbt advises: they check the SQL, not the data,
    and on a first build an incremental model's unit test cannot run before its table exists.
    dbt is a separate process writing the DuckDB file, so this step holds no connection.
    Artifacts go to one folder per installation, where publishing reads run_results.json.
    A build with ``--as-of`` passes it as the dbt var ``as_of``: the reconciliation marts and
    ``risk_signals`` then share one "today".
    """
    from pipelines.engine import load_engine_settings

    target = dbt_target_dir()
    (target / "run_results.json").unlink(missing_ok=True)  # never publish a previous build's
    if load_engine_settings().dbt_target == "spark":
        yield from _build_on_spark(context, dbt, duckdb, target, _as_of_vars(build_settings))
        return
    with warehouse_env(duckdb.database):
        invocation = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test", *_as_of_vars(build_settings)],
            context=context,
            target_path=target,
        )
        # Killed mid-build (even SIGKILL), this process takes dbt, a writer, with it.
        with dies_with_this_process(invocation.process):
            yield from invocation.stream()


def _as_of_vars(build_settings: BuildSettings) -> list[str]:
    """``--vars`` naming the build's as-of date, when one is set."""
    if not build_settings.as_of:
        return []
    return ["--vars", json.dumps({"as_of": build_settings.as_of})]


# Models built on the DuckDB target only (their state macro is DuckDB SQL; docs/scale.md).
DUCKDB_ONLY_PATH = "path:models/marts/recon"


def _build_on_spark(
    context, dbt: DbtCliResource, duckdb: DuckDBResource, target: Path, as_of_vars: list[str]
):
    """``[engine] dbt_target = "spark"``: the same ``dbt build`` on Spark, then its marts in the
    DuckDB warehouse for the stages after it (``pipelines.spark_dbt``).

    1. ``dbt build`` through ``python -m pipelines.spark_dbt`` (the Spark session, the lake),
       streamed to Dagster like the DuckDB build: models, tests as checks;
    2. every mart it built copied into DuckDB's ``analytics``, typed by its contract;
    3. the DuckDB-only models (reconciliation) built on DuckDB over those marts: first the
       staging and intermediate views they read (no events: Spark's run reported those), then
       the models themselves, their events passed on as this step's (run without the step's
       context: with it dagster-dbt would fold the selection into one of every asset).
    """

    from pipelines.resources import CardPulseDbtCliResource
    from pipelines.spark_dbt import copy_marts_to_duckdb, write_executable

    root = home().root / "spark"
    on_spark = CardPulseDbtCliResource(
        project_dir=dbt.project_dir,
        dbt_executable=str(write_executable(root)),
        target="spark",
    )
    invocation = on_spark.cli(
        [
            "build",
            "--exclude-resource-type",
            "unit_test",
            "--exclude",
            DUCKDB_ONLY_PATH,
            *as_of_vars,
        ],
        context=context,
        target_path=target,
    )
    with dies_with_this_process(invocation.process):
        yield from invocation.stream()

    manifest = json.loads(Path(_PROJECT.manifest_path).read_text())
    results = json.loads((target / "run_results.json").read_text())["results"]
    built = {r["unique_id"] for r in results if r["status"] == "success"}
    marts = {
        node["name"]: [(c["name"], c["data_type"]) for c in node["columns"].values()]
        for unique_id, node in manifest["nodes"].items()
        if unique_id in built
        and node["resource_type"] == "model"
        and node["config"].get("schema") == "analytics"
    }
    with duckdb.get_connection() as conn:
        counts = copy_marts_to_duckdb(conn, root, marts)
    context.log.info(f"copied {len(counts)} marts from Spark into DuckDB: {counts}")

    duckdb_target = target / "duckdb-only"
    with warehouse_env(duckdb.database):
        views = dbt.cli(
            ["run", "--select", "path:models/staging path:models/intermediate"],
            target_path=duckdb_target,
        )
        with dies_with_this_process(views.process):
            views.wait()
        recon = dbt.cli(
            [
                "build",
                "--exclude-resource-type",
                "unit_test",
                "--select",
                DUCKDB_ONLY_PATH,
                *as_of_vars,
            ],
            manifest=_PROJECT.manifest_path,
            dagster_dbt_translator=_TRANSLATOR,
            target_path=duckdb_target,
        )
        with dies_with_this_process(recon.process):
            for event in recon.stream():
                if isinstance(event, dg.AssetMaterialization):
                    yield dg.MaterializeResult(asset_key=event.asset_key, metadata=event.metadata)
                elif isinstance(event, dg.AssetCheckEvaluation):
                    yield dg.AssetCheckResult(
                        asset_key=event.asset_key,
                        check_name=event.check_name,
                        passed=event.passed,
                        severity=event.severity,
                        metadata=event.metadata,
                    )
    # Publishing reads one run_results.json: Spark's, plus the DuckDB-only models'.
    extra = json.loads((duckdb_target / "run_results.json").read_text())["results"]
    payload = json.loads((target / "run_results.json").read_text())
    payload["results"] += extra
    (target / "run_results.json").write_text(json.dumps(payload))


def _landing_paths() -> list[Path]:
    landing = home().landing
    return [landing] if landing.is_dir() and any(landing.iterdir()) else []


def _raw_row_counts(conn) -> dict[str, int]:
    present = {
        name
        for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [RAW_SCHEMA],
        ).fetchall()
    }
    return {
        table: conn.execute(f"SELECT count(*) FROM {RAW_SCHEMA}.{table}").fetchone()[0]
        for table in RAW_TABLES
        if table in present
    }
