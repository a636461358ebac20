"""Failure kinds the kernel acts on."""

from __future__ import annotations

import asyncio
import random

from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError


class DomainError(Exception):
    """A business rule refused a command or an event. Permanent: retrying changes nothing.

    ``field`` names the input the rule is about, so an API can point at it.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError):
    """Several fields broke their rules at once; each problem names its field."""

    def __init__(self, problems: list[DomainError]) -> None:
        super().__init__("; ".join(p.message for p in problems), field=problems[0].field)
        self.problems = problems


class NotFound(DomainError):
    """The aggregate a command names does not exist."""


class Forbidden(DomainError):
    """The caller is authenticated but may not do this (e.g. another province's enterprise)."""


class Conflict(DomainError):
    """The command conflicts with the current state (duplicate, stale version, wrong state)."""


class Busy(Exception):
    """The platform is behind on work already accepted; the caller should retry later."""

    def __init__(self, message: str, *, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    DisconnectionError,
    ConnectionError,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
    KafkaError,
)


# PostgreSQL error classes that say "try again later", not "this is wrong":
# 08 connection exception, 40 serialization failure/deadlock, 53 insufficient resources
# (too many connections, disk full), 57014 statement timeout, 57P operator intervention
# (shutdown, cannot connect now), 55P03 lock timeout.
TRANSIENT_SQLSTATES = ("08", "40", "53", "57014", "57P", "55P03")


def retry_delay(failures: int, *, cap_s: float = 5.0) -> float:
    """Seconds to wait before attempt ``failures + 1``: exponential from 0.2 s, capped so that
    the end of a long outage is noticed within seconds, with jitter so replicas don't retry in
    step."""
    return min(0.2 * 2 ** max(failures - 1, 0), cap_s) * random.uniform(0.8, 1.2)


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble (database or broker unreachable): retry, keep the place."""
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if sqlstate is not None and sqlstate.startswith(TRANSIENT_SQLSTATES):
            return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and isinstance(cause, TRANSIENT_ERRORS)
