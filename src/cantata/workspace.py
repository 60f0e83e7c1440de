"""A workspace: a folder with `cantata.toml`, its model and its store."""

from __future__ import annotations

import os
from functools import cached_property
from importlib import resources
from pathlib import Path

from cantata.config import Settings, load_settings
from cantata.errors import ConfigError
from cantata.model import Model, load_model
from cantata.store import Store, open_store
from cantata.store.schema import SchemaPlan, apply_model

CONFIG_TEMPLATE = """\
# cantata workspace settings
[store]
url = "{url}"        # relative to the workspace; or postgresql://user@host:5432/db

[model]
path = "model.yaml"
"""


def resolve_root(explicit: Path | None) -> Path:
    """--workspace, else $CANTATA_WORKSPACE, else the current folder."""
    if explicit is not None:
        return explicit.resolve()
    env = os.environ.get("CANTATA_WORKSPACE")
    return Path(env).resolve() if env else Path.cwd()


def starter_model() -> str:
    return resources.files("cantata.generate").joinpath("travel_model.yaml").read_text("utf-8")


def init_workspace(root: Path, *, store_url: str = "duckdb:///cantata.duckdb") -> list[Path]:
    """Write cantata.toml and a starter model.yaml; refuse to overwrite either."""
    root.mkdir(parents=True, exist_ok=True)
    config, model = root / "cantata.toml", root / "model.yaml"
    for path in (config, model):
        if path.exists():
            raise ConfigError(f"{path.name} already exists; not overwriting it", where=str(path))
    config.write_text(CONFIG_TEMPLATE.format(url=store_url), encoding="utf-8")
    model.write_text(starter_model(), encoding="utf-8")
    return [config, model]


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.settings: Settings = load_settings(root)
        self._store: Store | None = None

    @classmethod
    def open(cls, explicit: Path | None = None) -> Workspace:
        return cls(resolve_root(explicit))

    @cached_property
    def model(self) -> Model:
        return load_model(self.settings.model_file)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings.store_url, base=self.root)
        return self._store

    def apply_model(self, *, allow_drop: bool = False) -> SchemaPlan:
        return apply_model(self.store, self.model, allow_drop=allow_drop)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
