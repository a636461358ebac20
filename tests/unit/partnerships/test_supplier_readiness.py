"""Supplier readiness: qualified / missing (which) / blocked (by which suspended enrollment), and
the events published only when it changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.partnerships import domain
from services.partnerships.domain import Holding, Readiness, ReadinessStatus, Suspension
from shared.events.partnerships import (
    SupplierDisqualified,
    SupplierQualified,
    SupplierReadinessBlocked,
    SupplierReadinessUnblocked,
)
from shared.events.vocabulary import CertificateScheme

ISO_9001, ISO_14001 = CertificateScheme.ISO_9001, CertificateScheme.ISO_14001
TKDN_IK, HALAL = CertificateScheme.TKDN_IK, CertificateScheme.HALAL
AT = datetime(2025, 4, 29, 3, 0, tzinfo=UTC)
NIB, PARTNER_NIB = "9120000000001", "8120000000001"
SUSPENDED_14001 = Suspension("enr-1", "bl-2025-14001", "ISO14001-2025", ISO_14001)
SUSPENDED_9001 = Suspension("enr-2", "bl-2025-9001", "ISO9001-2025", ISO_9001)


def tier1(*certificates: CertificateScheme, min_tkdn_pct: float | None = None) -> domain.Partner:
    return domain.Partner(
        PARTNER_NIB,
        "PT Astra Komponen Indonesia",
        "automotive",
        1,
        domain.Requirements(frozenset(certificates or (ISO_9001, ISO_14001)), min_tkdn_pct),
        AT,
    )


def holding(scheme: CertificateScheme, tkdn_pct: float | None = None) -> Holding:
    return Holding(f"cert-{scheme.value}-{tkdn_pct}", scheme, tkdn_pct)


def assess(
    holdings: list[Holding],
    suspensions: Sequence[Suspension] = (),
    partner: domain.Partner | None = None,
) -> Readiness:
    return domain.assess(NIB, partner or tier1(), holdings, list(suspensions))


def test_an_ikm_holding_every_required_certificate_is_qualified() -> None:
    readiness = assess([holding(ISO_9001), holding(ISO_14001), holding(HALAL)])
    assert readiness == Readiness(NIB, PARTNER_NIB, ReadinessStatus.QUALIFIED)


def test_missing_requirements_are_named() -> None:
    readiness = assess([holding(ISO_9001)])
    assert readiness.status is ReadinessStatus.MISSING
    assert readiness.missing == (ISO_14001,)
    assert readiness.blocked_by == ()


def test_a_suspended_enrollment_for_a_missing_certificate_blocks() -> None:
    readiness = assess([holding(ISO_9001)], [SUSPENDED_14001])
    assert readiness.status is ReadinessStatus.BLOCKED
    assert readiness.missing == (ISO_14001,)
    assert readiness.blocked_by == (SUSPENDED_14001,)


def test_a_suspended_enrollment_for_a_certificate_already_held_does_not_block() -> None:
    readiness = assess([holding(ISO_9001)], [SUSPENDED_9001])
    assert readiness.status is ReadinessStatus.MISSING
    assert readiness.blocked_by == ()


def test_a_suspension_blocks_only_partners_that_need_that_certificate() -> None:
    quality_only = tier1(ISO_9001)
    readiness = assess([], [SUSPENDED_14001], partner=quality_only)
    assert (readiness.status, readiness.missing) == (ReadinessStatus.MISSING, (ISO_9001,))


def test_a_minimum_tkdn_value_needs_a_tkdn_ik_certificate_reaching_it() -> None:
    partner = tier1(ISO_9001, min_tkdn_pct=40)
    assert assess([holding(ISO_9001)], partner=partner).missing == (TKDN_IK,)
    assert assess([holding(ISO_9001), holding(TKDN_IK, 35)], partner=partner).missing == (TKDN_IK,)
    assert assess([holding(ISO_9001), holding(TKDN_IK)], partner=partner).missing == (TKDN_IK,)
    both = [holding(ISO_9001), holding(TKDN_IK, 35), holding(TKDN_IK, 41.5)]
    assert assess(both, partner=partner).status is ReadinessStatus.QUALIFIED
    assert partner.requirements.describe(TKDN_IK) == "TKDN_IK of at least 40%"


def test_a_partner_without_requirements_qualifies_everyone() -> None:
    partner = domain.Partner(PARTNER_NIB, "PT A", "automotive", 2, domain.Requirements(), AT)
    assert assess([], [SUSPENDED_14001], partner=partner).status is ReadinessStatus.QUALIFIED


# --- events on change -------------------------------------------------------------------------

MISSING = assess([holding(ISO_9001)])
BLOCKED = assess([holding(ISO_9001)], [SUSPENDED_14001])
QUALIFIED = assess([holding(ISO_9001), holding(ISO_14001)])


def kinds(previous: Readiness | None, current: Readiness) -> list[type]:
    return [type(e) for e in domain.readiness_changes(previous, current, AT)]


def test_the_last_missing_certificate_qualifies_once() -> None:
    (event,) = domain.readiness_changes(MISSING, QUALIFIED, AT)
    assert isinstance(event, SupplierQualified)
    assert (event.nib, event.partner_nib, event.qualified_at) == (NIB, PARTNER_NIB, AT)
    assert kinds(QUALIFIED, QUALIFIED) == []


def test_a_new_candidate_announces_only_qualified_or_blocked() -> None:
    assert kinds(None, MISSING) == []
    assert kinds(None, QUALIFIED) == [SupplierQualified]
    assert kinds(None, BLOCKED) == [SupplierReadinessBlocked]


def test_suspension_blocks_and_resumption_unblocks() -> None:
    (blocked,) = domain.readiness_changes(MISSING, BLOCKED, AT)
    assert isinstance(blocked, SupplierReadinessBlocked)
    assert blocked.missing == [ISO_14001]
    assert [b.enrollment_id for b in blocked.blocked_by] == ["enr-1"]
    assert blocked.blocked_by[0].budget_line_id == "bl-2025-14001"

    (unblocked,) = domain.readiness_changes(BLOCKED, MISSING, AT)
    assert isinstance(unblocked, SupplierReadinessUnblocked)
    assert unblocked.missing == [ISO_14001]


def test_a_blocked_ikm_certified_elsewhere_is_unblocked_and_qualified() -> None:
    assert kinds(BLOCKED, QUALIFIED) == [SupplierReadinessUnblocked, SupplierQualified]


def test_a_lost_certificate_disqualifies() -> None:
    (event,) = domain.readiness_changes(QUALIFIED, MISSING, AT)
    assert isinstance(event, SupplierDisqualified)
    assert event.missing == [ISO_14001]
    assert kinds(QUALIFIED, BLOCKED) == [SupplierDisqualified, SupplierReadinessBlocked]


def test_blocked_is_announced_again_only_when_the_blocking_enrollments_change() -> None:
    both = assess([], [SUSPENDED_14001, SUSPENDED_9001])
    assert kinds(BLOCKED, both) == [SupplierReadinessBlocked]
    assert kinds(both, both) == []
    # one missing certificate obtained, the same suspension still blocks: no news
    assert kinds(assess([], [SUSPENDED_14001]), BLOCKED) == []


STATES = st.sampled_from([MISSING, BLOCKED, QUALIFIED])


@given(st.lists(STATES, min_size=1, max_size=12))
def test_events_replayed_over_any_history_describe_the_final_state(
    history: list[Readiness],
) -> None:
    """A reader that applies the published events ends with the right flags, and a repeated
    state never publishes anything."""
    qualified = blocked = False
    previous: Readiness | None = None
    for current in history:
        events = domain.readiness_changes(previous, current, AT)
        if current == previous:
            assert events == []
        for event in events:
            if isinstance(event, SupplierQualified):
                assert not qualified
                qualified = True
            elif isinstance(event, SupplierDisqualified):
                assert qualified
                qualified = False
            elif isinstance(event, SupplierReadinessBlocked):
                blocked = True
            elif isinstance(event, SupplierReadinessUnblocked):
                assert blocked
                blocked = False
        previous = current
    assert qualified == (history[-1].status is ReadinessStatus.QUALIFIED)
    assert blocked == (history[-1].status is ReadinessStatus.BLOCKED)
