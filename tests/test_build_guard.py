"""One build at a time, and a killed build never leaves its run "started" (issue #24, 1 and 3).

Real `cardpulse build` processes on the tiny platform of test_build.py; the Dagster instance
they record runs in is read back from ``$CARDPULSE_HOME/dagster``.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest
from test_build import END_DATE, write_tiny_platform

from pipelines.build_guard import (
    HOST_TAG,
    PID_TAG,
    TRIGGER_TAG,
    fail_abandoned_runs,
    hold_build_lock,
)
from pipelines.settings import Home

PROJECT = Path(__file__).resolve().parent.parent
PATIENCE = 120.0
AS_OF = str(END_DATE + dt.timedelta(days=1))


def cardpulse_build(home: Path, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "build", "--as-of", AS_OF],
        cwd=PROJECT,
        env=dict(os.environ, CARDPULSE_HOME=str(home)),
        text=True,
        **popen,
    )


def wait_for(condition, what: str, timeout: float = PATIENCE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise TimeoutError(f"{what}: not after {timeout} s")


def lock_holder(home: Path) -> int | None:
    try:
        text = (home / "build.lock").read_text().strip()
    except OSError:
        return None
    return int(text) if text else None


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


# --- 3. a second build is refused at start -------------------------------------------------


def test_a_second_build_is_refused_at_once_naming_the_holders_pid(tmp_path):
    write_tiny_platform(tmp_path / "landing")
    first = cardpulse_build(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: lock_holder(tmp_path) == first.pid, "the first build holds the lock")
        second = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "build"],
            cwd=PROJECT,
            env=dict(os.environ, CARDPULSE_HOME=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert first.poll() is None, "the first build must still be running for this test"
    finally:
        first.kill()
        first.wait(timeout=PATIENCE)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"cardpulse build: error: another build is running on {tmp_path} (pid {first.pid}); "
        "wait for it to finish, then run again"
    ]
    assert "building" not in second.stdout  # refused before it started anything
    # Killed by SIGKILL, the first build left its lock free.
    with hold_build_lock(Home(tmp_path)):
        assert lock_holder(tmp_path) == os.getpid()


def test_the_lock_is_held_until_the_block_ends(tmp_path):
    home = Home(tmp_path)
    with hold_build_lock(home):
        holder = subprocess.run(
            [sys.executable, "-c", LOCK_ONCE, str(tmp_path)],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert f"(pid {os.getpid()})" in holder.stdout
    with hold_build_lock(home):
        pass


LOCK_ONCE = """
import sys
from pathlib import Path
from pipelines.build_guard import hold_build_lock
from pipelines.errors import CardPulseError
from pipelines.settings import Home
try:
    with hold_build_lock(Home(Path(sys.argv[1]))):
        print("acquired")
except CardPulseError as error:
    print(error)
"""


# --- 1. runs left "started" by a dead build ------------------------------------------------


def started_run(instance, tags: dict[str, str]) -> str:
    run = dg.DagsterRun(
        job_name="build", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags
    )
    instance.add_run(run)
    return run.run_id


def test_only_runs_of_dead_builds_of_this_host_are_marked_failed(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # prepare_dagster_home sets it

    with dg.DagsterInstance.from_config(str(prepared_dagster_home(tmp_path))) as instance:
        here = socket.gethostname()
        dead = started_run(instance, {TRIGGER_TAG: "cli", PID_TAG: str(dead_pid()), HOST_TAG: here})
        legacy = started_run(instance, {TRIGGER_TAG: "cli"})
        alive = started_run(
            instance, {TRIGGER_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: here}
        )
        elsewhere = started_run(
            instance, {TRIGGER_TAG: "cli", PID_TAG: str(dead_pid()), HOST_TAG: "other-host"}
        )
        sensor = started_run(instance, {TRIGGER_TAG: "landing_sensor"})
        lines = fail_abandoned_runs(instance)
        status = {run_id: instance.get_run_by_id(run_id).status for run_id in
                  (dead, legacy, alive, elsewhere, sensor)}  # fmt: skip
    assert status[dead] == status[legacy] == dg.DagsterRunStatus.FAILURE
    assert status[alive] == status[elsewhere] == status[sensor] == dg.DagsterRunStatus.STARTED
    assert sorted(line.split()[1] for line in lines) == sorted([dead[:8], legacy[:8]])


def prepared_dagster_home(root: Path) -> Path:
    from pipelines.commands.build_run import prepare_dagster_home

    dagster_home = root / "dagster"
    prepare_dagster_home(dagster_home)
    return dagster_home


@pytest.mark.slow
def test_a_build_killed_mid_dbt_takes_dbt_with_it_and_the_next_build_fails_its_run(tmp_path):
    write_tiny_platform(tmp_path / "landing")
    first = cardpulse_build(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dbt = wait_for(lambda: dbt_child_of(first.pid), "dbt started by the first build")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=PATIENCE)
    wait_for(lambda: not running(dbt), "dbt gone after its build was killed", timeout=30)
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        # The killed run still holds the warehouse's one slot: the next build must free it.
        assert instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count == 1

    second = cardpulse_build(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    output, errors = second.communicate(timeout=900)
    assert second.returncode == 0, errors
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        runs = {run.tags.get(PID_TAG): run for run in instance.get_runs()}
    killed, rebuilt = runs[str(first.pid)], runs[str(second.pid)]
    assert killed.status == dg.DagsterRunStatus.FAILURE
    assert rebuilt.status == dg.DagsterRunStatus.SUCCESS
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        assert instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count == 0
    assert f"run {killed.run_id[:8]} marked failed: its build (pid {first.pid}) was killed" in (
        output
    )


@pytest.mark.slow
def test_a_build_stopped_by_sigterm_fails_its_run_and_says_so(tmp_path):
    write_tiny_platform(tmp_path / "landing")
    build = cardpulse_build(tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dbt = wait_for(lambda: dbt_child_of(build.pid), "dbt started by the build")
    build.send_signal(signal.SIGTERM)
    _, errors = build.communicate(timeout=PATIENCE)
    assert build.returncode == 1
    assert errors.strip().splitlines() == [
        "cardpulse build: error: build stopped at warehouse_models by SIGTERM or Ctrl-C; "
        "its run is marked failed"
    ]
    assert not running(dbt)
    with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.FAILURE


def dbt_child_of(pid: int) -> int | None:
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        argv = [Path(arg.decode()).name for arg in cmdline.split(b"\0")[:3]]
        if parent == pid and "dbt" in argv and "build" in argv:  # [python] .../dbt build ...
            return int(entry)
    return None


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_the_landing_sensor_fails_runs_of_killed_builds_so_daemon_runs_can_start(
    tmp_path, monkeypatch
):
    """With `cardpulse ui` up, nothing else may start a build: the daemon's sensor frees what a
    killed build held, so the queued schedule and sensor runs do not wait for ever."""
    import socket

    from pipelines.sensors import landing_sensor

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("CARDPULSE_HOME", str(tmp_path / "home"))
    with dg.DagsterInstance.from_config(str(prepared_dagster_home(tmp_path))) as instance:
        here = socket.gethostname()
        killed = started_run(
            instance, {TRIGGER_TAG: "cli", PID_TAG: str(dead_pid()), HOST_TAG: here}
        )
        running = started_run(
            instance, {TRIGGER_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: here}
        )
        result = landing_sensor(dg.build_sensor_context(instance=instance))
        assert isinstance(result, dg.SkipReason)  # nothing landed; the cleanup ran anyway
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(running).status == dg.DagsterRunStatus.STARTED
