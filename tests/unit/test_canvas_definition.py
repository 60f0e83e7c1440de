"""The campaign document: YAML/JSON, strict shapes, every problem with its line."""

from __future__ import annotations

import json
from datetime import date, time
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cantata.canvas import (
    CampaignError,
    ErrorPolicy,
    bind_variables,
    load_campaign,
    parse_campaign,
)

EXAMPLES = Path(__file__).parents[2] / "examples"

MINIMAL = """\
name: minimal
nodes:
  - id: go
    type: start
"""


def problems(text: str) -> list[str]:
    with pytest.raises(CampaignError) as info:
        parse_campaign(text, source="c.yaml")
    return [p.describe("c.yaml") for p in info.value.problems]


def test_a_minimal_campaign_takes_defaults() -> None:
    c = parse_campaign(MINIMAL)
    assert c.name == "minimal"
    assert c.time_zone == "UTC"
    assert c.schedule.form == "manual"
    assert c.on_error == ErrorPolicy("suspend")
    assert c.variables == {} and c.edges == [] and c.tags == []
    assert c.nodes[0].settings == {}


def test_the_example_campaign_parses() -> None:
    c = load_campaign(EXAMPLES / "upcoming_stays.yaml")
    assert c.time_zone == "Europe/Paris"
    assert c.schedule.daily is not None and c.schedule.daily.at == [time(8, 0)]
    assert c.schedule.start == date(2026, 4, 1)
    assert [n.id for n in c.nodes][:3] == ["stays", "customers", "one_per_address"]
    assert (c.edges[4].node, c.edges[4].port, c.edges[4].target) == (
        "segments",
        "gold",
        "email_gold",
    )
    assert c.edges[0].port is None


def test_json_and_yaml_read_the_same() -> None:
    text = (EXAMPLES / "upcoming_stays.yaml").read_text()
    as_json = json.dumps(yaml.safe_load(text), default=str)
    assert parse_campaign(as_json, "c.json") == parse_campaign(text)


def test_a_dumped_campaign_reads_back_equal() -> None:
    c = load_campaign(EXAMPLES / "upcoming_stays.yaml")
    dumped = c.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    assert parse_campaign(yaml.safe_dump(dumped, sort_keys=False)) == c


def test_scalars_read_as_written_not_as_yaml_1_1() -> None:
    c = parse_campaign(
        "name: t\ntags: [no, on, yes, 2026-01-01]\nschedule: {daily: {at: [9:30, 18:00]}}\n"
        "nodes: [{id: go, type: start}]\n"
    )
    assert c.tags == ["no", "on", "yes", "2026-01-01"]
    assert c.schedule.daily is not None and c.schedule.daily.at == [time(9, 30), time(18, 0)]


def test_every_shape_problem_is_reported_at_once_with_its_line() -> None:
    text = """\
name: bad name
time_zone: Europe/Pariss
tagz: [a]
variables:
  limit: {type: integr}
  budget: {type: decimal, default: cheap}
schedule: {weekly: {on: [monday], at: "09:00"}}
on_error: {ignore: 0}
nodes:
  - {id: a, type: start}
  - {id: b.c, type: wait}
edges:
  - {from: a, to: b.c}
  - {from: a}
"""
    found = problems(text)
    assert found[1].startswith(
        "c.yaml:2: time_zone: unknown time zone 'Europe/Pariss' (did you mean 'Europe/Paris'"
    )
    assert found[:1] + found[2:] == [
        "c.yaml:1: name: 'bad name' is not a valid campaign name: use letters, digits, '_', '-' and '.'",
        "c.yaml:3: tagz: unknown key 'tagz' (did you mean 'tags'?)",
        "c.yaml:5: variables.limit.type: 'integr' is not one of string, integer, decimal, "
        "boolean, date, timestamp (did you mean 'integer' or 'string'?)",
        "c.yaml:6: variables.budget: default: 'cheap' is not a decimal",
        "c.yaml:7: schedule.weekly.on[0]: 'monday' is not one of mon, tue, wed, thu, fri, sat, "
        "sun (did you mean 'mon'?)",
        "c.yaml:8: on_error: use suspend, abort, or {ignore: N} (N ≥ 1 errors per run, then suspend)",
        "c.yaml:11: nodes[1].id: 'b.c' is not a valid name: use letters, digits and '_', "
        "starting with a letter",
        "c.yaml:13: edges[0].to: 'b.c': a transition goes to a node, not to a port",
        "c.yaml:14: edges[1].to: missing required key 'to'",
    ]


def test_types_are_strict() -> None:
    text = MINIMAL.replace(
        "name: minimal",
        "name: minimal\ntags: travel\nvariables: {n: {type: integer, default: '5'}}",
    )
    assert problems(text) == [
        "c.yaml:2: tags: Input should be a valid list, not 'travel'",
        "c.yaml:3: variables.n: default: '5' is not an integer",
    ]


def test_duplicate_yaml_keys_are_reported() -> None:
    assert problems(MINIMAL + "name: again\n") == [
        "c.yaml:5: name: duplicate key 'name' (first at line 1); keep one"
    ]


def test_invalid_yaml_names_its_line() -> None:
    assert problems("name: x\nnodes: [\n  {id: a\n")[0].startswith("c.yaml:")


def test_a_document_that_is_not_a_mapping() -> None:
    assert problems("- a\n- b\n") == [
        "c.yaml:1: (campaign): a campaign is a mapping with name, nodes and edges"
    ]


@pytest.mark.parametrize(
    ("value", "policy"),
    [
        ("suspend", ErrorPolicy("suspend")),
        ("abort", ErrorPolicy("abort")),
        ({"ignore": 3}, ErrorPolicy("ignore", 3)),
    ],
)
def test_error_policies(value: object, policy: ErrorPolicy) -> None:
    c = parse_campaign(MINIMAL + f"on_error: {json.dumps(value)}\n")
    assert c.on_error == policy
    assert c.model_dump(by_alias=True)["on_error"] == value


def test_variables_are_bound_with_types_and_defaults() -> None:
    c = parse_campaign(
        MINIMAL
        + """\
variables:
  market: {type: string}
  limit: {type: integer, default: 100}
  budget: {type: decimal, default: 12.5}
  launch: {type: date, default: 2026-04-01}
  vip: {type: boolean, default: false}
"""
    )
    assert bind_variables(c, {"market": "FR"}) == {
        "market": "FR",
        "limit": 100,
        "budget": Decimal("12.5"),
        "launch": date(2026, 4, 1),
        "vip": False,
    }
    with pytest.raises(CampaignError) as info:
        bind_variables(c, {"limit": "many", "markt": "FR"})
    assert [p.describe() for p in info.value.problems] == [
        "variables.limit: 'many' is not an integer",
        "variables.market: a string value is required",
        "variables.markt: unknown variable (did you mean 'market'?)",
    ]


def test_keys_left_empty_in_yaml_mean_empty() -> None:
    c = parse_campaign(
        "name: t\ntags:\nvariables:\nnodes:\n  - id: go\n    type: start\n    settings:\nedges:\n"
    )
    assert (c.tags, c.variables, c.edges, c.nodes[0].settings) == ([], {}, [], {})
