"""What a budget line's transitions do to the enrollments on it.

Postponing a line suspends every open enrollment on it; resuming restores exactly those, each
to where it was. Cancelling or closing a line cancels the enrollments still open and releases
their reservations. Once a postponement's deadline has passed, the enrollments still suspended
are cancelled. The line and its enrollments belong to this service, so each cascade is one
command and one transaction, not a chain of events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from services.programs.domain import budget_lines, enrollments
from services.programs.domain.budget_lines import BudgetLine, LineStatus
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from shared.events.base import Event
from shared.events.vocabulary import CertificateScheme

SYSTEM_ACTOR = "system"
CANCELLABLE = enrollments.OPEN - {EnrollmentStatus.REQUESTED}


@dataclass(frozen=True)
class Cascade:
    line: BudgetLine
    changed: list[Enrollment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def postpone(
    line: BudgetLine,
    on_line: Iterable[Enrollment],
    *,
    reason: str,
    deadline: date | None,
    certificate_scheme: CertificateScheme | None,
    actor: str,
    now: datetime,
) -> Cascade:
    postponed_line, postponed = budget_lines.postpone(
        line,
        reason=reason,
        deadline=deadline,
        certificate_scheme=certificate_scheme,
        actor=actor,
        now=now,
    )
    why = f"{line.describe()} is postponed: {postponed.reason}"
    changed: list[Enrollment] = []
    events: list[Event] = [postponed]
    for enrollment in on_line:
        if enrollment.status in enrollments.SUSPENDABLE:
            suspended, event = enrollments.suspend(enrollment, reason=why, actor=actor, now=now)
            changed.append(suspended)
            events.append(event)
    return Cascade(postponed_line, changed, events)


def resume(
    line: BudgetLine,
    on_line: Iterable[Enrollment],
    *,
    reason: str,
    certificate_scheme: CertificateScheme | None,
    actor: str,
    now: datetime,
) -> Cascade:
    """Only a postponement suspends enrollments, so every suspended one on the line resumes."""
    resumed_line, resumed = budget_lines.resume(
        line, reason=reason, certificate_scheme=certificate_scheme, actor=actor, now=now
    )
    why = f"{line.describe()} resumed: {resumed.reason}"
    changed: list[Enrollment] = []
    events: list[Event] = [resumed]
    for enrollment in on_line:
        if enrollment.status is EnrollmentStatus.SUSPENDED:
            restored, event = enrollments.resume(enrollment, reason=why, actor=actor, now=now)
            changed.append(restored)
            events.append(event)
    return Cascade(resumed_line, changed, events)


def _cancel_open(
    line: BudgetLine, on_line: Iterable[Enrollment], *, reason: str, actor: str, now: datetime
) -> tuple[Cascade, int]:
    changed: list[Enrollment] = []
    events: list[Event] = []
    released = 0
    for enrollment in on_line:
        if enrollment.status in CANCELLABLE:
            cancelled, line, event = enrollments.cancel(
                enrollment, line, reason=reason, actor=actor, now=now
            )
            changed.append(cancelled)
            events.append(event)
            released += event.released_idr
    return Cascade(line, changed, events), released


def cancel(
    line: BudgetLine, on_line: Iterable[Enrollment], *, reason: str, actor: str, now: datetime
) -> Cascade:
    why = f"{line.describe()} was cancelled: {reason}"
    emptied, released_idr = _cancel_open(line, on_line, reason=why, actor=actor, now=now)
    cancelled_line, cancelled = budget_lines.cancel(
        emptied.line, released_idr=released_idr, reason=reason, actor=actor, now=now
    )
    return Cascade(cancelled_line, emptied.changed, [cancelled, *emptied.events])


def close(
    line: BudgetLine, on_line: Iterable[Enrollment], *, reason: str, actor: str, now: datetime
) -> Cascade:
    why = f"{line.describe()} was closed: {reason}"
    emptied, released_idr = _cancel_open(line, on_line, reason=why, actor=actor, now=now)
    closed_line, closed = budget_lines.close(
        emptied.line, released_idr=released_idr, reason=reason, actor=actor, now=now
    )
    return Cascade(closed_line, emptied.changed, [closed, *emptied.events])


def postponement_expired(line: BudgetLine, today: date) -> bool:
    deadline = line.postponement_deadline
    return line.status is LineStatus.POSTPONED and deadline is not None and today > deadline


def expire_postponement(
    line: BudgetLine, on_line: Iterable[Enrollment], *, today: date, now: datetime
) -> Cascade:
    """After the deadline, cancel what is still suspended; the line itself stays postponed."""
    if not postponement_expired(line, today):
        return Cascade(line)
    suspended = [e for e in on_line if e.status is EnrollmentStatus.SUSPENDED]
    reason = (
        f"{line.describe()} was still postponed after its deadline "
        f"{line.postponement_deadline}: {line.status_reason}"
    )
    cancelled, _ = _cancel_open(line, suspended, reason=reason, actor=SYSTEM_ACTOR, now=now)
    return cancelled
