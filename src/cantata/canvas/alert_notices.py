"""Alert notifications: what an `alert` activity raises, POSTed as JSON to the webhook that
`[alerts]` in cantata.toml names — signed like the webhook channel's requests — and logged.

    [alerts]
    webhook_url = "https://hooks.example.com/cantata"
    secret_env = "CANTATA_ALERT_SECRET"   # or secret = "..."; signs X-Cantata-Signature

The alert is recorded in the store (`cantata_alert`) with its run either way; a notification
that fails is logged and does not stop the run.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from cantata.delivery.providers.webhook import SIGNATURE_HEADER, sign
from cantata.errors import ConfigError, did_you_mean

if TYPE_CHECKING:  # the runtime imports this module to hand its runners the hook
    from cantata.canvas.runtime.flow import AlertRaised

KEYS = ("webhook_url", "secret", "secret_env", "timeout")
WHERE = "cantata.toml [alerts]"
log = logging.getLogger("cantata.alerts")

Notify = Callable[["AlertRaised"], None]


def alert_notifier(settings: Mapping[str, Any], *, client: httpx.Client | None = None) -> Notify:
    """The notification hook `[alerts]` describes (a log line, and the webhook when set)."""
    section = settings.get("alerts", {})
    if not isinstance(section, Mapping):
        raise ConfigError("must be a table", where=WHERE)
    for key in section:
        if key not in KEYS:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, KEYS)}", where=WHERE)
    url = section.get("webhook_url")
    if url is not None and (
        not isinstance(url, str) or not url.startswith(("http://", "https://"))
    ):
        raise ConfigError("'webhook_url' must be an http(s) URL", where=WHERE)
    secret = section.get("secret")
    if section.get("secret_env"):
        secret = os.environ.get(str(section["secret_env"]))
        if secret is None:
            raise ConfigError(
                f"environment variable {section['secret_env']} is not set", where=WHERE
            )
    timeout = float(section.get("timeout", 10))

    def notify(alert: AlertRaised) -> None:
        log.warning(
            "alert from %s run %s, %s: %s", alert.campaign, alert.run, alert.node, alert.message
        )
        if url is None:
            return
        body = json.dumps(
            {
                "campaign": alert.campaign,
                "run": alert.run,
                "node": alert.node,
                "message": alert.message,
                "recipients": list(alert.recipients),
                "raised_at": alert.raised_at.isoformat(),
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if secret:
            stamp = str(int(time.time()))
            headers |= {"X-Cantata-Timestamp": stamp, SIGNATURE_HEADER: sign(secret, stamp, body)}
        sender = client or httpx.Client(timeout=timeout)
        try:
            sender.post(url, content=body, headers=headers).raise_for_status()
        finally:
            if client is None:
                sender.close()

    return notify
