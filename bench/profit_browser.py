"""The profit page (issue #18) drawn in a real browser: time from clicking its link until the
page has settled with its charts (target: <= 1 s on the medium data).

    .venv/bin/python bench/profit_browser.py WAREHOUSE_OR_SNAPSHOT [--runs 3]

1. A warehouse (``bench/coupons.py --scale medium`` leaves one under
   ``bench/out/coupons/medium/work/``) is published into a temporary home as the dashboard's
   snapshot (``pipelines.publish.publish_snapshot``); a snapshot file is used as it is.
2. ``cardpulse dashboard``'s server on a free port; Debian's Chromium through Playwright.
3. For an admin and for a merchant user (the snapshot's biggest top-level merchant): sign in,
   then click the page's link ``--runs`` times (from the overview each time); the first click
   runs with empty query caches. Prints one line per click.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import socket
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "bench-password-1"
TARGET_SECONDS = 1.0
SETTLED = (
    '() => !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stSpinner"]\')'
    " && document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0"
    " && document.querySelectorAll('.js-plotly-plot').length >= 2"
)


def _snapshot(source: Path, home: Path) -> Path:
    import duckdb

    target = home / "snapshot.duckdb"
    if source.name.startswith("snapshot"):
        target.symlink_to(source.resolve())
        return target
    from pipelines.publish import BuildInfo, publish_snapshot

    now = dt.datetime.now()
    with duckdb.connect(str(source)) as conn:  # ATTACHing the new snapshot needs write mode
        publish_snapshot(conn, target, BuildInfo("bench", now, now, "success", None), [])
    return target


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"dashboard not healthy at {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from dashboard import auth, data
    from dashboard.command import serve

    with tempfile.TemporaryDirectory(prefix="cardpulse-profit-bench-") as folder:
        home = Path(folder)
        snapshot = _snapshot(args.source, home)
        conn = data.connect(snapshot)
        try:
            merchant = data.first_merchant(conn)
            rows = conn.execute("SELECT count(*) FROM analytics.fct_order_profit").fetchone()[0]
        finally:
            conn.close()
        print(f"bench profit_browser: fct_order_profit_rows={rows} merchant={merchant}")
        store = auth.UserStore(home / "users.json")
        store.add("bench-admin", "admin", PASSWORD)
        accounts = [("admin", "bench-admin")]
        if merchant:
            store.add("bench-shop", "merchant", PASSWORD, merchant)
            accounts.append(("merchant", "bench-shop"))
        os.environ["CARDPULSE_HOME"] = str(home)
        port = _free_port()
        server = serve(port, "127.0.0.1")
        worst = 0.0
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--headless"]
                )
                for role, name in accounts:
                    page = browser.new_page(viewport={"width": 1400, "height": 2400})
                    page.goto(url)
                    page.get_by_label("用户名").fill(name)
                    page.get_by_label("密码").fill(PASSWORD)
                    page.get_by_role("button", name="登录").click()
                    page.get_by_role("heading", name="商户概览").wait_for(timeout=120_000)
                    page.wait_for_function(SETTLED, timeout=120_000)
                    nav = page.get_by_test_id("stSidebarNav")
                    for run in range(args.runs):
                        started = time.perf_counter()
                        nav.get_by_role("link", name="利润与渠道").click()
                        page.get_by_role("heading", name="利润与渠道").wait_for(timeout=120_000)
                        page.wait_for_function(SETTLED, timeout=120_000)
                        seconds = time.perf_counter() - started
                        if run:
                            worst = max(worst, seconds)
                        errors = page.get_by_test_id("stException").count()
                        print(
                            f"bench profit_browser: role={role:<8} click={run + 1} "
                            f"{'cold' if run == 0 else 'warm'} draw_s={seconds:.3f} "
                            f"charts={page.locator('.js-plotly-plot').count()} errors={errors}"
                        )
                        nav.get_by_role("link", name="商户概览").click()
                        page.get_by_role("heading", name="商户概览").wait_for(timeout=120_000)
                        page.wait_for_function(SETTLED, timeout=120_000)
                    page.close()
                browser.close()
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=15)
    verdict = "ok" if worst <= TARGET_SECONDS else "SLOW"
    print(
        f"bench profit_browser: worst_warm_draw_s={worst:.3f} target_s={TARGET_SECONDS} {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
