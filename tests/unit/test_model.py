from __future__ import annotations

import pytest

from cantata.errors import ModelError
from cantata.model import FieldType, parse_model
from cantata.workspace import starter_model

BASE = """\
entities:
  customer:
    key: customer_id
    recipient: true
    fields:
      customer_id: string
      email: {type: string, address: email}
  booking:
    key: booking_id
    fields:
      booking_id: string
      customer_id: string
    links:
      customer: {to: customer, on: customer_id, reverse: bookings}
"""


def test_starter_model_loads_with_links_both_ways() -> None:
    model = parse_model(starter_model())
    assert model.recipient.name == "customer"
    assert set(model.to_many("customer")) == {"bookings", "flights"}
    assert set(model.to_one("booking")) == {"customer", "hotel"}
    hotel = model.to_one("booking")["hotel"]
    assert (hotel.source_field, hotel.target_field) == ("hotel_id", "hotel_id")
    bookings = model.to_many("hotel")["bookings"]
    assert (bookings.source_field, bookings.target_field, bookings.to_many) == (
        "hotel_id",
        "hotel_id",
        True,
    )
    assert model.entity("booking").fields["amount"].type is FieldType.DECIMAL


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("customer_id: string\n      email", "customer_id: strng\n      email"),
            "model.yaml:6: entity 'customer', field 'customer_id': unknown type 'strng' "
            "(did you mean 'string'?)",
        ),
        (
            ("key: booking_id", "key: bookingid"),
            "model.yaml:9: entity 'booking': key 'bookingid' is not among its fields "
            "(did you mean 'booking_id'?)",
        ),
        (
            ("{to: customer,", "{to: custmer,"),
            "model.yaml:14: entity 'booking', link 'customer': links to unknown entity 'custmer' "
            "(did you mean 'customer'?)",
        ),
        (
            ("on: customer_id, reverse", "on: cust_id, reverse"),
            "model.yaml:14: entity 'booking', link 'customer': 'on' field 'cust_id' is not a "
            "field of 'booking' (did you mean 'customer_id'?)",
        ),
        (
            ("    recipient: true\n", ""),
            "model.yaml:1: exactly one entity must be marked 'recipient: true' (found: none)",
        ),
        (
            ("key: booking_id\n", "key: booking_id\n    recipient: true\n"),
            "exactly one entity must be marked 'recipient: true' (found: customer, booking)",
        ),
        (
            ("reverse: bookings", "reverse: email"),
            "entity 'customer': the name 'email' of the reverse of link booking.customer clashes "
            "with a field of 'customer'; rename one of them",
        ),
        (
            (
                "booking_id: string\n      customer_id",
                "booking_id: string\n      n: integer\n      customer_id",
            ),
            None,
        ),
        (
            ("email: {type: string, address: email}", "email: {type: integer, address: email}"),
            "model.yaml:7: entity 'customer', field 'email': an address field must be a string, "
            "not integer",
        ),
    ],
)
def test_model_errors_name_file_line_entity_and_field(
    change: tuple[str, str], expected: str | None
) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    if expected is None:
        parse_model(text)
        return
    with pytest.raises(ModelError) as err:
        parse_model(text)
    assert expected in str(err.value)


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ModelError, match=r"model.yaml:\d+: not valid YAML"):
        parse_model("entities:\n  customer: [\n")
