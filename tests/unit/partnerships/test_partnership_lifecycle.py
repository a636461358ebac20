"""Partner firms and the partnership lifecycle: proposed → MoU → coaching → trial → active → end."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.partnerships import domain
from services.partnerships.domain import Enterprise, Readiness, ReadinessStatus
from shared.errors import Conflict, DomainError
from shared.events.vocabulary import CertificateScheme, EnterpriseStatus, PartnershipStage

Stage = PartnershipStage
ISO_9001, ISO_14001 = CertificateScheme.ISO_9001, CertificateScheme.ISO_14001
NOW = datetime(2019, 3, 1, 2, 0, tzinfo=UTC)
PARTNER_NIB = "8120000000001"
IKM_A, IKM_B = "9120000000001", "9120000000002"


def a_partner(tier: int = 1, *certificates: CertificateScheme) -> domain.Partner:
    partner, _ = domain.register_partner(
        partner_nib=PARTNER_NIB,
        name="PT Astra Komponen Indonesia",
        sector="automotive",
        tier=tier,
        required_certificates=certificates,
        min_tkdn_pct=None,
        now=NOW,
        actor="officer-1",
    )
    return partner


def known(*nibs: str, status: EnterpriseStatus = EnterpriseStatus.ACTIVE) -> dict[str, Enterprise]:
    return {nib: Enterprise(nib, f"CV {nib[-4:]}", "35", status, 1) for nib in nibs}


def proposed(*nibs: str, on: date = date(2018, 11, 27)) -> domain.Partnership:
    nibs = nibs or (IKM_A,)
    partnership, _ = domain.propose(
        partnership_id="p-1",
        partner=a_partner(),
        ikm_nibs=list(nibs),
        enterprises=known(*nibs),
        component="brake pads",
        facilitated_by="Link and Match 2018",
        value_idr=250_000_000,
        proposed_on=on,
        now=NOW,
        actor="officer-1",
    )
    return partnership


def qualified(*nibs: str) -> dict[str, Readiness]:
    return {nib: Readiness(nib, PARTNER_NIB, ReadinessStatus.QUALIFIED) for nib in nibs}


def signed(
    p: domain.Partnership | None = None, on: date = date(2018, 11, 27)
) -> domain.Partnership:
    p = p or proposed()
    result, _ = domain.sign(
        p,
        partner=a_partner(),
        readiness=qualified(*p.ikm_nibs),
        enterprises=known(*p.ikm_nibs),
        signed_on=on,
        now=NOW,
        actor="officer-1",
    )
    return result


def test_registering_a_partner_records_its_requirements_as_data() -> None:
    partner, event = domain.register_partner(
        partner_nib=PARTNER_NIB,
        name=" PT Astra Komponen Indonesia ",
        sector="automotive",
        tier=1,
        required_certificates=[ISO_14001, ISO_9001, ISO_9001],
        min_tkdn_pct=40,
        now=NOW,
        actor="officer-1",
    )
    assert partner.name == "PT Astra Komponen Indonesia"
    # a minimum TKDN value is met only by holding a TKDN IK certificate
    assert partner.requirements.schemes == (ISO_14001, ISO_9001, CertificateScheme.TKDN_IK)
    assert event.requirements.required_certificates == [ISO_14001, ISO_9001]
    assert event.requirements.min_tkdn_pct == 40
    assert (event.subject, event.tier, event.actor) == (PARTNER_NIB, 1, "officer-1")


@pytest.mark.parametrize(
    ("field", "overrides", "message"),
    [
        ("partner_nib", {"partner_nib": "81200"}, "13 digits"),
        ("name", {"name": "  "}, "must not be empty"),
        ("sector", {"sector": ""}, "must not be empty"),
        ("tier", {"tier": 4}, "tier must be 0 (OEM) to 3"),
        ("tier", {"tier": -1}, "tier must be 0 (OEM) to 3"),
        ("min_tkdn_pct", {"min_tkdn_pct": 120.0}, "0 to 100"),
    ],
)
def test_partner_rules_name_their_field(
    field: str, overrides: dict[str, object], message: str
) -> None:
    fields: dict[str, object] = {
        "partner_nib": PARTNER_NIB,
        "name": "PT A",
        "sector": "automotive",
        "tier": 1,
        "required_certificates": [],
        "min_tkdn_pct": None,
    }
    with pytest.raises(DomainError) as caught:
        domain.register_partner(**{**fields, **overrides}, now=NOW, actor="x")  # type: ignore[arg-type]
    assert caught.value.field == field
    assert message in caught.value.message


def test_proposal_links_ikm_to_a_partner_at_a_matching_event() -> None:
    partnership, event = domain.propose(
        partnership_id="p-1",
        partner=a_partner(),
        ikm_nibs=[IKM_A, IKM_B],
        enterprises=known(IKM_A, IKM_B),
        component=" brake pads ",
        facilitated_by="Link and Match 2018",
        value_idr=None,
        proposed_on=date(2018, 11, 27),
        now=NOW,
        actor="officer-1",
    )
    assert partnership.stage is Stage.PROPOSED
    assert partnership.ikm_nibs == (IKM_A, IKM_B)
    assert partnership.component == "brake pads"
    assert partnership.fiscal_year is None
    assert event.ikm_nibs == [IKM_A, IKM_B]
    assert event.facilitated_by == "Link and Match 2018"
    assert event.subject == "p-1"


@pytest.mark.parametrize(
    ("nibs", "enterprises", "message"),
    [
        ([], {}, "at least one IKM"),
        (["91200"], {}, "13 digits"),
        ([IKM_A, IKM_A], known(IKM_A), "more than once"),
        ([PARTNER_NIB], known(PARTNER_NIB), "is the partner firm"),
        ([IKM_A], {}, "not in the register"),
        ([IKM_A], known(IKM_A, status=EnterpriseStatus.CLOSED), "is closed"),
    ],
)
def test_proposal_refuses_bad_ikm_lists(
    nibs: list[str], enterprises: dict[str, Enterprise], message: str
) -> None:
    with pytest.raises(DomainError) as caught:
        domain.propose(
            partnership_id="p-1",
            partner=a_partner(),
            ikm_nibs=nibs,
            enterprises=enterprises,
            component="brake pads",
            facilitated_by=None,
            value_idr=None,
            proposed_on=date(2018, 11, 27),
            now=NOW,
            actor="x",
        )
    assert caught.value.field == "ikm_nibs"
    assert message in caught.value.message


def test_dates_in_the_future_are_refused_by_indonesia_s_latest_clock() -> None:
    # 16:30 UTC is already the next day in WIT (UTC+9): that date is not in the future.
    late = datetime(2019, 3, 1, 16, 30, tzinfo=UTC)
    assert domain.check_not_future(date(2019, 3, 2), late, "on") == date(2019, 3, 2)
    with pytest.raises(DomainError, match="in the future"):
        domain.check_not_future(date(2019, 3, 3), late, "on")


def test_signing_counts_towards_the_year_of_the_mou() -> None:
    partnership, event = domain.sign(
        proposed(),
        partner=a_partner(),
        readiness=qualified(IKM_A),
        enterprises=known(IKM_A),
        signed_on=date(2018, 12, 3),
        now=NOW,
        actor="officer-2",
    )
    assert partnership.stage is Stage.MOU_SIGNED
    assert partnership.fiscal_year == 2018
    assert partnership.version == 2
    assert (event.fiscal_year, event.signed_on, event.actor) == (
        2018,
        date(2018, 12, 3),
        "officer-2",
    )


def test_signing_with_an_unqualified_ikm_names_each_ikm_and_what_it_misses() -> None:
    partner = a_partner(1, ISO_9001, ISO_14001)
    p = proposed(IKM_A, IKM_B)
    readiness = {
        IKM_A: Readiness(IKM_A, PARTNER_NIB, ReadinessStatus.QUALIFIED),
        IKM_B: Readiness(IKM_B, PARTNER_NIB, ReadinessStatus.MISSING, (ISO_14001,)),
    }
    with pytest.raises(DomainError) as caught:
        domain.sign(
            p,
            partner=partner,
            readiness=readiness,
            enterprises=known(IKM_A, IKM_B),
            signed_on=date(2018, 12, 3),
            now=NOW,
            actor="x",
        )
    assert caught.value.field == "ikm_nibs"
    assert (
        f"IKM {IKM_B} (CV 0002) misses ISO_14001 required by tier-1 partner "
        f"PT Astra Komponen Indonesia ({PARTNER_NIB})"
    ) in caught.value.message
    assert IKM_A not in caught.value.message


def test_a_blocked_ikm_is_refused_naming_the_suspended_enrollment() -> None:
    blocked = Readiness(
        IKM_A,
        PARTNER_NIB,
        ReadinessStatus.BLOCKED,
        (ISO_14001,),
        (domain.Suspension("enr-7", "bl-2025-14001", "ISO14001-2025", ISO_14001),),
    )
    with pytest.raises(DomainError) as caught:
        domain.sign(
            proposed(),
            partner=a_partner(1, ISO_14001),
            readiness={IKM_A: blocked},
            enterprises=known(IKM_A),
            signed_on=date(2018, 12, 3),
            now=NOW,
            actor="x",
        )
    assert "misses ISO_14001" in caught.value.message
    assert "enrollment enr-7, budget line bl-2025-14001" in caught.value.message


def test_an_ikm_closed_since_the_proposal_cannot_sign() -> None:
    with pytest.raises(DomainError) as caught:
        domain.sign(
            proposed(),
            partner=a_partner(),
            readiness=qualified(IKM_A),
            enterprises=known(IKM_A, status=EnterpriseStatus.CLOSED),
            signed_on=date(2018, 12, 3),
            now=NOW,
            actor="x",
        )
    assert caught.value.field == "ikm_nibs"
    assert f"IKM {IKM_A} (CV 0001) is closed" in caught.value.message


def test_signing_before_the_proposal_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        signed(proposed(on=date(2018, 11, 27)), on=date(2018, 11, 1))
    assert caught.value.field == "signed_on"


def test_stages_move_forward_one_at_a_time_and_record_their_dates() -> None:
    p = signed()
    for stage, on in [
        (Stage.COACHING, date(2019, 1, 10)),
        (Stage.TRIAL_SUPPLY, date(2020, 6, 1)),
        (Stage.ACTIVE_SUPPLY, date(2021, 2, 1)),
    ]:
        before = p
        p, event = domain.advance(
            p, to=stage, on=on, now=datetime(2022, 1, 1, tzinfo=UTC), actor="x"
        )
        assert (event.from_stage, event.to_stage, event.changed_on) == (before.stage, stage, on)
        assert p.version == before.version + 1
    assert p.stage is Stage.ACTIVE_SUPPLY
    assert p.stage_dates[Stage.COACHING] == date(2019, 1, 10)
    assert p.fiscal_year == 2018  # counted in the year it was signed, whatever came after


@pytest.mark.parametrize(
    ("stage", "allowed"),
    [
        (Stage.PROPOSED, (Stage.MOU_SIGNED, Stage.ENDED)),
        (Stage.MOU_SIGNED, (Stage.COACHING, Stage.ENDED)),
        (Stage.COACHING, (Stage.TRIAL_SUPPLY, Stage.ENDED)),
        (Stage.TRIAL_SUPPLY, (Stage.ACTIVE_SUPPLY, Stage.ENDED)),
        (Stage.ACTIVE_SUPPLY, (Stage.ENDED,)),
        (Stage.ENDED, ()),
    ],
)
def test_next_stages(stage: Stage, allowed: tuple[Stage, ...]) -> None:
    assert domain.next_stages(stage) == allowed


def test_skipping_coaching_is_refused_naming_the_allowed_stages() -> None:
    with pytest.raises(Conflict) as caught:
        domain.advance(signed(), to=Stage.TRIAL_SUPPLY, on=date(2019, 1, 1), now=NOW, actor="x")
    assert caught.value.field == "stage"
    assert "is mou_signed; it can move to coaching or ended, not trial_supply" in (
        caught.value.message
    )


def test_coaching_needs_a_signed_mou_first() -> None:
    with pytest.raises(Conflict, match="can move to mou_signed or ended, not coaching"):
        domain.advance(proposed(), to=Stage.COACHING, on=date(2019, 1, 1), now=NOW, actor="x")


@pytest.mark.parametrize(("stage", "message"), [(Stage.MOU_SIGNED, "sign"), (Stage.ENDED, "end")])
def test_signing_and_ending_have_their_own_commands(stage: Stage, message: str) -> None:
    with pytest.raises(DomainError, match=f"{message} it instead"):
        domain.advance(proposed(), to=stage, on=date(2019, 1, 1), now=NOW, actor="x")


def test_a_partnership_can_end_from_any_stage_with_a_reason() -> None:
    for start in (proposed(), signed()):
        ended, event = domain.end(
            start, on=date(2019, 2, 1), reason=" component discontinued ", now=NOW, actor="x"
        )
        assert ended.stage is Stage.ENDED
        assert ended.end_reason == "component discontinued"
        assert (event.ended_on, event.reason) == (date(2019, 2, 1), "component discontinued")


def test_ending_needs_a_reason_and_cannot_happen_twice() -> None:
    with pytest.raises(DomainError) as caught:
        domain.end(proposed(), on=date(2019, 2, 1), reason=" ", now=NOW, actor="x")
    assert caught.value.field == "reason"
    ended, _ = domain.end(proposed(), on=date(2019, 2, 1), reason="r", now=NOW, actor="x")
    with pytest.raises(Conflict, match="it can move to nothing: it has ended"):
        domain.end(ended, on=date(2019, 2, 2), reason="again", now=NOW, actor="x")


def test_a_stale_version_is_a_conflict_on_if_match() -> None:
    p = signed()
    with pytest.raises(Conflict) as caught:
        domain.advance(
            p, to=Stage.COACHING, on=date(2019, 1, 1), now=NOW, actor="x", expected_version=1
        )
    assert caught.value.field == "If-Match"
    assert "is at version 2, not 1" in caught.value.message
    moved, _ = domain.advance(
        p, to=Stage.COACHING, on=date(2019, 1, 1), now=NOW, actor="x", expected_version=2
    )
    assert moved.version == 3
