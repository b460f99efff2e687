"""Ingest speed and memory on a simulated export, against a bare DuckDB load of the same files.

    .venv/bin/python bench/ingest.py [--scale large] [--fmt parquet] [--rounds 3]
                                     [--out bench/out/ingest]

1. Generates the export once (``pipelines.simulator.generate``; reused while the simulator's
   code is unchanged: ``export_data.ensure_export``).
2. Bare: in a child process, ``CREATE TABLE <entity> AS SELECT * FROM read_parquet([...])`` of
   every file into a fresh DuckDB file (read_csv / read_json for other formats). Then the
   keyed bare load, for information: the same with the buyer contact and IP columns replaced
   by ingest's HMAC-SHA256 (``secrets.keyed_hash_sql``), as the contract has ingest store them
   (the verdict stays on the plain bare load).
3. Ingest: in a child process, ``ingest_paths`` of the folder into a fresh warehouse, once
   with every check and once without the checks against hostile exports (zone words, NaN and
   infinity, time ranges, amounts beyond DECIMAL(18, 2), normalised counts, inferred members),
   side by side in the same run.
4. Steps 2-3 run ``--rounds`` times (3 by default), interleaved, so a burst of other load
   falls on one round rather than on one side of the comparison. Each round's ratios to bare
   are printed; the verdict is on the median round's ratio (target <= 2) and the largest
   peak RSS of the ingest children (target <= 6 GiB). Then a rerun of the same folder
   (everything already loaded). The ratio of CPU seconds (user + system, both threads) is
   printed too: its gap to the wall ratio is time ingest spends on one thread while the bare
   load keeps both busy. Both swing with other load on the machine: compare quiet runs only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from export_data import ensure_export

ROOT = Path(__file__).resolve().parents[1]

_BARE = """
import duckdb, json, os, sys, time
from pathlib import Path
from pipelines.ingest.secrets import CANONICAL_PERSONAL, PLAIN_SQL, keyed_hash_sql
folder, db, fmt, keyed = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "keyed"
reader = {"parquet": "read_parquet", "csv": "read_csv", "jsonl": "read_json"}[fmt]
groups = {}
for f in sorted(folder.iterdir()):
    if f.is_file() and not f.name.startswith(("_", ".")):
        groups.setdefault(f.name.split(".")[0].split("_20")[0], []).append(str(f))
conn = duckdb.connect(db)
conn.execute("SET enable_progress_bar = false")
secret = os.urandom(32)
start, cpu = time.perf_counter(), time.process_time()
for name, files in groups.items():
    relation = f"{reader}({files!r})"
    columns = [row[0] for row in conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    personal = [c for c in columns if c in CANONICAL_PERSONAL] if keyed else []
    # the keyed load: personal columns replaced by ingest's HMAC, as ingest must store them
    replaced = ", ".join(
        f"CASE WHEN {PLAIN_SQL.format(v=c)} THEN {keyed_hash_sql(secret, c)} END AS {c}"
        for c in personal
    )
    picked = f"* REPLACE ({replaced})" if personal else "*"
    conn.execute(f"CREATE TABLE {name} AS SELECT {picked} FROM {relation}")
conn.execute("CHECKPOINT")
conn.close()
print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))
"""

_INGEST = """
import json, resource, sys, time
from pipelines.ingest.load import ingest_paths
start, cpu = time.perf_counter(), time.process_time()
results = ingest_paths(sys.argv[2], [sys.argv[1]], extended_checks=sys.argv[3] == "all")
seconds = time.perf_counter() - start
cpu = time.process_time() - cpu
peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)
print(json.dumps({"seconds": seconds, "cpu": cpu,
                  "files": len(results), "peak_gib": peak_gib,
                  "rows_read": sum(r.rows_read for r in results),
                  "loaded": sum(r.loaded for r in results),
                  "quarantined": sum(r.quarantined for r in results),
                  "failed": [r.summary_line() for r in results if r.error]}))
"""


def _child(code: str, *args: str) -> dict:
    """Run ``code`` in a fresh interpreter and return the JSON line it prints last."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"child failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="large", choices=("small", "medium", "large"))
    parser.add_argument("--fmt", default="parquet", choices=("csv", "parquet", "jsonl"))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "ingest")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median)")
    args = parser.parse_args()

    export = ensure_export(
        args.out / f"export-{args.scale}-{args.fmt}", args.scale, args.seed, args.fmt
    )
    size = sum(f.stat().st_size for f in export.iterdir() if f.is_file()) / (1 << 20)

    labels = {"basic": "without the new checks", "all": "with every check"}
    rounds: list[dict[str, dict]] = []
    for number in range(1, args.rounds + 1):
        for stale in ("bare", "basic", "warehouse"):
            for suffix in (".duckdb", ".duckdb.wal"):
                (args.out / f"{stale}{suffix}").unlink(missing_ok=True)
        measured = {}
        for bare in ("bare", "keyed"):
            for suffix in (".duckdb", ".duckdb.wal"):  # a stale log would break a new file
                (args.out / f"bare{suffix}").unlink(missing_ok=True)
            measured[bare] = _child(
                _BARE, str(export), str(args.out / "bare.duckdb"), args.fmt, bare
            )
        for checks, db in (("basic", "basic.duckdb"), ("all", "warehouse.duckdb")):
            measured[checks] = _child(_INGEST, str(export), str(args.out / db), checks)
        rounds.append(measured)
        bare, keyed = measured["bare"], measured["keyed"]
        print(
            f"round {number}: bare {bare['seconds']:.1f} s ({bare['cpu']:.1f} CPU s), "
            f"keyed bare {keyed['seconds']:.1f} s ({keyed['cpu']:.1f} CPU s); "
            + "; ".join(
                f"{labels[k]} {measured[k]['seconds']:.1f} s ({measured[k]['cpu']:.1f} CPU s), "
                f"ratio {measured[k]['seconds'] / bare['seconds']:.2f} "
                f"(CPU {measured[k]['cpu'] / bare['cpu']:.2f})"
                for k in labels
            ),
            flush=True,
        )
    for stale in ("bare.duckdb", "basic.duckdb", "basic.duckdb.wal"):
        (args.out / stale).unlink(missing_ok=True)

    last = rounds[-1]["all"]
    print(
        f"export: {args.scale} {args.fmt}, {last['files']} files, {size:.0f} MiB, "
        f"{last['rows_read']:,} rows"
    )
    bare_s = statistics.median(r["bare"]["seconds"] for r in rounds)
    bare_cpu = statistics.median(r["bare"]["cpu"] for r in rounds)
    print(
        f"bare DuckDB CREATE TABLE AS SELECT * FROM read_{args.fmt}: median {bare_s:.1f} s "
        f"({bare_cpu:.1f} CPU s) over {len(rounds)} rounds; keyed bare load (buyer contacts "
        f"and IPs replaced by ingest's HMAC, as ingest must store them): median "
        f"{statistics.median(r['keyed']['seconds'] for r in rounds):.1f} s "
        f"({statistics.median(r['keyed']['cpu'] for r in rounds):.1f} CPU s)"
    )
    for checks, label in labels.items():
        ratio = statistics.median(r[checks]["seconds"] / r["bare"]["seconds"] for r in rounds)
        cpu_ratio = statistics.median(r[checks]["cpu"] / r["bare"]["cpu"] for r in rounds)
        peak = max(r[checks]["peak_gib"] for r in rounds)
        verdict = "OK" if ratio <= 2 and peak <= 6 else "NOT MET"
        print(
            f"cardpulse ingest {label}: median "
            f"{statistics.median(r[checks]['seconds'] for r in rounds):.1f} s "
            f"({rounds[-1][checks]['loaded']:,} loaded, "
            f"{rounds[-1][checks]['quarantined']:,} quarantined), "
            f"median round's ratio to bare {ratio:.2f} (target <= 2; in CPU seconds "
            f"{cpu_ratio:.2f}), peak RSS {peak:.2f} GiB (target <= 6): {verdict}",
            flush=True,
        )
        keyed_ratio = statistics.median(
            r[checks]["seconds"] / r["keyed"]["seconds"] for r in rounds
        )
        print(
            f"  for information: its median round's ratio to the keyed bare load "
            f"{keyed_ratio:.2f} (the verdict is on the plain bare load)"
        )
        failed = [line for r in rounds for line in r[checks]["failed"]]
        if failed:
            print("FAILED FILES:", *failed, sep="\n  ")
    rerun = _child(_INGEST, str(export), str(args.out / "warehouse.duckdb"), "all")
    print(f"rerun of the same folder (all already loaded): {rerun['seconds']:.1f} s")


if __name__ == "__main__":
    main()
