"""The audience commands end to end on each engine, over a small generated travel company."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from cantata.workspace import Workspace
from tests.conftest import drop_schema, store_url
from tests.e2e.cli import fails, run

NOW = "2026-06-01T12:00:00Z"


@pytest.fixture
def ws(engine: str, tmp_path: Path) -> Iterator[Path]:
    url, schema = store_url(engine, tmp_path)
    root = tmp_path / "ws"
    run("init", str(root), "--store", url if engine == "postgres" else "duckdb:///cantata.duckdb")
    data = tmp_path / "data"
    run("generate", "travel", "--customers", "400", "--out", str(data), "--seed", "9")
    for entity in ("customer", "hotel", "booking"):
        run("ingest", entity, str(data / f"{entity}.csv"), "-w", str(root))
    with Workspace.open(root) as w:  # a little communication history
        w.store.execute(
            'INSERT INTO cantata_history (message_id, campaign, recipient, channel, event, "at") '
            "VALUES ('m1', 'spring', '1', 'email', 'opened', '2026-05-30 10:00:00'), "
            "('m2', 'spring', '2', 'email', 'opened', '2026-05-01 10:00:00'), "
            "('m3', 'spring', '3', 'sms', 'sent', '2026-05-31 10:00:00')"
        )
    yield root
    if schema:
        drop_schema(schema)


def count(ws: Path, entity: str, rule: str) -> int:
    out = json.loads(
        run("audience", "count", "-e", entity, "-r", rule, "--now", NOW, "-w", str(ws), "--json")
    )
    assert out["entity"] == entity and out["elapsed_ms"] >= 0
    return int(out["count"])


def sql_count(ws: Path, sql: str) -> int:
    with Workspace.open(ws) as w:
        return int(w.store.scalar(sql))


def test_counts_on_any_entity_match_hand_written_sql(ws: Path) -> None:
    assert count(ws, "customer", 'tier = "gold"') == sql_count(
        ws, "SELECT count(*) FROM customer WHERE tier = 'gold'"
    )
    assert count(ws, "booking", "hotel.stars >= 4") == sql_count(
        ws,
        "SELECT count(*) FROM booking b JOIN hotel h ON h.hotel_id = b.hotel_id WHERE h.stars >= 4",
    )
    assert count(ws, "hotel", 'count(bookings where status = "cancelled") >= 1') == sql_count(
        ws,
        "SELECT count(DISTINCT hotel_id) FROM booking WHERE status = 'cancelled' "
        "AND hotel_id IN (SELECT hotel_id FROM hotel)",
    )
    assert (
        count(ws, "customer", 'history(channel = "email", event = "opened", since now() - 7d)') == 1
    )
    assert (
        count(ws, "customer", 'not history(event = "opened")')
        == sql_count(ws, "SELECT count(*) FROM customer") - 2
    )


def test_save_append_list_show_export_import_delete(ws: Path, tmp_path: Path) -> None:
    w = str(ws)
    gold = count(ws, "customer", 'tier = "gold"')
    saved = json.loads(
        run("audience", "save", "vip", "-e", "customer", "-r", 'tier = "gold"', "-w", w, "--json")
    )
    assert (saved["version"], saved["size"], saved["mode"]) == (1, gold, "replace")
    platinum = count(ws, "customer", 'tier = "platinum"')
    appended = json.loads(
        run(
            "audience",
            "save",
            "vip",
            "-e",
            "customer",
            "-r",
            'tier = "platinum"',
            "--append",
            "-w",
            w,
            "--json",
        )
    )
    assert (appended["version"], appended["size"]) == (2, gold + platinum)
    # Saved-audience conditions combine with history and links (multi-entity segmentation).
    assert count(ws, "customer", 'in_audience("vip")') == gold + platinum
    assert count(ws, "customer", 'in_audience("vip") and exists(bookings)') == sql_count(
        ws,
        "SELECT count(*) FROM customer WHERE tier IN ('gold', 'platinum') "
        "AND customer_id IN (SELECT customer_id FROM booking)",
    )
    listed = json.loads(run("audience", "list", "-w", w, "--json"))
    assert [(a["name"], a["version"], a["entity"]) for a in listed] == [("vip", 2, "customer")]
    shown = json.loads(run("audience", "show", "vip", "-w", w, "--json"))
    assert [v["source"]["rule"] for v in shown] == [
        {"field": "tier", "op": "eq", "value": "gold"},
        {"field": "tier", "op": "eq", "value": "platinum"},
    ]
    run("audience", "export", "vip", str(tmp_path / "vip.csv"), "-w", w)
    with open(tmp_path / "vip.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == gold + platinum
    run("audience", "export", "vip", str(tmp_path / "vip.parquet"), "-w", w)
    assert duckdb.connect().execute(
        f"SELECT count(*) FROM '{tmp_path / 'vip.parquet'}'"
    ).fetchone() == (gold + platinum,)
    keys = tmp_path / "keys.csv"
    keys.write_text("customer_id\n1\n2\n2\n999999\nnope\n")
    imported = json.loads(
        run("audience", "import", "testers", str(keys), "-e", "customer", "-w", w, "--json")
    )
    assert (imported["size"], imported["read"], imported["unknown"]) == (2, 4, 2)
    assert imported["unknown_sample"] == ["999999", "nope"]
    run("audience", "delete", "testers", "-w", w)
    assert "no saved audience 'testers'" in fails("audience", "show", "testers", "-w", w)
    assert "holds 'customer' keys, not 'booking'" in fails(
        "audience", "save", "vip", "-e", "booking", "-r", "nights > 3", "-w", w
    )


def test_sample_values_and_sql(ws: Path) -> None:
    w = str(ws)
    rows = json.loads(
        run(
            "audience",
            "sample",
            "-e",
            "booking",
            "-r",
            'status = "confirmed"',
            "--limit",
            "5",
            "-w",
            w,
            "--json",
        )
    )
    assert len(rows) == 5 and all(r["status"] == "confirmed" for r in rows)
    top = json.loads(
        run(
            "audience",
            "values",
            "hotel.country",
            "-e",
            "booking",
            "-r",
            "nights >= 1",
            "-w",
            w,
            "--json",
        )
    )
    assert sum(v["count"] for v in top) <= count(ws, "booking", "nights >= 1")
    assert top == sorted(top, key=lambda v: -v["count"])
    for dialect in ("duckdb", "postgres", "spark"):
        text = run(
            "audience",
            "sql",
            "-e",
            "customer",
            "-r",
            "count(bookings) >= 2",
            "--dialect",
            dialect,
            "-w",
            w,
        )
        assert "booking" in text and "HAVING" in text.upper()


def test_bad_rules_name_the_json_path(ws: Path) -> None:
    w = str(ws)
    assert "all[1].field: 'customer' has no field 'teir' (did you mean 'tier'?)" in fails(
        "audience",
        "count",
        "-e",
        "customer",
        "-r",
        '{"all": [{"field": "country", "op": "eq", "value": "FR"}, {"field": "teir", "op": "eq", "value": "gold"}]}',
        "-w",
        w,
    )
    assert "field: 'bookings' is a to-many link of 'customer'" in fails(
        "audience",
        "count",
        "-e",
        "customer",
        "-r",
        '{"field": "bookings.nights", "op": "gt", "value": 1}',
        "-w",
        w,
    )
    assert "audience: no saved audience 'vipp'" in fails(
        "audience", "count", "-e", "customer", "-r", '{"audience": "vipp"}', "-w", w
    )
    assert "op: contains applies to text fields" in fails(
        "audience",
        "count",
        "-e",
        "booking",
        "-r",
        '{"field": "nights", "op": "contains", "value": "1"}',
        "-w",
        w,
    )
    assert "value: 'two' is not an integer" in fails(
        "audience",
        "count",
        "-e",
        "booking",
        "-r",
        '{"field": "nights", "op": "eq", "value": "two"}',
        "-w",
        w,
    )
