"""Speed and memory of `cardpulse generate` per scale.

    .venv/bin/python bench/generate.py [--scales small medium large] [--format csv|parquet]

Each scale runs in a fresh child process (so its peak RSS is its own) and prints one line:
orders, rows, wall seconds (the target), CPU seconds (what the machine's other load does
not inflate), peak RSS, and the targets (small: a few seconds; medium <= 60 s;
large <= 600 s; peak RSS <= 8 GiB). Output goes to bench/out/generate_<scale>/ and is
deleted afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = {"small": 10, "medium": 60, "large": 600}
TARGET_RSS_GIB = 8.0
# The ingestion bench reads large as Parquet; smaller scales as the CSV a user would upload.
DEFAULT_FORMAT = {"small": "csv", "medium": "csv", "large": "parquet"}


def _child(scale: str, fmt: str, out: str, seed: int) -> None:
    sys.path.insert(0, str(ROOT))
    from pipelines.simulator import generate

    started = time.perf_counter()
    summary = generate(out, scale=scale, seed=seed, fmt=fmt)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss  # KiB on Linux
    print(
        json.dumps(
            {
                "orders": summary.orders,
                "rows": summary.order_rows,
                "seconds": seconds,
                "cpu_seconds": usage.ru_utime + usage.ru_stime,
                "peak_rss_gib": peak_kib / 2**20,
                "stockout_share": summary.card_key_stockout_share,
            }
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales", nargs="+", default=["small", "medium"], choices=list(TARGET_SECONDS)
    )
    parser.add_argument("--format", dest="fmt", choices=["csv", "parquet", "jsonl"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep bench/out/generate_<scale>")
    parser.add_argument(
        "--child", nargs=3, metavar=("SCALE", "FORMAT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.child:
        _child(*args.child, seed=args.seed)
        return 0
    failed = False
    for scale in args.scales:
        fmt = args.fmt or DEFAULT_FORMAT[scale]
        out = ROOT / "bench" / "out" / f"generate_{scale}"
        shutil.rmtree(out, ignore_errors=True)
        result = subprocess.run(
            [sys.executable, __file__, "--child", scale, fmt, str(out), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            print(f"generate {scale}: failed\n{result.stderr}", file=sys.stderr)
            return 1
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        ok = (
            figures["seconds"] <= TARGET_SECONDS[scale]
            and figures["peak_rss_gib"] <= TARGET_RSS_GIB
        )
        failed |= not ok
        print(
            f"generate {scale:<6} {fmt:<7} orders={figures['orders']:>11,} "
            f"rows={figures['rows']:>11,} seconds={figures['seconds']:7.1f} "
            f"cpu_seconds={figures['cpu_seconds']:7.1f} "
            f"peak_rss={figures['peak_rss_gib']:5.2f} GiB "
            f"stockout_share={figures['stockout_share']:.3f} | target: seconds<="
            f"{TARGET_SECONDS[scale]} peak_rss<={TARGET_RSS_GIB:g} GiB "
            f"{'OK' if ok else 'MISSED'}",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
