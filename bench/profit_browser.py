"""The profit page (issue #18) drawn in a real browser (target: <= 1 s on the medium data,
<= 1.5 s on the large).

    .venv/bin/python bench/profit_browser.py WAREHOUSE_OR_SNAPSHOT [--runs 3]

``bench/dashboard_browser.py`` limited to the profit page: a warehouse (``bench/coupons.py
--scale medium`` leaves one under ``bench/out/coupons/medium/work/``) is published into a
temporary home first, a snapshot is used as it is; an admin and a merchant user (the
snapshot's biggest top-level merchant) sign in, then open the page ``--runs`` more times after
the cold visit, each from the overview. One line per visit, with the server's and Chromium's
CPU seconds and the bytes sent beside the wall seconds (see dashboard_browser.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dashboard_browser  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    return dashboard_browser.main(
        [str(args.source), "--pages", "overview,profit", "--runs", str(args.runs)]
    )


if __name__ == "__main__":
    sys.exit(main())
