"""Budget lines: allocation rules, states, and money that never exceeds the pagu."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from programs_builders import NOW, allocate, open_iso9001

from services.programs.domain import budget_lines, programs
from services.programs.domain.budget_lines import BudgetLine, LineStatus
from services.programs.domain.programs import Program
from shared.errors import Conflict, DomainError
from shared.events.vocabulary import BudgetMechanism, CertificateScheme, ProgramType

TOMORROW = NOW.date() + timedelta(days=1)


def test_allocation_opens_the_line_and_says_where_it_sits(program: Program) -> None:
    line, allocated = budget_lines.allocate(
        program,
        line_id="line-jatim",
        fiscal_year=2025,
        mechanism=BudgetMechanism.TUGAS_PEMBANTUAN,
        province_code="35",
        pagu_idr=750_000_000,
        quota_enterprises=30,
        actor="officer-1",
        now=NOW,
    )
    assert line.status is LineStatus.OPEN
    assert line.available_idr == 750_000_000
    assert line.allocated_idr == line.pagu_idr
    assert allocated.subject == "line-jatim"
    assert allocated.line.mechanism is BudgetMechanism.TUGAS_PEMBANTUAN
    assert allocated.line.province_code == "35"
    assert allocated.quota_enterprises == 30
    assert allocated.actor == "officer-1"


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"province_code": "35"}, "province_code", "pusat line is spent centrally"),
        (
            {"mechanism": BudgetMechanism.DAK_FISIK, "province_code": None},
            "province_code",
            "spent by a province",
        ),
        (
            {"mechanism": BudgetMechanism.DEKONSENTRASI, "province_code": "3a"},
            "province_code",
            "2-digit",
        ),
        (
            {"mechanism": BudgetMechanism.DEKONSENTRASI, "province_code": "16"},
            "mechanism",
            "dekonsentrasi ended in 2023",
        ),
        ({"fiscal_year": 1999}, "fiscal_year", "between 2000 and 2100"),
        ({"pagu_idr": -1}, "pagu_idr", "negative"),
        ({"quota_enterprises": -1}, "quota_enterprises", "negative"),
    ],
)
def test_bad_allocations_are_refused_naming_the_field(
    program: Program, overrides: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(DomainError) as caught:
        allocate(program, **overrides)
    assert caught.value.field == field
    assert message in caught.value.message


def test_dekonsentrasi_is_allowed_before_it_became_tugas_pembantuan(program: Program) -> None:
    covid = allocate(
        program, fiscal_year=2020, mechanism=BudgetMechanism.DEKONSENTRASI, province_code="16"
    )
    assert covid.province_code == "16"


def test_a_closed_program_gets_no_new_lines(program: Program) -> None:
    closed, _ = programs.close_program(program, reason="stopped", closed_on=NOW.date(), actor="a")
    with pytest.raises(Conflict):
        allocate(closed)


def test_reservations_stop_at_the_quota(line: BudgetLine) -> None:
    for _ in range(3):
        line = budget_lines.reserve(line, 10_000_000)
    assert (line.quota_used, line.reserved_idr, line.available_idr) == (3, 30_000_000, 70_000_000)
    with pytest.raises(Conflict) as caught:
        budget_lines.reserve(line, 10_000_000)
    assert caught.value.message.startswith("quota exhausted: 3 of 3 places")


def test_reservations_stop_at_the_pagu(line: BudgetLine) -> None:
    line = budget_lines.reserve(line, 80_000_000)
    with pytest.raises(Conflict) as caught:
        budget_lines.reserve(line, 25_000_000)
    assert "pagu exhausted: Rp20.000.000 left" in caught.value.message
    assert "Rp25.000.000 needed" in caught.value.message


def test_settling_realises_what_was_spent_and_releases_the_rest(line: BudgetLine) -> None:
    line = budget_lines.reserve(line, 25_000_000)
    settled, realised = budget_lines.settle(
        line,
        reserved_idr=25_000_000,
        realised_idr=18_500_000,
        enrollment_id="e-1",
        actor="officer-2",
        now=NOW,
    )
    assert (settled.reserved_idr, settled.realised_idr) == (0, 18_500_000)
    assert settled.quota_used == 1, "the supported enterprise keeps its place"
    assert realised is not None
    assert (realised.amount_idr, realised.realised_total_idr) == (18_500_000, 18_500_000)
    assert realised.enrollment_id == "e-1"
    with pytest.raises(DomainError) as caught:
        budget_lines.settle(
            line,
            reserved_idr=25_000_000,
            realised_idr=25_000_001,
            enrollment_id="e-1",
            actor="a",
            now=NOW,
        )
    assert caught.value.field == "realised_idr"


def test_settling_nothing_spent_emits_no_realisation(line: BudgetLine) -> None:
    line = budget_lines.reserve(line, 25_000_000)
    settled, realised = budget_lines.settle(
        line, reserved_idr=25_000_000, realised_idr=0, enrollment_id="e", actor="a", now=NOW
    )
    assert realised is None
    assert settled.reserved_idr == 0


def test_release_gives_back_place_and_amount(line: BudgetLine) -> None:
    reserved = budget_lines.reserve(line, 25_000_000)
    released = budget_lines.release(reserved, 25_000_000)
    assert (released.quota_used, released.reserved_idr) == (0, 0)
    with pytest.raises(ValueError):
        budget_lines.release(released, 1)


def postponed(line: BudgetLine, deadline: date | None = None) -> BudgetLine:
    result, _ = budget_lines.postpone(
        line,
        reason="anggaran belum tersedia",
        deadline=deadline,
        certificate_scheme=CertificateScheme.ISO_9001,
        actor="direktur",
        now=NOW,
    )
    return result


def test_postponing_records_reason_deadline_and_what_was_reserved(line: BudgetLine) -> None:
    line = budget_lines.reserve(line, 25_000_000)
    after, event = budget_lines.postpone(
        line,
        reason=" anggaran belum tersedia ",
        deadline=date(2025, 6, 30),
        certificate_scheme=CertificateScheme.ISO_9001,
        actor="direktur",
        now=NOW,
    )
    assert after.status is LineStatus.POSTPONED
    assert after.status_reason == "anggaran belum tersedia"
    assert after.postponement_deadline == date(2025, 6, 30)
    assert (event.reason, event.deadline, event.reserved_idr) == (
        "anggaran belum tersedia",
        date(2025, 6, 30),
        25_000_000,
    )
    assert event.certificate_scheme is CertificateScheme.ISO_9001
    assert event.actor == "direktur"


def test_postponement_needs_an_open_line_a_reason_and_a_future_deadline(line: BudgetLine) -> None:
    with pytest.raises(DomainError) as no_reason:
        budget_lines.postpone(
            line, reason=" ", deadline=None, certificate_scheme=None, actor="a", now=NOW
        )
    assert no_reason.value.field == "reason"
    with pytest.raises(DomainError) as past:
        postponed(line, deadline=NOW.date())
    assert past.value.field == "deadline"
    with pytest.raises(Conflict, match="only an open line can be postponed"):
        postponed(postponed(line))


def test_lines_not_open_refuse_enrollments_naming_their_state(line: BudgetLine) -> None:
    budget_lines.check_takes_enrollments(line)
    with pytest.raises(Conflict) as caught:
        budget_lines.check_takes_enrollments(postponed(line, deadline=TOMORROW))
    assert caught.value.field == "budget_line_id"
    assert caught.value.message == (
        "budget line line-1 (ISO9001-2025, 2025) is postponed: anggaran belum tersedia "
        "(enrollments are cancelled if not resumed by 2025-03-02)"
    )
    cancelled, _ = budget_lines.cancel(line, released_idr=0, reason="blokir", actor="a", now=NOW)
    with pytest.raises(Conflict, match=re.escape("(ISO9001-2025, 2025) is cancelled: blokir")):
        budget_lines.check_takes_enrollments(cancelled)
    closed, _ = budget_lines.close(line, released_idr=0, reason="tutup buku", actor="a", now=NOW)
    with pytest.raises(Conflict, match="is closed: tutup buku"):
        budget_lines.check_takes_enrollments(closed)


def test_resuming_reopens_only_a_postponed_line(line: BudgetLine) -> None:
    with pytest.raises(Conflict, match="only a postponed line can be resumed"):
        budget_lines.resume(line, reason="x", certificate_scheme=None, actor="a", now=NOW)
    resumed, event = budget_lines.resume(
        postponed(line, TOMORROW),
        reason="DIPA revised",
        certificate_scheme=None,
        actor="a",
        now=NOW,
    )
    assert resumed.status is LineStatus.OPEN
    assert resumed.postponement_deadline is None
    assert event.reason == "DIPA revised"


def test_a_line_still_holding_reservations_cannot_be_finished_directly(line: BudgetLine) -> None:
    with pytest.raises(ValueError, match="release them first"):
        budget_lines.cancel(
            budget_lines.reserve(line, 1), released_idr=0, reason="x", actor="a", now=NOW
        )


def test_closing_reports_what_was_realised_and_released(line: BudgetLine) -> None:
    line = budget_lines.reserve(line, 25_000_000)
    line, _ = budget_lines.settle(
        line,
        reserved_idr=25_000_000,
        realised_idr=20_000_000,
        enrollment_id="e",
        actor="a",
        now=NOW,
    )
    closed, event = budget_lines.close(
        line, released_idr=7, reason="akhir tahun anggaran", actor="a", now=NOW
    )
    assert closed.status is LineStatus.CLOSED
    assert (event.pagu_idr, event.realised_idr, event.released_idr) == (100_000_000, 20_000_000, 7)
    with pytest.raises(Conflict, match="already closed"):
        budget_lines.close(closed, released_idr=0, reason="again", actor="a", now=NOW)


def two_lines(program: Program) -> tuple[BudgetLine, BudgetLine]:
    covid = open_iso9001(
        code="BIMTEK-APD-2025", certificate_scheme=None, program_type=ProgramType.BIMTEK
    )
    return allocate(program, line_id="a"), allocate(covid, line_id="b", pagu_idr=40_000_000)


def test_refocusing_moves_free_pagu_and_keeps_the_total(program: Program) -> None:
    source, target = two_lines(program)
    source = budget_lines.reserve(source, 25_000_000)
    after_source, after_target, event = budget_lines.refocus(
        source, target, amount_idr=75_000_000, reason="refocusing Covid-19", actor="a", now=NOW
    )
    assert after_source.pagu_idr == 25_000_000
    assert after_target.pagu_idr == 115_000_000
    assert after_source.allocated_idr == 100_000_000, "the allocation is history"
    assert after_source.pagu_idr + after_target.pagu_idr == source.pagu_idr + target.pagu_idr
    assert (event.amount_idr, event.pagu_after_idr, event.target_pagu_after_idr) == (
        75_000_000,
        25_000_000,
        115_000_000,
    )
    assert event.target.budget_line_id == "b"


def test_refocusing_cannot_take_reserved_or_realised_money(program: Program) -> None:
    source, target = two_lines(program)
    source = budget_lines.reserve(source, 25_000_000)
    with pytest.raises(Conflict) as caught:
        budget_lines.refocus(source, target, amount_idr=75_000_001, reason="x", actor="a", now=NOW)
    assert caught.value.field == "amount_idr"
    assert "only Rp75.000.000 of budget line a" in caught.value.message


@pytest.mark.parametrize(
    ("change_target", "field", "message"),
    [
        (lambda t: replace(t, fiscal_year=2026), "target_budget_line_id", "one fiscal year"),
        (lambda t: replace(t, status=LineStatus.CLOSED), "target_budget_line_id", "closed"),
        (lambda t: replace(t, id="a"), "target_budget_line_id", "onto itself"),
    ],
)
def test_refocusing_rules(
    program: Program, change_target: object, field: str, message: str
) -> None:
    source, target = two_lines(program)
    with pytest.raises(DomainError) as caught:
        budget_lines.refocus(
            source,
            change_target(target),  # type: ignore[operator]
            amount_idr=1,
            reason="x",
            actor="a",
            now=NOW,
        )
    assert caught.value.field == field
    assert message in caught.value.message


rupiah = st.integers(min_value=0, max_value=10**13)


@st.composite
def funded_line(draw: st.DrawFn, line_id: str) -> BudgetLine:
    pagu = draw(rupiah)
    reserved = draw(st.integers(min_value=0, max_value=pagu))
    realised = draw(st.integers(min_value=0, max_value=pagu - reserved))
    return replace(
        allocate(open_iso9001(), line_id=line_id),
        pagu_idr=pagu,
        allocated_idr=pagu,
        reserved_idr=reserved,
        realised_idr=realised,
        quota_used=1 if reserved else 0,
        status=draw(st.sampled_from([LineStatus.OPEN, LineStatus.POSTPONED])),
    )


def within_invariants(line: BudgetLine) -> bool:
    return (
        line.reserved_idr >= 0
        and line.realised_idr >= 0
        and line.reserved_idr + line.realised_idr <= line.pagu_idr
        and 0 <= line.quota_used <= line.quota_enterprises
    )


@given(funded_line("a"), funded_line("b"), st.integers(min_value=-5, max_value=10**13))
def test_refocusing_never_creates_or_loses_a_rupiah(
    source: BudgetLine, target: BudgetLine, amount: int
) -> None:
    total = source.pagu_idr + target.pagu_idr
    try:
        after_source, after_target, event = budget_lines.refocus(
            source, target, amount_idr=amount, reason="refocus", actor="a", now=NOW
        )
    except DomainError:
        assert amount <= 0 or amount > source.available_idr
        return
    assert 0 < amount <= source.available_idr
    assert after_source.pagu_idr + after_target.pagu_idr == total
    assert event.pagu_after_idr + event.target_pagu_after_idr == total
    assert within_invariants(after_source)
    assert within_invariants(after_target)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(min_value=0, max_value=60_000_000)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=3)),
        st.tuples(st.just("settle"), st.integers(min_value=0, max_value=3)),
    ),
    max_size=30,
)


@given(operations)
def test_no_sequence_of_reservations_over_commits_the_line(ops: list[tuple[str, int]]) -> None:
    """Whatever is tried, reserved + realised stays within pagu and places within quota."""
    line = allocate(open_iso9001())
    held: list[int] = []  # reservations of enrollments under way
    for op, value in ops:
        if op == "reserve":
            try:
                line = budget_lines.reserve(line, value)
                held.append(value)
            except Conflict:
                assert line.quota_left == 0 or value > line.available_idr
        elif held:
            amount = held.pop(value % len(held))
            if op == "release":
                line = budget_lines.release(line, amount)
            else:
                line, _ = budget_lines.settle(
                    line,
                    reserved_idr=amount,
                    realised_idr=amount // 2,
                    enrollment_id="e",
                    actor="a",
                    now=NOW,
                )
        assert within_invariants(line)
        assert line.reserved_idr == sum(held)
