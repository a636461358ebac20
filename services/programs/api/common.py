"""What every programs route shares: dependencies, strict bodies, answers with an ETag."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from shared.http import current_actor, if_match_version, runtime_of
from shared.idempotency import Command
from shared.runtime import ServiceRuntime

Runtime = Annotated[ServiceRuntime, Depends(runtime_of)]
Actor = Annotated[str, Depends(current_actor)]
IfMatch = Annotated[int | None, Depends(if_match_version)]

MAX_IDR = 10**15  # Rp1 quadrillion: far above any pagu, well inside BIGINT


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=500)


def tag(response: Response, version: int) -> None:
    """The version as ETag, to send back as ``If-Match`` with the next change."""
    response.headers["ETag"] = f'"{version}"'


async def answer(
    command: Command, status_code: int, body: BaseModel, version: int | None = None
) -> JSONResponse:
    """The command's answer, remembered under its ``Idempotency-Key`` (if it has one)."""
    response = await command.respond(status_code, body)
    if version is not None:
        tag(response, version)
    return response
