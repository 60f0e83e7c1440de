"""Business rules and dispatcher settings from cantata.toml.

    [rules]
    consent = "opt_in"                 # marketing needs a granted consent record (or "opt_out")
    time_zone_field = "time_zone"      # the recipient field holding an IANA zone
    quiet_hours = {start = "21:00", end = "08:00"}   # recipient's local time; deferred, never dropped
    caps = [{channel = "*", max = 3, per = "week"}, {channel = "sms", max = 1, per = "day"}]

    [delivery]                         # optional: how the dispatcher works
    batch_size = 500
    lease_seconds = 60
    max_attempts = 5
    backoff_seconds = 30               # doubled on every retry
    pause_after_errors = 50            # consecutive failures before an activity is paused

Caps count messages sent in a rolling window (day = 24 h, week = 7 d, month = 30 d) from
communication history, plus messages already queued and not yet sent; `channel = "*"` counts
every channel. They apply to marketing messages only, and count only those: transactional
messages neither are capped nor use up a cap.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any, Literal

from cantata.canvas.schema import parse_local_time
from cantata.errors import ConfigError, did_you_mean

CHANNELS = ("email", "sms", "push", "direct_mail", "webhook")
PERIODS = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=30)}


@dataclass(frozen=True)
class Cap:
    channel: str  # a channel, or "*" for all
    max: int
    per: str

    @property
    def window(self) -> timedelta:
        return PERIODS[self.per]

    def applies_to(self, channel: str) -> bool:
        return self.channel in ("*", channel)


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time  # may be before start: the quiet period spans midnight


@dataclass(frozen=True)
class Rules:
    consent: Literal["opt_in", "opt_out"] = "opt_in"
    time_zone_field: str | None = "time_zone"
    quiet_hours: QuietHours | None = None
    caps: tuple[Cap, ...] = ()
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 5
    backoff: timedelta = timedelta(seconds=30)
    pause_after_errors: int = 50
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


RULES_KEYS = frozenset({"consent", "time_zone_field", "quiet_hours", "caps"})
DELIVERY_KEYS = frozenset(
    {"batch_size", "lease_seconds", "max_attempts", "backoff_seconds", "pause_after_errors"}
)


def load_rules(raw: Mapping[str, Any], where: str = "cantata.toml") -> Rules:
    """Rules from the parsed cantata.toml (`[rules]`, `[delivery]`, `[channels.*]`)."""
    rules = _table(raw, "rules", where)
    delivery = _table(raw, "delivery", where)
    channels = _table(raw, "channels", where)
    _known(rules, RULES_KEYS, "rules", where)
    _known(delivery, DELIVERY_KEYS, "delivery", where)
    consent = rules.get("consent", "opt_in")
    if consent not in ("opt_in", "opt_out"):
        raise ConfigError(
            f"[rules] consent must be 'opt_in' or 'opt_out', not {consent!r}", where=where
        )
    quiet = None
    if "quiet_hours" in rules:
        q = rules["quiet_hours"]
        try:
            quiet = QuietHours(parse_local_time(q["start"]), parse_local_time(q["end"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"[rules] quiet_hours needs start and end as HH:MM ({exc})", where=where
            ) from None
    caps = []
    for i, c in enumerate(rules.get("caps", [])):
        place = f"[rules] caps[{i}]"
        if not isinstance(c, dict) or not {"max", "per"} <= c.keys():
            raise ConfigError(f"{place} needs max and per (and optionally channel)", where=where)
        channel, per = str(c.get("channel", "*")), str(c["per"])
        if channel != "*" and channel not in CHANNELS:
            raise ConfigError(
                f"{place} channel {channel!r} is not a channel{did_you_mean(channel, CHANNELS)}",
                where=where,
            )
        if per not in PERIODS:
            raise ConfigError(f"{place} per must be one of {sorted(PERIODS)}", where=where)
        if not isinstance(c["max"], int) or c["max"] < 0:
            raise ConfigError(f"{place} max must be a whole number ≥ 0", where=where)
        caps.append(Cap(channel, c["max"], per))
    tz_field = rules.get("time_zone_field", "time_zone")
    return Rules(
        consent=consent,
        time_zone_field=str(tz_field) if tz_field else None,
        quiet_hours=quiet,
        caps=tuple(caps),
        batch_size=_positive(delivery, "batch_size", 500, where),
        lease=timedelta(seconds=_positive(delivery, "lease_seconds", 60, where)),
        max_attempts=_positive(delivery, "max_attempts", 5, where),
        backoff=timedelta(seconds=_positive(delivery, "backoff_seconds", 30, where)),
        pause_after_errors=_positive(delivery, "pause_after_errors", 50, where),
        providers={str(k): v for k, v in channels.items() if isinstance(v, dict)},
    )


def _table(raw: Mapping[str, Any], name: str, where: str) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{name}] must be a table", where=where)
    return value


def _known(table: Mapping[str, Any], keys: AbstractSet[str], section: str, where: str) -> None:
    for key in table:
        if key not in keys:
            raise ConfigError(
                f"[{section}] unknown key {key!r}{did_you_mean(key, keys)}", where=where
            )


def _positive(table: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"[delivery] {key} must be a whole number ≥ 1", where=where)
    return value
