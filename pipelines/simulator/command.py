"""`cardpulse generate`: write a simulated platform's export and its ground truth."""

from __future__ import annotations

import argparse
from datetime import date

from pipelines.errors import CardPulseError

HELP = "write a simulated 卡盟 platform export (and the ground truth it was drawn from)"
SCALES = ("small", "medium", "large")
FORMATS = ("csv", "parquet", "jsonl")


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="folder for the export files (the truth goes to DIR/_truth)",
    )
    parser.add_argument(
        "--scale",
        choices=SCALES,
        default="small",
        help="small ~50k orders, medium ~2M, large ~20M (default: small)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--dirty",
        action="store_true",
        help="add the defects real exports carry, listed in _truth/dirty_rows.csv",
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="plant reconciliation faults and fraud rings (truth in _truth/faults.csv and "
        "_truth/risk_rings.csv)",
    )
    parser.add_argument(
        "--format", dest="fmt", choices=FORMATS, default="csv", help="file format (default: csv)"
    )
    parser.add_argument(
        "--end-date",
        type=_iso_date,
        default=date(2026, 10, 31),
        metavar="YYYY-MM-DD",
        help="last day of the export; history is the two years before it",
    )


def run(args: argparse.Namespace) -> int:
    """1. Check the output folder; 2. generate; 3. print one summary line."""
    from pathlib import Path

    from pipelines.simulator import generate

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CardPulseError(f"--out {out} exists and is not a folder")
    if args.seed < 0:
        raise CardPulseError("--seed must be zero or positive")
    try:
        summary = generate(
            out,
            scale=args.scale,
            seed=args.seed,
            dirty=args.dirty,
            fmt=args.fmt,
            end_date=args.end_date,
            faults=args.faults,
        )
    except PermissionError as error:
        raise CardPulseError(f"cannot write to {out}: {error.strerror}") from None
    except OSError as error:
        raise CardPulseError(f"cannot write the export to {out}: {error}") from None
    print(
        f"generated {summary.orders:,} orders ({summary.order_rows:,} rows), "
        f"{summary.skus} SKUs, {summary.merchants} merchants, "
        f"{summary.start_date}..{summary.end_date} into {out} "
        f"({len(summary.files)} files; truth in {out / '_truth'}"
        + (f"; {summary.dirty_rows} dirty rows logged" if summary.dirty else "")
        + (f"; {summary.fault_rows} faults and rings planted" if summary.faults else "")
        + ")"
    )
    return 0
