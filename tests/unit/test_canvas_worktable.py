"""Worktable names fit PostgreSQL's 63-byte identifiers and stay distinct; slices read one
port with the columns the transition carries."""

from __future__ import annotations

from cantata.canvas.runtime.worktable import Slice, worktable_name


def test_names_are_readable_and_fit_identifiers() -> None:
    assert worktable_name(12, "segments") == "cantata_wt_12_segments"
    assert worktable_name(12, "customers", "complement") == "cantata_wt_12_customers__complement"
    long_a, long_b = "a" * 63, "a" * 62 + "b"
    names = {
        worktable_name(2_000_000_000, node, part)
        for node in (long_a, long_b)
        for part in ("", "complement")
    }
    assert len(names) == 4
    assert all(len(n) <= 63 and n.startswith("cantata_wt_2000000000_") for n in names)


def test_a_slice_selects_its_port_and_columns() -> None:
    s = Slice("cantata_wt_1_seg", "it's", ("next_booking",))
    assert s.select() == (
        'SELECT "_key", "next_booking" FROM "cantata_wt_1_seg" WHERE "_port" = \'it\'\'s\''
    )
    assert s.carrying(()).select().startswith('SELECT "_key" FROM')
