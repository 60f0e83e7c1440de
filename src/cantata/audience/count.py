"""Counting an audience: a rule checked against the model and the saved audiences, compiled to
SQL and counted in the store (`cantata audience count` and the REST API)."""

from __future__ import annotations

from datetime import datetime

from cantata.audience.compile import audience_sql
from cantata.audience.portal import audience_entities
from cantata.audience.rules import Rule, check_rule
from cantata.errors import CantataError, did_you_mean
from cantata.model import Model
from cantata.store.base import Store


def checked_rule(store: Store, model: Model, entity: str, rule: Rule) -> Rule:
    """The rule, once the entity exists and the rule holds for it (RuleError otherwise)."""
    if entity not in model.entities:
        raise CantataError(f"unknown entity {entity!r}{did_you_mean(entity, model.entities)}")
    check_rule(rule, model, entity, audience_entities(store))
    return rule


def matching_sql(store: Store, model: Model, entity: str, rule: Rule, now: datetime) -> str:
    """The SELECT of the matching keys, in the store's dialect (`now`: naive UTC)."""
    return audience_sql(rule, model, entity, now=now, dialect=store.dialect)


def count_matching(store: Store, model: Model, entity: str, rule: Rule, now: datetime) -> int:
    """How many `entity` rows match the (checked) rule as of `now` (naive UTC)."""
    select = matching_sql(store, model, entity, rule, now)
    return int(store.scalar(f"SELECT count(*) FROM ({select}) AS a"))
