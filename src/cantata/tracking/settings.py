"""The `[tracking]` table of cantata.toml.

```toml
[tracking]
base_url = "https://t.example.com"   # where the tracking app is reachable from the internet
secret = "…"                         # signs every tracking link (at least 16 characters)
callback_secret = "…"                # providers' callbacks and /bounces authenticate with it
host = "127.0.0.1"                   # `cantata tracking serve` defaults
port = 8025
group_max = 500                      # events committed together, at most
group_window_ms = 2                  # how long an event may wait for others to join it
```
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cantata.errors import ConfigError, did_you_mean
from cantata.tracking.links import TrackingLinks
from cantata.tracking.writer import MAX_GROUP, WINDOW

KEYS = ("base_url", "secret", "callback_secret", "host", "port", "group_max", "group_window_ms")
MIN_SECRET = 16
WHERE = "cantata.toml"


@dataclass(frozen=True)
class TrackingSettings:
    secret: bytes
    base_url: str | None = None
    callback_secret: str | None = None
    host: str = "127.0.0.1"
    port: int = 8025
    group_max: int = MAX_GROUP
    group_window: float = WINDOW  # seconds

    def links(self) -> TrackingLinks:
        """The link builder the dispatcher uses; needs `[tracking] base_url`."""
        if not self.base_url:
            raise ConfigError(
                "[tracking] base_url is missing: the public URL of `cantata tracking serve`",
                where=WHERE,
            )
        return TrackingLinks(self.base_url, self.secret)


def _text(table: Mapping[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"[tracking] {key} must be a non-empty string", where=WHERE)
    return value


def tracking_settings(raw: Mapping[str, Any]) -> TrackingSettings:
    """Read and check `[tracking]` from the parsed cantata.toml (`Settings.raw`)."""
    table = raw.get("tracking", {})
    if not isinstance(table, Mapping):
        raise ConfigError("[tracking] must be a table", where=WHERE)
    for key in table:
        if key not in KEYS:
            raise ConfigError(f"unknown key [tracking] {key}{did_you_mean(key, KEYS)}", where=WHERE)
    secret = _text(table, "secret")
    if secret is None:
        raise ConfigError(
            "[tracking] secret is missing: set a long random string (it signs tracking links)",
            where=WHERE,
        )
    if len(secret) < MIN_SECRET:
        raise ConfigError(
            f"[tracking] secret is too short: use at least {MIN_SECRET} random characters",
            where=WHERE,
        )
    base_url = _text(table, "base_url")
    if base_url is not None and not base_url.lower().startswith(("http://", "https://")):
        raise ConfigError("[tracking] base_url must start with http:// or https://", where=WHERE)
    port = table.get("port", 8025)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
        raise ConfigError("[tracking] port must be an integer from 1 to 65535", where=WHERE)
    group_max = table.get("group_max", MAX_GROUP)
    if not isinstance(group_max, int) or isinstance(group_max, bool) or group_max < 1:
        raise ConfigError("[tracking] group_max must be an integer of at least 1", where=WHERE)
    window_ms = table.get("group_window_ms", WINDOW * 1000)
    if not isinstance(window_ms, int | float) or isinstance(window_ms, bool) or window_ms < 0:
        raise ConfigError(
            "[tracking] group_window_ms must be a number of milliseconds, 0 or more", where=WHERE
        )
    return TrackingSettings(
        secret=secret.encode("utf-8"),
        base_url=base_url,
        callback_secret=_text(table, "callback_secret"),
        host=_text(table, "host") or "127.0.0.1",
        port=port,
        group_max=group_max,
        group_window=window_ms / 1000,
    )
