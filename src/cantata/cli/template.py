"""`cantata template save | check | list | show`: the template library."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from cantata.canvas import lifecycle
from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.delivery import template_library as library

app = typer.Typer(
    help="Named, versioned message templates that channel activities use with `template: NAME`.",
    no_args_is_help=True,
)

FilesArgument = Annotated[
    list[Path], typer.Argument(help="Template files (YAML: name, channel, and its parts).")
]


@app.command("save")
@reports_errors
def save(
    files: FilesArgument, ws_path: WorkspaceOption = None, as_json: JsonOption = False
) -> None:
    """Check template files and save each: a new version when its content changed. Nothing is
    saved unless every file is valid and breaks no live campaign that uses it."""
    with workspace(ws_path) as ws:
        read = [library.load_template_file(path, ws.model) for path in files]
        now = datetime.now(UTC)
        with ws.store.transaction():
            saved = [lifecycle.save_template(ws.store, ws.model, t, now=now) for t in read]
    if as_json:
        print_json([{**s.as_json(), "new_version": new} for s, new in saved])
        return
    for template, new in saved:
        state = "saved" if new else "unchanged"
        console.print(f"{escape(template.name)} v{template.version} ({template.channel}): {state}")


@app.command("check")
@reports_errors
def check(files: FilesArgument, ws_path: WorkspaceOption = None) -> None:
    """Check template files without saving them."""
    with workspace(ws_path) as ws:
        for path in files:
            found = library.load_template_file(path, ws.model)
            console.print(f"{escape(str(path))}: {found.name} ({found.channel}), valid")


@app.command("list")
@reports_errors
def list_(ws_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """Every template, at its current version."""
    with workspace(ws_path) as ws:
        found = library.list_templates(ws.store)
    if as_json:
        print_json([t.as_json() for t in found])
        return
    if not found:
        console.print("no templates: `cantata template save FILE` adds one")
        return
    table = Table("template", "version", "channel", "parts", "saved", "description")
    for t in found:
        table.add_row(
            t.name,
            str(t.version),
            t.channel,
            ", ".join(t.parts),
            f"{t.created_at:%Y-%m-%d %H:%M}",
            t.description or "",
        )
    console.print(table)


@app.command("show")
@reports_errors
def show(
    name: str,
    version: Annotated[int | None, typer.Option(help="A version (default: the current).")] = None,
    ws_path: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """A template's parts, at its current version or the one asked for."""
    with workspace(ws_path) as ws:
        found = library.template_version(ws.store, name, version)
    if as_json:
        print_json(found.as_json())
        return
    console.print(f"[bold]{escape(found.name)}[/] v{found.version} ({found.channel})")
    if found.description:
        console.print(escape(found.description))
    for part, text in found.parts.items():
        console.print(f"\n[bold]{part}[/]")
        console.print(escape(text), highlight=False)
