"""API tokens: created with a role, shown once, kept as a SHA-256 hash, revoked by name.

A token reads `cantata_<lookup>_<secret>`: `lookup` (public, 12 hex digits) finds its row, the
hash of the whole token is compared in constant time, and the 256-bit secret makes guessing
hopeless. Roles are cumulative: viewer < editor < publisher < admin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cantata.canvas.timestamps import aware, db_time, utc
from cantata.errors import CantataError, NotFoundError, did_you_mean
from cantata.store.base import Store

VIEWER, EDITOR, PUBLISHER, ADMIN = "viewer", "editor", "publisher", "admin"
ROLES = (VIEWER, EDITOR, PUBLISHER, ADMIN)
PREFIX = "cantata_"
TOKEN = re.compile(r"^cantata_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


class TokenError(CantataError):
    """A token cannot be created or revoked as asked."""


class TokenNotFound(TokenError, NotFoundError):
    """No token of that name."""


@dataclass(frozen=True)
class ApiToken:
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    def allows(self, role: str) -> bool:
        """Whether this token's role includes `role` (roles are cumulative)."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}{did_you_mean(role, ROLES)}", where="--role")
    return role


def create_token(store: Store, name: str, role: str, *, now: datetime) -> tuple[ApiToken, str]:
    """A new token and its secret text (shown once: only its hash is kept)."""
    check_role(role)
    if not NAME.match(name):
        raise TokenError(
            f"token name {name!r}: use letters, digits and _ . @ - (up to 64 characters)"
        )
    with store.transaction():
        if store.scalar("SELECT count(*) FROM cantata_api_token WHERE name = %s", [name]):
            raise TokenError(f"a token named {name!r} exists already (revoked ones stay listed)")
        lookup = secrets.token_hex(6)
        text = f"{PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
        store.execute(
            "INSERT INTO cantata_api_token (name, lookup, secret_hash, role, created_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [name, lookup, _hash(text), role, db_time(now)],
        )
    return token_named(store, name), text


_COLUMNS = "name, role, created_at, revoked_at, last_used_at"


def _token(row: tuple[object, ...]) -> ApiToken:
    name, role, created, revoked, used = row
    assert isinstance(created, datetime)
    return ApiToken(
        str(name),
        str(role),
        aware(created),
        utc(revoked) if isinstance(revoked, datetime) else None,
        utc(used) if isinstance(used, datetime) else None,
    )


def list_tokens(store: Store) -> list[ApiToken]:
    rows = store.fetchall(f"SELECT {_COLUMNS} FROM cantata_api_token ORDER BY name")
    return [_token(r) for r in rows]


def token_named(store: Store, name: str) -> ApiToken:
    row = store.fetchone(f"SELECT {_COLUMNS} FROM cantata_api_token WHERE name = %s", [name])
    if row is None:
        known = [t.name for t in list_tokens(store)]
        raise TokenNotFound(f"no token {name!r}{did_you_mean(name, known)}")
    return _token(row)


def revoke_token(store: Store, name: str, *, now: datetime) -> ApiToken:
    """Revoke a token for good (revoking a revoked token keeps its first revocation time)."""
    token_named(store, name)
    store.execute(
        "UPDATE cantata_api_token SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL",
        [db_time(now), name],
    )
    return token_named(store, name)


def authenticate(store: Store, text: str, *, now: datetime) -> ApiToken | None:
    """The live token `text` is, or None (malformed, unknown, wrong secret or revoked); a
    match records when it was last used."""
    m = TOKEN.match(text)
    if m is None:
        return None
    row = store.fetchone(
        f"SELECT secret_hash, {_COLUMNS} FROM cantata_api_token WHERE lookup = %s",
        [m.group(1)],
    )
    if row is None or not hmac.compare_digest(str(row[0]), _hash(text)):
        return None
    token = _token(row[1:])
    if token.revoked_at is not None:
        return None
    store.execute(
        "UPDATE cantata_api_token SET last_used_at = %s WHERE name = %s",
        [db_time(now), token.name],
    )
    return token
