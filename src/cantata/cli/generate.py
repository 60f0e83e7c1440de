"""`cantata generate travel`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from cantata.cli.common import console, reports_errors
from cantata.generate.travel import generate_travel

app = typer.Typer(help="Generate sample data sets.", no_args_is_help=True)


@app.command("travel")
@reports_errors
def travel(
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 10_000,
    out: Annotated[Path, typer.Option(help="Folder to write the files to.")] = Path("data"),
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 42,
    dirty: Annotated[bool, typer.Option(help="Add realistic bad rows.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="csv, parquet or jsonl.")] = "csv",
) -> None:
    """A travel company: customers, consent, hotels, bookings, flights."""
    started = time.perf_counter()
    files = generate_travel(
        out,
        customers=customers,
        seed=seed,
        dirty=dirty,
        fmt=fmt,
        progress=lambda what, n: console.print(f"  {what}: {n:,} rows", highlight=False),
    )
    console.print(f"wrote {out} in {time.perf_counter() - started:.1f}s")
    for name, n in files.counts.items():
        console.print(f"  {name}: {n:,}")
