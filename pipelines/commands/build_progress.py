"""The progress lines of ``cardpulse build``: one per step as it finishes, read from the run's
event log by a thread."""

from __future__ import annotations

import threading
from typing import TextIO


class ProgressPrinter:
    """Prints one line per step as it finishes, reading the run's event log from a thread."""

    def __init__(self, instance, run_id: str, terminal: TextIO, interval: float = 0.2):
        self._instance, self._run_id, self._interval = instance, run_id, interval
        self._terminal = terminal
        self._cursor: str | None = None
        self._started_at: dict[str, float] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        self._thread.join()
        self._poll()  # the last steps' events

    def _loop(self) -> None:
        while not self._done.wait(self._interval):
            self._poll()

    def _poll(self) -> None:
        from dagster import DagsterEventType

        try:
            connection = self._instance.get_records_for_run(
                self._run_id,
                cursor=self._cursor,
                of_type={
                    DagsterEventType.STEP_START,
                    DagsterEventType.STEP_SUCCESS,
                    DagsterEventType.STEP_FAILURE,
                    DagsterEventType.STEP_SKIPPED,
                },
            )
        except Exception:  # the run is not stored yet
            return
        self._cursor = connection.cursor
        for record in connection.records:
            entry = record.event_log_entry
            event = entry.dagster_event
            step = event.step_key
            if event.event_type == DagsterEventType.STEP_START:
                self._started_at[step] = entry.timestamp
                continue
            status = {
                DagsterEventType.STEP_SUCCESS: "done",
                DagsterEventType.STEP_FAILURE: "FAILED",
                DagsterEventType.STEP_SKIPPED: "skipped",
            }[event.event_type]
            seconds = entry.timestamp - self._started_at.get(step, entry.timestamp)
            print(f"  {status:<7} {step} ({seconds:.1f} s)", file=self._terminal, flush=True)
