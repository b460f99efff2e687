"""Dagster resources, configured from the environment (``$CARDPULSE_HOME``).

Keys the assets ask for: ``duckdb`` (the warehouse), ``build_settings`` (what "today" is for
this build; ``settings()``: ``$CARDPULSE_HOME/cardpulse.toml``) and ``dbt`` (the dbt project
in ``dbt_project/``, run as a subprocess).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import functools
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, DbtProject
from dagster_duckdb import DuckDBResource

from cardpulse.settings import DEFAULT_FORECAST, Settings, load_settings, replace_section
from pipelines.settings import home

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"

# The concurrency pool of every step that opens the warehouse (dbt included): DuckDB takes one
# writer, so the instance limits the pool to one step at a time across all runs (dagster.yaml).
WAREHOUSE_POOL = "warehouse"

# Folders of the dbt project that hold generated files, not sources of the manifest.
_DBT_GENERATED_DIRS = {"target", "logs", "dbt_packages"}


class BuildSettings(dg.ConfigurableResource):
    """What one build treats as "today", how far ahead it plans, and the installation's settings.

    ``as_of`` is an ISO date; empty means the day after the last order in the warehouse.
    ``horizon_days`` is ``[forecast] horizon_days`` of cardpulse.toml (``build_resources``
    reads it); ``settings()`` is the whole ``cardpulse.settings.Settings`` with that horizon.
    """

    as_of: str = ""
    horizon_days: int = DEFAULT_FORECAST.horizon_days

    def as_of_date(self, conn) -> dt.date:
        """1. The configured date, or 2. the day after the last order's business date."""
        if self.as_of:
            return dt.date.fromisoformat(self.as_of)
        row = conn.execute("SELECT max(order_date) FROM analytics.fct_orders").fetchone()
        if row is None or row[0] is None:
            return dt.date.today()
        return row[0] + dt.timedelta(days=1)

    def settings(self) -> Settings:
        """``$CARDPULSE_HOME/cardpulse.toml`` over the shipped defaults, with this build's
        horizon. Raises ``SettingsError`` (one line per bad key)."""
        settings = load_settings()
        forecast = replace_section(settings.forecast, horizon_days=self.horizon_days)
        return dataclasses.replace(settings, forecast=forecast)


def build_resources(as_of: str = "") -> dict[str, object]:
    """The resources every CardPulse job uses, under the keys assets ask for."""
    settings = load_settings()
    return {
        "duckdb": DuckDBResource(database=str(settings.paths.warehouse)),
        "build_settings": BuildSettings(as_of=as_of, horizon_days=settings.forecast.horizon_days),
        "dbt": CardPulseDbtCliResource(project_dir=dbt_project(), dbt_executable=dbt_executable()),
    }


# The dagster-dbt private methods CardPulseDbtCliResource overrides. They are not public API:
# tests/test_library_internals.py fails loudly when a dagster-dbt release renames them (the
# tested range is pinned in pyproject.toml).
DBT_PRIVATE_OVERRIDES = ("_cli_version", "_initialize_dbt_core_adapter")


class CardPulseDbtCliResource(DbtCliResource):
    """dagster-dbt's dbt runner without two start-up costs CardPulse does not need.

    Before each ``dbt`` command dagster-dbt runs ``dbt --version`` in a subprocess and loads
    dbt's adapter in this process (several seconds each); the adapter only serves column
    metadata and row counts, which CardPulse does not fetch. dbt runs as a subprocess either
    way, so nothing in this process touches the DuckDB file. These two overrides
    (``DBT_PRIVATE_OVERRIDES``) are the only dagster-dbt internals CardPulse touches.
    """

    @functools.cached_property
    def _cli_version(self):
        # The dbt executable is this environment's dbt-core: same version, no subprocess.
        from dbt.version import __version__
        from packaging import version

        return version.parse(__version__)

    def _initialize_dbt_core_adapter(self, args):
        return None


def dbt_executable() -> str:
    """The ``dbt`` installed beside this Python (the venv's), else whatever is on PATH."""
    beside_python = Path(sys.executable).parent / "dbt"
    return str(beside_python) if beside_python.exists() else shutil.which("dbt") or "dbt"


@functools.cache
def dbt_project() -> DbtProject:
    """The dbt project, with a manifest.json that matches its sources.

    dagster-dbt reads the manifest when the definitions load, so 1. a missing or stale
    manifest (older than any project file) is rebuilt with ``dbt parse`` first (a clean clone
    has none), 2. concurrent loaders wait on a file lock instead of parsing twice.
    """
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    if manifest_is_stale(project):
        with _exclusive(project.manifest_path.with_name("manifest.json.lock")):
            if manifest_is_stale(project):  # another loader may have parsed while we waited
                _parse(project)
    return project


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_path`` (created if needed) while the block runs:
    concurrent loaders of the definitions wait here instead of parsing dbt twice."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def manifest_is_stale(project: DbtProject) -> bool:
    """True when manifest.json is missing or older than a file of the dbt project."""
    if not project.manifest_path.exists():
        return True
    manifest_mtime = project.manifest_path.stat().st_mtime
    return any(
        path.stat().st_mtime > manifest_mtime for path in _dbt_source_files(project.project_dir)
    )


def dbt_target_dir() -> Path:
    """Where ``dbt build`` writes its artifacts (run_results.json) for this installation."""
    return home().root / "dbt_target"


@contextlib.contextmanager
def warehouse_env(warehouse: Path | str) -> Iterator[None]:
    """Point dbt's profile (``CARDPULSE_WAREHOUSE``) at ``warehouse`` while dbt runs.

    dagster-dbt passes this process's environment to the dbt subprocess, so this is how the
    dbt build writes the same file the ``duckdb`` resource names.
    """
    previous = os.environ.get("CARDPULSE_WAREHOUSE")
    os.environ["CARDPULSE_WAREHOUSE"] = str(warehouse)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("CARDPULSE_WAREHOUSE", None)
        else:
            os.environ["CARDPULSE_WAREHOUSE"] = previous


def _parse(project: DbtProject) -> None:
    with warehouse_env(home().warehouse):
        DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
            ["parse", "--quiet"], target_path=project.target_path
        ).wait()


def _dbt_source_files(project_dir: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(project_dir):
        if Path(root) == project_dir:
            dirs[:] = [d for d in dirs if d not in _DBT_GENERATED_DIRS]
        for name in files:
            yield Path(root) / name
