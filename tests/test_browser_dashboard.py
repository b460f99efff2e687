"""The dashboard in a real browser: `streamlit run` (through `serve`) on a free port, Debian's
Chromium driven by Playwright, Chinese fonts from fonts-noto-cjk.

Signs in, opens every page through the navigation, checks that no error element shows, and
saves a full-page screenshot of each (under ``$CARDPULSE_SCREENSHOTS`` when set, else the
test's temporary folder)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import dashboard_fixtures as fx
import pytest

from dashboard import auth
from dashboard.command import serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-pass-1"
# Streamlit scrolls inside its own container, so a tall window is what makes the
# screenshot show the whole page.
VIEWPORT = {"width": 1400, "height": 2400}
PAGES = [
    ("商户概览", "overview"),
    ("利润与渠道", "profit"),
    ("运营", "operations"),
    ("定价", "pricing"),
    ("数据健康", "health"),
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian chromium (apt-get install chromium)"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, server, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"dashboard not healthy at {url} after {timeout} s")


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("browser_home")
    fx.build_snapshot(home / "snapshot.duckdb")
    store = auth.UserStore(home / "users.json")
    store.add("root", "admin", PASSWORD)
    store.add("shop", "merchant", PASSWORD, merchant_id="M001")
    previous = os.environ.get("CARDPULSE_HOME")
    os.environ["CARDPULSE_HOME"] = str(home)
    port = free_port()
    server = serve(port, "127.0.0.1")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)
        if previous is None:
            os.environ.pop("CARDPULSE_HOME", None)
        else:
            os.environ["CARDPULSE_HOME"] = previous


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("CARDPULSE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def sign_in(page, url: str, name: str) -> None:
    page.goto(url)
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="商户概览").wait_for(timeout=60_000)


def settle(page) -> None:
    """Wait until the script run is over and the charts have drawn."""
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] '
        '[data-testid="stSpinner"]\') '
        "&& document.querySelectorAll('[data-testid=\"stSkeleton\"]').length === 0",
        timeout=20_000,
    )
    page.wait_for_timeout(300)


def test_admin_signs_in_and_visits_every_page(dashboard_url, browser, screenshots):
    page = browser.new_page(viewport=VIEWPORT)
    # Nothing may come from another host: Google's font and icon hosts are blocked in China.
    elsewhere = []
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((dashboard_url, "data:", "blob:"))
            else None
        ),
    )
    sign_in(page, dashboard_url, "root")
    for title, slug in PAGES:
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
        page.get_by_role("heading", name=title).wait_for(timeout=20_000)
        settle(page)
        page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
        assert page.get_by_test_id("stException").count() == 0, slug
        assert page.get_by_test_id("stAlertContentError").count() == 0, slug
        page.screenshot(path=str(screenshots / f"admin_{slug}.png"), full_page=True)
    assert page.locator(".js-plotly-plot").count() > 0  # charts really render
    assert elsewhere == []
    favicon = page.locator("link[rel='shortcut icon']").get_attribute("href")
    assert favicon.startswith("data:image/svg+xml")  # drawn here, not fetched
    page.close()


def test_merchant_sees_only_its_own_pages(dashboard_url, browser, screenshots):
    page = browser.new_page(viewport=VIEWPORT)
    sign_in(page, dashboard_url, "shop")
    settle(page)
    # Chart labels are SVG text drawn after the data arrives: wait for the top-SKU bars.
    # The channel pie, last (the province ranking tab draws only when opened).
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=20_000)
    page.locator("svg text", has_text="Q币 100 元").first.wait_for(timeout=20_000)
    assert page.get_by_test_id("stException").count() == 0
    # Its two pages (overview, profit) and nothing else to navigate to.
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    texts = links.all_inner_texts()  # each with its icon's ligature name before the title
    assert len(texts) == 2 and {t.split()[-1] for t in texts} == {"商户概览", "利润与渠道"}
    content = page.content()
    # The merchant's SKUs show; the other tree's never do.
    assert "机密礼品卡" not in content and "竞品" not in content and "M004" not in content
    page.screenshot(path=str(screenshots / "merchant_overview.png"), full_page=True)
    # The CSV is built on click, on the server, in the merchant's scope (a loaded CI machine
    # once took over 20 s to answer). One click must do: the button does not rerun the page,
    # whose start used to drop the file's answer now and then (ui.download_button).
    settle(page)
    with page.expect_download(timeout=60_000) as download:
        page.get_by_role("button", name="下载 CSV").click()
    shown = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert shown.splitlines()[0].startswith("order_date,sku_id,sku_name")
    assert "SKU-QQ100" in shown and "SKU-SECRET" not in shown
    # A crafted URL to another page does not open it: the merchant stays on its overview.
    page.goto(f"{dashboard_url}/operations")
    page.get_by_role("heading", name="商户概览").wait_for(timeout=20_000)
    settle(page)
    assert page.get_by_role("heading", name="运营").count() == 0
    page.close()


def test_clicking_the_chosen_language_keeps_the_page(dashboard_url, browser):
    page = browser.new_page(viewport=VIEWPORT)
    sign_in(page, dashboard_url, "root")
    settle(page)
    toggle = page.get_by_test_id("stSidebar")
    for button, title in (("中文", "商户概览"), ("English", "Merchant overview")):
        for _click in range(2):  # choose it, then click the chosen one again
            toggle.locator("button", has_text=button).click()
            settle(page)
            page.get_by_role("heading", name=title).wait_for(timeout=20_000)
            assert page.get_by_test_id("stException").count() == 0, button
    page.close()


def test_served_with_the_dashboards_own_streamlit_settings(dashboard_url):
    # dashboard/.streamlit/config.toml is read beside the script, whatever the working folder:
    # no outside page may drive the app through a frame (Streamlit trusts its cloud hosts by
    # default).
    with urllib.request.urlopen(f"{dashboard_url}/_stcore/host-config", timeout=10) as reply:
        host_config = json.loads(reply.read())
    assert host_config["allowedOrigins"] == []


@pytest.fixture(scope="module")
def guarded_url(tmp_path_factory):
    """``streamlit run dashboard/server.py``: the app behind its security middleware."""
    home = tmp_path_factory.mktemp("guarded_home")
    fx.build_snapshot(home / "snapshot.duckdb")
    auth.UserStore(home / "users.json").add("root", "admin", PASSWORD)
    port = free_port()
    project = Path(__file__).resolve().parent.parent
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(project / "dashboard" / "server.py"),
            f"--server.port={port}",
            "--server.address=127.0.0.1",
            "--server.headless=true",
        ],
        env=dict(os.environ, CARDPULSE_HOME=str(home), PYTHONPATH=str(project)),
        cwd=str(home),
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)


def test_security_headers_and_closed_metrics(guarded_url, browser):
    with urllib.request.urlopen(guarded_url, timeout=10) as reply:
        headers = reply.headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    with pytest.raises(urllib.error.HTTPError) as closed:
        urllib.request.urlopen(f"{guarded_url}/_stcore/metrics", timeout=10)
    assert closed.value.code == 404
    # The policy does not break the app: sign in, see every chart, no policy violation.
    page = browser.new_page(viewport=VIEWPORT)
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, guarded_url, "root")
    settle(page)
    page.locator(".js-plotly-plot").nth(3).wait_for(timeout=20_000)  # the fourth and last chart
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="定价").click()
    page.get_by_role("heading", name="定价").wait_for(timeout=20_000)
    settle(page)
    page.locator(".js-plotly-plot").first.wait_for(timeout=20_000)
    assert page.get_by_test_id("stException").count() == 0
    assert violations == []
    page.close()


def session_cookie(context, timeout: float = 15) -> dict:
    """The session cookie, once the page's request to set it has been answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [c for c in context.cookies() if c["name"] == "cardpulse_session"]
        if found:
            return found[0]
        time.sleep(0.2)
    raise AssertionError("no cardpulse_session cookie was set")


def signed_in_heading(page, url: str, title: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=title).wait_for(timeout=20_000)
    assert page.get_by_label("密码").count() == 0


def test_stays_signed_in_across_reload_deep_links_and_tabs(dashboard_url, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    # A deep link while signed out shows the Chinese sign-in form, no "Page not found" box,
    # and signing in opens the page that was asked for.
    page.goto(f"{dashboard_url}/pricing")
    page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    assert page.get_by_text("Page not found").count() == 0
    page.get_by_label("用户名").fill("root")
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="定价").wait_for(timeout=20_000)
    cookie = session_cookie(context)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    assert page.evaluate("document.cookie").find("cardpulse_session") == -1  # HttpOnly
    page.reload()
    page.get_by_role("heading", name="定价").wait_for(timeout=20_000)
    assert page.get_by_label("密码").count() == 0
    signed_in_heading(page, f"{dashboard_url}/operations", "运营")
    other_tab = context.new_page()
    signed_in_heading(other_tab, f"{dashboard_url}/health", "数据健康")
    # Sign-out ends the session everywhere: the back button, a reload, the other tab, and
    # the old cookie put back by hand all show the sign-in form.
    page.get_by_test_id("stSidebar").get_by_role("button", name="退出登录").click()
    page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    page.go_back()
    page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    page.reload()
    page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    other_tab.get_by_test_id("stSidebarNav").get_by_role("link", name="定价").click()
    other_tab.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    context.add_cookies([{**cookie, "url": dashboard_url} | {"domain": None, "path": None}])
    page.reload()
    page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
    context.close()


def test_forged_and_tampered_cookies_are_refused(dashboard_url, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    sign_in(page, dashboard_url, "root")
    good = session_cookie(context)["value"]
    version, session_id, issued, mac = good.split(".")
    forged = [
        f"{version}.{session_id}.{issued}.{'0' * 64}",  # no key, no signature
        f"{version}.{session_id}.{int(issued) + 3600}.{mac}",  # issue time moved
        f"{version}.{'A' * 43}.{issued}.{mac}",  # another session id
        f"{version}.{session_id}.{int(issued) - 13 * 3600}.{mac}",  # older than 12 h
        "v1.../etc/passwd",
    ]
    for value in forged:
        thief = browser.new_context(viewport=VIEWPORT)
        thief.add_cookies([{"name": "cardpulse_session", "value": value, "url": dashboard_url}])
        stolen = thief.new_page()
        stolen.goto(f"{dashboard_url}/operations")
        stolen.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
        thief.close()
    # The genuine value works in another browser (it is a bearer cookie; HttpOnly keeps it
    # from scripts), which shows the refusals above are the signature's doing.
    copy = browser.new_context(viewport=VIEWPORT)
    copy.add_cookies([{"name": "cardpulse_session", "value": good, "url": dashboard_url}])
    signed_in_heading(copy.new_page(), f"{dashboard_url}/operations", "运营")
    copy.close()
    context.close()


def _streamlit_session_id(page) -> list[str]:
    """Collect the Streamlit session ids the server sends this page (its NewSession)."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    seen: list[str] = []

    def frames(socket) -> None:
        def read(payload) -> None:
            if isinstance(payload, bytes | bytearray):
                message = ForwardMsg()
                try:
                    message.ParseFromString(bytes(payload))
                except Exception:  # noqa: BLE001 - a frame of another kind
                    return
                if message.WhichOneof("type") == "new_session":
                    seen.append(message.new_session.initialize.session_id)

        socket.on("framereceived", read)

    page.on("websocket", frames)
    return seen


def _resume_without_cookie(url: str, session_id: str) -> str:
    """Open Streamlit's websocket as another client would, naming the victim's session id and
    sending no cookie; rerun the script and return the text it draws."""
    from google.protobuf import text_format
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    texts: list[str] = []
    with connect(
        url.replace("http://", "ws://") + "/_stcore/stream",
        subprotocols=["streamlit", "PLACEHOLDER", session_id],
        origin=url,
        max_size=None,
        open_timeout=20,
    ) as socket:
        rerun = BackMsg()
        rerun.rerun_script.query_string = ""
        rerun.rerun_script.page_script_hash = ""
        socket.send(rerun.SerializeToString())
        # Read until the runs are over: a run of the victim's may finish first.
        finished = 0
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                frame = socket.recv(timeout=3 if finished else 20)
            except TimeoutError:
                break
            message = ForwardMsg()
            message.ParseFromString(frame)
            texts.append(text_format.MessageToString(message, as_utf8=True))
            finished += message.WhichOneof("type") == "script_finished"
    return "\n".join(texts)


def test_a_websocket_resuming_a_session_without_its_cookie_gets_the_sign_in(dashboard_url, browser):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    ids = _streamlit_session_id(page)
    sign_in(page, dashboard_url, "root")
    settle(page)
    assert ids, "no NewSession seen"
    drawn = _resume_without_cookie(dashboard_url, ids[-1]).encode().decode("unicode_escape")
    drawn = drawn.encode("latin-1", "replace").decode("utf-8", "replace")
    assert "登录 CardPulse" in drawn
    assert "root" not in drawn.split("登录 CardPulse")[0] or "已登录" not in drawn
    context.close()


def test_clicking_a_top_sku_bar_drills_down_to_that_sku(dashboard_url, browser):
    page = browser.new_page(viewport=VIEWPORT)
    sign_in(page, dashboard_url, "root")
    settle(page)
    top_skus = page.locator(".js-plotly-plot").nth(1)  # after the trend
    top_skus.locator("g.point path").first.click(force=True)  # the smallest bar: 爱奇艺月卡
    page.get_by_test_id("stMultiSelect").filter(has_text="爱奇艺月卡 (SKU-IQY-M)").wait_for(
        timeout=20_000
    )
    settle(page)
    # Everything below follows the filter: the top-SKU table holds that one SKU.
    names = page.get_by_test_id("stDataFrame").last.locator('td[aria-colindex="1"]')
    deadline = time.monotonic() + 20
    while names.all_text_contents() != ["爱奇艺月卡"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert names.all_text_contents() == ["爱奇艺月卡"]  # (the grid's cells are for readers)
    assert page.get_by_test_id("stException").count() == 0
    page.close()


def test_the_sign_in_page_loads_the_chart_code_out_of_sight(dashboard_url, browser):
    """While the person types, the browser already has Plotly's code (megabytes of script the
    overview would otherwise wait for after the click): an empty chart, hidden."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(dashboard_url)
    page.get_by_label("用户名").wait_for(timeout=60_000)
    chart = page.locator(".js-plotly-plot")
    chart.first.wait_for(state="attached", timeout=30_000)
    assert chart.count() == 1 and not chart.first.is_visible()
    assert page.get_by_test_id("stException").count() == 0
    page.close()


def test_clicking_a_province_tile_drills_down_to_that_province(dashboard_url, browser):
    from dashboard.figures import PROVINCE_TILES

    page = browser.new_page(viewport=VIEWPORT)
    sign_in(page, dashboard_url, "root")
    settle(page)
    tiles = page.locator(".js-plotly-plot").nth(2)  # after the trend and the top SKUs
    tiles.locator("g.points path.point").nth(list(PROVINCE_TILES).index("CN-ZJ")).click(force=True)
    page.get_by_test_id("stMultiSelect").filter(has_text="浙江").wait_for(timeout=20_000)
    settle(page)
    # The forecast covers every province, so the trend says it steps aside.
    page.get_by_text("预测按全国计算").wait_for(timeout=20_000)
    assert page.get_by_test_id("stException").count() == 0
    page.close()


def test_sessions_and_revocations_outlive_a_restart_of_the_dashboard(dashboard_url, browser):
    """The server-side records (hashed ids only, file mode 600) survive a restart: the cookie
    of a signed-in browser still works on the new process, and one revoked by sign-out
    stays refused."""
    home = Path(os.environ["CARDPULSE_HOME"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def started():
        server = serve(port, "127.0.0.1")
        wait_healthy(url, server)
        return server

    def stopped(server) -> None:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=15)

    server = started()
    try:
        context = browser.new_context(viewport=VIEWPORT)
        page = context.new_page()
        sign_in(page, url, "root")
        cookie = session_cookie(context)
        stopped(server)
        server = started()
        signed_in_heading(page, f"{url}/operations", "运营")  # the same cookie, a new process
        stored = home / "sessions.sqlite"
        assert stored.stat().st_mode & 0o777 == 0o600
        session_id = cookie["value"].split(".")[1]
        assert session_id.encode() not in stored.read_bytes()  # only its hash is kept
        page.get_by_test_id("stSidebar").get_by_role("button", name="退出登录").click()
        page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
        stopped(server)
        server = started()
        context.add_cookies([{**cookie, "url": url} | {"domain": None, "path": None}])
        page.goto(f"{url}/operations")
        page.get_by_role("heading", name="登录 CardPulse").wait_for(timeout=20_000)
        context.close()
    finally:
        stopped(server)
