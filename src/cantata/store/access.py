"""A store shared by the threads of a server process (the tracking app, the REST API): one
store per process, opened on first use, used by one thread at a time — a store holds one
connection, and a DuckDB file has one owner process."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from cantata.store.base import Store

T = TypeVar("T")


class StoreAccess:
    """One store per process, opened on first use from a factory (or given), used by one
    thread at a time."""

    def __init__(self, source: Store | Callable[[], Store]) -> None:
        self._lock = threading.Lock()
        self._store = source if isinstance(source, Store) else None
        self._factory = None if isinstance(source, Store) else source

    def run(self, work: Callable[[Store], T]) -> T:
        with self.held() as store:
            return work(store)

    def close(self) -> None:
        """Close a store this object opened; a store it was given belongs to the caller."""
        with self._lock:
            if self._factory is not None and self._store is not None:
                self._store.close()
                self._store = None

    @contextmanager
    def held(self) -> Iterator[Store]:
        """The store, for this thread alone until the block ends."""
        with self._lock:
            if self._store is None:
                assert self._factory is not None
                self._store = self._factory()
            yield self._store
