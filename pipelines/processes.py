"""Servers a command starts die with that command, whichever way it ends.

``start`` runs a child (Streamlit, ``dagster dev``, dbt) in its own process group, which also
holds everything the child spawns (``dagster dev``'s webserver, daemon and code servers).

1. Asked to stop (SIGTERM, SIGINT, SIGHUP), the command stops the group: ``Child.supervise``
   sends it SIGTERM, waits ``GRACE_SECONDS`` and sends SIGKILL to whatever is left.
2. Killed outright (SIGKILL, a crash), the command cannot do that, so two things do it instead:
   on Linux the kernel sends the child SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), and
   a small watchdog process, holding a pipe whose other end only the command has, sees the pipe
   close and stops the whole group the same way (the grandchildren get no death signal).

A child someone else starts (dbt, which dagster-dbt runs) gets the same watchdog from
``dies_with_this_process``. Run as a script this file is that watchdog:
``python processes.py TARGET GRACE``, TARGET a pid or, negative, a process group (as kill(2)).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# Streamlit stops in under a second; `dagster dev` with its services takes 2 s on an idle machine
# and up to 7 s on a busy one. What has not stopped after this is killed, so that every child is
# gone within 5 s of the request.
GRACE_SECONDS = 3.0
_PR_SET_PDEATHSIG = 1


class Stopped(KeyboardInterrupt):
    """The command was asked to stop by ``signum``; its children are already stopped."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Child(subprocess.Popen):
    """A child process whose process group (its id is the child's pid) the caller owns."""

    watchdog: subprocess.Popen | None = None

    def stop(self, grace: float = GRACE_SECONDS) -> None:
        """1. SIGTERM to the group, 2. SIGKILL to what is left after ``grace`` seconds,
        3. reap the child and let the watchdog go."""
        _stop(-self.pid, grace, self.poll)
        self.wait()
        if self.watchdog is not None:
            _release(self.watchdog)

    def supervise(self, grace: float = GRACE_SECONDS) -> int:
        """Wait for the child and return its exit status.

        SIGTERM, SIGINT or SIGHUP to this process stop the child's group (``stop``) and then
        raise ``Stopped``. Whatever ends the wait, nothing of the group is left running.
        """
        received: list[int] = []

        def on_signal(signum, _frame):
            if not received:  # a second signal while stopping must not cut the stop short
                received.append(signum)
                raise Stopped(signum)

        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = {s: signal.signal(s, on_signal) for s in STOP_SIGNALS} if in_main_thread else {}
        try:
            status = self.wait()
        except Stopped:
            status = None
        finally:
            try:
                self.stop(grace)
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        if received:
            raise Stopped(received[0])
        return status


def start(command: list[str], **popen_options) -> Child:
    """Start ``command`` in a new process group that dies with this process (see the module
    docstring); ``popen_options`` go to ``subprocess.Popen`` (env, cwd, stdout, ...)."""
    prctl = _prctl()
    parent = os.getpid()

    def in_child() -> None:
        # Stop signals the caller ignores would stay ignored across exec: give them back.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != parent:  # the parent died before the line above
                os.kill(os.getpid(), signal.SIGTERM)

    child = Child(command, start_new_session=True, preexec_fn=in_child, **popen_options)
    child.watchdog = _start_watchdog(-child.pid)
    return child


@contextlib.contextmanager
def dies_with_this_process(process: subprocess.Popen, grace: float = GRACE_SECONDS):
    """While in the block, ``process`` (started by someone else, e.g. dagster-dbt's dbt) is
    stopped by a watchdog if this process dies, even by SIGKILL; leaving the block stops it
    too if it is still running (its reader gave up on it)."""
    watchdog = _start_watchdog(process.pid, grace)
    try:
        yield process
    finally:
        _release(watchdog)


def _prctl():
    """libc's prctl on Linux (looked up before forking: the child only calls it), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _start_watchdog(target: int, grace: float = GRACE_SECONDS) -> subprocess.Popen:
    # Its own session: a signal to this command's process group (Ctrl-C, `kill -- -PGID`)
    # reaches the command, which stops the group itself; the watchdog is for when it cannot.
    # -I -S: the standard library alone, nothing from the environment, a fast start.
    return subprocess.Popen(
        [sys.executable, "-I", "-S", os.path.abspath(__file__), str(target), str(grace)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _release(watchdog: subprocess.Popen) -> None:
    """Close the watchdog's pipe (its target is gone or no longer ours) and reap it."""
    with contextlib.suppress(OSError):
        watchdog.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        watchdog.wait(timeout=2)


def _alive(target: int) -> bool:
    """Whether the pid (or, negative, the process group) exists, zombies included."""
    try:
        os.kill(target, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id now names someone else's process: ours is gone
        return False
    return True


def _running(target: int) -> bool:
    """Like ``_alive``, but zombies (dead orphans init has not reaped yet, which can take a
    second) count as gone; Linux only, elsewhere the same as ``_alive``."""
    if not _alive(target):
        return False
    if not os.path.isdir("/proc/self"):
        return True
    pids = [e for e in os.listdir("/proc") if e.isdigit()] if target < 0 else [str(target)]
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2 :].split()  # state, ppid, pgrp, ...
        if fields[0] not in (b"Z", b"X") and (target > 0 or int(fields[2]) == -target):
            return True
    return False


def _signal(target: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(target, signum)


def _stop(target: int, grace: float, reap=lambda: None) -> None:
    """SIGTERM, up to ``grace`` seconds to exit, then SIGKILL; return once all is gone (or a
    last second after the SIGKILL, for the init process to reap orphans)."""
    _signal(target, signal.SIGTERM)
    if _wait_gone(target, grace, reap):
        return
    _signal(target, signal.SIGKILL)
    _wait_gone(target, 1.0, reap)


def _wait_gone(target: int, seconds: float, reap) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        reap()
        if not _running(target):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def _watch(target: int, grace: float) -> None:
    """The watchdog: while the target lives, wait for the owner's end of stdin to close (the
    owner exited, however, or is done with the target); then stop what is left of it."""
    while _alive(target):
        readable, _, _ = select.select([0], [], [], 0.5)
        if readable and not os.read(0, 4096):
            _stop(target, grace)
            return


if __name__ == "__main__":
    _watch(int(sys.argv[1]), float(sys.argv[2]))
