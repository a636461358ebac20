"""`make run` as a newcomer sees it: `ikm up --demo` fills the platform with the seed stories.

Subprocesses, the embedded broker and SQLite files, as a user runs them. The stories are checked
through the reporting API only; then the demo runs again, against the running platform and after a
restart on the same data, and adds nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.demo import build, default_seed, load_scenario
from services.registry import reference
from shared.broker import free_port
from tests.support.platform import bearer

pytestmark = pytest.mark.integration
SERVICES = ("registry", "programs", "partnerships", "reporting")
SENTRA = "Sentra IKM Slag Aluminium Kendalsari"


class Ikm:
    """One ``ikm`` subprocess whose output is collected as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        ikm = shutil.which("ikm", path=str(Path(sys.executable).parent)) or "ikm"
        self.process = subprocess.Popen(
            [ikm, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if text in self.output:
                return
            if self.process.poll() is not None:
                self._reader.join(5)
                if text in self.output:
                    return
                raise AssertionError(f"ikm exited with {self.process.returncode}:\n{self.output}")
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} after {timeout_s} s:\n{self.output}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise
        self._reader.join(5)
        return code


def kpi(reporting: str, name: str, **params: Any) -> dict[str, Any]:
    response = httpx.get(
        f"{reporting}/api/v1/kpis/{name}", params=params, timeout=10, headers=bearer("viewer")
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def snapshot(reporting: str) -> dict[str, Any]:
    """Figures that would grow if anything were loaded twice."""
    enterprises = kpi(reporting, "enterprises")["total"]
    partnerships = kpi(reporting, "partnerships")
    return {
        "enterprises": enterprises["enterprises"],
        "workforce": enterprises["workforce"],
        "certificates": sum(r["certificates"] for r in kpi(reporting, "certificates")["rows"]),
        "budget_lines": len(kpi(reporting, "budget")["rows"]),
        "pagu": kpi(reporting, "budget")["total"]["pagu_idr"],
        "funnel": sorted(
            (r["program_code"], r["fiscal_year"], r.get("completed", 0), r.get("requested", 0))
            for r in kpi(reporting, "enrollments")["rows"]
        ),
        "partnerships": sum(r["partnerships"] for r in partnerships["rows"]),
        "sentra": [
            (r["name"], r["members"], len(r["outcomes"])) for r in kpi(reporting, "sentra")["rows"]
        ],
        "references": len(
            httpx.get(f"{reporting}/api/v1/reference-figures", headers=bearer("viewer")).json()
        ),
    }


def test_the_plan_is_deterministic_and_valid() -> None:
    scenario = load_scenario()
    first, again = build(scenario, default_seed()), build(scenario, default_seed())
    assert [e.body for e in first.enterprises] == [e.body for e in again.enterprises]
    assert [e.body for e in build(scenario, 7).enterprises] != [e.body for e in first.enterprises]
    nibs = [e.nib for e in first.enterprises] + [p.nib for p in first.partners]
    assert len(set(nibs)) == len(nibs)
    for enterprise in first.enterprises:
        body = enterprise.body
        assert len(body["nib"]) == 13 and body["nib"].isdigit()
        assert reference.kbli(body["kbli"]) is not None
        assert body["regency_code"][:2] == body["province_code"]
        assert reference.regency(body["regency_code"]) is not None
    assert len(first.groups["sentra-kendalsari"]) == 25
    assert sum(e.body["workforce"] for e in first.groups["sentra-kendalsari"]) > 200
    masks = first.groups["covid-sulteng"]
    assert len(masks) == 10 and sum(e.body["production"]["quantity"] for e in masks) == 3_000
    kalsel = first.groups["covid-kalsel"]
    assert sum(e.body["production"]["quantity"] for e in kalsel) == 100_000
    assert len(first.refocusing) == 34
    assert Counter(a.signed_on.year for a in first.agreements if a.signed_on) == {
        2016: 5,
        2017: 7,
        2018: 3,
    }


def test_make_run_tells_the_seed_stories_once(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {
        **os.environ,
        "IKM_DATA_DIR": str(tmp_path / "data"),
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "COLUMNS": "200",
        **{f"{name.upper()}_PORT": str(port) for name, port in ports.items()},
    }
    for name in SERVICES:
        env.pop(f"{name.upper()}_DATABASE_URL", None)
    reporting = f"http://127.0.0.1:{ports['reporting']}"
    partnerships = f"http://127.0.0.1:{ports['partnerships']}"

    up = Ikm(["up", "--demo", "--reset"], env)
    try:
        up.wait_for("demo loaded in", timeout_s=300)
        up.wait_for("dead letters: ikm status", timeout_s=30)  # where to look, printed last
        assert f"{reporting}/docs" in up.output and f"{reporting}/dashboard" in up.output

        # S3: the Jombang sentra, its 25 members and its outcomes before and after, as ranges
        sentra = next(r for r in kpi(reporting, "sentra")["rows"] if r["name"] == SENTRA)
        assert sentra["members"] == 25
        assert (sentra["province_code"], sentra["regency_code"]) == ("35", "3517")
        outcomes = {o["period"]: o for o in sentra["outcomes"]}
        before = outcomes["before DAK revitalisation"]
        after = outcomes["since DAK revitalisation"]
        assert (before["revenue_min_idr"], before["revenue_max_idr"]) == (200e6, 300e6)
        assert (before["production_min"], before["production_max"]) == (50, 70)
        assert (after["revenue_min_idr"], after["revenue_max_idr"]) == (1.5e9, 2e9)
        assert (after["production_min"], after["production_max"]) == (400, 700)
        assert after["production_unit"] == "tonnes/year"
        assert after["workforce_min"] > 200

        # S0: ISO 14001 assistance 2025 postponed; its enrollments suspended, across provinces
        (postponed,) = [
            r
            for r in kpi(reporting, "postponements")["rows"]
            if r["program_code"] == "ISO14001" and r["fiscal_year"] == 2025
        ]
        assert postponed["status"] == "postponed"
        assert postponed["enterprises_suspended"] == 12
        assert len(postponed["provinces"]) >= 2
        assert postponed["reserved_suspended_idr"] == 12 * 40_000_000
        (line_2025,) = kpi(reporting, "budget", program_code="ISO14001", fiscal_year=2025)["rows"]
        assert line_2025["postponed_idr"] == line_2025["pagu_idr"] > 0
        funnel = {
            (r["program_code"], r["fiscal_year"]): r for r in kpi(reporting, "enrollments")["rows"]
        }
        assert funnel[("ISO9001", 2022)]["completed"] == 8
        active = Counter[str]()
        for row in kpi(reporting, "certificates")["rows"]:
            if row["status"] == "active":
                active[row["scheme"]] += row["certificates"]
        assert active["ISO_9001"] == 24 + 15 and active["TKDN_IK"] == 9
        # ... and the tier-1 candidates waiting for ISO 14001 are blocked (partnerships' view)
        plan = build(load_scenario(), default_seed())
        candidate = plan.candidates[0].ikm_nibs[0]
        readiness = httpx.get(
            f"{partnerships}/api/v1/enterprises/{candidate}/readiness", headers=bearer("viewer")
        ).json()
        assert [p["status"] for p in readiness["partners"]] == ["blocked"]

        # S2: the 2020 dekonsentrasi refocusing moves money between lines of 34 provinces; every
        # province's total, and the national one, stay exactly what was allocated
        budget_2020 = kpi(reporting, "budget", fiscal_year=2020)
        rows = budget_2020["rows"]
        assert {r["mechanism"] for r in rows} == {"dekonsentrasi"}
        by_province: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_province.setdefault(row["province_code"], []).append(row)
        assert len(by_province) == 34 and all(len(v) == 2 for v in by_province.values())
        for lines in by_province.values():
            assert sum(r["pagu_idr"] for r in lines) == sum(r["allocated_idr"] for r in lines)
            assert sum(r["refocused_out_idr"] for r in lines) > 0
        total = budget_2020["total"]
        assert total["refocused_out_idr"] == total["refocused_in_idr"] > 0
        assert total["pagu_idr"] == sum(r["allocated_idr"] for r in rows)
        assert (
            len(kpi(reporting, "budget", fiscal_year=2024, mechanism="tugas_pembantuan")["rows"])
            == 12
        )

        # S4: Link and Match, 3 agreements signed in 2018, 15 since 2016; the 2019 target counts IKM
        link = kpi(reporting, "partnerships")
        attainment = {(a["fiscal_year"], a["unit"]): a for a in link["total"]["attainment"]}
        assert attainment[(2018, "agreements")]["achieved"] == 3
        assert sum(attainment[(y, "agreements")]["achieved"] for y in (2016, 2017, 2018)) == 15
        target = attainment[(2019, "ikm")]
        assert (target["target"], target["achieved"], target["attainment_pct"]) == (45, 0, 0.0)
        stages = Counter[str]()
        for row in link["rows"]:
            stages[row["stage"]] += row["partnerships"]
        assert stages == {"coaching": 12, "mou_signed": 3, "proposed": 6}

        # S1: the 2022 national picture beside the register
        enterprises = kpi(reporting, "enterprises")
        units = enterprises["reference"]["ikm_units_2022"]
        assert (units["value"], units["year"], units["unit"]) == (4_400_000, 2022, "IKM units")
        assert units["registered"] == enterprises["total"]["enterprises"] == len(plan.enterprises)
        workers = enterprises["reference"]["ikm_workers_2022"]
        assert workers["value"] == 12_390_000 and workers["registered"] > 0

        # no event of the demo was refused by a consumer (a refused event goes to a dead letter)
        for log in (tmp_path / "data" / "logs").glob("*.log"):
            refused = [
                line
                for line in log.read_text(errors="replace").splitlines()
                if '"level": "ERROR"' in line or " rejected " in line
            ]
            assert not refused, f"{log.name}: {refused[:3]}"

        loaded = snapshot(reporting)

        # the demo again, against the running platform: everything is found, nothing added
        again = subprocess.run(
            [up.process.args[0], "demo"], env=env, capture_output=True, text=True, timeout=180
        )
        assert again.returncode == 0, again.stdout + again.stderr
        assert "the demo was already loaded: nothing added" in again.stderr
        assert snapshot(reporting) == loaded
    finally:
        code = up.stop()
    assert code == 0, up.output

    # `make run` a second time: the same data directory is reused and the demo adds nothing
    restarted = Ikm(["up", "--demo"], env)
    try:
        restarted.wait_for("the demo was already loaded: nothing added", timeout_s=180)
        assert snapshot(reporting) == loaded
    finally:
        code = restarted.stop()
    assert code == 0, restarted.output
