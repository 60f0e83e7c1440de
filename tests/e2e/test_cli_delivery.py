"""The delivery commands on a workspace: preview, start with a send confirmation, confirm,
dispatch (with the scheduler's work) to a real SMTP server, report as JSON and CSV."""

from __future__ import annotations

import json
from pathlib import Path

from cantata.peers.smtp_sink import SmtpSink
from cantata.workspace import Workspace, init_workspace
from tests.e2e.cli import fails, run
from tests.integration.delivery_fixtures import campaign, load_company, node

CAMPAIGN = campaign(
    "hello",
    [
        node("stays", "build_audience", entity="booking", rule='status = "confirmed"'),
        node(
            "mail",
            "email",
            per="booking",
            require_confirmation=True,
            subject="{{ recipient.first_name }}: booking {{ target.booking_id }}",
            body="<p>{{ target.nights }} nights, code {{ vars.code }}</p>",
        ),
    ],
    ["stays -> mail"],
    variables={"code": {"type": "string", "default": "HELLO"}},
)


def test_preview_confirm_dispatch_report(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    init_workspace(ws)
    with Workspace.open(ws) as w:
        w.apply_model()
        load_company(w.store)
    file = tmp_path / "hello.yaml"
    file.write_text(CAMPAIGN)
    now = "2026-06-01T10:00:00Z"
    shown = json.loads(
        run("campaign", "preview", str(file), "mail", "--recipient", "1", "--now", now,
            "--json", "-w", str(ws))
    )  # fmt: skip
    assert shown["to"] == "ana@example.com"
    assert shown["subject"] == "Ana: booking 100" and "2 nights, code HELLO" in shown["html"]
    assert "is not among" in fails(
        "campaign", "preview", str(file), "mail", "--recipient", "7", "--now", now, "-w", str(ws)
    )
    with SmtpSink() as sink:
        with (ws / "cantata.toml").open("a") as config:
            config.write(
                f'\n[channels.email]\nprovider = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\n'
                'sender = "hello@travel.example"\n'
            )
        run("campaign", "publish", str(file), "--now", now, "-w", str(ws))
        run("campaign", "start", "hello", "--now", now, "-w", str(ws))
        run("dispatch", "--once", "--schedule", "-w", str(ws))
        assert sink.messages == []  # waiting for confirmation
        waiting = json.loads(run("campaign", "report", "hello", "--json", "-w", str(ws)))
        assert waiting["activities"][0]["pending"] == 3
        live = str(waiting["activities"][0]["run"])  # the preview's test run came first
        assert "confirmed" in run("campaign", "confirm", live, "-w", str(ws))
        assert "no channel activity awaiting" in fails("campaign", "confirm", live, "-w", str(ws))
        assert "sent 3" in run("dispatch", "--once", "-w", str(ws))
        assert sorted(m.parsed()["Subject"] for m in sink.messages) == [
            "Ana: booking 100", "Ana: booking 101", "Ben: booking 102",
        ]  # fmt: skip
    report = json.loads(run("campaign", "report", "hello", "--json", "-w", str(ws)))
    (mail,) = report["activities"]
    assert (mail["activity"], mail["targeted"], mail["sent"], mail["pending"]) == ("mail", 3, 3, 0)
    table = run("campaign", "report", "hello", "-w", str(ws))
    assert "targeted" in table and "unique opens" in table
    csv = run("campaign", "report", "hello", "--csv", "-w", str(ws)).splitlines()
    assert csv[0].startswith("run,activity,channel,targeted") and csv[1].startswith(
        f"{live},mail,email,3"
    )
