"""`cantata.toml` → typed settings. Sections other issues add are kept as raw tables."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cantata.errors import ConfigError, did_you_mean

DEFAULT_STORE_URL = "duckdb:///cantata.duckdb"
KNOWN_SECTIONS = {
    "store",
    "model",
    "channels",
    "tracking",
    "rules",
    "delivery",
    "scheduler",
    "alerts",
    "api",
    "ingest",
}


@dataclass(frozen=True)
class Settings:
    root: Path
    store_url: str = DEFAULT_STORE_URL
    model_path: str = "model.yaml"
    quarantine_dir: str = "quarantine"
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def model_file(self) -> Path:
        return self.root / self.model_path

    @property
    def quarantine_path(self) -> Path:
        return self.root / self.quarantine_dir


def load_settings(root: Path) -> Settings:
    path = root / "cantata.toml"
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"no cantata.toml in {root}: run `cantata init {root}` or pass --workspace",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", where=str(path)) from None
    for section in raw:
        if section not in KNOWN_SECTIONS:
            raise ConfigError(
                f"unknown section [{section}]{did_you_mean(section, KNOWN_SECTIONS)}",
                where=str(path),
            )
    store = raw.get("store", {})
    model = raw.get("model", {})
    ingest = raw.get("ingest", {})
    return Settings(
        root=root,
        store_url=str(store.get("url", DEFAULT_STORE_URL)),
        model_path=str(model.get("path", "model.yaml")),
        quarantine_dir=str(ingest.get("quarantine_dir", "quarantine")),
        raw=raw,
    )
