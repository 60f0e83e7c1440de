"""`cantata template` end to end: save checks every file first, versions only on change, list
and show read back; the example campaign that names a template validates once it is saved."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import fails, run

ROOT = Path(__file__).parents[2]


def test_save_list_show_and_a_campaign_using_the_template(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run("init", str(ws))
    example = ROOT / "examples" / "templates" / "checkin_premium.yaml"
    flights = ROOT / "examples" / "flight_checkin_reminders.yaml"
    assert "unknown template 'checkin_premium'" in fails(
        "campaign", "validate", str(flights), "-w", str(ws)
    )

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: other\nchannel: sms\nbody: '{{ recipient.tierr }}'\n")
    out = fails("template", "save", str(example), str(broken), "-w", str(ws))
    assert f"{broken}:3: body: unknown field recipient.tierr (did you mean 'tier'?)" in out
    assert json.loads(run("template", "list", "-w", str(ws), "--json")) == []  # nothing saved

    assert "checkin_premium v1 (email): saved" in run(
        "template", "save", str(example), "-w", str(ws)
    )
    assert "checkin_premium v1 (email): unchanged" in run(
        "template", "save", str(example), "-w", str(ws)
    )
    changed = tmp_path / "changed.yaml"
    changed.write_text(example.read_text().replace("Dear", "Hello"))
    assert "checkin_premium v2 (email): saved" in run(
        "template", "save", str(changed), "-w", str(ws)
    )

    [listed] = json.loads(run("template", "list", "-w", str(ws), "--json"))
    assert (listed["name"], listed["version"], listed["channel"]) == ("checkin_premium", 2, "email")
    first = json.loads(
        run("template", "show", "checkin_premium", "--version", "1", "-w", str(ws), "--json")
    )
    assert first["parts"]["body"].startswith("<p>Dear {{ recipient.first_name }}")
    assert "valid" in run("template", "check", str(example), "-w", str(ws))
    # What is left is the saved audience the example reads: the template is known now.
    left = fails("campaign", "validate", str(flights), "-w", str(ws))
    assert "1 problem" in left and "template" not in left
