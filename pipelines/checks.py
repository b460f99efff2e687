"""Asset checks on ingestion: every row read is accounted for, every file was readable."""

from __future__ import annotations

import dagster as dg

LEDGER_ASSET = dg.AssetKey(["raw", "file_ledger"])
ROWS_BALANCE = "rows_read_balance"
FILES_READABLE = "files_readable"

CHECK_SPECS = [
    dg.AssetCheckSpec(
        ROWS_BALANCE,
        asset=LEDGER_ASSET,
        description="For the files just loaded: rows read = loaded + updated + duplicate + "
        "quarantined (raw.file_ledger). Nothing is silently dropped.",
    ),
    dg.AssetCheckSpec(
        FILES_READABLE,
        asset=LEDGER_ASSET,
        description="Every landing file could be read (a file that cannot is left out whole).",
    ),
]


def ledger_imbalances(conn, file_ids: list[str]) -> list[tuple]:
    """Ledger rows of ``file_ids`` (content hashes) whose counts do not add up.

    1. Select the files' rows in raw.file_ledger.
    2. Keep those where rows_read != loaded + updated + duplicate + quarantined.
    Returns (file_path, rows_read, loaded, updated, duplicate, quarantined) tuples.
    """
    if not file_ids:
        return []
    return conn.execute(
        """SELECT file_path, rows_read, loaded, updated, duplicate, quarantined
           FROM raw.file_ledger
           WHERE _file_id IN (SELECT unnest(?::VARCHAR[]))
             AND rows_read <> loaded + updated + duplicate + quarantined
           ORDER BY file_path""",
        [file_ids],
    ).fetchall()


def ledger_files_found(conn, file_ids: list[str]) -> int:
    """How many of ``file_ids`` have a row in raw.file_ledger."""
    if not file_ids:
        return 0
    return conn.execute(
        """SELECT count(DISTINCT _file_id) FROM raw.file_ledger
           WHERE _file_id IN (SELECT unnest(?::VARCHAR[]))""",
        [file_ids],
    ).fetchone()[0]


def rows_balance_result(conn, file_ids: list[str]) -> dg.AssetCheckResult:
    """The rows-read balance check over the files just loaded, read back from the ledger."""
    file_ids = sorted(set(file_ids))
    imbalanced = ledger_imbalances(conn, file_ids)
    missing = len(file_ids) - ledger_files_found(conn, file_ids)
    return dg.AssetCheckResult(
        check_name=ROWS_BALANCE,
        asset_key=LEDGER_ASSET,
        passed=not imbalanced and missing == 0,
        metadata={
            "files_checked": len(file_ids),
            "files_missing_from_ledger": missing,
            "imbalanced_files": [
                f"{path}: read {read} != {loaded}+{updated}+{dup}+{quar}"
                for path, read, loaded, updated, dup, quar in imbalanced
            ],
        },
    )


def files_readable_result(errors: dict[str, str]) -> dg.AssetCheckResult:
    """Warns (does not stop the build) when landing files could not be read at all."""
    return dg.AssetCheckResult(
        check_name=FILES_READABLE,
        asset_key=LEDGER_ASSET,
        passed=not errors,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unreadable_files": [f"{path}: {error}" for path, error in errors.items()]},
    )
