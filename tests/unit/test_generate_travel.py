"""The travel sample-data generator: shape, realism, determinism and the dirty-row contract."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from collections import Counter
from importlib import resources
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest
import yaml

from cantata.generate import travel
from cantata.generate.travel import (
    CHANGE_COLUMN,
    EMAIL_RE,
    ENTITIES,
    FIELDS,
    KEYS,
    KINDS,
    REJECT_KINDS,
    SMS_RE,
    TravelFiles,
    generate_travel,
)

N = 2_000
TODAY = dt.date(2025, 6, 15)
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MONEY_RE = re.compile(r"^\d+\.\d{2}$")

Rows = list[dict[str, str]]


def _generate(out: Path, *, seed: int = 7, dirty: bool = False, fmt: str = "csv") -> TravelFiles:
    return generate_travel(out, customers=N, seed=seed, dirty=dirty, fmt=fmt, today=TODAY)


def _read(path: Path) -> Rows:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> TravelFiles:
    return _generate(tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def rows(clean: TravelFiles) -> dict[str, Rows]:
    return {name: _read(getattr(clean, name)) for name in (*ENTITIES, "consent")}


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> TravelFiles:
    return _generate(tmp_path_factory.mktemp("dirty"), dirty=True)


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def _ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- shape ------------------------------------------------------------------------------------


def test_fields_match_the_travel_model(clean: TravelFiles) -> None:
    text = resources.files("cantata.generate").joinpath("travel_model.yaml").read_text()
    model = yaml.safe_load(text)["entities"]
    assert set(model) == set(ENTITIES)
    for entity in ENTITIES:
        spec = model[entity]
        fields = {
            name: (t if isinstance(t, str) else t["type"]) for name, t in spec["fields"].items()
        }
        assert FIELDS[entity] == fields
        assert list(FIELDS[entity]) == list(spec["fields"])  # same order
        assert KEYS[entity] == spec["key"]
        header = getattr(clean, entity).read_text(encoding="utf-8").splitlines()[0]
        assert header == ",".join(spec["fields"])
        for name, field in spec["fields"].items():
            if isinstance(field, dict) and "values" in field:
                assert name in FIELDS[entity]


def test_reference_text_needs_no_quoting() -> None:
    # The CSV is written unquoted and JSON Lines without escaping.
    texts = [
        text
        for country in travel._COUNTRIES
        for text in (
            *country.first_names,
            *country.last_names,
            *country.streets,
            *country.domains,
            *(city.name for city in country.cities),
            *travel._HOTEL_PREFIX,
            *travel._HOTEL_SUFFIX,
        )
    ]
    assert not [t for t in texts if any(ch in t for ch in ',"\\\n')]


def test_consent_header(clean: TravelFiles) -> None:
    header = clean.consent.read_text(encoding="utf-8").splitlines()[0]
    assert header == "recipient,channel,purpose,status,source,updated_at"


def test_row_counts_and_key_order(clean: TravelFiles, rows: dict[str, Rows]) -> None:
    assert clean.counts == {name: len(r) for name, r in rows.items()}
    assert clean.counts["customer"] == N
    assert clean.counts["hotel"] == 20  # customers / 100, at least 20
    assert 4 * N < clean.counts["booking"] < 6 * N  # mean of 5 per customer
    assert 0.4 * clean.counts["booking"] < clean.counts["flight"] < 0.8 * clean.counts["booking"]
    for entity in ENTITIES:
        keys = [int(r[KEYS[entity]]) for r in rows[entity]]
        assert keys == list(range(1, len(keys) + 1))
    assert clean.expected_rejects == {}
    assert not list(clean.customer.parent.glob("*.expected_rejects.csv"))


def test_values_respect_the_model(rows: dict[str, Rows]) -> None:
    model = yaml.safe_load(
        resources.files("cantata.generate").joinpath("travel_model.yaml").read_text()
    )["entities"]
    for entity in ENTITIES:
        for name, field in model[entity]["fields"].items():
            kind = field if isinstance(field, str) else field["type"]
            allowed = set(field.get("values", [])) if isinstance(field, dict) else set()
            values = [r[name] for r in rows[entity] if r[name] != ""]
            assert values, f"{entity}.{name} is always empty"
            if allowed:
                assert set(values) <= allowed, f"{entity}.{name}"
            if kind == "integer":
                assert all(v.isdigit() for v in values), f"{entity}.{name}"
            elif kind == "date":
                assert all(DATE_RE.match(v) for v in values)
                for v in values:
                    _day(v)
            elif kind == "timestamp":
                assert all(TS_RE.match(v) for v in values), f"{entity}.{name}"
            elif kind == "decimal":
                assert all(MONEY_RE.match(v) for v in values), f"{entity}.{name}"


# --- realism ----------------------------------------------------------------------------------


def test_customers_look_real(rows: dict[str, Rows]) -> None:
    customers = rows["customer"]
    emails = [r["email"] for r in customers if r["email"]]
    assert len(emails) > 0.9 * N
    assert all(re.match(EMAIL_RE, e) for e in emails)
    assert len(set(emails)) == len(emails)
    assert all(e.split("@")[0].endswith(r["customer_id"]) for r in customers if (e := r["email"]))
    phones = [r["phone"] for r in customers if r["phone"]]
    assert all(re.match(SMS_RE, p) and re.fullmatch(r"\+[0-9]{8,15}", p) for p in phones)
    tokens = [r["push_token"] for r in customers if r["push_token"]]
    assert 0.4 * N < len(tokens) < 0.6 * N
    assert all(re.fullmatch(r"[0-9a-f]{64}", t) for t in tokens)
    assert len({r["country"] for r in customers}) >= 12
    assert all(re.fullmatch(r"[A-Z][a-z]+/[A-Za-z_]+", r["time_zone"]) for r in customers)
    assert all(r["street"] and r["postal_code"] and r["city"] for r in customers)
    # Phone prefixes match the country.
    prefix = {"FR": "+33", "DE": "+49", "GB": "+44", "US": "+1", "JP": "+81", "BR": "+55"}
    for r in customers:
        if r["phone"] and r["country"] in prefix:
            assert r["phone"].startswith(prefix[r["country"]])
    tiers = Counter(r["tier"] for r in customers)
    assert tiers["basic"] > tiers["silver"] > tiers["gold"] > tiers["platinum"]
    for r in customers:
        age = (TODAY - _day(r["birth_date"])).days / 365.25
        assert 18 <= age <= 90
        signup = _day(r["signup_date"])
        assert TODAY - dt.timedelta(days=3653) <= signup < TODAY
        assert _ts(r["updated_at"]).date() >= signup


def test_hotels_look_real(rows: dict[str, Rows]) -> None:
    hotels = rows["hotel"]
    stars = Counter(int(r["stars"]) for r in hotels)
    assert set(stars) <= {1, 2, 3, 4, 5}
    assert all(r["name"] and r["city"] and len(r["country"]) == 2 for r in hotels)


def test_bookings_are_skewed(rows: dict[str, Rows]) -> None:
    per_customer = Counter(r["customer_id"] for r in rows["booking"])
    counts = [per_customer.get(str(i), 0) for i in range(1, N + 1)]
    assert max(counts) >= 10
    assert sum(c <= 1 for c in counts) >= 0.3 * N
    hotel_share = Counter(r["hotel_id"] for r in rows["booking"]).most_common()
    assert hotel_share[0][1] > 2 * hotel_share[-1][1]  # popular hotels


def test_foreign_keys_resolve(rows: dict[str, Rows]) -> None:
    customers = {r["customer_id"] for r in rows["customer"]}
    hotels = {r["hotel_id"] for r in rows["hotel"]}
    booking_customer = {r["booking_id"]: r["customer_id"] for r in rows["booking"]}
    assert all(r["customer_id"] in customers for r in rows["booking"])
    assert all(r["hotel_id"] in hotels for r in rows["booking"])
    for f in rows["flight"]:
        assert booking_customer[f["booking_id"]] == f["customer_id"]
    assert {r["recipient"] for r in rows["consent"]} <= customers


def test_booking_dates_and_statuses(rows: dict[str, Rows]) -> None:
    bookings = rows["booking"]
    check_ins = [_day(r["check_in"]) for r in bookings]
    assert min(check_ins) < TODAY - dt.timedelta(days=500)
    assert max(check_ins) > TODAY + dt.timedelta(days=100)
    assert sum(d > TODAY for d in check_ins) > 0.05 * len(bookings)
    statuses = Counter(r["status"] for r in bookings)
    assert 0.05 < statuses["cancelled"] / len(bookings) < 0.11
    for r in bookings:
        check_in = _day(r["check_in"])
        booked = _ts(r["booked_at"])
        assert booked < dt.datetime.combine(check_in, dt.time(), dt.UTC)
        assert booked <= _ts(r["updated_at"]) < dt.datetime.combine(TODAY, dt.time(), dt.UTC)
        assert 1 <= int(r["nights"]) <= 14 and 1 <= int(r["guests"]) <= 4
        assert r["currency"] in {"EUR", "USD", "GBP"}
        if r["status"] == "completed":
            assert check_in + dt.timedelta(days=int(r["nights"])) <= TODAY
        if check_in > TODAY:
            assert r["status"] in {"confirmed", "cancelled"}
    past = [r for r, d in zip(bookings, check_ins, strict=True) if d < TODAY - dt.timedelta(30)]
    assert Counter(r["status"] for r in past).most_common(1)[0][0] == "completed"


def test_flights_follow_their_booking(rows: dict[str, Rows]) -> None:
    bookings = {r["booking_id"]: r for r in rows["booking"]}
    now = dt.datetime.combine(TODAY, dt.time(), dt.UTC)
    cabins = Counter(r["cabin"] for r in rows["flight"])
    assert cabins.most_common(1)[0][0] == "economy"
    for f in rows["flight"]:
        b = bookings[f["booking_id"]]
        assert re.fullmatch(r"[A-Z]{3}", f["origin"]) and re.fullmatch(
            r"[A-Z]{3}", f["destination"]
        )
        assert f["origin"] != f["destination"]
        departure = _ts(f["departure_at"])
        check_in = dt.datetime.combine(_day(b["check_in"]), dt.time(), dt.UTC)
        assert check_in - dt.timedelta(days=2) < departure < check_in + dt.timedelta(days=15)
        if b["status"] == "cancelled":
            assert f["status"] == "cancelled"
        elif f["status"] == "flown":
            assert departure < now
        elif f["status"] == "scheduled":
            assert departure >= now


def test_consent_rates(rows: dict[str, Rows]) -> None:
    consent = rows["consent"]
    pairs = [(r["recipient"], r["channel"]) for r in consent]
    assert len(set(pairs)) == len(pairs)
    assert pairs == sorted(pairs, key=lambda p: (int(p[0]), ["email", "sms", "push"].index(p[1])))
    granted = Counter(r["channel"] for r in consent if r["status"] == "granted")
    assert 0.6 * N < granted["email"] < 0.8 * N
    assert 0.3 * N < granted["sms"] < 0.5 * N
    assert 0.2 * N < granted["push"] < 0.4 * N
    assert {r["purpose"] for r in consent} == {"marketing"}
    assert {r["status"] for r in consent} == {"granted", "denied"}
    assert all(TS_RE.match(r["updated_at"]) for r in consent)
    # Some customers have no record for a channel.
    assert len({p for p in pairs if p[1] == "sms"}) < N


# --- determinism ------------------------------------------------------------------------------


def _snapshot(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_same_seed_same_bytes(tmp_path: Path, clean: TravelFiles) -> None:
    again = _generate(tmp_path / "again")
    assert _snapshot(tmp_path / "again") == _snapshot(clean.customer.parent)
    assert again.counts == clean.counts
    other = _generate(tmp_path / "other", seed=8)
    assert other.customer.read_bytes() != clean.customer.read_bytes()


def test_dirty_is_deterministic(tmp_path: Path, dirty: TravelFiles) -> None:
    _generate(tmp_path / "again", dirty=True)
    assert _snapshot(tmp_path / "again") == _snapshot(dirty.customer.parent)


# --- dirty rows -------------------------------------------------------------------------------


def _sidecar(path: Path) -> list[tuple[int, str]]:
    return [(int(r["line"]), r["reason_kind"]) for r in _read(path)]


def _is_int(value: str) -> bool:
    return value.isdigit()


def _is_date(value: str, kind: str) -> bool:
    try:
        if kind == "date":
            return bool(DATE_RE.match(value)) and bool(_day(value))
        return bool(TS_RE.match(value)) and bool(_ts(value))
    except ValueError:
        return False


def _row_is_clean(entity: str, row: dict[str, str]) -> bool:
    for name, kind in FIELDS[entity].items():
        value = row[name]
        if value == "":
            continue
        if kind == "integer" and not _is_int(value):
            return False
        if kind in ("date", "timestamp") and not _is_date(value, kind):
            return False
    if entity == "customer" and row["email"] and not re.match(EMAIL_RE, row["email"]):
        return False
    return row[KEYS[entity]] != "" and row[CHANGE_COLUMN] in ("u", "d")


def test_dirty_sidecar_points_at_the_bad_rows(dirty: TravelFiles) -> None:
    for entity in ENTITIES:
        path = getattr(dirty, entity)
        with path.open(newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
        header = lines[0]
        assert header == [*FIELDS[entity], CHANGE_COLUMN]
        by_line = {i + 1: dict(zip(header, cells, strict=True)) for i, cells in enumerate(lines)}
        injected = _sidecar(dirty.expected_rejects[entity])
        assert dirty.expected_rejects[entity] == path.parent / f"{entity}.expected_rejects.csv"
        kinds = {kind for _, kind in injected}
        assert {"missing_key", "bad_change_type", "delete"} <= kinds <= set(KINDS)
        key = KEYS[entity]
        seen: dict[str, dict[str, str]] = {}
        marked = dict(injected)
        for line in range(2, len(lines) + 1):
            row = by_line[line]
            kind = marked.get(line)
            if kind is None:
                assert _row_is_clean(entity, row), (entity, line, row)
                assert row[CHANGE_COLUMN] == "u"
                seen[row[key]] = row
                continue
            assert kind in KINDS
            if kind in REJECT_KINDS:
                assert not _row_is_clean(entity, row), (entity, line, kind, row)
            if kind == "bad_email":
                assert not re.match(EMAIL_RE, row["email"])
            elif kind == "missing_key":
                assert row[key] == ""
            elif kind == "bad_date":
                column = {"customer": "birth_date", "booking": "check_in"}.get(
                    entity, "departure_at"
                )
                assert not _is_date(row[column], FIELDS[entity][column])
            elif kind == "bad_integer":
                assert any(
                    row[c] and not _is_int(row[c])
                    for c, t in FIELDS[entity].items()
                    if t == "integer"
                )
            elif kind == "bad_change_type":
                assert row[CHANGE_COLUMN] not in ("u", "d", "")
            elif kind == "stale":
                earlier = seen[row[key]]  # the key appeared before, with a newer version
                assert _ts(row["updated_at"]) < _ts(earlier["updated_at"])
                assert _row_is_clean(entity, row) and row[CHANGE_COLUMN] == "u"
            elif kind == "delete":
                assert row[CHANGE_COLUMN] == "d" and row[key] in seen
                if "updated_at" in row:
                    assert _ts(row["updated_at"]) > _ts(seen[row[key]]["updated_at"])


def test_dirty_rows_are_rare_and_spread(dirty: TravelFiles, clean: TravelFiles) -> None:
    for entity in ("customer", "booking", "flight"):
        injected = _sidecar(dirty.expected_rejects[entity])
        total = dirty.counts[entity]
        assert total == clean.counts[entity] + len(injected)
        assert 0.004 < len(injected) / total < 0.012
        first_half = sum(line < total / 2 for line, _ in injected)
        assert 0 < first_half < len(injected)
    hotel_lines = [line for line, _ in _sidecar(dirty.expected_rejects["hotel"])]
    assert min(hotel_lines) < dirty.counts["hotel"]  # not all piled up at the end


def test_dirty_keeps_the_clean_rows(dirty: TravelFiles, clean: TravelFiles) -> None:
    for entity in ENTITIES:
        injected = {line for line, _ in _sidecar(dirty.expected_rejects[entity])}
        with getattr(dirty, entity).open(newline="", encoding="utf-8") as f:
            kept = [cells[:-1] for i, cells in enumerate(csv.reader(f), 1) if i not in injected]
        with getattr(clean, entity).open(newline="", encoding="utf-8") as f:
            assert kept == list(csv.reader(f))


# --- other formats ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_other_formats_match_csv(tmp_path: Path, fmt: str, rows: dict[str, Rows]) -> None:
    files = _generate(tmp_path, fmt=fmt)
    assert files.consent.suffix == ".csv"
    for entity in ENTITIES:
        path = getattr(files, entity)
        assert path.suffix == f".{fmt}"
        table = pq.read_table(path) if fmt == "parquet" else pajson.read_json(path)
        assert table.num_rows == len(rows[entity]) == files.counts[entity]
        assert table.column_names == list(FIELDS[entity])
        first = table.slice(0, 1).to_pylist()[0]
        csv_first = rows[entity][0]
        assert str(first[KEYS[entity]]) == csv_first[KEYS[entity]]
    if fmt == "parquet":
        schema = pq.read_schema(files.booking)
        # Parquet has no seconds unit: Arrow stores timestamp[s] as milliseconds.
        assert schema.field("booked_at").type == pa.timestamp("ms", tz="UTC")
        assert schema.field("check_in").type == pa.date32()
        assert schema.field("amount").type == pa.decimal128(12, 2)
        assert schema.field("nights").type == pa.int64()
    else:
        line = json.loads(files.booking.read_text(encoding="utf-8").splitlines()[0])
        csv_row = rows["booking"][0]
        assert line["booked_at"] == csv_row["booked_at"]
        assert f"{line['amount']:.2f}" == csv_row["amount"]
        assert line["nights"] == int(csv_row["nights"])


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_dirty_row_numbers_in_other_formats(tmp_path: Path, fmt: str) -> None:
    files = _generate(tmp_path, fmt=fmt, dirty=True)
    for entity in ("customer", "booking"):
        path = getattr(files, entity)
        if fmt == "parquet":
            records = pq.read_table(path).to_pylist()
        else:
            records = [json.loads(s) for s in path.read_text(encoding="utf-8").splitlines()]
        assert len(records) == files.counts[entity]
        for row_number, kind in _sidecar(files.expected_rejects[entity]):
            record = records[row_number - 1]
            if kind == "missing_key":
                assert record[KEYS[entity]] is None
            elif kind == "bad_change_type":
                assert record[CHANGE_COLUMN] not in ("u", "d")
            elif kind == "delete":
                assert record[CHANGE_COLUMN] == "d"
            elif kind == "bad_date":
                column = "birth_date" if entity == "customer" else "check_in"
                assert not _is_date(str(record[column]), "date")
            elif kind == "bad_integer":
                assert not str(record["nights"]).isdigit()


def test_progress_and_errors(tmp_path: Path) -> None:
    calls: list[tuple[str, int]] = []
    files = generate_travel(
        tmp_path, customers=50, today=TODAY, progress=lambda n, r: calls.append((n, r))
    )
    last = {name: rows for name, rows in calls}
    assert last == files.counts
    with pytest.raises(ValueError, match="format"):
        generate_travel(tmp_path, customers=10, fmt="xml")
    with pytest.raises(ValueError, match="customers"):
        generate_travel(tmp_path, customers=0)
