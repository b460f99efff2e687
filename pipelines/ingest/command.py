"""``cardpulse ingest PATH... [--source canonical|dujiaoka|acg-faka] [--encoding ENC]
[--merchant-id ID]``: load files or folders into the warehouse, one summary line per file."""

from __future__ import annotations

import argparse
import sys

HELP = "load files or folders (CSV, Parquet, JSON Lines; gzip allowed) into the warehouse"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to load")
    parser.add_argument(
        "--source",
        default="canonical",
        help="layout of the files: canonical (the contract's, default), dujiaoka (独角数卡 "
        "table exports) or acg-faka (异次元发卡 table exports)",
    )
    parser.add_argument(
        "--encoding",
        default=None,
        help="text encoding of CSV / JSON Lines files (default: UTF-8, else GB18030 detected)",
    )
    parser.add_argument(
        "--merchant-id",
        default=None,
        help="merchant id for single-shop sources (dujiaoka; default: dujiaoka)",
    )


def run(args: argparse.Namespace) -> int:
    """1. Load every file, printing its line as it finishes; 2. exit 1 if any file failed."""
    from pipelines.errors import CardPulseError
    from pipelines.ingest.load import ingest_paths
    from pipelines.settings import home

    failed = 0

    def report(result) -> None:
        nonlocal failed
        if result.error:
            failed += 1
            print(f"cardpulse ingest: error: {result.summary_line()}", file=sys.stderr, flush=True)
        else:
            print(result.summary_line(), flush=True)

    results = ingest_paths(
        home().ensure().warehouse,
        args.paths,
        source=args.source,
        encoding=args.encoding,
        merchant_id=args.merchant_id,
        on_result=report,
    )
    if not results:
        raise CardPulseError(
            "no input files found (folders are read by file-name prefix: "
            "orders*, skus*, merchants*, ...)"
        )
    return 1 if failed else 0
