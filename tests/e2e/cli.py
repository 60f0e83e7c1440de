"""Running the CLI in-process from tests: success (exit 0) or a user error (exit 2)."""

from __future__ import annotations

from typer.testing import CliRunner

from cantata.cli.app import app

runner = CliRunner()


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 2, result.output
    return result.output
