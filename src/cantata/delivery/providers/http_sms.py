"""SMS over HTTP: a generic JSON endpoint and a Twilio-style Messages API.

Both send a batch concurrently through one pooled client, with the ledger message id as the
`Idempotency-Key` so a retried request the provider already saw is not sent twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from cantata.delivery.message import Message, Outcome
from cantata.delivery.providers.base import OutcomeHook
from cantata.delivery.providers.http_client import (
    CLIENT_KEYS,
    ClientSettings,
    Clock,
    PooledClient,
    check_keys,
    json_field,
    missing_part,
    optional_str,
    outcome_for_error,
    outcome_for_response,
    provider_where,
    required_str,
    secret,
    send_each,
    utc_now,
)

# Twilio error codes meaning the number itself cannot receive SMS.
TWILIO_BAD_NUMBER = {21211, 21614}  # invalid 'To' number · 'To' is not a mobile number
KEYS_JSON = CLIENT_KEYS | {"url", "from", "token", "token_env"}
KEYS_TWILIO = CLIENT_KEYS | {
    "base_url", "account_sid", "auth_token", "auth_token_env", "from", "status_callback",
}  # fmt: skip


class JsonSmsProvider:
    """POST `{"to", "from", "body", "message_id"}` to `url`; the answer's `id` (if any) is
    the provider id."""

    name = "http_json"

    def __init__(self, config: Mapping[str, Any], *, clock: Clock = utc_now) -> None:
        where = provider_where("sms", self.name)
        check_keys(config, KEYS_JSON, where)
        self.url = required_str(config, "url", where)
        self.sender = optional_str(config, "from", where)
        token = secret(config, "token", where, required=False)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = PooledClient(ClientSettings.from_config(config, where), headers=headers)
        self.clock = clock

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        return await send_each(batch, self._send_one, on_outcome)

    async def _send_one(self, message: Message) -> Outcome:
        if (refused := missing_part(message, "body")) is not None:
            return refused
        payload = {
            "to": message.address,
            "from": message.sender or self.sender,
            "body": message.content["body"],
            "message_id": message.message_id,
        }
        try:
            response = await self.client.post(
                self.url, json=payload, headers={"Idempotency-Key": message.message_id}
            )
        except httpx.HTTPError as exc:
            return outcome_for_error(message.message_id, exc)
        provider_id = json_field(response, "id")
        return outcome_for_response(
            message.message_id,
            response,
            self.clock(),
            provider_id=str(provider_id) if provider_id is not None else None,
        )

    async def close(self) -> None:
        await self.client.close()


class TwilioProvider:
    """Form-encoded `To`, `From`, `Body` (and `StatusCallback`) to
    `{base_url}/2010-04-01/Accounts/{account_sid}/Messages.json` with basic auth; the
    answer's `sid` is the provider id."""

    name = "twilio"

    def __init__(self, config: Mapping[str, Any], *, clock: Clock = utc_now) -> None:
        where = provider_where("sms", self.name)
        check_keys(config, KEYS_TWILIO, where)
        base_url = optional_str(config, "base_url", where) or "https://api.twilio.com"
        account_sid = required_str(config, "account_sid", where)
        auth_token = secret(config, "auth_token", where, required=True)
        assert auth_token is not None
        self.url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self.sender = optional_str(config, "from", where)
        self.status_callback = optional_str(config, "status_callback", where)
        self.client = PooledClient(
            ClientSettings.from_config(config, where), auth=(account_sid, auth_token)
        )
        self.clock = clock

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        return await send_each(batch, self._send_one, on_outcome)

    async def _send_one(self, message: Message) -> Outcome:
        if (refused := missing_part(message, "body")) is not None:
            return refused
        form = {"To": message.address, "Body": message.content["body"]}
        sender = message.sender or self.sender
        if sender:
            form["From"] = sender
        if self.status_callback:
            form["StatusCallback"] = self.status_callback
        try:
            response = await self.client.post(
                self.url, data=form, headers={"Idempotency-Key": message.message_id}
            )
        except httpx.HTTPError as exc:
            return outcome_for_error(message.message_id, exc)
        sid = json_field(response, "sid")
        return outcome_for_response(
            message.message_id,
            response,
            self.clock(),
            provider_id=str(sid) if sid is not None else None,
            bad_address=json_field(response, "code") in TWILIO_BAD_NUMBER,
        )

    async def close(self) -> None:
        await self.client.close()


def json_sms_provider(config: Mapping[str, Any], *, clock: Clock = utc_now) -> JsonSmsProvider:
    return JsonSmsProvider(config, clock=clock)


def twilio_provider(config: Mapping[str, Any], *, clock: Clock = utc_now) -> TwilioProvider:
    return TwilioProvider(config, clock=clock)
