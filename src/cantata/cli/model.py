"""`cantata model show | apply`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from cantata.cli.common import (
    JsonOption,
    WorkspaceOption,
    console,
    print_json,
    reports_errors,
    workspace,
)
from cantata.model.summary import model_summary

app = typer.Typer(help="Show and apply the data model (model.yaml).", no_args_is_help=True)


@app.command("apply")
@reports_errors
def apply(
    allow_drop: Annotated[
        bool, typer.Option("--allow-drop", help="Apply destructive changes (drops data).")
    ] = False,
    ws_path: WorkspaceOption = None,
) -> None:
    """Create or evolve the store's tables from the model."""
    with workspace(ws_path) as ws:
        plan = ws.apply_model(allow_drop=allow_drop)
        if plan.empty:
            console.print("The store already matches the model.")
        for change in plan.changes:
            console.print(f"  [green]✓[/] {change}")


@app.command("show")
@reports_errors
def show(ws_path: WorkspaceOption = None, as_json: JsonOption = False) -> None:
    """List entities, fields, links both ways and row counts."""
    with workspace(ws_path) as ws:
        model = ws.model
        ws.apply_model()
        summary = model_summary(ws.store, model)
        if as_json:
            print_json(summary)
            return
        out = [(entity, int(summary[entity.name]["rows"])) for entity in model.entities.values()]
        for entity, count in out:
            title = f"[bold]{entity.name}[/]  {count:,} rows"
            if entity.recipient:
                title += "  [magenta](recipient)[/]"
            table = Table(title=title, title_justify="left", show_edge=False)
            table.add_column("field")
            table.add_column("type")
            table.add_column("notes")
            for f in entity.fields.values():
                notes = []
                if f.name == entity.key:
                    notes.append("key")
                if f.name == entity.version:
                    notes.append("version")
                if f.address:
                    notes.append(f"{f.address} address")
                if f.values:
                    notes.append("one of " + ", ".join(map(str, f.values)))
                table.add_row(f.name, f.type.value, ", ".join(notes))
            for rel in model.relations(entity.name).values():
                kind = "to-many" if rel.to_many else "to-one"
                table.add_row(
                    f"[cyan]{rel.name}[/]",
                    f"→ {rel.target}",
                    f"{kind} link ({entity.name}.{rel.source_field} = "
                    f"{rel.target}.{rel.target_field})",
                )
            console.print(table)
            console.print()
