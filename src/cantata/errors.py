"""Errors users read: what failed and where (file, line, entity, field, JSON path)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CantataError(Exception):
    """An error caused by user input or configuration, shown without a traceback."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ModelError(CantataError):
    """The data model (model.yaml) is invalid."""


class StoreError(CantataError):
    """The store cannot do what was asked (connection, destructive change...)."""


class IngestError(CantataError):
    """A file cannot be ingested at all (unknown entity, unreadable file, missing key column)."""


class ConfigError(CantataError):
    """The workspace or cantata.toml is invalid."""


class NotFoundError(CantataError):
    """What was named (a campaign, a version, a run, an audience) does not exist: the REST API
    answers 404 for these."""


def nearest(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """The valid names closest to a misspelt one, best first."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.5)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A suffix suggesting the nearest valid names, or listing them when none is close."""
    pool = sorted(candidates)
    close = nearest(name, pool)
    if close:
        return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"
    if pool and len(pool) <= 12:
        return " (valid: " + ", ".join(pool) + ")"
    return ""
