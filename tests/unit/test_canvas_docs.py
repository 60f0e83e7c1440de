"""docs/campaigns.md documents every activity type and setting, and its example validates;
every campaign in examples/ validates against the travel model."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from cantata.canvas import CATALOG, load_campaign, parse_campaign, validate
from cantata.canvas.schema import _unwrap
from cantata.delivery.template_library import SavedTemplate, load_template_file
from cantata.model import parse_model
from cantata.workspace import starter_model

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "campaigns.md").read_text()
TRAVEL = parse_model(starter_model())
# What the examples reference, as a workspace would know them (templates: examples/templates).
AUDIENCES = {"app_notified_flights": "flight", "reminded_flights": "flight"}
TEMPLATES = {
    t.name: SavedTemplate(t.name, 1, t.channel, t.parts, t.description, datetime(2026, 6, 1))
    for t in (
        load_template_file(path, TRAVEL)
        for path in sorted((ROOT / "examples/templates").glob("*.yaml"))
    )
}


def setting_keys(model: type[BaseModel]) -> set[str]:
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        keys.add(field.alias or name)
        inner: Any = _unwrap(field.annotation)
        if get_origin(inner) is list:
            inner = _unwrap(get_args(inner)[0])
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= setting_keys(inner)
    return keys


@pytest.mark.parametrize("kind", sorted(CATALOG))
def test_every_activity_type_and_setting_is_documented(kind: str) -> None:
    assert re.search(rf"^### .*\b{kind}\b", DOC, re.MULTILINE), f"no section for {kind}"
    missing = sorted(k for k in setting_keys(CATALOG[kind].settings) if f"`{k}`" not in DOC)
    assert missing == [], f"{kind}: undocumented settings {missing}"


def test_the_documented_example_validates() -> None:
    example = re.search(r"```yaml\n(.*?)```", DOC, re.DOTALL)
    assert example is not None
    validate(parse_campaign(example.group(1), "docs/campaigns.md"), TRAVEL, {}, {})


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    validate(load_campaign(path), TRAVEL, AUDIENCES, TEMPLATES)
