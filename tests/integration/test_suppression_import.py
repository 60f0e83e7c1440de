"""A suppression list imported set-based on every engine: normalized addresses, each added
once (the first reason in the file; an address already suppressed keeps its own)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cantata.profile.suppression import add_suppression, import_suppressions, list_suppressions
from cantata.store import Store

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_a_large_list_is_added_once_per_address(store: Store, tmp_path: Path) -> None:
    add_suppression(store, "user7@example.com", "email", "complaint", now=NOW)
    lines = ["address,channel,reason"]
    lines += [f"User{i}@Example.com,email,hard_bounce" for i in range(5000)]
    lines += [f"user{i}@example.com,email,manual" for i in range(10)]  # the same, again
    lines += ["+33 6 12 34 56 78,sms,legal", "+33612345678,sms,manual", ",email,manual"]
    path = tmp_path / "list.csv"
    path.write_text("\n".join(lines) + "\n")

    read, added, rejects = import_suppressions(store, path, now=NOW)

    assert (read, added, rejects) == (5013, 5000, [(5014, "missing address")])
    reasons = {
        (s.address, s.channel): (s.reason, s.source) for s in list_suppressions(store, limit=10_000)
    }
    assert len(reasons) == 5001
    assert reasons[("user7@example.com", "email")] == ("complaint", None)  # already there
    assert reasons[("user8@example.com", "email")] == ("hard_bounce", "list.csv")
    assert reasons[("+33612345678", "sms")] == ("legal", "list.csv")
    assert import_suppressions(store, path, now=NOW)[1] == 0  # nothing new the second time
