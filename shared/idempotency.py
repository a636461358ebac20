"""Idempotency keys on POST commands: a retried request gets the first answer, not a second effect.

The key is stored in the same transaction as the command's effect, with the response it got. A
command that fails stores nothing, so retrying it runs it again (nothing happened the first time).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import UtcDateTime
from shared.errors import Conflict, DomainError
from shared.unit_of_work import UnitOfWork

MAX_KEY_LENGTH = 200


def idempotency_table(metadata: MetaData) -> Table:
    return Table(
        "idempotency_keys",
        metadata,
        Column("scope", String(200), nullable=False),
        Column("key", String(MAX_KEY_LENGTH), nullable=False),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response", Text, nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        PrimaryKeyConstraint("scope", "key"),
    )


def fingerprint(body: BaseModel | None) -> str:
    payload = body.model_dump_json() if body is not None else ""
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Command:
    """One POST command in its transaction; ``respond`` builds (and remembers) the answer."""

    uow: UnitOfWork
    replayed: JSONResponse | None = None
    _table: Table | None = None
    _scope: str = ""
    _key: str | None = None
    _responses: list[tuple[int, Any]] = field(default_factory=list)

    async def respond(self, status_code: int, content: BaseModel | dict[str, Any]) -> JSONResponse:
        body = content.model_dump(mode="json") if isinstance(content, BaseModel) else content
        if self._key is not None and self._table is not None:
            await self.uow.session.execute(
                update(self._table)
                .where(self._table.c.scope == self._scope, self._table.c.key == self._key)
                .values(status_code=status_code, response=json.dumps(body))
            )
        return JSONResponse(status_code=status_code, content=body)


async def replay(
    session: AsyncSession, table: Table, scope: str, key: str, print_: str
) -> JSONResponse | None:
    row = (
        await session.execute(select(table).where(table.c.scope == scope, table.c.key == key))
    ).first()
    if row is None:
        return None
    if row.fingerprint != print_:
        raise DomainError(
            "Idempotency-Key was already used for a different request", field="Idempotency-Key"
        )
    if row.status_code is None:
        raise Conflict("a request with this Idempotency-Key is still in progress; retry")
    return JSONResponse(
        status_code=row.status_code,
        content=json.loads(row.response),
        headers={"Idempotent-Replayed": "true"},
    )


async def claim(session: AsyncSession, table: Table, scope: str, key: str, print_: str) -> None:
    if len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            f"Idempotency-Key must be at most {MAX_KEY_LENGTH} characters", field="Idempotency-Key"
        )
    await session.execute(
        insert(table).values(scope=scope, key=key, fingerprint=print_, created_at=datetime.now(UTC))
    )
