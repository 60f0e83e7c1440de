"""`cantata ingest ENTITY FILE`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    err_console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.ingest import ingest_file


@reports_errors
def ingest(
    entity: Annotated[str, typer.Argument(help="The entity the rows belong to.")],
    files: Annotated[list[Path], typer.Argument(help="CSV, Parquet or JSON Lines files.")],
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Load files into an entity: upserts and deletes (CDC), bad rows to quarantine."""
    with workspace(ws_path) as ws:
        ws.apply_model()
        for path in files:
            started = time.perf_counter()
            with Progress(
                SpinnerColumn(),
                TextColumn("[progress.description]{task.description}"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
                disable=as_json or not err_console.is_terminal,
            ) as progress:
                task = progress.add_task(f"{entity} ← {path.name}")
                result = ingest_file(
                    ws.store,
                    ws.model,
                    entity,
                    path,
                    quarantine_dir=ws.settings.quarantine_path,
                    progress=lambda step, t=task, name=path.name: progress.update(  # type: ignore[misc]
                        t, description=f"{entity} ← {name}: {step}"
                    ),
                )
            elapsed = time.perf_counter() - started
            if as_json:
                print_json(result.as_json())
                continue
            rate = result.read / elapsed if elapsed else 0
            console.print(
                f"[bold]{entity}[/] ← {path.name}: read {result.read:,}, upserted "
                f"{result.upserted:,}, deleted {result.deleted:,}, skipped {result.skipped:,}, "
                f"rejected {result.rejected:,} in {elapsed:.2f}s ({rate:,.0f} rows/s)"
            )
            if result.quarantine:
                console.print(f"  rejected rows: {result.quarantine}")
