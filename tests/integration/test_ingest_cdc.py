"""Ingestion on every engine: CDC order, versions, deletes, tombstones, quarantine, atomicity."""

from __future__ import annotations

import csv
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cantata.errors import IngestError
from cantata.ingest import ingest_file
from cantata.model import Model, parse_model
from cantata.store import Store
from cantata.store.schema import apply_model

MODEL_TEXT = """
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: string
      email: {type: string, address: email}
  booking:
    key: booking_id
    version: version
    fields:
      booking_id: string
      customer_id: string
      nights: integer
      amount: decimal
      paid: boolean
      check_in: date
      updated_at: timestamp
      version: integer
      status: {type: string, values: [confirmed, cancelled]}
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
"""
MODEL = parse_model(MODEL_TEXT)


def write(path: Path, text: str) -> Path:
    path.write_text(text.lstrip("\n"), encoding="utf-8")
    return path


def bookings(store: Store) -> dict[str, tuple[object, ...]]:
    rows = store.fetchall(
        "SELECT booking_id, nights, amount, paid, check_in, updated_at, version, status "
        "FROM booking ORDER BY booking_id"
    )
    return {r[0]: tuple(r[1:]) for r in rows}


def ingest(store: Store, model: Model, entity: str, path: Path) -> dict[str, object]:
    result = ingest_file(store, model, entity, path, quarantine_dir=path.parent / "quarantine")
    out = result.as_json()
    assert out["read"] == out["upserted"] + out["deleted"] + out["skipped"] + out["rejected"]
    return out


@pytest.fixture
def booking_store(store: Store) -> Store:
    apply_model(store, MODEL)
    return store


def test_upserts_then_deletes_and_stale_versions_give_the_expected_table(
    booking_store: Store, tmp_path: Path
) -> None:
    first = write(
        tmp_path / "b1.csv",
        """
booking_id,customer_id,nights,amount,paid,check_in,updated_at,version,status
B1,C1,2,100.50,true,2026-01-10,2026-01-01T10:00:00Z,1,confirmed
B2,C1,3,200,false,2026-02-10,2026-01-01T10:00:00+02:00,1,confirmed
B3,C2,1,50.25,1,2026-03-10,2026-01-01 10:00:00,1,confirmed
B4,C3,5,999.9999,0,2026-04-10,2026-01-01T10:00:00Z,1,confirmed
B2,C1,4,210,false,2026-02-10,2026-01-02T10:00:00Z,2,confirmed
""",
    )
    summary = ingest(booking_store, MODEL, "booking", first)
    assert summary == {
        "entity": "booking",
        "read": 5,
        "upserted": 4,
        "deleted": 0,
        "skipped": 1,  # the first B2 lost to the later, newer one in the same file
        "rejected": 0,
        "quarantine": None,
    }
    second = write(
        tmp_path / "b2.csv",
        """
booking_id,version,nights,status,_change_request_type
B1,2,,,d
B2,1,9,cancelled,u
B3,5,7,cancelled,U
B4,0,,,d
B5,1,1,confirmed,u
B5,3,,,d
""",
    )
    summary = ingest(booking_store, MODEL, "booking", second)
    # B1 deleted (newer); B2 stale (1 < 2); B3 updated; B4 delete stale (0 < 1);
    # B5: the delete (version 3) beats the upsert (version 1) in the same file.
    assert (summary["upserted"], summary["deleted"], summary["skipped"]) == (1, 2, 3)
    assert bookings(booking_store) == {
        "B2": (
            4,
            Decimal("210.0000"),
            False,
            datetime(2026, 2, 10).date(),
            datetime(2026, 1, 2, 10, 0),
            2,
            "confirmed",
        ),
        "B3": (7, None, None, None, None, 5, "cancelled"),
        "B4": (
            5,
            Decimal("999.9999"),
            False,
            datetime(2026, 4, 10).date(),
            datetime(2026, 1, 1, 10, 0),
            1,
            "confirmed",
        ),
    }
    # A delete is remembered: an older upsert arriving later does not resurrect the row.
    late = write(
        tmp_path / "b3.csv",
        "booking_id,version,nights\nB1,1,3\nB5,2,2\nB1,3,8\n",
    )
    summary = ingest(booking_store, MODEL, "booking", late)
    assert (summary["upserted"], summary["skipped"]) == (1, 2)
    assert bookings(booking_store)["B1"][0] == 8
    assert "B5" not in bookings(booking_store)


def test_timestamps_with_offsets_are_stored_in_utc(booking_store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.csv",
        "booking_id,updated_at\nA,2026-06-01T08:30:00+02:00\nB,2026-06-01T06:30:00Z\nC,2026-06-01 06:30\n",
    )
    ingest(booking_store, MODEL, "booking", path)
    values = {
        r[0]: r[1] for r in booking_store.fetchall("SELECT booking_id, updated_at FROM booking")
    }
    assert set(values.values()) == {datetime(2026, 6, 1, 6, 30)}


def test_rejected_rows_go_to_quarantine_with_their_line_and_reason(
    booking_store: Store, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "bad.csv",
        """
booking_id,customer_id,nights,amount,check_in,status,paid,_change_request_type
G1,C1,2,10,2026-01-01,confirmed,true,u
,C1,2,10,2026-01-01,confirmed,true,u
G2,C1,two,10,2026-01-01,confirmed,true,u
G3,C1,2,10,2026-02-30,confirmed,true,u
G4,C1,2,10,2026-01-01,"pending
review",true,u
G5,C1,2,10,2026-01-01,confirmed,yes,u
G6,C1,2,10,2026-01-01,confirmed,true,x
G7,C1,2,10,2026-01-01,confirmed,true,u,extra
G8,C1,1.5,abc,2026-01-01,confirmed,true,u
G9,C1,,,,,,d
G10,C1,,,,,maybe,d
""",
    )
    summary = ingest(booking_store, MODEL, "booking", path)
    assert (summary["read"], summary["upserted"], summary["deleted"], summary["rejected"]) == (
        11,
        1,
        2,
        8,
    )
    assert summary["quarantine"] is not None
    with open(str(summary["quarantine"]), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    lines = {r["_line"]: r["_reason"] for r in rows}
    assert lines == {
        "3": "missing key booking_id",
        "4": "nights: two is not an integer",
        "5": "check_in: 2026-02-30 is not a date (YYYY-MM-DD)",
        "6": "status: pending\nreview is not one of confirmed, cancelled",
        "8": "paid: yes is not a boolean (true/false/1/0)",
        "9": "unknown change type _change_request_type=x (use u or d)",
        "10": "unreadable CSV row: Expected Number of Columns: 8 Found: 9",
        "11": "nights: 1.5 is not an integer; amount: abc is not a decimal number",
    }
    original = (tmp_path / "bad.csv").read_text().splitlines()
    assert original[10 - 1].startswith("G7,")  # the unreadable row really is line 10
    by_line = {r["_line"]: r for r in rows}
    assert by_line["4"]["booking_id"] == "G2" and by_line["4"]["nights"] == "two"
    assert by_line["10"]["_raw"].startswith("G7,")
    assert set(bookings(booking_store)) == {"G1"}


def test_broken_addresses_are_rejected(booking_store: Store, tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.csv",
        "customer_id,email\nC1,ana@example.com\nC2,ana@\nC3,no-at-sign.example.com\nC4,\n",
    )
    summary = ingest(booking_store, MODEL, "customer", path)
    assert (summary["upserted"], summary["rejected"]) == (2, 2)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_json_lines(booking_store: Store, tmp_path: Path, fmt: str) -> None:
    import duckdb

    src = write(
        tmp_path / "src.csv",
        "booking_id,nights,amount,check_in,_change_request_type\nP1,2,10.5,2026-01-01,u\n"
        "P2,x,1,2026-01-01,u\nP3,1,1,2026-01-01,d\n",
    )
    target = tmp_path / f"in.{fmt}"
    con = duckdb.connect()
    if fmt == "parquet":
        con.execute(f"COPY (SELECT * FROM read_csv('{src}', all_varchar=true)) TO '{target}'")
    else:
        target.write_text(
            '{"booking_id": "P1", "nights": 2, "amount": 10.5, "check_in": "2026-01-01"}\n'
            '{"booking_id": "P2", "nights": "x"}\n'
            "this is not json\n"
            '{"booking_id": "P3", "_change_request_type": "d"}\n'
        )
    summary = ingest(booking_store, MODEL, "booking", target)
    assert summary["upserted"] == 1 and summary["deleted"] == 1
    with open(str(summary["quarantine"]), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    expected = {"2": "nights: x is not an integer"}
    if fmt == "jsonl":
        expected["3"] = "not a JSON object"
    assert {r["_line"]: r["_reason"] for r in rows} == expected
    assert bookings(booking_store)["P1"][:2] == (2, Decimal("10.5000"))


@pytest.mark.parametrize(
    ("entity", "text", "message"),
    [
        ("bookings", "booking_id\nB1\n", "unknown entity 'bookings' (did you mean 'booking'?)"),
        ("booking", "customer_id\nC1\n", "missing key column 'booking_id'"),
        (
            "booking",
            "booking_id,nigths\nB1,2\n",
            "unknown column 'nigths' (did you mean 'nights'?)",
        ),
    ],
)
def test_file_level_errors_apply_nothing(
    booking_store: Store, tmp_path: Path, entity: str, text: str, message: str
) -> None:
    path = write(tmp_path / "x.csv", text)
    with pytest.raises(IngestError) as err:
        ingest(booking_store, MODEL, entity, path)
    assert message in str(err.value)
    assert bookings(booking_store) == {}


def test_a_crash_mid_apply_leaves_the_previous_state(
    booking_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(
        booking_store, MODEL, "booking", write(tmp_path / "a.csv", "booking_id,nights\nA,1\nB,2\n")
    )
    before = bookings(booking_store)
    real = booking_store.execute

    def crash_on_insert(sql: str, params: object = None) -> int:
        if sql.startswith('INSERT INTO "booking"'):
            raise RuntimeError("simulated crash")
        return real(sql, params)  # type: ignore[arg-type]

    monkeypatch.setattr(booking_store, "execute", crash_on_insert)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(
            booking_store,
            MODEL,
            "booking",
            write(tmp_path / "b.csv", "booking_id,nights\nA,5\nC,3\n"),
        )
    monkeypatch.undo()
    assert bookings(booking_store) == before


def test_adding_fields_and_entities_keeps_data_and_drops_need_permission(
    booking_store: Store, tmp_path: Path
) -> None:
    from cantata.errors import StoreError

    ingest(booking_store, MODEL, "booking", write(tmp_path / "a.csv", "booking_id,nights\nA,1\n"))
    text = MODEL_TEXT.replace(
        "      nights: integer\n", "      nights: integer\n      guests: integer\n"
    )
    text += "  hotel:\n    key: hotel_id\n    fields: {hotel_id: string}\n"
    grown = parse_model(text)
    plan = apply_model(booking_store, grown)
    assert plan.changes == ["add field booking.guests", "create entity hotel"]
    assert booking_store.fetchall("SELECT booking_id, nights, guests FROM booking") == [
        ("A", 1, None)
    ]
    shrunk = parse_model(MODEL_TEXT.replace("      nights: integer\n", ""))
    with pytest.raises(StoreError) as err:
        apply_model(booking_store, shrunk)
    assert "booking.nights: field removed" in str(err.value)
    assert "hotel: entity removed" in str(err.value)
    assert "--allow-drop" in str(err.value)
    assert "nights" in booking_store.table_columns("booking")
    apply_model(booking_store, shrunk, allow_drop=True)
    assert "nights" not in booking_store.table_columns("booking")
    assert not booking_store.table_exists("hotel")
