"""The store seam: one protocol over DuckDB (embedded) and PostgreSQL."""

from cantata.store.base import Store
from cantata.store.open import open_store

__all__ = ["Store", "open_store"]
