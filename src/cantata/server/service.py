"""What every route works with: the store (one thread at a time), the model, the clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from cantata.canvas.runtime import Runner
from cantata.canvas.runtime.flow import AlertRaised
from cantata.model import Model
from cantata.store.access import StoreAccess
from cantata.store.base import Store

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Service:
    access: StoreAccess
    model: Model
    now: Clock  # aware UTC; tests pass a fixed or moving clock
    on_alert: Callable[[AlertRaised], None] | None = None  # what alert activities notify
    quarantine_dir: Path | None = None  # where ingestion puts rejected rows (a workspace's)

    @contextmanager
    def store(self) -> Iterator[Store]:
        with self.access.held() as store:
            yield store

    @contextmanager
    def runner(self) -> Iterator[Runner]:
        with self.store() as store:
            yield Runner(store, self.model, on_alert=self.on_alert)


def service(request: Request) -> Service:
    found = request.app.state.service
    assert isinstance(found, Service)
    return found


ServiceDep = Annotated[Service, Depends(service)]
