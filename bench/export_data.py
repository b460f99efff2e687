"""What the benches share: a simulated export generated once, and DuckDB readers over its files."""

from __future__ import annotations

import time
from pathlib import Path

DEMAND_STATUSES = ("paid", "delivered", "failed", "refunded")


def ensure_export(data: Path, scale: str, seed: int) -> Path:
    """The export folder, generated once (as Parquet) if it is not there yet."""
    if (data / "_truth" / "expected_demand.parquet").exists():
        return data
    from pipelines.simulator import generate

    started = time.perf_counter()
    generate(str(data), scale=scale, seed=seed, fmt="parquet")
    print(f"generated {scale} export in {time.perf_counter() - started:.1f} s: {data}")
    return data


def export_files(data: Path, prefix: str) -> str:
    """A DuckDB table function reading every export file of one entity, or "" when there is none."""
    found = sorted(p for p in data.iterdir() if p.name.startswith(prefix) and p.is_file())
    if not found:
        return ""
    reader = "read_parquet" if found[0].suffix == ".parquet" else "read_csv_auto"
    return f"{reader}([{', '.join(repr(str(p)) for p in found)}])"


def create_demand_orders(conn, data: Path) -> None:
    """Table ``orders``: the newest version of each order in the export, demand statuses only
    (the contract's rules, as the warehouse applies them)."""
    statuses = ", ".join(f"'{s}'" for s in DEMAND_STATUSES)
    conn.execute(f"""
        CREATE TABLE orders AS
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY order_id
                                         ORDER BY coalesce(updated_at, created_at) DESC) AS rn
            FROM {export_files(data, "orders")})
        WHERE rn = 1 AND status IN ({statuses})""")
