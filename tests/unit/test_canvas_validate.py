"""Campaign validation against the travel model: graph, ports, inbound transitions, the
dimension on every transition, rules, audiences, templates, variables — all problems at once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from cantata.canvas import (
    CampaignError,
    Mark,
    Population,
    check_campaign,
    load_campaign,
    parse_campaign,
    validate,
)
from cantata.delivery.template_library import SavedTemplate
from cantata.model import Model, parse_model
from cantata.workspace import starter_model

TRAVEL = parse_model(starter_model())
EXAMPLES = Path(__file__).parents[2] / "examples"

STAYS = {"id": "stays", "type": "build_audience", "settings": {"entity": "booking"}}
CUSTOMERS = {"id": "customers", "type": "build_audience", "settings": {"entity": "customer"}}


def doc(nodes: list[dict[str, Any]], edges: Sequence[str] = (), **extra: Any) -> str:
    """A campaign document; edges as "a -> b" strings."""
    pairs = [e.split(" -> ") for e in edges]
    data = {"name": "t", **extra, "nodes": nodes, "edges": [{"from": a, "to": b} for a, b in pairs]}
    return yaml.safe_dump(data, sort_keys=False)


def problems(
    nodes: list[dict[str, Any]],
    edges: Sequence[str] = (),
    *,
    model: Model = TRAVEL,
    audiences: dict[str, str] | None = None,
    templates: dict[str, SavedTemplate] | None = None,
    **extra: Any,
) -> list[str]:
    found = check_campaign(
        doc(nodes, edges, **extra), model, audiences=audiences, templates=templates
    )
    return [f"{p.path}: {p.message}" for p in found]


def node(node_id: str, kind: str, **settings: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "settings": settings}


def email(node_id: str = "mail", **settings: Any) -> dict[str, Any]:
    return node(node_id, "email", subject="Hello", body="<p>Hi</p>", **settings)


def canvas_of(nodes: list[dict[str, Any]], edges: list[str], **kw: Any) -> Any:
    return validate(parse_campaign(doc(nodes, edges)), TRAVEL, **kw)


# --- the example --------------------------------------------------------------------------


def test_the_upcoming_stays_example_validates_with_a_dimension_on_every_transition() -> None:
    canvas = validate(
        load_campaign(EXAMPLES / "upcoming_stays.yaml"), TRAVEL, audiences={}, templates={}
    )
    flows = {f"{t.ref} -> {t.target}": t.flow for t in canvas.transitions}
    enriched = Population("customer", {"next_booking": "collection"})
    assert flows == {
        "stays.out -> customers": Population("booking"),
        "customers.out -> one_per_address": Population("customer"),
        "one_per_address.out -> next_stay": Population("customer"),
        "next_stay.out -> segments": enriched,
        "segments.gold -> email_gold": enriched,
        "segments.others -> sms_others": enriched,
    }
    assert canvas.starts == ["stays"]
    assert canvas.order.index("segments") < canvas.order.index("email_gold")
    assert canvas.activities["segments"].outputs["holdout"] == enriched


# --- nodes and edges -----------------------------------------------------------------------


def test_unknown_activity_types_suggest_the_nearest() -> None:
    assert problems([STAYS, node("dd", "dedup", by=["status"])], ["stays -> dd"]) == [
        "nodes.dd.type: unknown activity type 'dedup' (did you mean 'dedupe' or 'end'?)"
    ]


def test_settings_are_checked_against_the_activity_schema() -> None:
    found = problems(
        [
            STAYS,
            node("dd", "dedupe", by="status", keep="2", choose={"max": "a", "min": "b"}, kep=1),
        ],
        ["stays -> dd"],
    )
    assert found == [
        "nodes.dd.settings.by: Input should be a valid list, not 'status'",
        "nodes.dd.settings.keep: Input should be a valid integer, not '2'",
        "nodes.dd.settings.choose: choose exactly one of max, min, non_empty, random_seed",
        "nodes.dd.settings.kep: unknown setting 'kep' (did you mean 'keep'?)",
    ]


def test_duplicate_node_ids() -> None:
    text = doc([STAYS, {**STAYS, "settings": {"entity": "customer"}}])
    assert [p.describe() for p in check_campaign(text, TRAVEL)] == [
        "7: nodes.stays.id: duplicate node id 'stays' (first at line 3)"
    ]


def test_edges_name_known_nodes_and_ports() -> None:
    split = node("seg", "split", subsets=[{"name": "gold", "rule": 'status = "confirmed"'}])
    found = problems(
        [STAYS, split, email("a"), email("b"), node("stop", "end")],
        [
            "stays -> seg",
            "seg -> a",
            "seg.gld -> a",
            "seg.gold -> nowhere",
            "stays.out -> b",
            "stop -> b",
        ],
    )
    assert found == [  # in file order; `a` has (miswired) transitions, `stop` none
        "nodes.stop: nothing leads to this activity: connect a transition to it (flows begin "
        "at build_audience, read_audience, incremental_query, start)",
        "edges[1].from: 'seg' (split) has several outputs; name one: seg.gold, seg.complement",
        "edges[2].from: 'seg' (split) has no output 'gld' (did you mean 'gold'?)",
        "edges[3].to: unknown node 'nowhere' (valid: a, b, seg, stays, stop)",
        "edges[4].from: stays.out already leads to 'seg': a transition goes to one activity; "
        "put a fork after it to reach several",
        "edges[5].from: 'stop' (end) has no outputs: nothing can follow it",
    ]


def test_a_fork_sends_one_population_to_several_activities() -> None:
    nodes = [CUSTOMERS, node("both", "fork"), email("a"), node("b", "sms", body="Hi")]
    assert problems(nodes, ["customers -> both", "both -> a", "both -> b"]) == []


def test_duplicate_transitions() -> None:
    assert problems([CUSTOMERS, email()], ["customers -> mail", "customers.out -> mail"]) == [
        "edges[1]: duplicate transition customers.out → mail (edges[0])"
    ]


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        (
            [STAYS, node("s2", "build_audience", entity="booking")],
            ["stays -> s2"],
            "nodes.s2: a build_audience starts a flow and takes no inbound transition (from stays.out)",
        ),
        (
            [STAYS, node("c", "combine", operation="union")],
            ["stays -> c"],
            "nodes.c: a combine joins at least 2 transitions, got 1 (stays.out)",
        ),
        (
            [CUSTOMERS, node("go", "start"), node("j", "and_join")],
            ["go -> j"],
            "nodes.j: an and_join joins at least 2 transitions, got 1 (go.out)",
        ),
        (
            [
                STAYS,
                node("s2", "build_audience", entity="booking"),
                node("d", "dedupe", by=["status"]),
            ],
            ["stays -> d", "s2 -> d"],
            "nodes.d: a dedupe takes one inbound transition, got 2 (stays.out, s2.out): join them "
            "first with an or_join, an and_join or a combine",
        ),
    ],
)
def test_inbound_transitions_per_activity(
    nodes: list[dict[str, Any]], edges: list[str], expected: str
) -> None:
    assert expected in problems(nodes, edges)


def test_a_canvas_needs_a_start() -> None:
    assert problems([node("w", "wait", duration="1d")]) == [
        "nodes: the canvas has no start: begin with one of build_audience, read_audience, "
        "incremental_query, start",
        "nodes.w: nothing leads to this activity: connect a transition to it (flows begin at "
        "build_audience, read_audience, incremental_query, start)",
    ]


def test_cycles_are_reported_with_their_path() -> None:
    nodes = [
        CUSTOMERS,
        node("j", "or_join"),
        node("w", "wait", duration="1d"),
        node("t", "test", branches=[{"name": "again", "when": "count(customers) > 0"}]),
    ]
    found = problems(nodes, ["customers -> j", "j -> w", "w -> t", "t.again -> j"])
    assert found == [
        "nodes.j: cycle: j → w → t → j; a canvas flows one way (repeat with a recurring "
        "schedule instead)"
    ]


def test_every_activity_is_reachable_from_a_start() -> None:
    nodes = [CUSTOMERS, email("a"), node("orphan", "dedupe", by=["email"]), email("b")]
    assert problems(nodes, ["customers -> a", "orphan -> b"]) == [
        "nodes.orphan: nothing leads to this activity: connect a transition to it (flows begin "
        "at build_audience, read_audience, incremental_query, start)",
        "nodes.b: not reachable from any start activity",
    ]


# --- dimensions -----------------------------------------------------------------------------


def test_a_channel_needs_recipients_or_a_per_entity() -> None:
    assert problems([STAYS, email()], ["stays -> mail"]) == [
        "nodes.mail: email sends to recipients ('customer') but 'booking' rows flow here: change "
        "the dimension to 'customer' first, or send one message per booking with per: booking"
    ]
    assert problems([STAYS, email(per="booking")], ["stays -> mail"]) == []
    assert problems([STAYS, email(per="flight")], ["stays -> mail"]) == [
        "nodes.mail.settings.per: per: 'flight', but 'booking' rows flow here; per names the "
        "entity flowing in"
    ]


def test_per_row_sending_needs_one_way_to_the_recipient() -> None:
    model = parse_model(
        """\
entities:
  customer:
    key: id
    recipient: true
    fields: {id: integer, email: {type: string, address: email}}
  gift:
    key: id
    fields: {id: integer, buyer_id: integer, receiver_id: integer}
    links:
      buyer: {to: customer, on: buyer_id, reverse: gifts_bought}
      receiver: {to: customer, on: receiver_id, reverse: gifts_received}
  note:
    key: id
    fields: {id: integer}
"""
    )
    gifts = node("gifts", "build_audience", entity="gift")
    assert problems([gifts, email(per="gift")], ["gifts -> mail"], model=model) == [
        "nodes.mail.settings.recipient_path: several paths lead from 'gift' to 'customer' "
        "('buyer' or 'receiver'): choose one with recipient_path"
    ]
    chosen = email(per="gift", recipient_path="receiver")
    assert problems([gifts, chosen], ["gifts -> mail"], model=model) == []
    wrong = email(per="gift", recipient_path="recipient")
    assert problems([gifts, wrong], ["gifts -> mail"], model=model) == [
        "nodes.mail.settings.recipient_path: 'gift' has no to-one link 'recipient' (valid: "
        "buyer, receiver)"
    ]
    notes = node("notes", "build_audience", entity="note")
    assert problems([notes, email(per="note")], ["notes -> mail"], model=model) == [
        "nodes.mail.settings.per: no to-one path leads from 'note' to the recipients "
        "('customer'); one message per row needs each row to belong to one recipient"
    ]
    push = node("p", "push", body="Hi")
    assert problems(
        [node("c", "build_audience", entity="customer"), push], ["c -> p"], model=model
    ) == ["nodes.p: 'customer' has no push address field: mark one in the model with address: push"]


def test_flights_reach_their_customer_by_the_shortest_path() -> None:
    flights = node("flights", "build_audience", entity="flight")
    assert problems([flights, node("s", "sms", body="Hi", per="flight")], ["flights -> s"]) == []


def test_change_dimension_follows_a_link_of_the_flowing_entity() -> None:
    nodes = [STAYS, node("cd", "change_dimension", link="customr"), email()]
    assert problems(nodes, ["stays -> cd", "cd -> mail"]) == [
        "nodes.cd.settings.link: 'booking' (the dimension flowing in) has no link 'customr' "
        "(did you mean 'customer'?)"
    ]
    nodes = [CUSTOMERS, node("cd", "change_dimension", link="bookings")]
    canvas = canvas_of([*nodes, email(per="booking")], ["customers -> cd", "cd -> mail"])
    assert canvas.activities["cd"].outputs == {
        "out": Population("booking"),
        "complement": Population("customer"),
    }


def test_combine_needs_inputs_of_one_dimension() -> None:
    nodes = [STAYS, CUSTOMERS, node("c", "combine", operation="union")]
    assert problems(nodes, ["stays -> c", "customers -> c"]) == [
        "nodes.c: combine needs inputs of one dimension; got booking (from stays.out), "
        "customer (from customers.out)"
    ]


def test_combine_exclusion_primary_and_complement() -> None:
    cancelled = node("cancelled", "build_audience", entity="booking", rule='status = "cancelled"')
    nodes = [STAYS, cancelled, node("c", "combine", operation="exclusion"), email(per="booking")]
    edges = ["stays -> c", "cancelled -> c", "c.complement -> mail"]
    assert problems(nodes, edges) == [
        "nodes.c.settings.primary: an exclusion needs the input to exclude from: primary: one "
        "of stays.out, cancelled.out"
    ]
    nodes[2] = node("c", "combine", operation="exclusion", primary="stays")
    assert problems(nodes, edges) == []
    nodes[2] = node("c", "combine", operation="union")
    assert problems(nodes, edges) == [
        "edges[2].from: 'c' (combine) has no output 'complement' (valid: out)"
    ]


def test_combine_shared_columns_keep_what_every_input_carries() -> None:
    def enrich(node_id: str, *paths: str) -> dict[str, Any]:
        return node(node_id, "enrich", attributes=[{"path": p} for p in paths])

    nodes = [
        STAYS,
        node("s2", "build_audience", entity="booking"),
        enrich("e1", "hotel.city", "nights"),
        enrich("e2", "hotel.city"),
        node("c", "combine", operation="intersection", columns="shared"),
        email(per="booking"),
    ]
    canvas = canvas_of(nodes, ["stays -> e1", "s2 -> e2", "e1 -> c", "e2 -> c", "c -> mail"])
    assert canvas.activities["c"].outputs["out"] == Population("booking", {"hotel_city": "string"})


def test_split_rules_are_checked_against_the_flowing_entity_with_their_json_path() -> None:
    split = node(
        "split1",
        "split",
        subsets=[
            {
                "name": "long",
                "rule": {
                    "all": [
                        {"field": "status", "op": "eq", "value": "confirmed"},
                        {"field": "nightz", "op": "gt", "value": 3},
                    ]
                },
            },
            {"name": "gold", "rule": 'hotel.stars >= 4 and customer.tierr = "gold"'},
            {"name": "long", "limit": {"count": 10, "sort": ["amount desc", "chek_in"]}},
            {"name": "complement"},
        ],
    )
    assert problems([STAYS, split], ["stays -> split1"]) == [
        "nodes.split1.settings.subsets[0].rule.all[1].field: 'booking' has no field 'nightz' "
        "(did you mean 'nights'?)",
        "nodes.split1.settings.subsets[1].rule.all[1].field: 'customer' has no field 'tierr' "
        "(did you mean 'tier'?)",
        "nodes.split1.settings.subsets[2].name: subset 'long' is already defined (subsets[0])",
        "nodes.split1.settings.subsets[2].limit.sort[1].field: 'booking' has no field 'chek_in' "
        "(did you mean 'check_in' or 'hotel_id'?)",
        "nodes.split1.settings.subsets[3].name: 'complement' is the port of rows in no subset; "
        "name the subset otherwise",
    ]


def test_rule_syntax_errors_point_into_the_text() -> None:
    found = problems([node("s", "build_audience", entity="booking", rule="status = ")])
    assert found[0].startswith("nodes.s.settings.rule: line 1, column 10: expected a value")


def test_problems_carry_the_yaml_line_of_the_setting() -> None:
    text = """\
name: lines
nodes:
  - id: stays
    type: build_audience
    settings:
      entity: booking
      rule:
        all:
          - {field: status, op: eq, value: confirmed}
          - {field: nightz, op: gt, value: 3}
"""
    [problem] = check_campaign(text, TRAVEL, source="c.yaml")
    assert problem.line == 10
    assert problem.node == "stays"
    assert problem.describe("c.yaml") == (
        "c.yaml:10: nodes.stays.settings.rule.all[1].field: 'booking' has no field 'nightz' "
        "(did you mean 'nights'?)"
    )


def test_dedupe_fields_may_be_paths_or_carried_columns() -> None:
    nodes = [
        CUSTOMERS,
        node(
            "e",
            "enrich",
            aggregates=[{"link": "bookings", "fn": "sum", "field": "amount", "as": "spent"}],
        ),
        node("d", "dedupe", by=["email", "country"], choose={"max": "spent"}),
        node("d2", "dedupe", by=["emial"], choose={"non_empty": ["phone", "spnt"]}),
        email(),
    ]
    found = problems(nodes, ["customers -> e", "e -> d", "d -> d2", "d2 -> mail"])
    assert found == [
        "nodes.d2.settings.by[0]: 'emial' is neither a carried column nor a field of "
        "'customer' (did you mean 'email'?)",
        "nodes.d2.settings.choose.non_empty[1]: 'spnt' is neither a carried column nor a field "
        "of 'customer' (did you mean 'spent'?)",
    ]


def test_enrich_attributes_aggregates_and_related_rows() -> None:
    enrich = node(
        "e",
        "enrich",
        attributes=[{"path": "customer.tier"}, {"path": "hotel.city", "as": "city"}],
        aggregates=[
            {"link": "flights", "fn": "count", "where": 'status = "flown"'},
            {"link": "flights", "fn": "max", "field": "fare", "as": "top_fare"},
        ],
        related=[
            {
                "link": "flights",
                "sort": ["departure_at"],
                "fields": ["origin", "destination"],
                "limit": 2,
            }
        ],
    )
    canvas = canvas_of([STAYS, enrich, email(per="booking")], ["stays -> e", "e -> mail"])
    assert canvas.activities["e"].outputs["out"] == Population(
        "booking",
        {
            "customer_tier": "string",
            "city": "string",
            "count_flights": "integer",
            "top_fare": "decimal",
            "flights": "collection",
        },
    )


def test_enrich_problems() -> None:
    enrich = node(
        "e",
        "enrich",
        attributes=[{"path": "bookings.amount"}, {"path": "tier", "as": "t"}],
        aggregates=[
            {"link": "bookings", "fn": "sum", "field": "currency", "as": "t"},
            {"link": "country", "fn": "count"},
            {"link": "bookings", "fn": "avg", "as": "avg_amount"},
            {"link": "bookings", "fn": "count", "where": "stauts = 1"},
        ],
        related=[{"link": "flights", "sort": ["departure"], "fields": ["booking.hotel.nme"]}],
    )
    assert problems([CUSTOMERS, enrich], ["customers -> e"]) == [
        "nodes.e.settings.attributes[0].path: 'bookings' is a to-many link of 'customer': use "
        '{"link": "bookings", "where": ...} instead of a dotted path',
        "nodes.e.settings.aggregates[0].field: sum needs a numeric field; 'currency' is string",
        "nodes.e.settings.aggregates[0].as: column 't' is already set by this enrichment: "
        "choose another name with 'as'",
        "nodes.e.settings.aggregates[1].link: 'customer' has no to-many link 'country' (valid: "
        "bookings, flights)",
        "nodes.e.settings.aggregates[2].field: avg needs a field of 'booking'",
        "nodes.e.settings.aggregates[3].where.field: 'booking' has no field 'stauts' (did you "
        "mean 'status' or 'guests' or 'amount'?)",
        "nodes.e.settings.related[0].sort[0].field: 'flight' has no field 'departure' (did you "
        "mean 'departure_at'?)",
        "nodes.e.settings.related[0].fields[0]: 'hotel' has no field 'nme' (did you mean 'name'?)",
    ]


def test_enrich_adds_something() -> None:
    assert problems([CUSTOMERS, node("e", "enrich")], ["customers -> e"]) == [
        "nodes.e: enrich adds nothing: give attributes, aggregates or related"
    ]


def test_incremental_query_modes() -> None:
    ok = node(
        "q", "incremental_query", entity="booking", mode="after_last_run", date_field="updated_at"
    )
    assert problems([ok]) == []
    found = problems(
        [
            node("q1", "incremental_query", entity="booking", mode="after_last_run"),
            node(
                "q2",
                "incremental_query",
                entity="booking",
                mode="after_last_run",
                date_field="nights",
            ),
            node(
                "q3", "incremental_query", entity="booking", date_field="updated_at", history_days=0
            ),
        ]
    )
    assert found == [
        "nodes.q1.settings.date_field: after_last_run needs the date or timestamp field to follow",
        "nodes.q2.settings.date_field: 'nights' is integer, not a date or timestamp",
        "nodes.q3.settings.history_days: Input should be greater than or equal to 1, not 0",
    ]


# --- audiences, templates, variables ------------------------------------------------------------


def test_saved_audiences_exist_and_hold_the_right_entity() -> None:
    audiences = {"vip": "customer", "big_spenders": "customer", "hot_hotels": "hotel"}
    nodes = [
        node("r", "read_audience", audience="vips"),
        node("r2", "read_audience", audience="hot_hotels", entity="customer"),
        node("c", "build_audience", entity="customer", rule='in_audience("hot_hotels")'),
        node("save", "save_audience", name="vip", mode="append"),
    ]
    stays_save = [STAYS, node("keep", "save_audience", name="big_spenders")]
    found = problems(nodes + stays_save, ["c -> save", "stays -> keep"], audiences=audiences)
    assert found == [
        "nodes.r.settings.audience: no saved audience 'vips' (did you mean 'vip'?)",
        "nodes.r2.settings.entity: audience 'hot_hotels' holds 'hotel' rows, not 'customer'",
        "nodes.c.settings.rule.audience: audience 'hot_hotels' holds 'hotel' rows, not 'customer'",
        "nodes.keep.settings.name: audience 'big_spenders' holds 'customer' rows, but 'booking' "
        "rows flow here; choose another name",
    ]


def test_a_read_audience_dimension_comes_from_the_known_audiences_or_its_entity() -> None:
    nodes = [node("r", "read_audience", audience="vip"), email()]
    assert problems(nodes, ["r -> mail"], audiences={"vip": "booking"})[0].startswith(
        "nodes.mail: email sends to recipients"
    )
    assert problems(nodes, ["r -> mail"]) == []  # offline: the dimension is unknown, not wrong
    declared = [node("r", "read_audience", audience="vip", entity="booking"), email()]
    assert problems(declared, ["r -> mail"])[0].startswith("nodes.mail: email sends to recipients")


def test_an_audience_saved_by_the_campaign_may_be_read_by_it() -> None:
    nodes = [
        CUSTOMERS,
        node("save", "save_audience", name="new_vips"),
        node("r", "read_audience", audience="new_vips"),
        email(),
        node("c2", "build_audience", entity="customer", rule='not in_audience("new_vips")'),
    ]
    assert problems(nodes, ["customers -> save", "r -> mail"], audiences={}) == []


def test_templates_exist_and_content_is_complete() -> None:
    nodes = [
        CUSTOMERS,
        node("fork", "fork"),
        node("a", "email", template="welcom"),
        node("b", "email", template="welcome", subject="Hi"),
        node("c", "email", subject="Hi"),
        node("d", "webhook", url="ftp://example.com"),
    ]
    edges = ["customers -> fork", "fork -> a", "fork -> b", "fork -> c", "fork -> d"]
    welcome = library_template("welcome", "email", subject="Hi", body="<p>Hi</p>")
    assert problems(nodes, edges, templates={"welcome": welcome}) == [
        "nodes.a.settings.template: unknown template 'welcom' (did you mean 'welcome'?): "
        "`cantata template save FILE` adds one",
        "nodes.b.settings.subject: give either a template or inline content, not both",
        "nodes.c.settings.body: missing 'body': email needs a template or inline subject, body",
        "nodes.d.settings.url: 'ftp://example.com' is not an http(s) URL",
    ]


def library_template(name: str, channel: str, **parts: str) -> SavedTemplate:
    return SavedTemplate(name, 2, channel, parts, None, datetime(2026, 6, 1))


def test_a_library_template_is_checked_against_what_flows_into_its_channel() -> None:
    stays = library_template(
        "stays",
        "email",
        subject="{{ recipient.first_name }}",
        body="<p>{{ target.nights }}</p>\n<p>{{ target.nigths }}</p>",
    )
    sms = library_template("short", "sms", body="Hi {{ recipient.first_name }}")
    nodes = [
        STAYS,
        node("fork", "fork"),
        node("a", "email", template="stays", per="booking"),
        node("b", "email", template="short", per="booking"),
        node("c", "direct_mail", template="printer_letter_7", per="booking"),
    ]
    edges = ["stays -> fork", "fork -> a", "fork -> b", "fork -> c"]
    found = problems(nodes, edges, templates={"stays": stays, "short": sms})
    assert found == [
        "nodes.a.settings.template: template 'stays' v2, body: template line 2: unknown field "
        "target.nigths (did you mean 'nights'?)",
        "nodes.b.settings.template: template 'short' v2 is a sms template, not email",
    ]


def test_variables_referenced_exist() -> None:
    nodes = [
        CUSTOMERS,
        node(
            "t",
            "test",
            branches=[
                {"name": "big", "when": "count(customers) > vars.threshold and vars.enabled"},
                {"name": "typo", "when": "vars.treshold > 1"},
                {"name": "mixed", "when": 'vars.enabled = "yes"'},
            ],
        ),
        node("mail", "email", subject="{{ vars.code }} for you", body="Use {{ vars.coode }}"),
        node(
            "bye",
            "end",
            start_campaign={"campaign": "next", "variables": {"code": "{{ vars.cod }}"}},
        ),
    ]
    variables = {
        "threshold": {"type": "integer", "default": 100},
        "enabled": {"type": "boolean", "default": True},
        "code": {"type": "string"},
    }
    found = problems(
        nodes, ["customers -> t", "t.big -> mail", "t.default -> bye"], variables=variables
    )
    assert found == [
        "nodes.t.settings.branches[1].when: unknown variable vars.treshold (did you mean "
        "'threshold'?)",
        "nodes.t.settings.branches[2].when: cannot compare boolean with string",
        "nodes.mail.settings.body: unknown variable vars.coode (did you mean 'code'?)",
        "nodes.bye.settings.start_campaign.variables.code: unknown variable vars.cod (did you "
        "mean 'code'?)",
    ]


def test_test_conditions_count_upstream_transitions_only() -> None:
    nodes = [
        CUSTOMERS,
        node("seg", "split", subsets=[{"name": "gold", "rule": 'tier = "gold"'}]),
        node(
            "t",
            "test",
            branches=[
                {"name": "a", "when": "count(seg.gold) > 10"},
                {"name": "b", "when": "count(seg) > 1"},
                {"name": "default", "when": "count(mail) > 1"},
            ],
        ),
        email(),
    ]
    found = problems(nodes, ["customers -> seg", "seg.complement -> t", "t.a -> mail"])
    assert found == [
        "nodes.t.settings.branches[1].when: count(seg): 'seg' has no output 'out' (name a "
        "port: seg.gold, seg.complement)",
        "nodes.t.settings.branches[2].name: 'default' is the port taken when no branch "
        "matches; name the branch otherwise",
        "nodes.t.settings.branches[2].when: count(mail): 'mail' is not upstream of this test, "
        "so its count is not known when the test runs (valid: customers, seg)",
    ]


# --- flow control ---------------------------------------------------------------------------------


def test_a_start_carries_no_rows() -> None:
    nodes = [
        node("go", "start"),
        node("w", "wait", until="09:00"),
        node("a", "alert", message="Started", recipients=["ops@example.com"]),
        node("d", "dedupe", by=["email"]),
    ]
    assert problems(nodes, ["go -> w", "w -> a", "a -> d"]) == [
        "nodes.d: a dedupe needs rows, but a.out carries none (it comes from a start): begin "
        "the flow with an audience"
    ]


def test_and_join_waits_for_chosen_inbounds_and_continues_with_its_primary() -> None:
    nodes = [
        CUSTOMERS,
        node("go", "start"),
        node("w", "wait", duration="2h"),
        node("j", "and_join", wait_for=["customers", "w"], primary="customers"),
        email(),
    ]
    edges = ["customers -> j", "go -> w", "w -> j", "j -> mail"]
    canvas = canvas_of(nodes, edges)
    assert canvas.activities["j"].outputs == {"out": Population("customer")}
    assert canvas.activities["w"].outputs == {"out": Mark.SIGNAL}
    nodes[3] = node("j", "and_join", wait_for=["customers", "x"])
    assert problems(nodes, edges) == [
        "nodes.j.settings.primary: choose the population that continues: primary: one of "
        "customers.out",
        "nodes.j.settings.wait_for[1]: no inbound transition comes from 'x' (valid: "
        "customers.out, w.out)",
    ]


def test_or_join_needs_one_dimension() -> None:
    nodes = [STAYS, CUSTOMERS, node("j", "or_join")]
    assert problems(nodes, ["stays -> j", "customers -> j"]) == [
        "nodes.j: an or_join needs inputs of one dimension; got booking (from stays.out), "
        "customer (from customers.out)"
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"duration": "3x"}, "nodes.w.settings.duration: '3x' is not a duration"),
        ({"until": "25:00"}, "nodes.w.settings.until: '25:00' is not a wall-clock time"),
        ({"duration": "1d", "until": "09:00"}, "nodes.w.settings: a wait has either"),
    ],
)
def test_wait_settings(settings: dict[str, Any], message: str) -> None:
    [found] = problems([CUSTOMERS, node("w", "wait", **settings)], ["customers -> w"])
    assert found.startswith(message)


# --- all at once, and fast ---------------------------------------------------------------------


def test_every_problem_is_reported_at_once_shape_graph_and_dimensions() -> None:
    text = doc(
        [STAYS, email(), node("x", "dedupe", by=["status"])],
        ["stays -> mail", "stays -> x"],
        schedule={"daily": {"at": "9h"}},
    )
    found = [p.describe() for p in check_campaign(text, TRAVEL)]
    assert found == [
        "4: schedule.daily.at[0]: '9h' is not a wall-clock time: use HH:MM (24 h), such as "
        '"09:30"',
        "10: nodes.mail: email sends to recipients ('customer') but 'booking' rows flow here: "
        "change the dimension to 'customer' first, or send one message per booking with per: "
        "booking",
        "23: edges[1].from: stays.out already leads to 'mail': a transition goes to one "
        "activity; put a fork after it to reach several",
    ]


def test_validate_raises_with_every_problem_and_its_line() -> None:
    campaign = parse_campaign(doc([STAYS, email()], ["stays -> mail"]), source="c.yaml")
    with pytest.raises(CampaignError) as info:
        validate(campaign, TRAVEL)
    assert str(info.value).startswith("1 problem in the campaign:\n  c.yaml:7: nodes.mail: email")


def generated_canvas(branches: int) -> str:
    """`branches` flows of 10 activities each: audience → dimension → dedupe → enrich →
    split → two channels, a wait, a test and an end."""
    nodes: list[dict[str, Any]] = []
    edges: list[str] = []
    for b in range(branches):
        n = f"b{b}_"
        nodes += [
            node(
                f"{n}stays",
                "build_audience",
                entity="booking",
                rule=f'status = "confirmed" and nights > {b % 7}',
            ),
            node(f"{n}customers", "change_dimension", link="customer"),
            node(f"{n}dedupe", "dedupe", by=["email"], choose={"max": "updated_at"}),
            node(
                f"{n}enrich",
                "enrich",
                related=[{"link": "bookings", "sort": ["check_in"], "fields": ["hotel.city"]}],
                aggregates=[{"link": "bookings", "fn": "sum", "field": "amount"}],
            ),
            node(
                f"{n}split",
                "split",
                subsets=[
                    {"name": "holdout", "limit": {"percent": 10, "random_seed": b}},
                    {"name": "gold", "rule": 'tier = "gold" and country in ("FR", "DE")'},
                    {"name": "rest"},
                ],
            ),
            node(f"{n}email", "email", subject="Hi {{ vars.code }}", body="<p>Soon</p>"),
            node(f"{n}sms", "sms", body="Soon"),
            node(f"{n}wait", "wait", duration="1d"),
            node(
                f"{n}test",
                "test",
                branches=[{"name": "many", "when": f"count({n}split.gold) > 100"}],
            ),
            node(f"{n}end", "end"),
        ]
        edges += [
            f"{n}stays -> {n}customers",
            f"{n}customers -> {n}dedupe",
            f"{n}dedupe -> {n}enrich",
            f"{n}enrich -> {n}split",
            f"{n}split.gold -> {n}email",
            f"{n}split.rest -> {n}sms",
            f"{n}email -> {n}wait",
            f"{n}wait -> {n}test",
            f"{n}test.many -> {n}end",
        ]
    return doc(nodes, edges, variables={"code": {"type": "string", "default": "X"}})


def test_a_1000_activity_canvas_validates_in_under_a_second() -> None:
    text = generated_canvas(100)
    campaign = parse_campaign(text)
    assert len(campaign.nodes) == 1000
    started = time.perf_counter()
    canvas = validate(campaign, TRAVEL, audiences={}, templates={})
    elapsed = time.perf_counter() - started
    assert len(canvas.activities) == 1000
    assert elapsed < 1.0, f"validated 1,000 activities in {elapsed:.3f} s"
