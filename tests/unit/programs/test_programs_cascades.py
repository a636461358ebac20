"""The postponement saga inside programs: what a line's transitions do to its enrollments."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st
from programs_builders import AMOUNT, NOW, allocate, open_iso9001

from services.programs.domain import budget_lines, cascades
from services.programs.domain.budget_lines import BudgetLine, LineStatus
from services.programs.domain.enrollments import Enrollment, EnrollmentStatus
from services.programs.domain.programs import Program
from shared.events.programs import (
    BudgetCancelled,
    BudgetClosed,
    BudgetPostponed,
    EnrollmentCancelled,
    EnrollmentResumed,
    EnrollmentSuspended,
)

S = EnrollmentStatus
DEADLINE = date(2025, 6, 30)


def enrollment(line: BudgetLine, number: int, status: EnrollmentStatus) -> Enrollment:
    holds = status in (S.APPROVED, S.IN_ASSISTANCE)
    return Enrollment(
        id=f"e-{number}",
        nib=f"91200012345{number:02d}",
        province_code="35",
        program_code=line.program_code,
        budget_line_id=line.id,
        fiscal_year=line.fiscal_year,
        certificate_scheme=None,
        amount_idr=AMOUNT,
        requested_at=NOW,
        status=status,
        reserved_idr=AMOUNT if holds else 0,
        realised_idr=AMOUNT if status is S.COMPLETED else 0,
    )


def line_with(
    program: Program, statuses: list[EnrollmentStatus]
) -> tuple[BudgetLine, list[Enrollment]]:
    """A line holding exactly what enrollments in these statuses hold."""
    line = allocate(program, quota_enterprises=len(statuses), pagu_idr=AMOUNT * len(statuses))
    on_line = [enrollment(line, n, s) for n, s in enumerate(statuses)]
    line = replace(
        line,
        reserved_idr=sum(e.reserved_idr for e in on_line),
        realised_idr=sum(e.realised_idr for e in on_line),
        quota_used=sum(
            1 for e in on_line if e.status in (S.APPROVED, S.IN_ASSISTANCE, S.COMPLETED)
        ),
    )
    return line, on_line


MIXED = [S.ELIGIBLE, S.APPROVED, S.IN_ASSISTANCE, S.COMPLETED, S.WITHDRAWN, S.INELIGIBLE]


def postpone(
    line: BudgetLine, on_line: list[Enrollment], deadline: date | None = DEADLINE
) -> cascades.Cascade:
    return cascades.postpone(
        line,
        on_line,
        reason="efisiensi anggaran 2025",
        deadline=deadline,
        certificate_scheme=None,
        actor="direktur",
        now=NOW,
    )


def test_postponement_suspends_exactly_the_open_enrollments(program: Program) -> None:
    line, on_line = line_with(program, MIXED)
    cascade = postpone(line, on_line)
    assert cascade.line.status is LineStatus.POSTPONED
    assert [e.id for e in cascade.changed] == ["e-0", "e-1", "e-2"]
    assert all(e.status is S.SUSPENDED for e in cascade.changed)
    postponed, *rest = cascade.events
    assert isinstance(postponed, BudgetPostponed)
    suspensions = [e for e in rest if isinstance(e, EnrollmentSuspended)]
    assert len(suspensions) == len(rest)
    assert [s.enrollment_id for s in suspensions] == ["e-0", "e-1", "e-2"]
    assert suspensions[0].reason == (
        "budget line line-1 (ISO9001-2025, 2025) is postponed: efisiensi anggaran 2025"
    )
    assert suspensions[0].actor == "direktur"
    assert cascade.line.reserved_idr == line.reserved_idr, "suspension keeps reservations"


def test_resumption_restores_each_suspended_enrollment(program: Program) -> None:
    line, on_line = line_with(program, MIXED)
    postponed = postpone(line, on_line)
    cascade = cascades.resume(
        postponed.line,
        postponed.changed,
        reason="DIPA revised",
        certificate_scheme=None,
        actor="direktur",
        now=NOW,
    )
    assert cascade.line.status is LineStatus.OPEN
    assert [(e.id, e.status) for e in cascade.changed] == [
        ("e-0", S.ELIGIBLE),
        ("e-1", S.APPROVED),
        ("e-2", S.IN_ASSISTANCE),
    ]
    assert sum(isinstance(e, EnrollmentResumed) for e in cascade.events) == 3


def test_cancelling_a_line_cancels_what_is_open_and_releases_it(program: Program) -> None:
    line, on_line = line_with(program, MIXED)
    cascade = cascades.cancel(line, on_line, reason="blokir DIPA", actor="a", now=NOW)
    assert cascade.line.status is LineStatus.CANCELLED
    assert cascade.line.reserved_idr == 0
    assert cascade.line.realised_idr == AMOUNT, "what was spent stays spent"
    cancelled, *rest = cascade.events
    assert isinstance(cancelled, BudgetCancelled)
    assert cancelled.released_idr == 2 * AMOUNT
    assert [e.enrollment_id for e in rest if isinstance(e, EnrollmentCancelled)] == [
        "e-0",
        "e-1",
        "e-2",
    ]


def test_closing_a_postponed_line_cancels_the_suspended_enrollments(program: Program) -> None:
    line, on_line = line_with(program, MIXED)
    postponed = postpone(line, on_line)
    untouched = [e for e in on_line if e.id not in {c.id for c in postponed.changed}]
    cascade = cascades.close(
        postponed.line,
        postponed.changed + untouched,
        reason="akhir tahun anggaran 2025",
        actor="a",
        now=NOW,
    )
    closed = cascade.events[0]
    assert isinstance(closed, BudgetClosed)
    assert (closed.realised_idr, closed.released_idr) == (AMOUNT, 2 * AMOUNT)
    assert {e.status for e in cascade.changed} == {S.CANCELLED}
    assert cascade.line.quota_used == 1, "the completed enrollment keeps its place"


def test_the_deadline_cancels_what_is_still_suspended_once_it_has_passed(
    program: Program,
) -> None:
    line, on_line = line_with(program, MIXED)
    postponed = postpone(line, on_line)
    for today in (NOW.date(), DEADLINE):
        early = cascades.expire_postponement(
            postponed.line, postponed.changed, today=today, now=NOW
        )
        assert early.changed == [] and early.events == []
    expired = cascades.expire_postponement(
        postponed.line, postponed.changed, today=DEADLINE + timedelta(days=1), now=NOW
    )
    assert expired.line.status is LineStatus.POSTPONED, "the line itself stays postponed"
    assert expired.line.reserved_idr == 0
    assert expired.line.quota_used == 1
    assert [e.status for e in expired.changed] == [S.CANCELLED] * 3
    assert [e.released_idr for e in expired.events] == [0, AMOUNT, AMOUNT]  # type: ignore[attr-defined]
    assert all(e.actor == cascades.SYSTEM_ACTOR for e in expired.events)  # type: ignore[attr-defined]
    assert "after its deadline 2025-06-30: efisiensi anggaran 2025" in expired.events[0].reason  # type: ignore[attr-defined]
    again = cascades.expire_postponement(
        expired.line, expired.changed, today=DEADLINE + timedelta(days=2), now=NOW
    )
    assert again.changed == []


def test_no_deadline_means_suspended_until_resumed(program: Program) -> None:
    line, on_line = line_with(program, MIXED)
    postponed = postpone(line, on_line, deadline=None)
    later = cascades.expire_postponement(
        postponed.line, postponed.changed, today=date(2030, 1, 1), now=NOW
    )
    assert later.changed == []


@given(st.lists(st.sampled_from(list(EnrollmentStatus)), max_size=12))
def test_postponing_then_resuming_changes_nothing_but_the_versions(
    statuses: list[EnrollmentStatus],
) -> None:
    line, on_line = line_with(open_iso9001(), [s for s in statuses if s is not S.SUSPENDED])
    postponed = postpone(line, on_line)
    resumed = cascades.resume(
        postponed.line, postponed.changed, reason="r", certificate_scheme=None, actor="a", now=NOW
    )
    restored = {e.id: e for e in resumed.changed}
    for before in on_line:
        after = restored.get(before.id, before)
        assert (after.status, after.reserved_idr) == (before.status, before.reserved_idr)
    assert (resumed.line.reserved_idr, resumed.line.quota_used) == (
        line.reserved_idr,
        line.quota_used,
    )
    assert budget_lines.capacity_shortfalls(resumed.line, 0) == budget_lines.capacity_shortfalls(
        line, 0
    )
