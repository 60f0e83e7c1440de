"""What every command shares: the --workspace option, the consoles, error reporting."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cantata.errors import CantataError, ConfigError
from cantata.workspace import Workspace

console = Console()
err_console = Console(stderr=True)

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: $CANTATA_WORKSPACE, else the current folder).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """User errors print as one clear message on stderr and exit with status 2."""

    @wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except CantataError as exc:
            err_console.print(
                f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None

    return wrapper


@contextmanager
def workspace(explicit: Path | None) -> Iterator[Workspace]:
    ws = Workspace.open(explicit)
    try:
        yield ws
    finally:
        ws.close()


# With several workers uvicorn imports the app in each process: the workspace goes by env.
WORKSPACE_ENV = "CANTATA_WORKSPACE"


def serve_in_workers(ws: Workspace, factory: str, *, host: str, port: int, workers: int) -> None:
    """Serve the app `factory` ("module:function", building it from $CANTATA_WORKSPACE) in
    `workers` processes, each with its own store connection: PostgreSQL stores only."""
    import uvicorn

    if ws.store.dialect != "postgres":
        raise ConfigError(
            "--workers > 1 needs a PostgreSQL store: a DuckDB file has one owner process "
            "(run one worker)",
            where="[store] url",
        )
    os.environ[WORKSPACE_ENV] = str(ws.root)
    ws.close()
    uvicorn.run(factory, factory=True, host=host, port=port, workers=workers)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
