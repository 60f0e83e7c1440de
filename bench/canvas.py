"""Canvas runtime overhead: examples/upcoming_stays.yaml test-run end to end, against the bare
SQL of the same activities, same tables, one process.

Builds the travel company with the generator (1M customers / ~5M bookings by default), runs
the campaign in test mode, then re-executes each activity's statements — the
`CREATE TABLE ... AS SELECT` the run logged — on their own and sums their times. Rounds
alternate the two so both see the same machine; the best of --repeat rounds is reported.
The difference is what the runner adds: node and transition records and their commits, the
count per port of a table several ports share, statistics (PostgreSQL), validation. Every
round starts from the same tables: the run's worktables are dropped after its bare SQL.

    python bench/canvas.py [--customers N] [--engine duckdb|postgres] [--keep DIR] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from stores import bench_store, close_bench_store

from cantata.canvas import load_campaign
from cantata.canvas.runtime import Runner, node_runs, transitions
from cantata.canvas.runtime.worktable import drop_worktables, existing_worktables
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.model import parse_model
from cantata.store import Store
from cantata.store.base import quote_ident
from cantata.store.schema import apply_model
from cantata.workspace import starter_model

MODEL = parse_model(starter_model())
EXAMPLE = Path(__file__).parents[1] / "examples" / "upcoming_stays.yaml"
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
_CREATE = re.compile(r'^CREATE (?:OR REPLACE )?TABLE "([^"]+)" AS ', re.S)


def build(store: Store, customers: int, folder: Path) -> None:
    apply_model(store, MODEL)
    started = time.perf_counter()
    files = generate_travel(
        folder / "data", customers=customers, seed=3, fmt="parquet", today=NOW.date()
    )
    print(f"generated in {time.perf_counter() - started:.0f}s: {files.counts}")
    for entity in ("customer", "hotel", "booking"):
        started = time.perf_counter()
        result = ingest_file(store, MODEL, entity, getattr(files, entity), quarantine_dir=folder)
        print(
            f"ingested {entity}: {result.upserted:,} rows in {time.perf_counter() - started:.1f}s"
        )
    if store.dialect == "postgres":
        store.execute("ANALYZE")


def run_once(store: Store) -> tuple[int, float]:
    runner = Runner(store, MODEL)
    campaign = load_campaign(EXAMPLE)
    started = time.perf_counter()
    run = runner.test(campaign, now=NOW)
    elapsed = time.perf_counter() - started
    assert run.status == "completed", run.error
    return run.id, elapsed


def settle(store: Store) -> None:
    """Untimed, before each phase: write the WAL into the database file, so that neither the
    run nor the bare SQL pays for a checkpoint the other's writes made due (DuckDB checkpoints
    when its WAL passes a size, at whichever commit that is)."""
    if store.dialect == "duckdb":
        store.execute("CHECKPOINT")


def bare_once(store: Store, run_id: int) -> float:
    """The run's statements alone, each into a table of its own, kept until the end like the
    run's worktables."""
    total = 0.0
    made = []
    for node in node_runs(store, run_id).values():
        for statement in node.statements:
            m = _CREATE.match(statement["sql"])
            if m is None:
                continue
            made.append(f"bare_{uuid.uuid4().hex[:10]}")
            sql = f'CREATE TABLE "{made[-1]}" AS ' + statement["sql"][m.end() :]
            started = time.perf_counter()
            store.execute(sql)
            total += time.perf_counter() - started
    for name in made:
        store.execute(f'DROP TABLE "{name}"')
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--engine", choices=["duckdb", "postgres"], default="duckdb")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the store and files here.")
    parser.add_argument("--repeat", type=int, default=7, help="Rounds (run, then bare SQL).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cantata-bench-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        store = bench_store(args.engine, folder, "canvas")
        try:
            if not store.table_exists("customer") or not store.scalar(
                "SELECT count(*) FROM customer"
            ):
                build(store, args.customers, folder)
            for table in existing_worktables(store):  # an earlier invocation's (--keep)
                store.execute(f"DROP TABLE {quote_ident(table)}")
            n_c = store.scalar("SELECT count(*) FROM customer")
            n_b = store.scalar("SELECT count(*) FROM booking")
            print(
                f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; engine: "
                f"{store.dialect}; {n_c:,} customers, {n_b:,} bookings; best of {args.repeat} "
                "rounds, each a run then its bare SQL (so both see the same machine)\n"
            )
            # One untimed round first: imports, caches and the engine's buffers warm for both.
            warm, _ = run_once(store)
            bare_once(store, warm)
            drop_worktables(store, warm)
            runs, bares = [], []
            for i in range(args.repeat):
                settle(store)
                runs.append(run_once(store))
                settle(store)
                bares.append(bare_once(store, runs[-1][0]))
                if i < args.repeat - 1:  # each round starts from the same tables (untimed)
                    drop_worktables(store, runs[-1][0])
            run_id, total = min(runs, key=lambda r: r[1])
            bare = min(bares)
            median = sorted(t for _, t in runs)[len(runs) // 2] / sorted(bares)[len(bares) // 2]
            # Each round's run minus its own bare SQL, a few seconds apart: the machine's drift
            # between rounds cancels out.
            paired = sorted(t - b for (_, t), b in zip(runs, bares, strict=True))
            paired_overhead = paired[len(paired) // 2] / sorted(bares)[len(bares) // 2]
            counts = {
                f"{n}.{p}": t.row_count for (n, p), t in sorted(transitions(store, run_id).items())
            }
            for ref, rows in counts.items():
                print(f"  {ref:<28} {rows:>10,}")
            print(
                "\nrounds (run / bare SQL, ms): "
                + ", ".join(
                    f"{t * 1000:.0f}/{b * 1000:.0f}" for (_, t), b in zip(runs, bares, strict=True)
                )
            )
            print(f"\nrun (test mode, 7 activities)   {total:8.3f} s")
            print(f"bare SQL of the same activities {bare:8.3f} s")
            print(f"overhead                        {total / bare - 1:8.1%}   (target ≤ 10 %)")
            print(f"overhead of the medians         {median - 1:8.1%}")
            print(
                f"median paired overhead          {paired_overhead:8.1%}   (run − bare, per round)"
            )
        finally:
            close_bench_store(store)


if __name__ == "__main__":
    main()
