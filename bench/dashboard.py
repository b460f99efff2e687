"""Server-side render time of every dashboard page (target: <= 1.5 s each on the medium dataset).

Usage: .venv/bin/python bench/dashboard.py [SNAPSHOT]   (default: $CARDPULSE_HOME/snapshot.duckdb)

Each page is rendered with Streamlit's AppTest (the same script run a browser session
triggers, minus the network) for an admin and for a merchant user bound to the snapshot's
biggest top-level merchant: once with empty caches ("cold", what the first visitor after a
build waits for) and once more ("warm"). Prints one line per page and role.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

TARGET_SECONDS = 1.5
PAGES = {
    "overview": "app_pages/overview.py",
    "profit": "app_pages/profit.py",
    "operations": "app_pages/operations.py",
    "pricing": "app_pages/pricing.py",
    "health": "app_pages/health.py",
}
MERCHANT_PAGES = ("overview", "profit")


def main(argv: list[str]) -> int:
    os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # no bare-mode warnings
    from pipelines.settings import home

    snapshot = Path(argv[0]).resolve() if argv else home().snapshot
    if not snapshot.exists():
        print(
            f"bench dashboard: no snapshot at {snapshot} (run `cardpulse build` first)",
            file=sys.stderr,
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="cardpulse-bench-") as folder:
        os.environ["CARDPULSE_HOME"] = folder
        (Path(folder) / "snapshot.duckdb").symlink_to(snapshot)
        return _measure(Path(folder), snapshot)


def _measure(folder: Path, snapshot: Path) -> int:
    import logging

    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import auth, data, ui

    logging.disable(logging.WARNING)  # bare-mode chatter from AppTest and st.cache_data
    for name in (
        "streamlit.runtime.caching.cache_data_api",
        "streamlit.runtime.scriptrunner_utils.script_run_context",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)

    conn = data.connect(snapshot)
    try:
        merchant = data.first_merchant(conn)
        orders = conn.execute("SELECT count(*) FROM analytics.fct_daily_merchant_sales").fetchone()
    finally:
        conn.close()
    print(
        f"bench dashboard: snapshot={snapshot} size_mb={snapshot.stat().st_size / 1e6:.1f} "
        f"fct_daily_merchant_sales_rows={orders[0]} merchant={merchant}"
    )
    store = auth.UserStore(folder / "users.json")
    store.add("bench-admin", "admin", "bench-password-1")
    roles = [("admin", "bench-admin")]
    if merchant:
        store.add("bench-merchant", "merchant", "bench-password-1", merchant)
        roles.append(("merchant", "bench-merchant"))
    worst = 0.0
    app_path = str(PROJECT / "dashboard" / "app.py")
    # A server imports its libraries (openpyxl, jinja2 for styled tables, ...) once, at the
    # first visit after it starts; that is reported apart from the per-page figures.
    warmup = AppTest.from_file(app_path, default_timeout=120)
    warmup.session_state[ui.SESSION_KEY] = auth.start_session(store.get("bench-admin"))
    started = time.perf_counter()
    warmup.run()
    for path in PAGES.values():
        warmup.switch_page(path).run()
    print(
        f"bench dashboard: first_visit_after_start_all_pages_s={time.perf_counter() - started:.3f}"
    )
    for role, name in roles:
        app = AppTest.from_file(app_path, default_timeout=120)
        app.session_state[ui.SESSION_KEY] = auth.start_session(store.get(name))
        app.run()  # the frame, not counted
        for page, path in PAGES.items():
            if role == "merchant" and page not in MERCHANT_PAGES:
                continue
            timings = []
            for cold in (True, False):
                if cold:
                    st.cache_data.clear()
                app.switch_page(path)
                started = time.perf_counter()
                app.run()
                timings.append(time.perf_counter() - started)
                if app.exception:
                    print(f"  {page}/{role}: exception {app.exception[0].value}", file=sys.stderr)
            worst = max(worst, timings[0])
            verdict = "ok" if timings[0] <= TARGET_SECONDS else "SLOW"
            print(
                f"bench dashboard: page={page:<10} role={role:<8} cold_s={timings[0]:.3f} "
                f"warm_s={timings[1]:.3f} target_s={TARGET_SECONDS} {verdict} "
                f"charts={len(app.get('plotly_chart'))} tables={len(app.dataframe)} "
                f"notes={len(app.info)}"
            )
    print(
        f"bench dashboard: worst_cold_s={worst:.3f} target_s={TARGET_SECONDS} "
        f"{'ok' if worst <= TARGET_SECONDS else 'SLOW'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
