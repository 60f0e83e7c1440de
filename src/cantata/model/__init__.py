"""The data model: entities, typed fields, links, the recipient dimension."""

from cantata.model.entities import (
    ADDRESS_CHANNELS,
    Entity,
    Field,
    FieldType,
    Link,
    Model,
    Relation,
)
from cantata.model.loader import load_model, parse_model

__all__ = [
    "ADDRESS_CHANNELS",
    "Entity",
    "Field",
    "FieldType",
    "Link",
    "Model",
    "Relation",
    "load_model",
    "parse_model",
]
