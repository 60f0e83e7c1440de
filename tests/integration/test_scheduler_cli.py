"""`cantata scheduler --once` on both engines: fires what is due through the configured
runner factory, respects a lease held by another scheduler, reports bad settings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from cantata.canvas.schedule import Schedule
from cantata.canvas.scheduler import acquire_lease, add_wait, schedule_campaign, timers
from cantata.cli.scheduler import scheduler
from cantata.store import open_store
from cantata.workspace import Workspace, init_workspace
from tests.conftest import drop_schema, store_url
from tests.integration.test_scheduler import PARIS, RecordingRunner, utc

SPEC = "tests.integration.test_scheduler_cli:make_runner"
ADVANCED: list[datetime] = []
RUNNERS: list[RecordingRunner] = []


class AdvancingRunner(RecordingRunner):
    def advance(self, now: datetime) -> None:
        ADVANCED.append(now)


def make_runner(ws: Workspace) -> AdvancingRunner:
    assert ws.store is not None
    runner = AdvancingRunner(name="cli")
    RUNNERS.append(runner)
    return runner


def not_a_runner(ws: Workspace) -> object:
    return object()


@pytest.fixture
def ws(engine: str, tmp_path: Path) -> Iterator[Path]:
    url, schema = store_url(engine, tmp_path)
    root = tmp_path / "ws"
    init_workspace(root, store_url=url)
    with open_store(url) as store:
        daily = Schedule.model_validate({"daily": {"at": "09:00"}})
        schedule_campaign(store, "c", 3, daily, PARIS, now=utc(4, 1), horizon=2)
        add_wait(store, "41", "reminder", utc(4, 1, 6, 30))
    ADVANCED.clear()
    RUNNERS.clear()
    try:
        yield root
    finally:
        if schema:
            drop_schema(schema)


def cli(*args: str) -> Any:
    app = typer.Typer()
    app.command()(scheduler)
    return CliRunner().invoke(app, [*args], catch_exceptions=False)


def test_once_fires_what_is_due_and_advances_the_runner(ws: Path) -> None:
    result = cli(
        "-w", str(ws), "--once", "--now", "2026-04-01T07:00:00Z", "--runner", SPEC, "--owner", "cli"
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines == [
        "fired  wait 41/reminder due 2026-04-01 06:30:00Z",
        "fired  occurrence c@2026-04-01T07:00:00Z (v3) due 2026-04-01 07:00:00Z",
        "2 fired",
    ]
    (runner,) = RUNNERS
    assert [(c.kind, c.target) for c in runner.calls] == [
        ("wait", "41/reminder"),
        ("occurrence", "c@2026-04-01T07:00:00Z"),
    ]
    assert [utc(4, 1, 7)] == ADVANCED
    # Nothing more is due: a second pass fires nothing and does not advance.
    again = cli("-w", str(ws), "--once", "--now", "2026-04-01T07:00:30Z", "--runner", SPEC)
    assert again.output.splitlines() == ["0 fired"]
    assert [utc(4, 1, 7)] == ADVANCED
    with Workspace.open(ws) as opened:
        fired = timers(opened.store, status="fired")
        assert [(t.kind, t.fired_by, t.fired_at) for t in fired] == [
            ("wait", "cli", utc(4, 1, 7)),
            ("occurrence", "cli", utc(4, 1, 7)),
        ]


def test_the_runner_comes_from_cantata_toml(ws: Path) -> None:
    with (ws / "cantata.toml").open("a") as f:
        f.write(f'\n[scheduler]\nrunner = "{SPEC}"\ninterval = 2\n')
    result = cli("-w", str(ws), "--once", "--now", "2026-04-01T06:45:00+00:00", "--owner", "x")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "1 fired"


def test_once_stands_by_while_another_scheduler_holds_the_lease(ws: Path) -> None:
    with Workspace.open(ws) as opened:
        assert acquire_lease(opened.store, "scheduler", "elsewhere:7", utc(4, 1, 6, 59), 600)
    result = cli("-w", str(ws), "--once", "--now", "2026-04-01T07:00:00Z", "--runner", SPEC)
    assert result.exit_code == 1
    assert "held by elsewhere:7 until 2026-04-01 07:09:00Z" in result.output
    assert RUNNERS[0].calls == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--runner", "no.such.module:factory"], "cannot load the campaign runner"),
        (["--runner", "tests.integration.test_scheduler_cli"], "write it module:factory"),
        (
            ["--runner", "tests.integration.test_scheduler_cli:not_a_runner"],
            "has no start_occurrence or resume_wait",
        ),
        (["--runner", SPEC, "--now", "2026-04-01T07:00:00"], "needs an offset"),
        (["--runner", SPEC, "--now", "tomorrow"], "not an ISO-8601 time"),
    ],
)
def test_bad_settings_are_reported(ws: Path, args: list[str], message: str) -> None:
    result = cli("-w", str(ws), "--once", *args)
    assert result.exit_code == 2
    assert message in result.output


def test_now_needs_once(ws: Path) -> None:
    result = cli("-w", str(ws), "--now", "2026-04-01T07:00:00Z", "--runner", SPEC)
    assert result.exit_code == 2
    assert "--now goes with --once" in result.output
