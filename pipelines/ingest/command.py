"""``cardpulse ingest PATH... [--source canonical|dujiaoka|acg-faka|dujiao-next] [--encoding ENC]
[--merchant-id ID] [--max-quarantine-pct N]``: load files or folders into the warehouse, one
summary line per file."""

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
        "table exports), acg-faka (异次元发卡 table exports) or dujiao-next (its orders, "
        "order_items, payments and card_secret_batches tables)",
    )
    parser.add_argument(
        "--encoding",
        default=None,
        help="text encoding of CSV / JSON Lines files, any Python codec (gbk, big5, utf-16...); "
        "default: UTF-8, a byte order mark's, else GB18030 or Big5 as detected",
    )
    parser.add_argument(
        "--merchant-id",
        default=None,
        help="merchant id for single-shop sources (dujiaoka, dujiao-next; default: the "
        "source's name)",
    )
    parser.add_argument(
        "--max-quarantine-pct",
        type=_percent,
        default=None,
        metavar="N",
        help="a file quarantining more than N%% of its rows fails (nothing of it is loaded)",
    )


def _percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 100")
    return value


def run(args: argparse.Namespace) -> int:
    """1. Load every file, printing its line (and any warning) as it finishes; 2. name the
    inferred master ids still waiting for their master rows; 3. exit 1 if any file failed."""
    from pipelines.engine import load_engine_settings
    from pipelines.errors import CardPulseError
    from pipelines.ingest.load import ingest_paths, pending_inferred_members
    from pipelines.settings import home

    failed = 0

    def report(result) -> None:
        nonlocal failed
        if result.error:
            failed += 1
            print(f"cardpulse ingest: error: {result.summary_line()}", file=sys.stderr, flush=True)
            return
        print(result.summary_line(), flush=True)
        if result.warning:
            name = result.path.rsplit("/", 1)[-1]
            print(
                f"cardpulse ingest: warning: {name}: {result.warning}", file=sys.stderr, flush=True
            )

    warehouse = home().ensure().warehouse
    results = ingest_paths(
        warehouse,
        args.paths,
        source=args.source,
        encoding=args.encoding,
        merchant_id=args.merchant_id,
        on_result=report,
        max_quarantine_pct=args.max_quarantine_pct,
        lake_path=load_engine_settings().lake,
    )
    if not results:
        raise CardPulseError(
            "no input files found (folders are read by file-name prefix: "
            "orders*, skus*, merchants*, ...)"
        )
    if any(r.inferred for r in results):
        for members in pending_inferred_members(warehouse):
            print(f"inferred until their master rows arrive: {members.note()}")
    return 1 if failed else 0
