"""Unattended end to end (issue #24): builds killed with SIGKILL during dbt and during
forecasting, then the nightly job launched through `cardpulse ui`'s run queue and daemon
starts and succeeds with nobody cleaning up by hand.

Real processes throughout: `cardpulse build` on the tiny platform of test_build.py, `cardpulse
ui` (dagster dev: webserver, daemon, code server), the job submitted over the webserver's
GraphQL API (what the UI's Launchpad and the schedule do: into the queue, where the daemon
picks it up). Slow: about as long as three tiny builds.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pytest
from test_build import write_tiny_platform
from test_build_guard import PATIENCE, cardpulse_build, dbt_child_of, running, wait_for

from pipelines.build_guard import PID_TAG
from pipelines.schedules import BUILD_JOB_NAME

PROJECT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (dbt, forecast workers, watchdogs)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def run_of(home: Path, pid: int) -> dg.DagsterRun | None:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        runs = [run for run in instance.get_runs() if run.tags.get(PID_TAG) == str(pid)]
    return runs[0] if runs else None


def started_steps(home: Path, run_id: str) -> set[str]:
    with dg.DagsterInstance.from_config(str(home / "dagster")) as instance:
        records = instance.get_records_for_run(
            run_id, of_type=dg.DagsterEventType.STEP_START
        ).records
    return {record.event_log_entry.dagster_event.step_key for record in records}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_after_builds_killed_in_dbt_and_in_forecasting_the_daemon_runs_the_job(tmp_path):
    write_tiny_platform(tmp_path / "landing")

    # 1. Killed during dbt: its dbt child goes with it.
    in_dbt = cardpulse_build(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dbt = wait_for(lambda: dbt_child_of(in_dbt.pid), "dbt started by the build")
    os.kill(in_dbt.pid, signal.SIGKILL)
    in_dbt.wait(timeout=PATIENCE)
    wait_for(lambda: not running(dbt), "dbt gone with its build", timeout=30)

    # 2. Killed during forecasting: nothing it started survives it.
    in_forecast = cardpulse_build(tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run = wait_for(lambda: run_of(tmp_path, in_forecast.pid), "the second build's run")
    wait_for(
        lambda: any("forecast" in step for step in started_steps(tmp_path, run.run_id)),
        "forecasting started",
        timeout=600,
    )
    below = descendants(in_forecast.pid)
    os.kill(in_forecast.pid, signal.SIGKILL)
    in_forecast.wait(timeout=PATIENCE)
    wait_for(lambda: not any(running(pid) for pid in below), "its children gone", timeout=30)
    assert run_of(tmp_path, in_forecast.pid).status == dg.DagsterRunStatus.STARTED  # as left

    # 3. `cardpulse ui` up; the nightly job goes into the queue as the schedule would send it.
    port = free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "pipelines.cli", "ui", "--port", str(port)],
        cwd=PROJECT,
        env=dict(os.environ, CARDPULSE_HOME=str(tmp_path)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def webserver_up() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    return True
            except OSError:
                return False

        wait_for(webserver_up, "the Dagster webserver", timeout=300)
        from dagster_graphql import DagsterGraphQLClient

        client = DagsterGraphQLClient("127.0.0.1", port_number=port, timeout=120)
        queued = wait_for(lambda: _submit(client), "the job submitted over GraphQL", timeout=180)

        def finished() -> dg.DagsterRun | None:
            with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
                run = instance.get_run_by_id(queued)
            return run if run and run.is_finished else None

        done = wait_for(finished, "the queued job to finish", timeout=1500)
        assert done.status == dg.DagsterRunStatus.SUCCESS
        for killed in (in_dbt.pid, in_forecast.pid):
            assert run_of(tmp_path, killed).status == dg.DagsterRunStatus.FAILURE
        with dg.DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
            assert (
                instance.event_log_storage.get_concurrency_info("warehouse").active_slot_count == 0
            )
    finally:
        os.killpg(ui.pid, signal.SIGTERM)
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(ui.pid, signal.SIGKILL)
            ui.wait()


def _submit(client) -> str | None:
    from dagster_graphql import DagsterGraphQLClientError

    try:
        return client.submit_job_execution(BUILD_JOB_NAME)
    except DagsterGraphQLClientError:  # the code location is still loading
        time.sleep(2)
        return None
