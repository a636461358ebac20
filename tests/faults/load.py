"""A steady load of commands through the registry's HTTP API, recording what was accepted.

Registrations use NIBs from a deterministic sequence, spread over four provinces; updates change
the workforce of an enterprise the load registered, with ``If-Match`` on the version the load
last saw, so per-key order matters (an update may also reclassify the enterprise: crossing 19/20
workers moves it between small and medium, a second event). Only a 2xx answer makes a command
*accepted*; a 5xx or no answer leaves it *uncertain*: it may or may not have committed, and the
checks then require only that it left nothing half-written.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

# province, regency (Kemendagri) pairs the registry accepts
REGIONS = (("35", "3517"), ("51", "5106"), ("63", "6371"), ("72", "7271"))
KBLI = "24202"
INVESTMENT_IDR = 500_000_000  # with <= 19 workers: small; with >= 20: medium


@dataclass
class Enterprise:
    """What the load knows of one NIB it registered."""

    nib: str
    province: str
    workforce: int
    version: int = 1
    uncertain: bool = False  # a command on it got no clear answer
    busy: bool = False


@dataclass
class Load:
    """Sends commands at ``rate`` per second to ``clients`` (round robin) until stopped."""

    clients: list[httpx.AsyncClient]
    run_id: int
    rate: float = 20.0
    update_share: float = 0.3
    max_in_flight: int = 40
    seed: int = 12
    enterprises: dict[str, Enterprise] = field(default_factory=dict)
    # (nib, version) of every event an accepted command must have produced
    expected_events: set[tuple[str, int]] = field(default_factory=set)
    uncertain_nibs: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)  # 4xx answers: a bug in load or service
    outcomes: Counter[str] = field(default_factory=Counter)
    accepted_registrations: int = 0
    accepted_updates: int = 0
    bulk_accepted: int = 0
    not_accepted: int = 0  # 5xx or no answer
    accepted_at: list[float] = field(default_factory=list)  # when each 2xx answer came

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._sequence = 0
        self._turn = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self._started = 0.0
        self._stopped = 0.0

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        self._started = time.monotonic()
        self._task = asyncio.create_task(self._run(), name="load")

    async def __aenter__(self) -> Load:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop_in(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        await self.stop()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._stopped = self._stopped or time.monotonic()

    async def _run(self) -> None:
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            if len(self._in_flight) >= self.max_in_flight:
                self.outcomes["skipped (too many in flight)"] += 1
            else:
                task = asyncio.create_task(self._one())
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0:
                next_at = time.monotonic()
                delay = 0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _one(self) -> None:
        candidates = [e for e in self.enterprises.values() if not e.busy and not e.uncertain]
        if candidates and self._random.random() < self.update_share:
            await self.update(self._random.choice(candidates))
        else:
            await self.register()

    def _client(self) -> httpx.AsyncClient:
        self._turn += 1
        return self.clients[self._turn % len(self.clients)]

    # --- commands --------------------------------------------------------------------------

    def next_nib(self) -> str:
        self._sequence += 1
        return f"9{self.run_id:02d}{self._sequence:010d}"

    def body(self, nib: str) -> dict[str, object]:
        index = int(nib[-6:])
        province, regency = REGIONS[index % len(REGIONS)]
        return {
            "nib": nib,
            "name": f"CV Uji Beban {nib[-6:]}",
            "province_code": province,
            "regency_code": regency,
            "kbli": KBLI,
            "workforce": 5 + index % 30,
            "investment_idr": INVESTMENT_IDR,
        }

    async def register(self) -> None:
        nib = self.next_nib()
        body = self.body(nib)
        try:
            response = await self._client().post("/api/v1/enterprises", json=body)
        except httpx.HTTPError as exc:
            self._uncertain("register", nib, type(exc).__name__)
            return
        if response.status_code == 201:
            self.accepted_at.append(time.monotonic())
            self.accepted_registrations += 1
            self.outcomes["register 201"] += 1
            self.enterprises[nib] = Enterprise(
                nib, str(body["province_code"]), int(body["workforce"]), response.json()["version"]
            )
            self.expected_events.add((nib, 1))
        elif response.status_code >= 500:
            self._uncertain("register", nib, str(response.status_code))
        else:
            self.unexpected.append(f"register {nib}: {response.status_code} {response.text}")

    async def update(self, enterprise: Enterprise) -> None:
        enterprise.busy = True
        workforce = self._random.choice([w for w in range(3, 41) if w != enterprise.workforce])
        try:
            response = await self._client().patch(
                f"/api/v1/enterprises/{enterprise.nib}",
                json={"workforce": workforce},
                headers={"If-Match": f'"{enterprise.version}"'},
            )
        except httpx.HTTPError as exc:
            self._uncertain("update", enterprise.nib, type(exc).__name__)
            return
        finally:
            enterprise.busy = False
        if response.status_code == 200:
            self.accepted_at.append(time.monotonic())
            version = response.json()["version"]
            assert version > enterprise.version, (enterprise, response.text)
            self.expected_events.update(
                (enterprise.nib, v) for v in range(enterprise.version + 1, version + 1)
            )
            enterprise.version, enterprise.workforce = version, workforce
            self.accepted_updates += 1
            self.outcomes["update 200"] += 1
        elif response.status_code >= 500:
            self._uncertain("update", enterprise.nib, str(response.status_code))
        else:
            self.unexpected.append(
                f"update {enterprise.nib}: {response.status_code} {response.text}"
            )
            enterprise.uncertain = True

    def _uncertain(self, kind: str, nib: str, why: str) -> None:
        self.not_accepted += 1
        self.outcomes[f"{kind} {why}"] += 1
        self.uncertain_nibs.add(nib)
        if nib in self.enterprises:
            self.enterprises[nib].uncertain = True

    async def bulk(self, client: httpx.AsyncClient, rows: int) -> list[str]:
        """Register ``rows`` enterprises in bulk requests of up to 1000 (a backlog for the
        consumers); returns the NIBs accepted."""
        accepted: list[str] = []
        while rows > 0:
            bodies = [self.body(self.next_nib()) for _ in range(min(rows, 1000))]
            rows -= len(bodies)
            response = await client.post(
                "/api/v1/enterprises/bulk", json={"rows": bodies}, timeout=120
            )
            assert response.status_code == 200, response.text
            assert response.json()["rejected"] == [], response.text
            for body in bodies:
                nib = str(body["nib"])
                self.enterprises[nib] = Enterprise(
                    nib, str(body["province_code"]), int(body["workforce"])
                )
                self.expected_events.add((nib, 1))
                accepted.append(nib)
        self.bulk_accepted += len(accepted)
        return accepted

    async def first_accepted_after(self, moment: float, timeout_s: float = 60.0) -> float:
        """When the first command sent after ``moment`` was accepted (the API is back)."""
        deadline = time.monotonic() + timeout_s
        while not any(t > moment for t in self.accepted_at):
            assert time.monotonic() < deadline, f"no command accepted {timeout_s:.0f}s after it"
            await asyncio.sleep(0.05)
        return min(t for t in self.accepted_at if t > moment)

    # --- reporting -------------------------------------------------------------------------

    @property
    def accepted(self) -> int:
        return self.accepted_registrations + self.accepted_updates + self.bulk_accepted

    def summary(self) -> str:
        seconds = (self._stopped or time.monotonic()) - self._started
        sent = sum(v for k, v in self.outcomes.items() if not k.startswith("skipped"))
        refused = {k: v for k, v in self.outcomes.items() if not k.endswith(("201", "200"))}
        return (
            f"{sent} commands in {seconds:.0f}s ({sent / max(seconds, 1e-9):.1f}/s): "
            f"{self.accepted_registrations} registrations and {self.accepted_updates} updates "
            f"accepted, {self.bulk_accepted} bulk rows; not accepted: {refused or 'none'}"
        )
