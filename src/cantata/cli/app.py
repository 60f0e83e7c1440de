"""The `cantata` command: one sub-app per command group."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cantata import __version__
from cantata.cli import (
    audience,
    campaign,
    delivery,
    generate,
    model,
    profile,
    serve,
    template,
    token,
    tracking,
)
from cantata.cli.common import console, reports_errors
from cantata.cli.demo import demo
from cantata.cli.ingest import ingest
from cantata.cli.scheduler import scheduler
from cantata.workspace import init_workspace

app = typer.Typer(
    help="cantata — campaign orchestration over a relational store.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(model.app, name="model")
app.add_typer(audience.app, name="audience")
app.add_typer(campaign.app, name="campaign")
app.add_typer(generate.app, name="generate")
app.add_typer(profile.consent_app, name="consent")
app.add_typer(profile.suppression_app, name="suppression")
app.command("ingest")(ingest)
app.command("demo")(demo)
app.command("scheduler")(scheduler)
app.command("dispatch")(delivery.dispatch)
app.add_typer(tracking.app, name="tracking")
app.add_typer(template.app, name="template")
app.command("serve")(serve.serve)
app.add_typer(token.app, name="token")


@app.command("init")
@reports_errors
def init(
    directory: Annotated[Path, typer.Argument(help="The workspace folder to create.")],
    store: Annotated[
        str, typer.Option(help="Store URL: duckdb:///FILE (default) or postgresql://...")
    ] = "duckdb:///cantata.duckdb",
) -> None:
    """Create a workspace: cantata.toml and a starter model.yaml."""
    for path in init_workspace(directory, store_url=store):
        console.print(f"wrote {path}")


@app.command("version")
def version() -> None:
    """Print the version."""
    console.print(__version__)


def main() -> None:
    app()
