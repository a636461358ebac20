"""Yearly targets in an explicit counting unit, and attainment counted exactly per unit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.partnerships import domain
from services.partnerships.domain import SignedAgreement
from shared.errors import DomainError
from shared.events.vocabulary import CountingUnit

NOW = datetime(2018, 11, 27, 8, 33, tzinfo=UTC)
AGREEMENTS, IKM, PARTNER_FIRMS = (
    CountingUnit.AGREEMENTS,
    CountingUnit.IKM,
    CountingUnit.PARTNER_FIRMS,
)


def target(year: int, unit: CountingUnit, value: int, source: str | None = None) -> domain.Target:
    new, _ = domain.set_target(
        None, fiscal_year=year, unit=unit, target=value, source=source, now=NOW, actor="x"
    )
    return new


def test_the_seed_target_is_45_ikm_in_2019() -> None:
    new, (event,) = domain.set_target(
        None,
        fiscal_year=2019,
        unit=IKM,
        target=45,
        source=" Ditjen IKMA, 27 Nov 2018 ",
        now=NOW,
        actor="officer-1",
    )
    assert (new.target_id, new.target, new.source) == ("2019-ikm", 45, "Ditjen IKMA, 27 Nov 2018")
    assert (event.target_id, event.unit, event.target, event.actor) == (
        "2019-ikm",
        IKM,
        45,
        "officer-1",
    )
    assert event.subject == "2019-ikm"


def test_setting_the_same_target_again_is_no_news_but_a_change_is() -> None:
    existing = target(2019, IKM, 45, "S4")
    same, events = domain.set_target(
        existing, fiscal_year=2019, unit=IKM, target=45, source="S4", now=NOW, actor="x"
    )
    assert (same, events) == (existing, [])
    changed, events = domain.set_target(
        existing, fiscal_year=2019, unit=IKM, target=50, source="S4", now=NOW, actor="x"
    )
    assert changed.target == 50
    assert len(events) == 1


@pytest.mark.parametrize(
    ("year", "value", "field"),
    [(1999, 1, "fiscal_year"), (2101, 1, "fiscal_year"), (2019, -1, "target")],
)
def test_target_rules_name_their_field(year: int, value: int, field: str) -> None:
    with pytest.raises(DomainError) as caught:
        target(year, IKM, value)
    assert caught.value.field == field


def test_the_three_units_count_different_things() -> None:
    # 2018: three agreements; one partner signed twice, one IKM is in two agreements.
    agreements = [
        SignedAgreement("a1", "P1", frozenset({"I1", "I2"})),
        SignedAgreement("a2", "P1", frozenset({"I2", "I3", "I4"})),
        SignedAgreement("a3", "P2", frozenset({"I5"})),
    ]
    assert domain.achieved(AGREEMENTS, agreements) == 3
    assert domain.achieved(IKM, agreements) == 5
    assert domain.achieved(PARTNER_FIRMS, agreements) == 2


def test_attainment_has_a_line_per_unit_with_or_without_target() -> None:
    agreements = [SignedAgreement(f"a{i}", "P1", frozenset({f"I{i}"})) for i in range(15)]
    lines = domain.attainment(agreements, {IKM: target(2019, IKM, 45)})
    by_unit = {line.unit: line for line in lines}
    assert [line.unit for line in lines] == [AGREEMENTS, IKM, PARTNER_FIRMS]
    assert (by_unit[IKM].target, by_unit[IKM].achieved, by_unit[IKM].attainment_pct) == (
        45,
        15,
        33.3,
    )
    assert (by_unit[AGREEMENTS].target, by_unit[AGREEMENTS].attainment_pct) == (None, None)
    assert by_unit[PARTNER_FIRMS].achieved == 1


def test_a_zero_target_has_no_percentage() -> None:
    (line,) = [a for a in domain.attainment([], {IKM: target(2019, IKM, 0)}) if a.unit is IKM]
    assert (line.target, line.achieved, line.attainment_pct) == (0, 0, None)


NIBS = st.sampled_from([f"91200000000{i:02d}" for i in range(12)])
PARTNERS = st.sampled_from([f"81200000000{i:02d}" for i in range(4)])
AGREEMENT_LISTS = st.lists(
    st.tuples(PARTNERS, st.frozensets(NIBS, min_size=1, max_size=5)), max_size=20
).map(lambda rows: [SignedAgreement(f"a{i}", p, nibs) for i, (p, nibs) in enumerate(rows)])


@given(AGREEMENT_LISTS)
def test_counts_are_exact_for_any_set_of_agreements(agreements: list[SignedAgreement]) -> None:
    ikm = domain.achieved(IKM, agreements)
    partners = domain.achieved(PARTNER_FIRMS, agreements)
    assert domain.achieved(AGREEMENTS, agreements) == len(agreements)
    assert ikm == len(set().union(*(a.ikm_nibs for a in agreements)))
    assert partners == len({a.partner_nib for a in agreements})
    # an agreement has at least one IKM and exactly one partner
    assert partners <= len(agreements) <= sum(len(a.ikm_nibs) for a in agreements)
    assert ikm <= sum(len(a.ikm_nibs) for a in agreements)


@given(AGREEMENT_LISTS, st.integers(min_value=1, max_value=500))
def test_attainment_percentage_is_achieved_over_target(
    agreements: list[SignedAgreement], value: int
) -> None:
    targets = {unit: target(2019, unit, value) for unit in CountingUnit}
    for line in domain.attainment(agreements, targets):
        assert line.achieved == domain.achieved(line.unit, agreements)
        assert line.attainment_pct == round(100.0 * line.achieved / value, 1)
