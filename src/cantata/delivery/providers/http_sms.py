"""SMS over HTTP: a generic JSON endpoint and a Twilio-style Messages API.

Both send a batch concurrently through one pooled client, with the ledger message id as the
`Idempotency-Key` so a retried request the provider already saw is not sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from cantata.delivery.message import Message
from cantata.delivery.providers.http_client import (
    CLIENT_KEYS,
    Answer,
    Clock,
    Credentials,
    PerMessageProvider,
    Request,
    bearer,
    json_field,
    optional_str,
    required_str,
    secret,
    utc_now,
)

# Twilio error codes meaning the number itself cannot receive SMS.
TWILIO_BAD_NUMBER = {21211, 21614}  # invalid 'To' number · 'To' is not a mobile number
KEYS_JSON = CLIENT_KEYS | {"url", "from", "token", "token_env"}
KEYS_TWILIO = CLIENT_KEYS | {
    "base_url", "account_sid", "auth_token", "auth_token_env", "from", "status_callback",
}  # fmt: skip


class JsonSmsProvider(PerMessageProvider):
    """POST `{"to", "from", "body", "message_id"}` to `url`; the answer's `id` (if any) is
    the provider id."""

    name = "http_json"
    channel = "sms"
    keys = KEYS_JSON

    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        self.url = required_str(config, "url", where)
        self.sender = optional_str(config, "from", where)
        return Credentials(headers=bearer(secret(config, "token", where, required=False)))

    def _request(self, message: Message) -> Request:
        payload = {
            "to": message.address,
            "from": message.sender or self.sender,
            "body": message.content["body"],
            "message_id": message.message_id,
        }
        return Request(self.url, {"Idempotency-Key": message.message_id}, json=payload)

    def _answer(self, message: Message, response: httpx.Response) -> Answer:
        return Answer(provider_id=json_field(response, "id"))


class TwilioProvider(PerMessageProvider):
    """Form-encoded `To`, `From`, `Body` (and `StatusCallback`) to
    `{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with basic auth; the
    answer's `sid` is the provider id."""

    name = "twilio"
    channel = "sms"
    keys = KEYS_TWILIO

    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        base_url = optional_str(config, "base_url", where) or "https://api.twilio.com"
        account_sid = required_str(config, "account_sid", where)
        auth_token = secret(config, "auth_token", where, required=True)
        assert auth_token is not None
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = optional_str(config, "from", where)
        self.status_callback = optional_str(config, "status_callback", where)
        return Credentials(auth=(account_sid, auth_token))

    def _request(self, message: Message) -> Request:
        form = {"To": message.address, "Body": message.content["body"]}
        sender = message.sender or self.sender
        if sender:
            form["From"] = sender
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        return Request(self.url, {"Idempotency-Key": message.message_id}, form=form)

    def _answer(self, message: Message, response: httpx.Response) -> Answer:
        return Answer(
            provider_id=json_field(response, "sid"),
            bad_address=json_field(response, "code") in TWILIO_BAD_NUMBER,
        )


def json_sms_provider(
    config: Mapping[str, Any], *, clock: Clock = utc_now, root: Path | None = None
) -> JsonSmsProvider:
    return JsonSmsProvider(config, clock=clock)


def twilio_provider(
    config: Mapping[str, Any], *, clock: Clock = utc_now, root: Path | None = None
) -> TwilioProvider:
    return TwilioProvider(config, clock=clock)
