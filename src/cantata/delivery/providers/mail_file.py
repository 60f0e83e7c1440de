"""Direct mail: the print provider's file, one per run and activity.

`{campaign-or-run}_{run}_{activity}.csv` in the channel's `directory` (relative to the
workspace root, where cantata.toml is; or, with
`format = "parquet"`, one `..._part-00001.parquet` per batch, since Parquet files cannot be
appended to). Columns: message_id, recipient, then the row fields the dispatcher put in
`message.data` (postal address and the activity's `columns`), as given. A message is SENT
once its row is fsynced; a message whose id is already in the file is not written again
(the ids are kept per open file and read back when the file is reopened after a restart).
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from cantata.delivery.message import Message, Outcome, Status
from cantata.delivery.providers.base import OutcomeHook
from cantata.delivery.providers.http_client import (
    check_keys,
    provider_where,
    required_str,
)
from cantata.errors import ConfigError, did_you_mean

FORMATS = ("csv", "parquet")
FIXED_COLUMNS = ("message_id", "recipient")
MAX_OPEN_FILES = 16
Row = dict[str, str | None]


def file_stem(message: Message) -> str:
    """The file name before its extension. The campaign is used when the message carries
    one; otherwise the literal 'run'."""
    campaign = getattr(message, "campaign", None) or "run"
    parts = (str(campaign), str(message.run), message.activity or "activity")
    return "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", p).strip(".-") or "x" for p in parts)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _fsync_directory(directory: Path) -> None:
    """Make a new or renamed file's directory entry durable, not only its data."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MailFileError(Exception):
    """The file at our path cannot be continued (it is not one we wrote)."""


def _cut_torn_tail(path: Path, chunk: int = 65536) -> None:
    """A crash inside a write leaves a torn last row that was never reported SENT: cut the
    file back to its last complete line (reading backwards, so memory stays small)."""
    with path.open("rb+") as raw:
        end = raw.seek(0, os.SEEK_END)
        if end == 0:
            return
        raw.seek(end - 1)
        if raw.read(1) == b"\n":
            return
        position = end
        while position > 0:
            start = max(0, position - chunk)
            raw.seek(start)
            newline = raw.read(position - start).rfind(b"\n")
            if newline >= 0:
                raw.truncate(start + newline + 1)
                break
            position = start
        else:
            raw.truncate(0)
        os.fsync(raw.fileno())


class MailFile(Protocol):
    name: str
    columns: list[str] | None  # None until the first row fixes them
    seen: set[str]

    def write(self, rows: list[Row]) -> None: ...

    def close(self) -> None: ...


class CsvMailFile:
    def __init__(self, directory: Path, stem: str) -> None:
        self.path = directory / f"{stem}.csv"
        self.name = self.path.name
        self.columns: list[str] | None = None
        self.seen: set[str] = set()
        if self.path.exists():
            self._reload()
        self._handle = self.path.open("a", encoding="utf-8", newline="")

    def _reload(self) -> None:
        _cut_torn_tail(self.path)
        with self.path.open(encoding="utf-8", newline="") as text:
            reader = csv.reader(text)
            header = next(reader, None)
            if header is None:
                return
            if "message_id" not in header:
                raise MailFileError(f"{self.path} has no message_id column: not a cantata file")
            self.columns = header
            at = header.index("message_id")
            self.seen.update(row[at] for row in reader if len(row) > at)

    def write(self, rows: list[Row]) -> None:
        assert self.columns is not None
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        new_file = self._handle.tell() == 0
        if new_file:
            writer.writerow(self.columns)
        for row in rows:
            writer.writerow(["" if row.get(c) is None else row[c] for c in self.columns])
        self._handle.write(out.getvalue())  # one write per batch: a crash tears one place
        self._handle.flush()
        os.fsync(self._handle.fileno())
        if new_file:
            _fsync_directory(self.path.parent)

    def close(self) -> None:
        self._handle.close()


class ParquetMailFile:
    def __init__(self, directory: Path, stem: str) -> None:
        self.directory = directory
        self.stem = stem
        self.name = f"{stem}_part-*.parquet"
        self.columns: list[str] | None = None
        self.seen: set[str] = set()
        self.next_part = 1
        for stray in directory.glob(f".{stem}_part-*.parquet.tmp"):  # a crash mid-write
            stray.unlink()
        for part in sorted(directory.glob(f"{stem}_part-*.parquet")):
            number = part.stem.rsplit("_part-", 1)[1]
            if not number.isdigit():
                continue
            self.next_part = max(self.next_part, int(number) + 1)
            try:
                if self.columns is None:
                    self.columns = pq.read_schema(part).names
                ids = pq.read_table(part, columns=["message_id"]).column("message_id")
            except (pa.ArrowException, KeyError) as exc:
                raise MailFileError(f"{part} cannot be read back: {exc}") from exc
            self.seen.update(str(i) for i in ids.to_pylist())

    def write(self, rows: list[Row]) -> None:
        assert self.columns is not None
        schema = pa.schema([(c, pa.string()) for c in self.columns])
        table = pa.Table.from_pylist(
            [{c: row.get(c) for c in self.columns} for row in rows], schema
        )
        name = f"{self.stem}_part-{self.next_part:05d}.parquet"
        temporary = self.directory / f".{name}.tmp"
        pq.write_table(table, temporary)
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        # A part appears whole or not at all.
        os.replace(temporary, self.directory / name)
        _fsync_directory(self.directory)
        self.next_part += 1

    def close(self) -> None:
        pass


class MailFileProvider:
    name = "mail_file"

    def __init__(self, config: Mapping[str, Any], *, root: Path | None = None) -> None:
        where = provider_where("direct_mail", self.name)
        check_keys(config, {"provider", "directory", "format"}, where)
        # Relative to the workspace, not to wherever the dispatcher was started.
        self.directory = (root or Path.cwd()) / required_str(config, "directory", where)
        self.format = config.get("format", "csv")
        if self.format not in FORMATS:
            raise ConfigError(
                f"unknown format {self.format!r}{did_you_mean(str(self.format), FORMATS)}",
                where=f"{where}, format",
            )
        self._files: dict[str, MailFile] = {}
        self._lock = asyncio.Lock()  # one batch writes at a time: files are appended to

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        async with self._lock:
            outcomes = await asyncio.to_thread(self._write_batch, batch)
        if on_outcome is not None:  # reported from the loop's thread, after the fsync
            for outcome in outcomes:
                on_outcome(outcome)
        return outcomes

    def _write_batch(self, batch: Sequence[Message]) -> list[Outcome]:
        groups: dict[str, list[Message]] = {}
        for message in batch:
            groups.setdefault(file_stem(message), []).append(message)
        outcomes: dict[str, Outcome] = {}
        for stem, messages in groups.items():
            outcomes.update((o.message_id, o) for o in self._write_group(stem, messages))
        return [outcomes[m.message_id] for m in batch]

    def _write_group(self, stem: str, messages: list[Message]) -> list[Outcome]:
        try:
            mail_file = self._open(stem)
        except (OSError, MailFileError) as exc:
            return [_retry(m, exc) for m in messages]
        if mail_file.columns is None:
            mail_file.columns = _columns_for(messages)
        allowed = set(mail_file.columns)
        done = Outcome("", Status.SENT, provider_id=mail_file.name)
        outcomes: dict[str, Outcome] = {}
        rows: list[Row] = []
        for m in messages:
            if m.message_id in mail_file.seen or m.message_id in outcomes:
                outcomes.setdefault(m.message_id, done)  # already on disk: not twice
            elif unknown := sorted(set(m.data) - allowed):
                error = f"fields {unknown} are not columns of {mail_file.name} {mail_file.columns}"
                outcomes[m.message_id] = Outcome(m.message_id, Status.FAILED, error=error)
            else:
                outcomes[m.message_id] = done
                rows.append(_row(m))
        if rows:
            try:
                mail_file.write(rows)
            except OSError as exc:
                # Forget the open file: the next batch re-reads it (cutting a torn tail).
                self._files.pop(stem).close()
                for row in rows:
                    outcomes[str(row["message_id"])] = _retry_id(str(row["message_id"]), exc)
            else:
                mail_file.seen.update(str(row["message_id"]) for row in rows)
        return [replace(outcomes[m.message_id], message_id=m.message_id) for m in messages]

    def _open(self, stem: str) -> MailFile:
        if stem in self._files:
            self._files[stem] = self._files.pop(stem)  # most recently used last
            return self._files[stem]
        if len(self._files) >= MAX_OPEN_FILES:
            # A long-lived dispatcher sees many runs: the least recently used file is
            # closed, and read back from disk if its run sends again.
            self._files.pop(next(iter(self._files))).close()
        self.directory.mkdir(parents=True, exist_ok=True)
        kind = CsvMailFile if self.format == "csv" else ParquetMailFile
        self._files[stem] = kind(self.directory, stem)
        return self._files[stem]

    async def close(self) -> None:
        async with self._lock:
            for mail_file in self._files.values():
                mail_file.close()
            self._files.clear()


def _columns_for(messages: Sequence[Message]) -> list[str]:
    """message_id, recipient, then every data field of the first batch in first-seen order."""
    columns = list(FIXED_COLUMNS)
    for m in messages:
        columns += [k for k in m.data if k not in columns]
    return columns


def _row(message: Message) -> Row:
    row: Row = {k: _text(v) for k, v in message.data.items()}
    row.update(message_id=message.message_id, recipient=message.recipient)
    return row


def _retry_id(message_id: str, exc: Exception) -> Outcome:
    return Outcome(message_id, Status.RETRY, error=f"cannot write the mail file: {exc}")


def _retry(message: Message, exc: Exception) -> Outcome:
    return _retry_id(message.message_id, exc)


def mail_file_provider(config: Mapping[str, Any], *, root: Path | None = None) -> MailFileProvider:
    return MailFileProvider(config, root=root)
