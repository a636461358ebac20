"""The demo scenario made concrete: every generated enterprise, amount and date, from one seed.

``build`` is pure: the same scenario and seed always give the same plan (every random draw comes
from one ``random.Random(seed)`` in a fixed order), so a second ``ikm demo`` sends the same
commands as the first and finds them already done.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from importlib import resources
from typing import Any

from services.registry import reference

SCENARIO_FILE = "scenario.toml"
NIB_PREFIX = "912"  # OSS NIBs as the register's examples show them; the rest is random digits
NAME_PREFIX = {"CV": "CV", "UD": "UD", "PT Perorangan": "PT", "Perorangan": ""}
MILLION = 1_000_000
TEN_MILLION = 10_000_000


def load_scenario() -> dict[str, Any]:
    text = resources.files("cli.demo").joinpath(SCENARIO_FILE).read_text(encoding="utf-8")
    return tomllib.loads(text)


def default_seed() -> int:
    return int(load_scenario()["scenario"]["seed"])


@dataclass
class Enterprise:
    group: str
    nib: str
    body: dict[str, Any]
    certificates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def province(self) -> str:
        return str(self.body["province_code"])


@dataclass
class Enrollment:
    nib: str
    province: str
    line: str
    until: str
    certificate: dict[str, Any] | None


@dataclass
class Line:
    key: str
    program: str
    fiscal_year: int
    mechanism: str
    province: str | None
    pagu_idr: int
    quota: int
    close: str | None = None
    postpone: str | None = None


@dataclass
class Refocus:
    source: str
    target: str
    amount_idr: int
    reason: str


@dataclass
class Partner:
    key: str
    nib: str
    name: str
    sector: str
    tier: int
    required_certificates: list[str]


@dataclass
class Agreement:
    partner_nib: str
    ikm_nibs: list[str]
    component: str
    facilitated_by: str
    proposed_on: date
    signed_on: date | None = None
    coaching_on: date | None = None


@dataclass
class Plan:
    seed: int
    scenario: dict[str, Any]
    enterprises: list[Enterprise]
    groups: dict[str, list[Enterprise]]
    lines: list[Line]
    refocusing: list[Refocus]
    enrollments: list[Enrollment]
    partners: list[Partner]
    agreements: list[Agreement]
    candidates: list[Agreement]

    @property
    def actor(self) -> str:
        return str(self.scenario["scenario"].get("actor", "ikm-demo"))


def _between(rng: random.Random, bounds: list[int], step: int = 1) -> int:
    low, high = bounds
    return max(low, min(high, round(rng.randint(low, high) / step) * step))


def _day(rng: random.Random, bounds: list[date]) -> date:
    low, high = bounds
    return low + timedelta(days=rng.randint(0, (high - low).days))


def split(total: int, parts: int, rng: random.Random, minimum: int = 1) -> list[int]:
    """``total`` in ``parts`` random integer shares, each at least ``minimum``; they sum exactly."""
    spare = total - minimum * parts
    if spare < 0:
        raise ValueError(f"cannot split {total} into {parts} parts of at least {minimum}")
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    exact = [spare * w / sum(weights) for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(parts), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: spare - sum(shares)]:
        shares[i] += 1
    return [minimum + s for s in shares]


class _Names:
    def __init__(self, vocabulary: dict[str, Any], rng: random.Random) -> None:
        self.vocabulary, self.rng, self.used = vocabulary, rng, set[str]()

    def pick(self, kind: str, prefix: str, words: int = 2) -> str:
        for _ in range(1000):
            name = " ".join([prefix, *self.rng.sample(self.vocabulary[kind], words)]).strip()
            if name not in self.used:
                self.used.add(name)
                return name
        raise ValueError(f"vocabulary {kind!r} is too small for the names asked of it")


class _Nibs:
    def __init__(self, rng: random.Random) -> None:
        self.rng, self.used = rng, set[str]()

    def new(self) -> str:
        while True:
            nib = NIB_PREFIX + f"{self.rng.randrange(10**10):010d}"
            if nib not in self.used:
                self.used.add(nib)
                return nib


def _regency(code: str) -> reference.Regency:
    records = [r for r in reference.regencies().get(code, ()) if r.valid_to is None]
    if not records:
        raise ValueError(f"scenario: regency {code} is not a current Kemendagri code")
    return records[-1]


def _certificate(spec: dict[str, Any], n: int, rng: random.Random) -> dict[str, Any]:
    certificate = {
        "scheme": spec["scheme"],
        "number": spec["number"].format(n=n),
        "issuer": spec["issuer"],
        "issued_on": _day(rng, spec["issued"]).isoformat(),
    }
    if "tkdn_pct" in spec:
        low, high = spec["tkdn_pct"]
        certificate["tkdn_pct"] = round(rng.uniform(low, high), 2)
    return certificate


def _group(
    spec: dict[str, Any], rng: random.Random, nibs: _Nibs, names: _Names
) -> list[Enterprise]:
    count = int(spec["count"])
    kblis = spec["kbli"]
    for code in set(kblis):
        if reference.kbli(code) is None:
            raise ValueError(f"scenario group {spec['key']}: KBLI {code} is not manufacturing")
    regencies = [_regency(code) for code in spec["regencies"]]
    workforce = (
        split(int(spec["workforce_total"]), count, rng, minimum=3)
        if "workforce_total" in spec
        else [_between(rng, spec["workforce"]) for _ in range(count)]
    )
    production = spec.get("production")
    produced = split(int(production["total"]), count, rng) if production else None
    forms = spec.get("legal_forms") or names.vocabulary["legal_forms"]
    enterprises = []
    for i in range(count):
        regency = regencies[i * len(regencies) // count]  # in blocks: members next to each other
        form = rng.choice(forms)
        body: dict[str, Any] = {
            "nib": nibs.new(),
            "name": names.pick(spec["names"], NAME_PREFIX[form]),
            "legal_form": form,
            "province_code": regency.province_code,
            "regency_code": regency.code,
            "kbli": rng.choice(kblis),
            "workforce": workforce[i],
            "investment_idr": _between(rng, spec["investment_idr"], MILLION),
            "annual_sales_idr": _between(rng, spec["annual_sales_idr"], MILLION),
        }
        if produced is not None:
            body["production"] = {"quantity": produced[i], "unit": production["unit"]}
        enterprise = Enterprise(spec["key"], body["nib"], body)
        for certificate in spec.get("certificates", []):
            enterprise.certificates.append(_certificate(certificate, i + 1, rng))
        enterprises.append(enterprise)
    return enterprises


def _covid(spec: dict[str, Any], rng: random.Random) -> tuple[list[Line], list[Refocus]]:
    lines, moves = [], []
    year = int(spec["fiscal_year"])
    on = date(year, 6, 15)
    for province in spec["provinces"]:
        if reference.province(province, on) is None:
            raise ValueError(f"scenario: province {province} did not exist in {year}")
        pagu = _between(rng, spec["pagu_idr"], TEN_MILLION)
        low, high = spec["refocused_share"]
        moved = round(pagu * rng.uniform(low, high) / TEN_MILLION) * TEN_MILLION
        source = Line(
            f"dekon-{year}-{province}",
            spec["source_program"],
            year,
            spec["mechanism"],
            province,
            pagu,
            int(spec["quota"]),
            close=spec.get("close"),
        )
        target = Line(
            f"covid19-{year}-{province}",
            spec["target_program"],
            year,
            spec["mechanism"],
            province,
            0,
            int(spec["quota"]),
            close=spec.get("close"),
        )
        lines += [source, target]
        moves.append(Refocus(source.key, target.key, moved, spec["reason"]))
    expected = len(reference.provinces_on(on))
    if len(set(spec["provinces"])) != expected:
        raise ValueError(f"scenario: {year} had {expected} provinces, the refocusing lists fewer")
    return lines, moves


def build(scenario: dict[str, Any], seed: int) -> Plan:
    rng = random.Random(seed)
    nibs = _Nibs(rng)
    names = _Names(scenario["vocabulary"], rng)

    groups: dict[str, list[Enterprise]] = {}
    for spec in scenario["groups"]:
        groups[spec["key"]] = _group(spec, rng, nibs, names)
    enterprises = [e for members in groups.values() for e in members]

    partners: list[Partner] = []
    for spec in scenario["partners"]:
        # a named firm is one partner; otherwise ``generated`` firms with generated names
        for _ in range(1 if "name" in spec else int(spec["generated"])):
            partners.append(
                Partner(
                    key=spec["key"],
                    nib=nibs.new(),
                    name=spec.get("name") or names.pick("partner", "PT", words=3),
                    sector=spec["sector"],
                    tier=int(spec["tier"]),
                    required_certificates=list(spec["required_certificates"]),
                )
            )

    lines = [
        Line(
            key=spec["key"],
            program=spec["program"],
            fiscal_year=int(spec["fiscal_year"]),
            mechanism=spec["mechanism"],
            province=spec.get("province"),
            pagu_idr=int(spec["pagu_idr"]),
            quota=int(spec["quota"]),
            close=spec.get("close"),
            postpone=spec.get("postpone"),
        )
        for spec in scenario["budget_lines"]
    ]
    covid_lines, refocusing = _covid(scenario["covid_refocusing"], rng)
    lines += covid_lines
    by_key = {line.key: line for line in lines}

    enrollments = []
    for spec in scenario["enrollments"]:
        line = by_key[spec["line"]]
        skip = int(spec.get("skip", 0))
        members = groups[spec["group"]][skip : skip + int(spec.get("count", 10**9))]
        for n, member in enumerate(members, start=1):
            if line.province is not None and member.province != line.province:
                raise ValueError(
                    f"scenario: {member.nib} of group {spec['group']} is in province "
                    f"{member.province}, line {line.key} in {line.province}"
                )
            certificate = spec.get("certificate")
            enrollments.append(
                Enrollment(
                    nib=member.nib,
                    province=member.province,
                    line=line.key,
                    until=spec["until"],
                    certificate=_certificate(certificate, n, rng) if certificate else None,
                )
            )

    lm = scenario["link_and_match"]
    lm_partners = [p for p in partners if p.key == lm["partners"]]
    lm_members = iter(groups[lm["group"]])
    agreements = []
    for year in lm["years"]:
        for _ in range(int(year["agreements"])):
            member = next(lm_members)
            agreements.append(
                Agreement(
                    partner_nib=lm_partners[len(agreements) % len(lm_partners)].nib,
                    ikm_nibs=[member.nib],
                    component=rng.choice(lm["components"]),
                    facilitated_by=lm["facilitated_by"],
                    proposed_on=year["signed_on"],
                    signed_on=year["signed_on"],
                    coaching_on=year.get("coaching_on"),
                )
            )

    candidates = []
    for spec in scenario["candidates"]:
        partner = next(p for p in partners if p.key == spec["partner"])
        for member in groups[spec["group"]][: int(spec["count"])]:
            candidates.append(
                Agreement(
                    partner_nib=partner.nib,
                    ikm_nibs=[member.nib],
                    component=rng.choice(lm["components"]),
                    facilitated_by=spec["facilitated_by"],
                    proposed_on=spec["proposed_on"],
                )
            )

    return Plan(
        seed=seed,
        scenario=scenario,
        enterprises=enterprises,
        groups=groups,
        lines=lines,
        refocusing=refocusing,
        enrollments=enrollments,
        partners=partners,
        agreements=agreements,
        candidates=candidates,
    )
