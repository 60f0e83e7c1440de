"""Migrations that move data: a store created before them keeps what it recorded."""

from __future__ import annotations

from cantata.canvas.runtime import TransitionRecord, transitions
from cantata.store import Store
from cantata.store.migrations import migrate

_TRANSITION_TABLE = (
    "CREATE TABLE cantata_transition (run BIGINT NOT NULL, node TEXT NOT NULL, "
    "port TEXT NOT NULL, worktable TEXT, slice TEXT, row_count BIGINT, "
    "activated BOOLEAN NOT NULL, PRIMARY KEY (run, node, port))"
)


def _as_before_0011(store: Store) -> None:
    """The node-run and transition tables as migration 0005 made them."""
    # Only 0011 is undone: later migrations stay applied (they are not about these tables).
    store.execute("DELETE FROM cantata_migrations WHERE version = 11")
    store.execute("DROP TABLE cantata_node_run")
    store.execute(
        "CREATE TABLE cantata_node_run (run BIGINT NOT NULL, node TEXT NOT NULL, "
        "status TEXT NOT NULL, attempt INTEGER NOT NULL, seq INTEGER, as_of TIMESTAMP NOT NULL, "
        "wake_at TIMESTAMP, counts TEXT, statements TEXT, details TEXT, error TEXT, "
        "started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP, elapsed_ms DOUBLE PRECISION, "
        "PRIMARY KEY (run, node))"
    )
    store.execute(_TRANSITION_TABLE)


def test_0011_moves_transitions_into_their_node_runs(store: Store) -> None:
    _as_before_0011(store)
    for node in ("split", "mail", "skipped"):
        store.execute(
            "INSERT INTO cantata_node_run (run, node, status, attempt, as_of, started_at) "
            "VALUES (7, %s, 'done', 1, TIMESTAMP '2026-06-01 08:00:00', "
            "TIMESTAMP '2026-06-01 08:00:00')",
            [node],
        )
    store.execute(
        "INSERT INTO cantata_transition VALUES "
        "(7, 'split', 'gold', 'cantata_wt_7_split', 'gold', 12, TRUE), "
        "(7, 'split', 'others', 'cantata_wt_7_split', 'others', 0, FALSE), "
        "(7, 'mail', 'out', NULL, NULL, NULL, TRUE)"
    )

    assert migrate(store) == [11]

    assert not store.table_exists("cantata_transition")
    assert transitions(store, 7) == {
        ("mail", "out"): TransitionRecord(7, "mail", "out", None, None, None, True),
        ("split", "gold"): TransitionRecord(
            7, "split", "gold", "cantata_wt_7_split", "gold", 12, True
        ),
        ("split", "others"): TransitionRecord(
            7, "split", "others", "cantata_wt_7_split", "others", 0, False
        ),
    }
    assert transitions(store, 7, "skipped") == {}


def test_0013_gives_the_messages_of_transactional_activities_their_category(
    store: Store,
) -> None:
    store.execute("DELETE FROM cantata_migrations WHERE version = 13")  # re-applied below
    for activity, settings in (("receipt", '{"category": "transactional"}'), ("promo", "{}")):
        store.execute(
            "INSERT INTO cantata_delivery_activity (run, activity, campaign, channel, status, "
            "settings, source, variables, time_zone, queued_at) VALUES (7, %s, 'c', 'email', "
            "'done', %s, '{}', '{}', 'UTC', TIMESTAMP '2026-06-01 08:00:00')",
            [activity, settings],
        )
        store.execute(
            "INSERT INTO cantata_delivery (message_id, run, activity, campaign, channel, "
            "recipient, status, attempts, next_attempt_at, created_at) VALUES (%s, 7, %s, 'c', "
            "'email', '1', 'sent', 1, TIMESTAMP '2026-06-01 08:00:00', "
            "TIMESTAMP '2026-06-01 08:00:00')",
            [f"m-{activity}", activity],
        )

    assert migrate(store) == [13]

    rows = store.fetchall("SELECT activity, category FROM cantata_delivery ORDER BY activity")
    assert rows == [("promo", "marketing"), ("receipt", "transactional")]
