"""A mapping read from the store the first time it is used: validation is handed the saved
audiences and library templates this way, and most campaigns name neither."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

V = TypeVar("V")


class ReadOnFirstUse(Mapping[str, V]):
    def __init__(self, read: Callable[[], dict[str, V]]) -> None:
        self._read = read
        self._found: dict[str, V] | None = None

    @property
    def _items(self) -> dict[str, V]:
        if self._found is None:
            self._found = self._read()
        return self._found

    def __getitem__(self, name: str) -> V:
        return self._items[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
