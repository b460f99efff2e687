"""Running one function over many series on several processes, with the same result every time.

Series are cut into chunks in their given order; each chunk runs in a worker process and the
results come back in chunk order (``Executor.map``), so neither the number of workers nor
scheduling changes the output. Workers start with ``spawn`` by default: the parent may hold
DuckDB or Dagster threads, which ``fork`` would copy mid-state. One worker runs in-process.

Given a Spark session instead (``spark=``), the chunks run as one Spark job,
``groupBy(chunk).applyInPandas``: each task travels pickled in its chunk's group, the same
function runs on an executor, and the results come back pickled and are put in task order, so
the output is the same as on local processes.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from forecasting.demand.models import quiet_logs

Task = TypeVar("Task")
Result = TypeVar("Result")
Progress = Callable[[int, int], None]


def default_workers() -> int:
    """One worker per core, from ``$CARDPULSE_FORECAST_WORKERS`` when set."""
    configured = os.environ.get("CARDPULSE_FORECAST_WORKERS", "")
    if configured.strip():
        return max(1, int(configured))
    return max(1, os.cpu_count() or 1)


def chunked(items: Sequence[Task], size: int) -> list[list[Task]]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter), order kept."""
    size = max(1, size)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def _run_chunk(function: Callable[[Task], Result], chunk: list[Task]) -> list[Result]:
    return [function(task) for task in chunk]


def _worker_start() -> None:
    quiet_logs()
    # Each worker is one core; nested BLAS/numba threads would only fight over it.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def fan_out(
    function: Callable[[Task], Result],
    tasks: Sequence[Task],
    workers: int | None = None,
    chunk_size: int = 8,
    progress: Progress | None = None,
    start_method: str = "spawn",
    spark=None,
) -> list[Result]:
    """Apply ``function`` to every task, over processes or Spark, results in task order.

    1. Cut ``tasks`` into chunks of ``chunk_size``;
    2. with ``spark`` (a SparkSession) run the chunks as one Spark job (``fan_out_spark``);
       with one worker (or one chunk) run them here, else on a process pool of ``workers``
       (``function`` must be importable at module level, tasks picklable);
    3. call ``progress(done_tasks, total_tasks)`` after each chunk; 4. flatten in order.
    """
    workers = default_workers() if workers is None else max(1, workers)
    chunks = chunked(tasks, chunk_size)
    total, done = len(tasks), 0
    results: list[Result] = []

    def collect(chunk_results: Iterable[list[Any]]) -> None:
        nonlocal done
        for part in chunk_results:
            results.extend(part)
            done += len(part)
            if progress is not None:
                progress(done, total)

    if spark is not None:
        collect(fan_out_spark(function, chunks, spark))
        return results
    if workers == 1 or len(chunks) <= 1:
        quiet_logs()
        collect(_run_chunk(function, chunk) for chunk in chunks)
        return results
    context = multiprocessing.get_context(start_method)
    with cf.ProcessPoolExecutor(
        max_workers=min(workers, len(chunks)), mp_context=context, initializer=_worker_start
    ) as pool:
        collect(pool.map(_run_chunk, [function] * len(chunks), chunks))
    return results


_SPARK_SCHEMA = "chunk long, position long, result binary"


def _spark_chunk(function: Callable[[Task], Result]):
    """The applyInPandas function: one group = one chunk of pickled tasks."""

    def run(group):
        import pickle

        import pandas as pd

        _worker_start()
        group = group.sort_values("position")
        results = [pickle.dumps(function(pickle.loads(t))) for t in group["task"]]
        return pd.DataFrame(
            {"chunk": group["chunk"], "position": group["position"], "result": results}
        )

    return run


def fan_out_spark(
    function: Callable[[Task], Result], chunks: list[list[Task]], spark
) -> Iterable[list[Result]]:
    """Run each chunk as one group of a Spark ``groupBy("chunk").applyInPandas`` job; yields
    each chunk's results, in chunk order."""
    import pickle

    import pandas as pd

    rows = pd.DataFrame(
        [
            {"chunk": c, "position": p, "task": pickle.dumps(task)}
            for c, chunk in enumerate(chunks)
            for p, task in enumerate(chunk)
        ]
    )
    if rows.empty:
        return
    frame = spark.createDataFrame(rows, schema="chunk long, position long, task binary")
    # One partition per chunk at most: a chunk is the unit of work, as on processes.
    frame = frame.repartition(max(1, min(len(chunks), 200)), "chunk")
    done = (
        frame.groupBy("chunk")
        .applyInPandas(_spark_chunk(function), schema=_SPARK_SCHEMA)
        .toPandas()
        .sort_values(["chunk", "position"])
    )
    for _, part in done.groupby("chunk", sort=True):
        yield [pickle.loads(bytes(r)) for r in part["result"]]
