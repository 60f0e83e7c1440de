"""`cantata demo` end to end (smaller than the default): it prints the campaign report, and
the report shows messages sent, delivered, opened, clicked and bounced."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.cli import run


def test_demo_runs_the_campaign_and_reports(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    output = run("demo", "--dir", str(folder), "--customers", "3000")
    assert "campaign pre_arrival_journey" in output
    assert "unique opens" in output
    assert "cantata serve --all -w" in output  # how to go on, in the browser
    report = json.loads(
        run("campaign", "report", "pre_arrival_journey", "--json", "-w", str(folder))
    )
    totals = {
        key: sum(a[key] for a in report["activities"])
        for key in ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed")
    }
    assert all(n > 0 for n in totals.values()), totals
    channels = {a["activity"]: a["channel"] for a in report["activities"]}
    assert channels == {
        "booking_email": "email",
        "welcome_email": "email",
        "welcome_sms": "sms",
        "reminder": "email",
    }
    reminder = next(a for a in report["activities"] if a["activity"] == "reminder")
    assert reminder["sent"] > 0  # two days later, to those who had not opened
