"""One ``cardpulse build`` at a time per installation, and no run left "started" by a dead one.

1. ``hold_build_lock``: the build takes an exclusive ``flock`` on ``$CARDPULSE_HOME/build.lock``
   and writes its pid there. A second build is refused at once, naming that pid. The kernel
   frees the lock when the holder exits, however it exits (SIGKILL included), so a lock is
   never stale.
2. ``fail_abandoned_runs``: every build tags its Dagster run with its pid (``run_tags``). A run
   still "started" whose build process is gone (killed, power cut) would stay so forever, and
   with ``max_concurrent_runs: 1`` hold back every queued run; the next build marks it failed
   and frees what it held.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from pipelines.errors import CardPulseError
from pipelines.settings import Home

PID_TAG = "cardpulse/pid"
HOST_TAG = "cardpulse/host"
TRIGGER_TAG = "cardpulse/trigger"


@contextlib.contextmanager
def hold_build_lock(installation: Home) -> Iterator[None]:
    """Hold ``build.lock`` for the block, or fail with one line naming the holder's pid."""
    import fcntl

    path = installation.root / "build.lock"
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # not inherited by children
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip()
            raise CardPulseError(
                f"another build is running on {installation.root} "
                f"(pid {holder or 'not written yet: it is starting'}); "
                "wait for it to finish, then run again"
            ) from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(descriptor)  # releases the lock; the file stays (removing it would race)


def run_tags() -> dict[str, str]:
    """Tags of a build's run: who started it, so a later build can tell it was abandoned."""
    return {TRIGGER_TAG: "cli", PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()}


def fail_abandoned_runs(instance) -> list[str]:
    """Mark failed every run of ``cardpulse build`` still in progress whose process is gone.

    Call it holding the build lock. 1. Runs in progress tagged by a build of this host,
    2. whose pid no longer names a running cardpulse process, 3. get a run failure event and
    give back any concurrency slot they held. Returns one line per run marked.
    """
    import dagster as dg

    in_progress = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    runs = instance.get_runs(filters=dg.RunsFilter(statuses=in_progress, tags={TRIGGER_TAG: "cli"}))
    lines = []
    for run in runs:
        pid, host = run.tags.get(PID_TAG), run.tags.get(HOST_TAG)
        if host not in (None, socket.gethostname()) or (pid and _build_alive(int(pid))):
            continue
        who = f"pid {pid}" if pid else "an earlier version"
        instance.report_run_failed(
            run, message=f"The cardpulse build that ran this ({who}) ended before it finished."
        )
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        lines.append(f"run {run.run_id[:8]} marked failed: its build ({who}) was killed")
    return lines


def _build_alive(pid: int) -> bool:
    """Whether ``pid`` is a live cardpulse process (not a stranger that reused the number)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone's process: cannot tell, leave the run alone
    if not Path("/proc").is_dir():
        return True  # nothing to read the command line from: trust the pid
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"cardpulse" in cmdline or b"pipelines" in cmdline
