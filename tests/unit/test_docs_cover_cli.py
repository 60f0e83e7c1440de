"""Every command of the CLI is documented (README or docs/), as `cantata GROUP COMMAND`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cantata.cli.app import app

ROOT = Path(__file__).resolve().parents[2]


def commands(group: Any, prefix: str = "") -> list[str]:
    if hasattr(group, "commands"):  # a group of commands
        out = []
        for name, sub in group.commands.items():
            out += commands(sub, f"{prefix} {name}".strip())
        return out
    return [prefix]


def test_every_command_is_documented() -> None:
    text = (ROOT / "README.md").read_text() + "".join(
        p.read_text() for p in sorted((ROOT / "docs").glob("*.md"))
    )
    missing = [c for c in commands(typer.main.get_command(app)) if f"cantata {c}" not in text]
    assert missing == []
