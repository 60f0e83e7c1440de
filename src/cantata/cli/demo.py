"""`cantata demo`: the main job, end to end on the embedded store."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Annotated

import typer

from cantata.cli.common import console, reports_errors
from cantata.generate.travel import generate_travel
from cantata.ingest import ingest_file
from cantata.profile.consent import import_consent
from cantata.workspace import Workspace, init_workspace

ENTITY_ORDER = ("customer", "hotel", "booking", "flight")


@reports_errors
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the demo workspace.")
    ] = Path("demo-workspace"),
    customers: Annotated[int, typer.Option(help="Number of customers to generate.")] = 50_000,
    store: Annotated[
        str, typer.Option(help="Store URL (default: DuckDB file in the workspace).")
    ] = "duckdb:///cantata.duckdb",
) -> None:
    """Create a travel-company workspace, generate and ingest its data, show the model."""
    if directory.exists():
        shutil.rmtree(directory)
    init_workspace(directory, store_url=store)
    console.rule("[bold]cantata demo")
    console.print(f"workspace: {directory.resolve()}")
    data = directory / "data"
    started = time.perf_counter()
    files = generate_travel(data, customers=customers, seed=7, dirty=True)
    console.print(
        f"generated {customers:,} customers and their data in {time.perf_counter() - started:.1f}s"
    )
    with Workspace.open(directory) as ws:
        ws.apply_model()
        for name in ENTITY_ORDER:
            t0 = time.perf_counter()
            result = ingest_file(
                ws.store,
                ws.model,
                name,
                getattr(files, name),
                quarantine_dir=ws.settings.quarantine_path,
            )
            console.print(
                f"  ingest {name:<9} read {result.read:>9,}  upserted {result.upserted:>9,}  "
                f"deleted {result.deleted:>5,}  skipped {result.skipped:>5,}  rejected "
                f"{result.rejected:>5,}  ({time.perf_counter() - t0:.2f}s)"
            )
        consent = import_consent(ws.store, files.consent)
        console.print(f"  consent   applied {consent.applied:,} records")
    from cantata.cli.model import show

    show(ws_path=directory, as_json=False)
    _test_run_campaign(directory)


def _test_run_campaign(directory: Path) -> None:
    """Test-run the example campaign on the demo data: every transition with its count."""
    example = Path(__file__).resolve().parents[3] / "examples" / "upcoming_stays.yaml"
    if not example.is_file():  # an installed package has no examples folder
        return
    from cantata.cli.campaign import test_command

    console.rule("[bold]campaign test run: examples/upcoming_stays.yaml")
    test_command(example, now=None, var=None, ws_path=directory, as_json=False)
