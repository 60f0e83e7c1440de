"""The direct mail provider: the file the print provider receives, one per run and activity,
appended across batches, durable before SENT, and never holding a message twice."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from cantata.delivery.engine import DeliveryEngine
from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import open_provider
from cantata.delivery.providers.mail_file import MAX_OPEN_FILES, MailFileProvider
from cantata.delivery.rules import Rules
from cantata.errors import ConfigError
from cantata.store import Store
from tests.integration.delivery_fixtures import MODEL, campaign, load_company, node, start
from tests.integration.test_delivery_dispatch import STAYS


def letter(i: int, run: int = 4, activity: str = "catalogue", **extra: Any) -> Message:
    data = {
        "first_name": f"Ana {i}",
        "street": f"{i} Rua Augusta",
        "postal_code": f"1100-{i:03d}",
        "city": "Lisboa",
        "country": "PT",
        "hotel": 'Hotel Tejo, "river" view',  # a comma and quotes, as given
        **extra,
    }
    return Message(f"dm{i:04d}", "direct_mail", "", f"C{i}", data=data, run=run, activity=activity)


def send(provider: MailFileProvider, batch: Sequence[Message]) -> list[Outcome]:
    return asyncio.run(provider.send(batch))


def close(provider: MailFileProvider) -> None:
    asyncio.run(provider.close())


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_csv_file_per_run_and_activity_appended_across_batches(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path / "out")})
    first = send(provider, [letter(1), letter(2)])
    second = send(provider, [letter(3), letter(9, run=5)])
    close(provider)

    assert [o.status for o in first + second] == [Status.SENT] * 4
    assert first[0].provider_id == "run_4_catalogue.csv"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "run_4_catalogue.csv",
        "run_5_catalogue.csv",
    ]
    path = tmp_path / "out" / "run_4_catalogue.csv"
    lines = path.read_text().splitlines()
    assert lines[0] == "message_id,recipient,first_name,street,postal_code,city,country,hotel"
    assert sum(line.startswith("message_id,") for line in lines) == 1  # header written once
    rows = csv_rows(path)
    assert [r["message_id"] for r in rows] == ["dm0001", "dm0002", "dm0003"]
    assert rows[1] == {
        "message_id": "dm0002",
        "recipient": "C2",
        "first_name": "Ana 2",
        "street": "2 Rua Augusta",
        "postal_code": "1100-002",
        "city": "Lisboa",
        "country": "PT",
        "hotel": 'Hotel Tejo, "river" view',
    }
    assert [r["message_id"] for r in csv_rows(tmp_path / "out" / "run_5_catalogue.csv")] == [
        "dm0009"
    ]


def test_a_repeated_batch_is_not_written_twice(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path)})
    send(provider, [letter(1), letter(2)])
    again = send(provider, [letter(2), letter(1), letter(3), letter(3)])
    close(provider)

    assert [o.message_id for o in again] == ["dm0002", "dm0001", "dm0003", "dm0003"]
    assert all(o.status is Status.SENT for o in again)  # already on disk counts as sent
    rows = csv_rows(tmp_path / "run_4_catalogue.csv")
    assert [r["message_id"] for r in rows] == ["dm0001", "dm0002", "dm0003"]


def test_reopen_after_a_restart_keeps_the_file_and_its_ids(tmp_path: Path) -> None:
    before = MailFileProvider({"directory": str(tmp_path)})
    send(before, [letter(1), letter(2)])
    close(before)
    # Another process's torn write: a partial row without its newline, never reported SENT.
    path = tmp_path / "run_4_catalogue.csv"
    with path.open("a", encoding="utf-8") as f:
        f.write("dm0003,C3,Ana 3,3 Rua")

    after = MailFileProvider({"directory": str(tmp_path)})
    outcomes = send(after, [letter(2), letter(3), letter(4)])
    close(after)

    assert all(o.status is Status.SENT for o in outcomes)
    rows = csv_rows(path)
    assert [r["message_id"] for r in rows] == ["dm0001", "dm0002", "dm0003", "dm0004"]
    assert rows[2]["street"] == "3 Rua Augusta"  # the whole row, not the torn one
    assert path.read_text().count("message_id,") == 1


def test_values_as_given_and_missing_fields_left_empty(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path)})
    first = letter(1, nights=3, vip=None)
    short = Message(
        "dm0002", "direct_mail", "", "C2", data={"city": "Porto"}, run=4, activity="catalogue"
    )
    extra = letter(3, nights=2, vip=True, coupon="X1")
    outcomes = send(provider, [first, short])
    [refused] = send(provider, [extra])
    close(provider)

    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    rows = csv_rows(tmp_path / "run_4_catalogue.csv")
    assert (rows[0]["nights"], rows[0]["vip"]) == ("3", "")
    assert (rows[1]["city"], rows[1]["street"]) == ("Porto", "")
    # A field the file has no column for is refused, not silently dropped.
    assert refused.status is Status.FAILED
    assert "coupon" in (refused.error or "")
    assert [r["message_id"] for r in rows] == ["dm0001", "dm0002"]


def test_parquet_writes_one_part_per_batch(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path), "format": "parquet"})
    send(provider, [letter(1), letter(2)])
    send(provider, [letter(2), letter(3)])  # dm0002 again: not rewritten
    close(provider)

    parts = sorted(p.name for p in tmp_path.iterdir())
    assert parts == ["run_4_catalogue_part-00001.parquet", "run_4_catalogue_part-00002.parquet"]
    table = pq.read_table(tmp_path / parts[0])
    assert table.column_names == [
        "message_id", "recipient", "first_name", "street", "postal_code", "city", "country", "hotel",
    ]  # fmt: skip
    assert table.to_pylist()[0]["hotel"] == 'Hotel Tejo, "river" view'
    assert pq.read_table(tmp_path / parts[1]).column("message_id").to_pylist() == ["dm0003"]

    # A restart: the ids come back from the parts, numbering continues.
    after = MailFileProvider({"directory": str(tmp_path), "format": "parquet"})
    send(after, [letter(1), letter(4)])
    close(after)
    third = tmp_path / "run_4_catalogue_part-00003.parquet"
    assert pq.read_table(third).column("message_id").to_pylist() == ["dm0004"]
    every = [
        i
        for p in sorted(tmp_path.glob("*.parquet"))
        for i in pq.read_table(p).column("message_id").to_pylist()
    ]
    assert every == ["dm0001", "dm0002", "dm0003", "dm0004"]


def test_an_unwritable_directory_is_a_retry(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be")
    provider = MailFileProvider({"directory": str(blocker / "out")})
    outcomes = send(provider, [letter(1)])
    assert outcomes[0].status is Status.RETRY
    assert "cannot write the mail file" in (outcomes[0].error or "")


def test_entry_point_and_configuration_errors(tmp_path: Path) -> None:
    provider = open_provider({"provider": "mail_file", "directory": str(tmp_path)}, where="x")
    assert isinstance(provider, MailFileProvider)
    with pytest.raises(ConfigError, match="missing 'directory'"):
        open_provider({"provider": "mail_file"}, where="x")
    with pytest.raises(ConfigError, match=r"unknown format 'parquett'.*'parquet'"):
        open_provider({"provider": "mail_file", "directory": "d", "format": "parquett"}, where="x")


def test_a_foreign_file_at_our_path_is_a_retry_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "run_4_catalogue.csv").write_text("name,street\nBob,1 Main St\n")
    provider = MailFileProvider({"directory": str(tmp_path)})
    [outcome] = send(provider, [letter(1)])
    assert outcome.status is Status.RETRY
    assert "no message_id column" in (outcome.error or "")
    assert (tmp_path / "run_4_catalogue.csv").read_text() == "name,street\nBob,1 Main St\n"


@pytest.mark.parametrize("tail", ["", "dm0002,C2,An", "x" * 200_000])
def test_torn_tails_of_any_length_are_cut(tmp_path: Path, tail: str) -> None:
    before = MailFileProvider({"directory": str(tmp_path)})
    send(before, [letter(1)])
    close(before)
    path = tmp_path / "run_4_catalogue.csv"
    intact = path.read_bytes()
    with path.open("a", encoding="utf-8") as f:
        f.write(tail)

    after = MailFileProvider({"directory": str(tmp_path)})
    send(after, [letter(2)])
    close(after)
    assert path.read_bytes().startswith(intact)
    assert [r["message_id"] for r in csv_rows(path)] == ["dm0001", "dm0002"]


def test_many_runs_keep_few_files_open_and_still_never_duplicate(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path)})
    runs = range(1, MAX_OPEN_FILES + 6)
    for run in runs:
        send(provider, [letter(1, run=run)])
    assert len(provider._files) == MAX_OPEN_FILES
    # Run 1's file was closed; sending its message again reads the file back.
    send(provider, [letter(1, run=1), letter(2, run=1)])
    close(provider)
    assert [r["message_id"] for r in csv_rows(tmp_path / "run_1_catalogue.csv")] == [
        "dm0001",
        "dm0002",
    ]
    assert len(list(tmp_path.glob("*.csv"))) == len(runs)


def test_outcomes_are_reported_after_the_batch_is_on_disk(tmp_path: Path) -> None:
    provider = MailFileProvider({"directory": str(tmp_path)})
    path = tmp_path / "run_4_catalogue.csv"
    seen_on_disk: list[bool] = []

    def hook(outcome: Outcome) -> None:
        seen_on_disk.append(outcome.message_id in path.read_text())

    outcomes = asyncio.run(provider.send([letter(1), letter(2)], hook))
    close(provider)
    assert [o.status for o in outcomes] == [Status.SENT, Status.SENT]
    assert seen_on_disk == [True, True]


def test_a_relative_directory_is_the_workspaces_wherever_the_dispatcher_starts(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`directory = "out/direct-mail"` lands next to cantata.toml, as the DuckDB store's path
    does, not in the directory the dispatcher was started from."""
    workspace, elsewhere = tmp_path / "ws", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    load_company(store)
    store.execute("UPDATE customer SET street = '1 Rua Augusta', postal_code = '1100', city = 'X'")
    letters = node(
        "letters", "direct_mail", per="booking", category="transactional", columns=["nights"]
    )
    _, run = start(store, campaign("post", [STAYS, letters], ["stays -> letters"]), Rules())
    raw = {"channels": {"direct_mail": {"provider": "mail_file", "directory": "out/direct-mail"}}}

    async def go() -> int:
        engine = DeliveryEngine(store, MODEL, raw, root=workspace)
        try:
            return (await engine.round()).sent
        finally:
            await engine.close()

    assert asyncio.run(go()) == 3
    (written,) = (workspace / "out" / "direct-mail").iterdir()
    assert written.name == f"run_{run}_letters.csv"
    assert sorted(r["nights"] for r in csv_rows(written)) == ["1", "2", "3"]
    assert list(elsewhere.iterdir()) == []
