"""The web UI: its unit tests (Vitest), and its browser test (Playwright in Debian's Chromium)
against a real `cantata serve` that serves the built UI at /ui/ beside the API.

They need the built UI (`make ui`: Node.js and npm) and /usr/bin/chromium. Without them they
skip with the reason — unless CANTATA_REQUIRE_BROWSER is set (CI sets it), where a missing
piece fails the test instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from cantata.server.app import UI
from cantata.workspace import init_workspace
from tests.e2e.cli import run
from tests.e2e.test_serve_all import free_port, serving

ROOT = Path(__file__).parents[2]
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def _missing() -> str | None:
    if shutil.which("npx") is None:
        return "npx (Node.js) is not installed"
    if not (ROOT / "ui" / "node_modules" / ".bin" / "playwright").exists():
        return "the UI's packages are not installed (make ui)"
    if not (UI / "index.html").is_file():
        return "the UI is not built (make ui)"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
    return None


@pytest.fixture
def ui_ready() -> None:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CANTATA_REQUIRE_BROWSER"):
            pytest.fail(f"CANTATA_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)


def npx(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["npx", "--no-install", *args],
        cwd=ROOT / "ui",
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_the_ui_unit_tests_pass(ui_ready: None) -> None:
    done = npx("vitest", "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_the_canvas_in_chromium_against_a_real_server(ui_ready: None, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init_workspace(ws)
    data = tmp_path / "data"  # a company with stays ahead, whatever today is
    run("generate", "travel", "--customers", "1000", "--out", str(data), "--seed", "9")
    for entity in ("customer", "hotel", "booking"):
        run("ingest", entity, str(data / f"{entity}.csv"), "-w", str(ws))
    token = json.loads(run("token", "create", "ui", "--role", "publisher", "-w", str(ws), "--json"))
    port = free_port()
    # --all: the dispatcher queues a started run's messages, so the report has rows to show
    # (no channel is configured: nothing is sent; the generated customers have no consent).
    with (ws / "cantata.toml").open("a") as config:
        config.write(
            f'\n[tracking]\nbase_url = "http://127.0.0.1:{port}"\n'
            'secret = "a-long-enough-secret-for-the-ui-test"\n'
        )
    with serving(ws, "--all", "--idle", "0.2", port=port) as served:
        done = npx(
            "playwright",
            "test",
            env={
                "CANTATA_UI_URL": f"{served.base}/ui/",
                "CANTATA_TOKEN": token["token"],
                "CHROMIUM_PATH": str(CHROMIUM),
                "CANTATA_E2E_SUFFIX": tmp_path.name[-8:].replace("-", "_"),
            },
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout, done.stdout
