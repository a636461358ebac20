"""``ikm demo``: the seed stories told to a running platform through its public HTTP APIs.

Nothing is written to a database directly. Each step first looks whether its effect is already
there (an existing NIB, program code, budget line, enrollment, partnership), so running the demo
again after a complete or a partial run adds nothing twice; registry commands also carry an
``Idempotency-Key`` derived from their body. Effects that cross services (a registration reaching
programs' replica, a certificate reaching partnerships) are awaited before they are relied on.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from rich.console import Console

from cli.credentials import bearer_headers
from cli.demo.plan import Agreement, Enrollment, Line, Plan, Refocus, build, load_scenario

T = TypeVar("T")
WAIT_TIMEOUT_S = 90.0
SERVICES = ("registry", "programs", "partnerships", "reporting")
# Budget lines worked on at once. One: programs serialises its writes (SQLite by default), so
# more requests at a time only queue there, and one at a time keeps the events in story order.
PARALLEL_LINES = 1
UNITS = {"ikm": "IKM", "agreements": "agreements", "partner_firms": "partner firms"}
STAGE_ORDER = ("requested", "eligible", "approved", "in_assistance", "completed")


class DemoError(RuntimeError):
    """The demo could not go on; the message says which request failed and what it got."""


@dataclass
class Tally:
    """What one step created, and what it found already there."""

    created: int = 0
    present: int = 0

    def add(self, created: bool) -> None:
        if created:
            self.created += 1
        else:
            self.present += 1

    def __str__(self) -> str:
        if not self.created:
            return f"{self.present} already loaded"
        if not self.present:
            return f"{self.created} created"
        return f"{self.created} created, {self.present} already loaded"


@dataclass
class DemoReport:
    seed: int
    steps: dict[str, Tally] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def already_loaded(self) -> bool:
        return all(t.created == 0 for t in self.steps.values())

    def tally(self, step: str) -> Tally:
        return self.steps.setdefault(step, Tally())


def _key(what: str, body: Any) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return f"ikm-demo-{what}-{digest[:24]}"


class Api:
    """One service's HTTP API; any answer but the expected ones stops the demo, quoted."""

    def __init__(self, client: httpx.AsyncClient, name: str, base_url: str, actor: str) -> None:
        self.client, self.name, self.base = client, name, base_url.rstrip("/")
        self.headers = {"X-Actor": actor}

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        expect: Iterable[int] = (200, 201),
    ) -> httpx.Response:
        url = f"{self.base}/api/v1{path}"
        try:
            response = await self.client.request(
                method, url, json=json, params=params, headers={**self.headers, **(headers or {})}
            )
        except httpx.HTTPError as exc:
            raise DemoError(f"{self.name}: {method} {url} failed: {exc!r}") from exc
        if response.status_code not in set(expect):
            body = json_dumps(json) if json is not None else ""
            raise DemoError(
                f"{self.name}: {method} {url} {body} → {response.status_code}: {response.text}"
            )
        return response

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.call("GET", path, **kwargs)

    async def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.call("POST", path, json=body, **kwargs)

    async def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return await self.call("PUT", path, json=body, **kwargs)

    async def status(self) -> dict[str, Any]:
        response = await self.client.get(f"{self.base}/status")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


def _idr(amount: int) -> str:
    return f"Rp{amount:,}".replace(",", ".")


def json_dumps(body: Any) -> str:
    text = json.dumps(body, default=str, ensure_ascii=False)
    return text if len(text) < 600 else text[:600] + "…"


async def eventually(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while not await check():
        if time.monotonic() > deadline:
            raise DemoError(f"waited {timeout_s:.0f} s for {what}; see the services' logs")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.5)


async def gather_limited(
    job: Callable[[T], Awaitable[None]], items: Iterable[T], limit: int = 16
) -> None:
    """``job(item)`` for every item, at most ``limit`` at a time."""
    semaphore = asyncio.Semaphore(limit)

    async def run(item: T) -> None:
        async with semaphore:
            await job(item)

    await asyncio.gather(*(run(item) for item in items))


class Demo:
    def __init__(
        self, plan: Plan, client: httpx.AsyncClient, urls: Mapping[str, str], console: Console
    ) -> None:
        missing = [s for s in SERVICES if s not in urls]
        if missing:
            raise DemoError(f"no URL for {', '.join(missing)}")
        self.plan, self.console = plan, console
        self.registry, self.programs, self.partnerships, self.reporting = (
            Api(client, name, urls[name], plan.actor) for name in SERVICES
        )
        self.report = DemoReport(seed=plan.seed)
        self.lines: dict[str, dict[str, Any]] = {}  # scenario key → budget line as the API has it
        self.sentra_id: str | None = None
        self._said = time.monotonic()

    def say(self, story: str, text: str) -> None:
        now = time.monotonic()
        self.console.print(f"  [bold]{story}[/] {text} [dim]({now - self._said:.1f} s)[/]")
        self._said = now

    # --- the whole story -----------------------------------------------------------------------

    async def run(self) -> DemoReport:
        started = time.monotonic()
        await self.check_not_mixed()
        await self.reference_figures()
        await self.enterprises()
        await self.sentra()
        await self.group_certificates()
        await self.programs_and_lines()
        await self.refocusing()
        await self.enrollments()
        await self.postponements()
        await self.closings()
        await self.link_and_match()
        await self.candidates()
        await self.settle()
        self.report.summary = await self.summary()
        self.report.seconds = round(time.monotonic() - started, 1)
        return self.report

    async def check_not_mixed(self) -> None:
        """Refuse to add this seed's enterprises to the programs of another seed's run: their
        quotas would not hold both. (A fresh start is ``ikm up --demo --reset``.)"""
        first = self.plan.enterprises[0].nib
        ours = await self.registry.get(f"/enterprises/{first}", expect=(200, 404))
        program = self.plan.scenario["programs"][0]["code"]
        theirs = await self.programs.get(f"/programs/{program}", expect=(200, 404))
        if ours.status_code == 404 and theirs.status_code == 200:
            raise DemoError(
                f"the platform already holds demo programs, but not the enterprises of seed "
                f"{self.plan.seed}: it was loaded with another seed (or other data). Start "
                f"fresh with `ikm up --demo --reset --seed {self.plan.seed}`."
            )

    # --- reporting's reference figures (S1) ----------------------------------------------------

    async def reference_figures(self) -> None:
        tally = self.report.tally("reference figures")
        existing = {f["key"]: f for f in (await self.reporting.get("/reference-figures")).json()}
        for figure in self.plan.scenario["reference_figures"]:
            body = {k: figure.get(k) for k in ("value", "unit", "year", "source", "measure")}
            known = existing.get(figure["key"])
            if known is not None and all(known.get(k) == v for k, v in body.items()):
                tally.add(False)
                continue
            await self.reporting.put(f"/reference-figures/{figure['key']}", body)
            tally.add(True)
        self.say("S1", f"reference figures (4.4 million IKM, 12.39 million workers): {tally}")

    # --- registry: enterprises, sentra, certificates -------------------------------------------

    async def enterprises(self) -> None:
        tally = self.report.tally("enterprises")
        rows = [dict(e.body, line=i) for i, e in enumerate(self.plan.enterprises, start=1)]
        response = await self.registry.post(
            "/enterprises/bulk",
            {"rows": rows},
            headers={"Idempotency-Key": _key("enterprises", rows)},
        )
        answer = response.json()
        if response.headers.get("idempotent-replayed") == "true":
            tally.present += len(rows)
        else:
            tally.created += answer["accepted"]
            for rejected in answer["rejected"]:
                if any("already registered" in p["msg"] for p in rejected["problems"]):
                    tally.present += 1
                else:
                    raise DemoError(f"registry refused a demo enterprise: {rejected}")
        self.say("S0–S4", f"{len(rows)} generated IKM in the register: {tally}")

    async def sentra(self) -> None:
        spec = self.plan.scenario["sentra"]
        members = self.plan.groups[spec["group"]]
        tally = self.report.tally("sentra")
        first = (await self.registry.get(f"/enterprises/{members[0].nib}")).json()
        if first["sentra_id"]:
            self.sentra_id = first["sentra_id"]
            tally.add(False)
        else:
            body = {
                "name": spec["name"],
                "province_code": spec["province"],
                "regency_code": spec["regency"],
                "village": spec["village"],
                "managing_body": spec["managing_body"],
                "commodity": spec["commodity"],
                "kbli": spec["kbli"],
                "designated_on": spec["designated_on"].isoformat(),
                "member_nibs": [m.nib for m in members],
            }
            response = await self.registry.post(
                "/sentra", body, headers={"Idempotency-Key": _key("sentra", body)}
            )
            self.sentra_id = response.json()["sentra_id"]
            tally.add(True)
        outcomes = self.report.tally("sentra outcomes")
        reported = {
            o["period"]
            for o in (await self.registry.get(f"/sentra/{self.sentra_id}/outcomes")).json()
        }
        for outcome in spec["outcomes"]:
            if outcome["period"] in reported:
                outcomes.add(False)
                continue
            body = {k: v for k, v in outcome.items() if k != "story"}
            await self.registry.post(
                f"/sentra/{self.sentra_id}/outcomes",
                body,
                headers={"Idempotency-Key": _key("outcome", [self.sentra_id, body])},
            )
            outcomes.add(True)
        self.say(
            "S3",
            f"{spec['name']}, {len(members)} IKM, managed by {spec['managing_body']}: {tally}; "
            f"outcomes before/after: {outcomes}",
        )

    async def group_certificates(self) -> None:
        tally = self.report.tally("certificates")
        for enterprise in self.plan.enterprises:
            if not enterprise.certificates:
                continue
            held = {
                (c["scheme"], c["number"])
                for c in (await self.registry.get(f"/enterprises/{enterprise.nib}")).json()[
                    "certificates"
                ]
            }
            for certificate in enterprise.certificates:
                if (certificate["scheme"], certificate["number"]) in held:
                    tally.add(False)
                    continue
                await self.registry.post(
                    f"/enterprises/{enterprise.nib}/certificates",
                    certificate,
                    headers={"Idempotency-Key": _key("certificate", [enterprise.nib, certificate])},
                )
                tally.add(True)
        self.say("S4", f"ISO 9001 certificates of the Link and Match IKM: {tally}")

    # --- programs: programs, budget lines, refocusing ------------------------------------------

    async def programs_and_lines(self) -> None:
        programs = self.report.tally("programs")
        for spec in self.plan.scenario["programs"]:
            body = {
                "code": spec["code"],
                "name": spec["name"],
                "program_type": spec["program_type"],
                "certificate_scheme": spec.get("certificate_scheme"),
                "directorate": spec["directorate"],
                "eligibility": spec.get("eligibility", {}),
                "benefit": spec.get("benefit", {}),
                "opened_on": spec["opened_on"].isoformat(),
            }
            response = await self.programs.post("/programs", body, expect=(201, 409))
            programs.add(response.status_code == 201)
        self.say("S0–S3", f"{len(self.plan.scenario['programs'])} programs: {programs}")
        lines = self.report.tally("budget lines")
        existing = {
            (ln["program_code"], ln["fiscal_year"], ln["mechanism"], ln["province_code"]): ln
            for ln in (await self.programs.get("/budget-lines")).json()
        }

        async def allocate(line: Line) -> None:
            found = existing.get((line.program, line.fiscal_year, line.mechanism, line.province))
            lines.add(found is None)
            if found is None:
                body = {
                    "program_code": line.program,
                    "fiscal_year": line.fiscal_year,
                    "mechanism": line.mechanism,
                    "province_code": line.province,
                    "pagu_idr": line.pagu_idr,
                    "quota_enterprises": line.quota,
                }
                found = (await self.programs.post("/budget-lines", body)).json()
            self.lines[line.key] = found

        await gather_limited(allocate, self.plan.lines, PARALLEL_LINES)
        self.say("S0–S3", f"{len(self.plan.lines)} budget lines: {lines}")

    async def refocusing(self) -> None:
        tally = self.report.tally("refocusing")

        async def refocus(move: Refocus) -> None:
            source = self.lines[move.source]
            if source["pagu_idr"] < source["allocated_idr"]:  # moved already
                tally.add(False)
                return
            body = {
                "target_budget_line_id": self.lines[move.target]["id"],
                "amount_idr": move.amount_idr,
                "reason": move.reason,
            }
            path = f"/budget-lines/{source['id']}/refocus"
            answer = (await self.programs.post(path, body)).json()
            self.lines[move.source], self.lines[move.target] = answer["source"], answer["target"]
            tally.add(True)

        await gather_limited(refocus, self.plan.refocusing, PARALLEL_LINES)
        moved = sum(m.amount_idr for m in self.plan.refocusing)
        self.say(
            "S2",
            f"2020 dekonsentrasi refocused for Covid-19 in {len(self.plan.refocusing)} provinces, "
            f"{_idr(moved)} moved: {tally}",
        )

    # --- enrollments -----------------------------------------------------------------------

    async def wait_for_replica(self, nibs: Iterable[str], scheme: str | None = None) -> None:
        async def one(nib: str) -> None:
            async def arrived() -> bool:
                response = await self.programs.get(f"/enterprise-replica/{nib}", expect=(200, 404))
                if response.status_code != 200 or not response.json()["registered"]:
                    return False
                held = {c["scheme"] for c in response.json()["certificates"] if c["in_force"]}
                return scheme is None or scheme in held

            what = f"registry events about {nib} to reach programs' replica"
            if scheme:
                what += f" (with its {scheme} certificate)"
            await eventually(arrived, what)

        # a few at a time: they wait for the same consumer, and polling must not slow it down
        await gather_limited(one, dict.fromkeys(nibs), limit=4)

    async def enrollments(self) -> None:
        """Each line's enrollments in order (a line is changed by one request at a time, so its
        version never conflicts), line after line as the scenario lists them."""
        tally = self.report.tally("enrollments")
        per_line: dict[str, list[Enrollment]] = {}
        for enrollment in self.plan.enrollments:
            per_line.setdefault(enrollment.line, []).append(enrollment)
        existing: dict[str, dict[str, dict[str, Any]]] = {}

        async def load(key: str) -> None:
            existing[key] = await self._enrollments_on(self.lines[key]["id"])

        await gather_limited(load, per_line)
        await self.wait_for_replica(
            e.nib for e in self.plan.enrollments if e.nib not in existing[e.line]
        )
        programs = {p["code"]: p for p in self.plan.scenario["programs"]}

        async def enroll(key: str) -> None:
            line = self.lines[key]
            rules = programs[line["program_code"]].get("eligibility", {})
            for enrollment in per_line[key]:
                current = existing[key].get(enrollment.nib)
                if current is None:  # e.g. ISO 14001 builds on the ISO 9001 obtained before
                    for scheme in rules.get("required_certificates", []):
                        await self.wait_for_replica([enrollment.nib], scheme)
                await self._advance(enrollment, line, current)
                tally.add(current is None)

        await gather_limited(enroll, per_line, limit=PARALLEL_LINES)
        by_status = Counter(e.until for e in self.plan.enrollments)
        self.say(
            "S0–S3",
            f"{len(self.plan.enrollments)} enrollments ("
            + ", ".join(f"{n} {s}" for s, n in by_status.items())
            + f"): {tally}",
        )

    async def _enrollments_on(self, line_id: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        after = None
        while True:
            params = {"budget_line_id": line_id, "limit": 500}
            if after:
                params["after"] = after
            page = (await self.programs.get("/enrollments", params=params)).json()
            for item in page["items"]:
                found.setdefault(item["nib"], item)
            after = page["next_cursor"]
            if not after:
                return found

    async def _advance(
        self, enrollment: Enrollment, line: dict[str, Any], current: dict[str, Any] | None
    ) -> None:
        """Take the enrollment to ``until``, from wherever an earlier run left it."""
        if current is None:
            body = {"nib": enrollment.nib, "budget_line_id": line["id"], "approve": True}
            current = (await self.programs.post("/enrollments", body)).json()
        target = STAGE_ORDER.index(enrollment.until)
        while True:
            status = current["status"]
            if status not in STAGE_ORDER or STAGE_ORDER.index(status) >= target:
                break
            path = f"/enrollments/{current['id']}"
            if status == "ineligible" or status == "requested":
                break
            if status == "eligible":
                current = (await self.programs.post(f"{path}/approve", None)).json()
            elif status == "approved":
                current = (await self.programs.post(f"{path}/start", None)).json()
            elif status == "in_assistance":
                body: dict[str, Any] = {"realised_idr": current["reserved_idr"]}
                if enrollment.certificate is not None:
                    body["certificate"] = enrollment.certificate
                current = (await self.programs.post(f"{path}/complete", body)).json()
        if current["status"] in ("ineligible", "rejected"):
            raise DemoError(
                f"programs found {enrollment.nib} ineligible for line {enrollment.line}: "
                + "; ".join(current["reasons"])
            )

    # --- budget events: postponement (S0), closing the books ------------------------------------

    async def postponements(self) -> None:
        tally = self.report.tally("postponements")
        for line in self.plan.lines:
            if not line.postpone:
                continue
            current = self.lines[line.key] = await self._line(line)
            if current["status"] == "postponed":
                tally.add(False)
                continue
            self.lines[line.key] = (
                await self.programs.post(
                    f"/budget-lines/{current['id']}/postpone", {"reason": line.postpone}
                )
            ).json()
            tally.add(True)
        self.say("S0", f"ISO 14001 assistance 2025 postponed, its enrollments suspended: {tally}")

    async def _line(self, line: Line) -> dict[str, Any]:
        found: dict[str, Any] = (
            await self.programs.get(f"/budget-lines/{self.lines[line.key]['id']}")
        ).json()
        return found

    async def closings(self) -> None:
        lines = self.report.tally("closed budget lines")

        async def close(line: Line) -> None:
            known = self.lines[line.key]  # as listed at the start, or as this run left it
            if known["status"] != "closed":
                path = f"/budget-lines/{known['id']}/close"
                answer = await self.programs.post(path, {"reason": line.close}, expect=(200, 409))
                if answer.status_code == 200:
                    self.lines[line.key] = answer.json()
                    lines.add(True)
                    return
                if (await self._line(line))["status"] != "closed":
                    raise DemoError(f"programs: POST {path} → 409: {answer.text}")
            lines.add(False)

        await gather_limited(close, [ln for ln in self.plan.lines if ln.close], PARALLEL_LINES)
        closed = lines.created + lines.present
        self.say("S0–S3", f"{closed} budget lines closed at the end of their fiscal year: {lines}")
        programs = self.report.tally("closed programs")
        for spec in self.plan.scenario["programs"]:
            close = spec.get("close")
            if close is None:
                continue
            program = (await self.programs.get(f"/programs/{spec['code']}")).json()
            if program["status"] == "closed":
                programs.add(False)
                continue
            body = {"reason": close["reason"], "closed_on": close["on"].isoformat()}
            await self.programs.post(f"/programs/{spec['code']}/close", body)
            programs.add(True)
        self.say("S0", f"ISO 9001 assistance stopped (program closed 29 Apr 2025): {programs}")

    # --- partnerships (S4) ---------------------------------------------------------------------

    async def wait_for_partnerships(self, nibs: Iterable[str], schemes: Iterable[str]) -> None:
        wanted = set(schemes)

        async def one(nib: str) -> None:
            async def arrived() -> bool:
                response = await self.partnerships.get(
                    f"/enterprises/{nib}/readiness", expect=(200, 404)
                )
                if response.status_code != 200:
                    return False
                return wanted <= {c["scheme"] for c in response.json()["certificates"]}

            await eventually(arrived, f"registry events about {nib} to reach partnerships")

        await gather_limited(one, dict.fromkeys(nibs))

    async def link_and_match(self) -> None:
        partners = self.report.tally("partners")
        for partner in self.plan.partners:
            known = await self.partnerships.get(f"/partners/{partner.nib}", expect=(200, 404))
            if known.status_code == 200:
                partners.add(False)
                continue
            body = {
                "partner_nib": partner.nib,
                "name": partner.name,
                "sector": partner.sector,
                "tier": partner.tier,
                "requirements": {"required_certificates": partner.required_certificates},
            }
            await self.partnerships.post("/partners", body)
            partners.add(True)
        self.say("S4", f"{len(self.plan.partners)} large-industry partners: {partners}")

        tally = self.report.tally("agreements")
        existing = await self._partnerships()
        requirements = {p.nib: p.required_certificates for p in self.plan.partners}
        to_sign: dict[tuple[str, ...], list[str]] = {}
        for agreement in self.plan.agreements:
            found = existing.get((agreement.partner_nib, tuple(agreement.ikm_nibs)))
            if found is None or found["stage"] == "proposed":
                schemes = tuple(requirements[agreement.partner_nib])
                to_sign.setdefault(schemes, []).extend(agreement.ikm_nibs)
        for schemes, nibs in to_sign.items():  # signing checks them: wait for the certificates
            await self.wait_for_partnerships(nibs, schemes)
        for agreement in self.plan.agreements:
            found = existing.get((agreement.partner_nib, tuple(agreement.ikm_nibs)))
            await self._agreement(agreement, found)
            tally.add(found is None)
        by_year = Counter(a.signed_on.year for a in self.plan.agreements if a.signed_on)
        self.say(
            "S4",
            f"{len(self.plan.agreements)} Link and Match agreements ("
            + ", ".join(f"{n} in {y}" for y, n in sorted(by_year.items()))
            + f"): {tally}",
        )
        targets = self.report.tally("targets")
        for target in self.plan.scenario["targets"]:
            path = f"/targets/{target['fiscal_year']}/{target['unit']}"
            attainment = (await self.partnerships.get(f"/targets/{target['fiscal_year']}")).json()
            set_already = any(
                u["unit"] == target["unit"]
                and u["target"] == target["target"]
                and u["source"] == target["source"]
                for u in attainment["units"]
            )
            if not set_already:
                await self.partnerships.put(
                    path, {"target": target["target"], "source": target["source"]}
                )
            targets.add(not set_already)
            self.say(
                "S4",
                f"target {target['fiscal_year']}: {target['target']} {UNITS[target['unit']]}: "
                f"{targets}",
            )

    async def _partnerships(self) -> dict[tuple[str, tuple[str, ...]], dict[str, Any]]:
        return {
            (p["partner_nib"], tuple(p["ikm_nibs"])): p
            for p in (await self.partnerships.get("/partnerships")).json()
        }

    async def _agreement(self, agreement: Agreement, current: dict[str, Any] | None) -> None:
        if current is None:
            body = {
                "partner_nib": agreement.partner_nib,
                "ikm_nibs": agreement.ikm_nibs,
                "component": agreement.component,
                "facilitated_by": agreement.facilitated_by,
                "proposed_on": agreement.proposed_on.isoformat(),
            }
            current = (await self.partnerships.post("/partnerships", body)).json()
        path = f"/partnerships/{current['partnership_id']}"
        if agreement.signed_on and current["stage"] == "proposed":
            body = {"signed_on": agreement.signed_on.isoformat()}
            current = (await self.partnerships.post(f"{path}/sign", body)).json()
        if agreement.coaching_on and current["stage"] == "mou_signed":
            body = {"stage": "coaching", "on": agreement.coaching_on.isoformat()}
            current = (await self.partnerships.post(f"{path}/stage", body)).json()

    async def candidates(self) -> None:
        tally = self.report.tally("candidates")
        existing = await self._partnerships()
        for candidate in self.plan.candidates:
            found = existing.get((candidate.partner_nib, tuple(candidate.ikm_nibs)))
            if found is None:
                await self.wait_for_partnerships(candidate.ikm_nibs, [])
            await self._agreement(candidate, found)
            tally.add(found is None)
        first = self.plan.candidates[0].partner_nib
        partner = next(p for p in self.plan.partners if p.nib == first)
        self.say(
            "S0×S4",
            f"{len(self.plan.candidates)} ISO 9001 IKM proposed as suppliers of {partner.name} "
            f"(tier {partner.tier}, requires {' + '.join(partner.required_certificates)}): {tally}",
        )

    # --- the end: every event applied, and what reporting shows --------------------------------

    async def settle(self) -> None:
        """Wait until every outbox is published and every consumer has caught up, and until the
        cross-service outcomes the stories end with are there."""
        apis = (self.registry, self.programs, self.partnerships, self.reporting)
        quiet_since: list[float] = []

        async def quiet() -> bool:
            statuses = await asyncio.gather(*(api.status() for api in apis))
            idle = all(
                s["consumer_lag"] == 0 and (s.get("outbox") or {}).get("backlog", 0) == 0
                for s in statuses
            )
            if not idle:
                quiet_since.clear()
                return False
            quiet_since.append(time.monotonic())
            return quiet_since[-1] - quiet_since[0] >= 0.5

        await eventually(quiet, "every service to publish its events and catch up")

        suspended = [e.nib for e in self.plan.enrollments if e.line == self._postponed_key()]
        postponed = self.lines[self._postponed_key()]["id"]

        async def blocked() -> bool:
            for candidate in self.plan.candidates:
                nib = candidate.ikm_nibs[0]
                readiness = (await self.partnerships.get(f"/enterprises/{nib}/readiness")).json()
                if not any(p["status"] == "blocked" for p in readiness["partners"]):
                    return False
            return True

        async def impact() -> bool:
            rows = (await self.reporting.get("/kpis/postponements")).json()["rows"]
            row = next((r for r in rows if r["budget_line_id"] == postponed), None)
            return row is not None and row["enterprises_suspended"] == len(suspended)

        await eventually(impact, "reporting to show the suspended ISO 14001 enrollments")
        await eventually(blocked, "partnerships to block the candidates waiting for ISO 14001")

    def _postponed_key(self) -> str:
        return next(line.key for line in self.plan.lines if line.postpone)

    async def summary(self) -> dict[str, Any]:
        kpis = {
            name: (await self.reporting.get(f"/kpis/{name}")).json()
            for name in ("enterprises", "certificates", "postponements", "partnerships", "sentra")
        }
        year = int(self.plan.scenario["covid_refocusing"]["fiscal_year"])
        budget = await self.reporting.get("/kpis/budget", params={"fiscal_year": year})
        budget_2020 = budget.json()
        sentra_name = self.plan.scenario["sentra"]["name"]
        sentra = next(r for r in kpis["sentra"]["rows"] if r["name"] == sentra_name)
        postponed = next(
            r
            for r in kpis["postponements"]["rows"]
            if r["budget_line_id"] == self.lines[self._postponed_key()]["id"]
        )
        certificates = Counter[str]()
        for row in kpis["certificates"]["rows"]:
            if row["status"] == "active":
                certificates[row["scheme"]] += row["certificates"]
        rows_2020 = budget_2020["rows"]
        return {
            "register": kpis["enterprises"]["total"],
            "reference": kpis["enterprises"].get("reference", {}),
            "certificates": dict(certificates),
            "iso14001_2025": postponed,
            "refocusing_2020": {
                "provinces": len({r["province_code"] for r in rows_2020}),
                "lines": len(rows_2020),
                "allocated_idr": sum(r["allocated_idr"] for r in rows_2020),
                "pagu_idr": budget_2020["total"]["pagu_idr"],
                "refocused_idr": budget_2020["total"]["refocused_out_idr"],
            },
            "sentra": sentra,
            "link_and_match": kpis["partnerships"]["total"]["attainment"],
        }


def print_summary(report: DemoReport, console: Console) -> None:
    s = report.summary
    if not s:
        return
    register = s["register"]
    units = s["reference"].get("ikm_units_2022")
    line = f"register: {register['enterprises']} IKM, {register['workforce']} workers"
    if units:
        line += (
            f" — beside the 2022 national figure of {units['value']:,.0f} {units['unit']} "
            f"({units['registered_pct']}% of it registered)"
        )
    console.print(f"  [bold]S1[/] {line}")
    certificates = ", ".join(f"{n} {scheme}" for scheme, n in sorted(s["certificates"].items()))
    console.print(f"  [bold]S0[/] active certificates: {certificates}")
    p = s["iso14001_2025"]
    console.print(
        f"  [bold]S0[/] {p['program_code']} {p['fiscal_year']}: {p['status']} "
        f"({p['reason']}); {p['enterprises_suspended']} enrollments suspended in provinces "
        f"{', '.join(p['provinces'])}"
    )
    r = s["refocusing_2020"]
    console.print(
        f"  [bold]S2[/] 2020 dekonsentrasi: {r['lines']} lines in {r['provinces']} provinces, "
        f"pagu {_idr(r['pagu_idr'])} (allocated {_idr(r['allocated_idr'])}), "
        f"{_idr(r['refocused_idr'])} refocused for Covid-19"
    )
    sentra = s["sentra"]
    console.print(
        f"  [bold]S3[/] {sentra['name']}: {sentra['members']} members, "
        f"{len(sentra['outcomes'])} outcome periods (before/after)"
    )
    signed = {
        row["fiscal_year"]: row["achieved"]
        for row in s["link_and_match"]
        if row["unit"] == "agreements" and row["achieved"]
    }
    if signed:
        console.print(
            f"  [bold]S4[/] Link and Match: {sum(signed.values())} agreements signed ("
            + ", ".join(f"{n} in {year}" for year, n in sorted(signed.items()))
            + ")"
        )
    for row in s["link_and_match"]:
        if row["target"] is not None:
            console.print(
                f"  [bold]S4[/] {row['fiscal_year']} target: {row['target']} {UNITS[row['unit']]}, "
                f"{row['achieved']} signed so far ({row['attainment_pct']}%)"
            )


async def run_demo(
    urls: Mapping[str, str],
    seed: int | None = None,
    *,
    console: Console | None = None,
    timeout_s: float = 30.0,
) -> DemoReport:
    """Load the seed stories into the platform at ``urls`` (service name → base URL)."""
    console = console or Console(stderr=True)
    scenario = load_scenario()
    plan = build(scenario, seed if seed is not None else int(scenario["scenario"]["seed"]))
    console.print(f"loading the demo scenario (seed {plan.seed}) through the public APIs…")
    async with httpx.AsyncClient(timeout=timeout_s, headers=bearer_headers()) as client:
        demo = Demo(plan, client, urls, console)
        report = await demo.run()
    print_summary(report, console)
    verdict = (
        "the demo was already loaded: nothing added"
        if report.already_loaded
        else f"demo loaded in {report.seconds} s"
    )
    console.print(f"[green]✓[/] {verdict}")
    return report
