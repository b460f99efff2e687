"""A second process holding the published snapshot open, as the dashboard does."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Runs in the other process: "count" answers with the orders it sees through its open
# connection; "reconnect" reopens the file first.
_READER = textwrap.dedent(
    """
    import sys, duckdb
    path = sys.argv[1]
    conn = duckdb.connect(path, read_only=True)
    for command in sys.stdin:
        if command.strip() == "reconnect":
            conn.close()
            conn = duckdb.connect(path, read_only=True)
        count = conn.execute("SELECT count(*) FROM analytics.fct_orders").fetchone()[0]
        print(count, flush=True)
    """
)


@contextmanager
def snapshot_reader(snapshot: Path) -> Iterator[Callable[[str], int]]:
    """Hold ``snapshot`` open read-only in another process; yield ``ask("count" | "reconnect")``
    returning the fct_orders count that process sees. The process must exit cleanly."""
    reader = subprocess.Popen(
        [sys.executable, "-c", _READER, str(snapshot)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(command: str) -> int:
        reader.stdin.write(command + "\n")
        reader.stdin.flush()
        return int(reader.stdout.readline())

    try:
        yield ask
    finally:
        reader.stdin.close()
        assert reader.wait(timeout=30) == 0
