"""Push notifications over HTTP: FCM-v1-style and APNs-style requests.

The message's address is the device token. Both send a batch concurrently through one
pooled client (HTTP/1.1 here; the real APNs wants HTTP/2, which a TLS front can provide).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

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

# apns-id is a UUID; deriving it from the ledger id makes a retry carry the same one.
APNS_ID_NAMESPACE = uuid.UUID("6f1c3f0e-5d4b-5a8e-9c1e-2b7d4a90c3aa")
APNS_BAD_TOKEN_REASONS = {"BadDeviceToken", "Unregistered"}
FCM_BAD_TOKEN_CODES = {"UNREGISTERED"}
KEYS_FCM = CLIENT_KEYS | {"base_url", "project", "token", "token_env"}
KEYS_APNS = CLIENT_KEYS | {"base_url", "topic", "token", "token_env"}


def apns_id(message_id: str) -> str:
    return str(uuid.uuid5(APNS_ID_NAMESPACE, message_id))


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _fcm_error_codes(response: httpx.Response) -> set[str]:
    details = json_field(response, "error", "details")
    if not isinstance(details, list):
        return set()
    return {str(d.get("errorCode")) for d in details if isinstance(d, Mapping)}


class FcmProvider:
    """`POST {base_url}/v1/projects/{project}/messages:send` with
    `{"message": {"token", "notification": {"title", "body"}, "data": {...}}}`; the answer's
    `name` is the provider id; an UNREGISTERED token is a bad address."""

    name = "fcm"

    def __init__(self, config: Mapping[str, Any], *, clock: Clock = utc_now) -> None:
        where = provider_where("push", self.name)
        check_keys(config, KEYS_FCM, where)
        base_url = optional_str(config, "base_url", where) or "https://fcm.googleapis.com"
        project = required_str(config, "project", where)
        self.url = f"{base_url.rstrip('/')}/v1/projects/{quote(project, safe='')}/messages:send"
        token = secret(config, "token", where, required=False)
        self.client = PooledClient(
            ClientSettings.from_config(config, where), headers=_bearer(token)
        )
        self.clock = clock

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        return await send_each(batch, self._send_one, on_outcome)

    async def _send_one(self, message: Message) -> Outcome:
        if (refused := missing_part(message, "body")) is not None:
            return refused
        data = {"message_id": message.message_id}  # FCM data values must be strings
        if message.content.get("deep_link"):
            data["deep_link"] = message.content["deep_link"]
        payload = {
            "message": {
                "token": message.address,
                "notification": {
                    "title": message.content.get("title", ""),
                    "body": message.content["body"],
                },
                "data": data,
            }
        }
        try:
            response = await self.client.post(
                self.url, json=payload, headers={"Idempotency-Key": message.message_id}
            )
        except httpx.HTTPError as exc:
            return outcome_for_error(message.message_id, exc)
        name = json_field(response, "name")
        return outcome_for_response(
            message.message_id,
            response,
            self.clock(),
            provider_id=str(name) if name is not None else None,
            bad_address=bool(_fcm_error_codes(response) & FCM_BAD_TOKEN_CODES),
        )

    async def close(self) -> None:
        await self.client.close()


class ApnsProvider:
    """`POST {base_url}/3/device/{token}` with `{"aps": {"alert": {"title", "body"}},
    "deep_link", "message_id"}` and the headers apns-topic, apns-push-type: alert and
    apns-id (derived from the message id); 410 or BadDeviceToken is a bad address."""

    name = "apns"

    def __init__(self, config: Mapping[str, Any], *, clock: Clock = utc_now) -> None:
        where = provider_where("push", self.name)
        check_keys(config, KEYS_APNS, where)
        base_url = optional_str(config, "base_url", where) or "https://api.push.apple.com"
        self.base_url = base_url.rstrip("/")
        self.topic = required_str(config, "topic", where)
        token = secret(config, "token", where, required=False)
        self.client = PooledClient(
            ClientSettings.from_config(config, where), headers=_bearer(token)
        )
        self.clock = clock

    async def send(
        self, batch: Sequence[Message], on_outcome: OutcomeHook | None = None
    ) -> list[Outcome]:
        return await send_each(batch, self._send_one, on_outcome)

    async def _send_one(self, message: Message) -> Outcome:
        if (refused := missing_part(message, "body")) is not None:
            return refused
        payload: dict[str, Any] = {
            "aps": {
                "alert": {
                    "title": message.content.get("title", ""),
                    "body": message.content["body"],
                }
            },
            "message_id": message.message_id,
        }
        if message.content.get("deep_link"):
            payload["deep_link"] = message.content["deep_link"]
        the_id = apns_id(message.message_id)
        headers = {"apns-topic": self.topic, "apns-push-type": "alert", "apns-id": the_id}
        url = f"{self.base_url}/3/device/{quote(message.address, safe='')}"
        try:
            response = await self.client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as exc:
            return outcome_for_error(message.message_id, exc)
        bad_token = (
            response.status_code == 410 or json_field(response, "reason") in APNS_BAD_TOKEN_REASONS
        )
        return outcome_for_response(
            message.message_id,
            response,
            self.clock(),
            provider_id=response.headers.get("apns-id", the_id),
            bad_address=bad_token,
        )

    async def close(self) -> None:
        await self.client.close()


def fcm_provider(config: Mapping[str, Any], *, clock: Clock = utc_now) -> FcmProvider:
    return FcmProvider(config, clock=clock)


def apns_provider(config: Mapping[str, Any], *, clock: Clock = utc_now) -> ApnsProvider:
    return ApnsProvider(config, clock=clock)
