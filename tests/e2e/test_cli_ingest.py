"""The CLI end to end on each engine: init → generate --dirty → ingest --json → model show."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import drop_schema, store_url
from tests.e2e.cli import fails, run

ENTITIES = ("customer", "hotel", "booking", "flight")
REASON_WORDS = {
    "bad_email": "is not a valid email address",
    "missing_key": "missing key",
    "bad_date": "is not a",  # a date, or an ISO-8601 timestamp
    "bad_integer": "is not an integer",
    "bad_change_type": "unknown change type",
}


@pytest.fixture
def workspace(engine: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    url, schema = store_url(engine, tmp_path)
    if engine == "duckdb":
        url = "duckdb:///cantata.duckdb"
    ws = tmp_path / "ws"
    run("init", str(ws), "--store", url)
    yield ws
    if schema:
        drop_schema(schema)


def test_dirty_travel_data_ingests_with_exact_quarantine_lines(workspace: Path) -> None:
    data = workspace / "data"
    run("generate", "travel", "--customers", "3000", "--out", str(data), "--dirty", "--seed", "5")
    for entity in ENTITIES:
        out = run(
            "ingest", entity, str(data / f"{entity}.csv"), "--workspace", str(workspace), "--json"
        )
        summary = json.loads(out)
        assert summary["entity"] == entity
        assert summary["read"] == (
            summary["upserted"] + summary["deleted"] + summary["skipped"] + summary["rejected"]
        )
        with open(data / f"{entity}.csv", newline="", encoding="utf-8") as f:
            assert summary["read"] == sum(1 for _ in csv.reader(f)) - 1
        with open(data / f"{entity}.expected_rejects.csv", newline="", encoding="utf-8") as f:
            planted = {int(r["line"]): r["reason_kind"] for r in csv.DictReader(f)}
        # Stale versions are skipped and deletes applied: neither is a reject.
        expected = {n: k for n, k in planted.items() if k not in ("stale", "delete")}
        assert summary["rejected"] == len(expected) > 0
        assert summary["deleted"] == sum(k == "delete" for k in planted.values())
        assert summary["skipped"] >= sum(k == "stale" for k in planted.values())
        with open(summary["quarantine"], newline="", encoding="utf-8") as f:
            quarantined = {int(r["_line"]): r for r in csv.DictReader(f)}
        assert set(quarantined) == set(expected)
        source_lines = (data / f"{entity}.csv").read_text(encoding="utf-8").splitlines()
        key = {
            "customer": "customer_id",
            "hotel": "hotel_id",
            "booking": "booking_id",
            "flight": "flight_id",
        }[entity]
        for line, kind in expected.items():
            row = quarantined[line]
            if kind in REASON_WORDS:
                assert REASON_WORDS[kind] in row["_reason"], (line, kind, row["_reason"])
            # The quarantined row is the one on that line of the input.
            assert source_lines[line - 1].split(",")[0] == row[key]
    shown = json.loads(run("model", "show", "--workspace", str(workspace), "--json"))
    assert shown["customer"]["recipient"] is True
    assert shown["booking"]["links"]["customer"] == {"to": "customer", "to_many": False}
    assert shown["customer"]["links"]["bookings"] == {"to": "booking", "to_many": True}
    assert shown["booking"]["rows"] > shown["customer"]["rows"] > shown["hotel"]["rows"] > 0


def test_clear_errors_and_exit_2(workspace: Path, tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("hotel_id,name,stars\n1,Ritz,5\n")
    output = fails("ingest", "hotels", str(bad), "--workspace", str(workspace))
    assert "unknown entity 'hotels' (did you mean 'hotel'?)" in output
    nokey = tmp_path / "y.csv"
    nokey.write_text("name,stars\nRitz,5\n")
    output = fails("ingest", "hotel", str(nokey), "--workspace", str(workspace))
    assert "missing key column 'hotel_id'" in output
    model = workspace / "model.yaml"
    model.write_text(model.read_text().replace("stars: integer", "stars: integr"))
    output = fails("model", "show", "--workspace", str(workspace))
    assert "field 'stars': unknown type 'integr' (did you mean 'integer'" in output
    assert "model.yaml:" in output


def test_consent_and_suppression_commands(workspace: Path, tmp_path: Path) -> None:
    consent = tmp_path / "consent.csv"
    consent.write_text(
        "recipient,channel,status,updated_at\n"
        "1,email,granted,2026-01-01T00:00:00Z\n"
        "1,email,denied,2026-02-01T00:00:00Z\n"
        "2,sms,granted,2026-01-01T00:00:00Z\n"
        "3,fax,granted,2026-01-01T00:00:00Z\n"
    )
    summary = json.loads(run("consent", "import", str(consent), "-w", str(workspace), "--json"))
    assert (summary["read"], summary["applied"], summary["skipped"], summary["rejected"]) == (
        4,
        2,
        1,
        1,
    )
    assert summary["rejects"] == [[5, "unknown channel fax"]]
    older = tmp_path / "older.csv"
    older.write_text("recipient,channel,status,updated_at\n1,email,granted,2025-01-01T00:00:00Z\n")
    summary = json.loads(run("consent", "import", str(older), "-w", str(workspace), "--json"))
    assert summary["applied"] == 0 and summary["skipped"] == 1
    run("suppression", "add", "Ana@Example.com", "--reason", "complaint", "-w", str(workspace))
    listed = json.loads(run("suppression", "list", "-w", str(workspace), "--json"))
    assert [(r["address"], r["reason"]) for r in listed] == [("ana@example.com", "complaint")]
    bulk = tmp_path / "sup.csv"
    bulk.write_text("address,channel\nana@example.com,email\n+33 6 12 34 56 78,sms\n,email\n")
    summary = json.loads(run("suppression", "import", str(bulk), "-w", str(workspace), "--json"))
    assert summary == {"read": 3, "added": 1, "rejected": 1}
