"""Every section and key cantata.toml accepts is documented in docs/, as `key =` in a TOML
example or `` `key` `` in prose: a setting nobody can find does not exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cantata.canvas.alert_notices import KEYS as ALERT_KEYS
from cantata.config import KNOWN_SECTIONS
from cantata.delivery.providers.http_client import CLIENT_KEYS
from cantata.delivery.providers.http_sms import KEYS_JSON, KEYS_TWILIO
from cantata.delivery.providers.push import KEYS_APNS, KEYS_FCM
from cantata.delivery.providers.smtp import DKIM_KEYS
from cantata.delivery.providers.smtp import KEYS as SMTP_KEYS
from cantata.delivery.providers.webhook import KEYS as WEBHOOK_KEYS
from cantata.delivery.rules import DELIVERY_KEYS, RULES_KEYS
from cantata.tracking.settings import KEYS as TRACKING_KEYS

DOCS = "".join(p.read_text() for p in sorted((Path(__file__).parents[2] / "docs").glob("*.md")))
SCHEDULER_KEYS = ("interval", "lease_ttl", "batch", "runner", "retention_days")

SETTINGS = {
    "rules": RULES_KEYS,
    "delivery": DELIVERY_KEYS,
    "tracking": TRACKING_KEYS,
    "alerts": ALERT_KEYS,
    "scheduler": SCHEDULER_KEYS,
    "channels (smtp)": SMTP_KEYS | DKIM_KEYS,
    "channels (webhook)": WEBHOOK_KEYS,
    "channels (sms)": KEYS_JSON | KEYS_TWILIO,
    "channels (push)": KEYS_FCM | KEYS_APNS | CLIENT_KEYS,
}


def documented(key: str) -> bool:
    found = (
        rf"(^|\s){re.escape(key)}\s*=|`{re.escape(key)}`|\.{re.escape(key)}\]"  # a = / `a` / [x.a]
    )
    return bool(re.search(found, DOCS, re.M))


@pytest.mark.parametrize("section", sorted(KNOWN_SECTIONS))
def test_every_section_is_documented(section: str) -> None:
    assert f"[{section}" in DOCS or f"`[{section}]`" in DOCS, section


@pytest.mark.parametrize("section", sorted(SETTINGS))
def test_every_key_is_documented(section: str) -> None:
    missing = sorted(k for k in SETTINGS[section] if not documented(k))
    assert missing == [], f"[{section}] keys not in docs/: {missing}"
