"""API tokens for integrations: named, scoped, shown once, stored as a SHA-256, revocable.

A token is ``cth_`` plus 43 random URL-safe characters (256 bits), so a plain
SHA-256 of it is enough to store: there is nothing to guess. A token acts as
the person who created it, within its scopes, and stops working when it is
revoked or that person is disabled. Its last use is kept to the minute, so a
busy integration does not write on every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from crm_sync.audit import record_in
from crm_sync.db import Database
from crm_sync.models import TOKEN_SCOPES, Agent, ApiToken, utcnow
from crm_sync.people import AdminError, Person, person_of

TOKEN_PREFIX = "cth_"
_LAST_USE_GRANULARITY = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed (never the token itself)."""

    id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    username: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    def json(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "username": self.username,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """A verified token: who it acts as, and what it may do."""

    token_id: int
    person: Person
    scopes: frozenset[str]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _scopes(value: object) -> list[str]:
    if isinstance(value, str):
        value = [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise AdminError("scopes", f"scopes must be a non-empty list of {', '.join(TOKEN_SCOPES)}")
    for scope in value:
        if scope not in TOKEN_SCOPES:
            raise AdminError(
                "scopes", f"unknown scope {str(scope)[:30]!r}: expected {', '.join(TOKEN_SCOPES)}"
            )
    return sorted(set(value))


class ApiTokens:
    """Issues, lists, revokes and verifies API tokens."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def create(
        self, actor: str, *, name: object, scopes: object, username: str
    ) -> tuple[str, TokenInfo]:
        """A new token (returned here only) and its listing."""
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise AdminError("name", "name must be 1 to 100 characters")
        wanted = _scopes(scopes)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        async with self._db.sessions() as session:
            agent = await session.scalar(select(Agent).where(Agent.username == username))
            if agent is None or not agent.active:
                raise AdminError("username", f"no active user {username[:64]!r}", 404)
            row = ApiToken(
                name=name.strip(),
                prefix=token[: len(TOKEN_PREFIX) + 6],
                token_hash=_hash(token),
                scopes=wanted,
                agent_id=agent.id,
                created_at=utcnow(),
            )
            session.add(row)
            await session.flush()
            info = _info(row, agent.username)
            record_in(session, actor, "token.create", f"token:{row.id}", None, info.json())
            await session.commit()
            return token, info

    async def everyone(self) -> list[TokenInfo]:
        """Every token, newest first (revoked ones too, for the record)."""
        async with self._db.sessions() as session:
            rows = (
                await session.execute(
                    select(ApiToken, Agent.username)
                    .join(Agent, Agent.id == ApiToken.agent_id)
                    .order_by(ApiToken.id.desc())
                )
            ).all()
        return [_info(t, u) for t, u in rows]

    async def revoke(self, actor: str, token_id: int) -> TokenInfo:
        """Revoke at once; revoking twice is harmless."""
        async with self._db.sessions() as session:
            row = await session.get(ApiToken, token_id)
            if row is None:
                raise AdminError("id", f"no token {token_id}", 404)
            agent = await session.get(Agent, row.agent_id)
            username = agent.username if agent else "?"
            if row.revoked_at is None:
                before = _info(row, username).json()
                row.revoked_at = utcnow()
                record_in(
                    session,
                    actor,
                    "token.revoke",
                    f"token:{row.id}",
                    before,
                    _info(row, username).json(),
                )
                await session.commit()
            return _info(row, username)

    async def verify(self, token: str) -> TokenGrant | None:
        """The grant of a live token; None for unknown, revoked, or a disabled person's."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        async with self._db.sessions() as session:
            found = (
                await session.execute(
                    select(ApiToken, Agent)
                    .join(Agent, Agent.id == ApiToken.agent_id)
                    .where(ApiToken.token_hash == _hash(token))
                )
            ).first()
            if found is None:
                return None
            row, agent = found
            if row.revoked_at is not None or not agent.active:
                return None
            now = utcnow()
            if row.last_used_at is None or now - row.last_used_at >= _LAST_USE_GRANULARITY:
                await session.execute(
                    update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=now)
                )
                await session.commit()
            return TokenGrant(row.id, person_of(agent), frozenset(row.scopes))


def _info(row: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.prefix,
        tuple(row.scopes),
        username,
        row.created_at,
        row.last_used_at,
        row.revoked_at,
    )
