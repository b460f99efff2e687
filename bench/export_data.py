"""What the benches share: a simulated export generated once, and the warehouse CardPulse
builds from it (real ingest + dbt) once per (scale, seed), read with the production loaders."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ensure_export(data: Path, scale: str, seed: int, fmt: str = "parquet") -> Path:
    """The export folder, generated if it is not there yet, or again when it was generated
    with other settings or by other simulator code (``simulator_digest``): a bench never
    measures an export the simulator no longer writes (the large ingest bench once did, for
    weeks, without the payments file and buyer contacts later versions write)."""
    settings = data / "_truth" / "settings.json"
    marker = _generated_by(data)
    digest = simulator_digest()
    if settings.exists():
        summary = json.loads(settings.read_text())["summary"]
        made = (summary["scale"], summary["seed"], summary["fmt"])
        if made == (scale, seed, fmt) and marker.exists() and marker.read_text() == digest:
            return data
        print(f"{data} was generated with other settings or simulator code: generating again")
    from pipelines.simulator import generate

    started = time.perf_counter()
    marker.unlink(missing_ok=True)
    generate(str(data), scale=scale, seed=seed, fmt=fmt)
    marker.write_text(digest)
    print(f"generated {scale} {fmt} export in {time.perf_counter() - started:.1f} s: {data}")
    return data


def _generated_by(data: Path) -> Path:
    """Beside the export: the simulator digest it was generated with."""
    return data.with_name(data.name + ".simulator-digest")


def simulator_digest() -> str:
    """A hash of the simulator's code (and the entity definitions it writes columns from)."""
    digest = hashlib.sha256()
    files = sorted((ROOT / "pipelines" / "simulator").rglob("*.py"))
    for path in [*files, ROOT / "pipelines" / "ingest" / "entities.py"]:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_warehouse(data: Path) -> Path:
    """The warehouse CardPulse builds from the export in ``data``, built once beside it.

    1. ``pipelines.ingest.load.ingest_paths`` of the export's files (the product's ingest:
       validation, quarantine, newest version per order); 2. ``dbt build`` of the project's
       models and data tests against it, as ``cardpulse build`` runs them. Built under a
       scratch name and renamed when whole, so an interrupted run leaves nothing half-built.
       Rebuilt when the dbt project or the ingest code changed since (``product_digest``), or
       the export was generated again.
    """
    folder = data.parent / f"{data.name}-warehouse"
    warehouse = folder / "warehouse.duckdb"
    marker = _generated_by(data)
    digest = product_digest() + (":" + marker.read_text() if marker.exists() else "")
    if warehouse.exists() and (folder / "built_from").exists():
        if (folder / "built_from").read_text() == digest:
            return warehouse
        print(f"the dbt project, ingest or export changed since {warehouse} was built: rebuilding")
    from pipelines.ingest.load import ingest_paths

    scratch = folder.with_name(folder.name + ".building")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    started = time.perf_counter()
    files = sorted(p for p in data.iterdir() if p.is_file() and not p.name.startswith("_"))
    results = ingest_paths(scratch / "warehouse.duckdb", files)
    failed = [r.summary_line() for r in results if r.error]
    if failed:
        raise SystemExit("bench: ingest failed:\n  " + "\n  ".join(failed))
    dbt = [str(Path(sys.executable).with_name("dbt")), "--no-use-colors", "--quiet"]
    dirs = ["--project-dir", str(ROOT / "dbt_project"), "--profiles-dir", str(ROOT / "dbt_project")]
    env = dict(os.environ, CARDPULSE_WAREHOUSE=str(scratch / "warehouse.duckdb"))
    subprocess.run(
        [*dbt, "build", "--exclude-resource-type", "unit_test", *dirs,
         "--target-path", str(scratch / "dbt_target")],
        env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    (scratch / "built_from").write_text(digest)
    shutil.rmtree(folder, ignore_errors=True)
    scratch.rename(folder)
    print(
        f"built the warehouse (ingest + dbt) in {time.perf_counter() - started:.1f} s: {warehouse}"
    )
    return warehouse


def product_digest() -> str:
    """A hash of what the warehouse is built from: the dbt project's sources and the ingest
    code."""
    digest = hashlib.sha256()
    roots = [ROOT / "dbt_project" / d for d in ("models", "macros", "tests")]
    roots += [ROOT / "dbt_project" / "dbt_project.yml", ROOT / "pipelines" / "ingest"]
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in files:
            if path.is_file() and path.suffix in {".sql", ".yml", ".py"}:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def export_files(data: Path, prefix: str) -> str:
    """A DuckDB table function reading every export file of one entity, or "" when there is none."""
    found = sorted(p for p in data.iterdir() if p.name.startswith(prefix) and p.is_file())
    if not found:
        return ""
    reader = "read_parquet" if found[0].suffix == ".parquet" else "read_csv_auto"
    return f"{reader}([{', '.join(repr(str(p)) for p in found)}])"
