"""Push notifications over HTTP: FCM-v1-style and APNs-style requests.

The message's address is the device token. Both send a batch concurrently through one
pooled client (HTTP/1.1 here; the real APNs wants HTTP/2, which a TLS front can provide).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

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

# apns-id is a UUID; deriving it from the ledger id makes a retry carry the same one.
APNS_ID_NAMESPACE = uuid.UUID("6f1c3f0e-5d4b-5a8e-9c1e-2b7d4a90c3aa")
APNS_BAD_TOKEN_REASONS = {"BadDeviceToken", "Unregistered"}
FCM_BAD_TOKEN_CODES = {"UNREGISTERED"}
KEYS_FCM = CLIENT_KEYS | {"base_url", "project", "token", "token_env"}
KEYS_APNS = CLIENT_KEYS | {"base_url", "topic", "token", "token_env"}


def apns_id(message_id: str) -> str:
    return str(uuid.uuid5(APNS_ID_NAMESPACE, message_id))


def _fcm_error_codes(response: httpx.Response) -> set[str]:
    details = json_field(response, "error", "details")
    if not isinstance(details, list):
        return set()
    return {str(d.get("errorCode")) for d in details if isinstance(d, Mapping)}


class FcmProvider(PerMessageProvider):
    """`POST {base_url}/v1/projects/{project}/messages:send` with
    `{"message": {"token", "notification": {"title", "body"}, "data": {...}}}`; the answer's
    `name` is the provider id; an UNREGISTERED token is a bad address."""

    name = "fcm"
    channel = "push"
    keys = KEYS_FCM

    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        base_url = optional_str(config, "base_url", where) or "https://fcm.googleapis.com"
        project = required_str(config, "project", where)
        self.url = f"{base_url.rstrip('/')}/v1/projects/{quote(project, safe='')}/messages:send"
        return Credentials(headers=bearer(secret(config, "token", where, required=False)))

    def _request(self, message: Message) -> Request:
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
        return Request(self.url, {"Idempotency-Key": message.message_id}, json=payload)

    def _answer(self, message: Message, response: httpx.Response) -> Answer:
        return Answer(
            provider_id=json_field(response, "name"),
            bad_address=bool(_fcm_error_codes(response) & FCM_BAD_TOKEN_CODES),
        )


class ApnsProvider(PerMessageProvider):
    """`POST {base_url}/3/device/{token}` with `{"aps": {"alert": {"title", "body"}},
    "deep_link", "message_id"}` and the headers apns-topic, apns-push-type: alert and
    apns-id (derived from the message id); 410 or BadDeviceToken is a bad address."""

    name = "apns"
    channel = "push"
    keys = KEYS_APNS

    def _configure(self, config: Mapping[str, Any], where: str) -> Credentials:
        base_url = optional_str(config, "base_url", where) or "https://api.push.apple.com"
        self.base_url = base_url.rstrip("/")
        self.topic = required_str(config, "topic", where)
        return Credentials(headers=bearer(secret(config, "token", where, required=False)))

    def _request(self, message: Message) -> Request:
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
        headers = {
            "apns-topic": self.topic,
            "apns-push-type": "alert",
            "apns-id": apns_id(message.message_id),
        }
        url = f"{self.base_url}/3/device/{quote(message.address, safe='')}"
        return Request(url, headers, json=payload)

    def _answer(self, message: Message, response: httpx.Response) -> Answer:
        bad_token = (
            response.status_code == 410 or json_field(response, "reason") in APNS_BAD_TOKEN_REASONS
        )
        # APNs answers with the apns-id it was sent; ours when a server leaves it out.
        provider_id = response.headers.get("apns-id", apns_id(message.message_id))
        return Answer(provider_id=provider_id, bad_address=bad_token)


def fcm_provider(
    config: Mapping[str, Any], *, clock: Clock = utc_now, root: Path | None = None
) -> FcmProvider:
    return FcmProvider(config, clock=clock)


def apns_provider(
    config: Mapping[str, Any], *, clock: Clock = utc_now, root: Path | None = None
) -> ApnsProvider:
    return ApnsProvider(config, clock=clock)
