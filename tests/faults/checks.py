"""What must hold after every fault, checked the same way each time.

The registry's database is the source of truth: its enterprises and its outbox. Against it:

1. nothing half-written: every enterprise row has exactly the events of its versions 1..n in the
   outbox, and no event exists for an enterprise the register does not hold;
2. every command the API accepted produced exactly its events (and the state it answered);
3. the topic holds each outbox event (by ``ce_id``), more than once only as an exact
   redelivery; per key (NIB) the versions come in order 1, 2, 3...;
4. every consumer (programs, partnerships, reporting) applied every event of the types it
   handles exactly once: its inbox holds exactly those of the outbox's event ids, its replica or
   read model is at each enterprise's latest version, reporting's KPIs equal the register's
   counts and workforce sums, and where a consumer ran all along its ``/metrics`` count each
   event applied once;
5. dead letters: exactly the poison messages, from every consumer group, with their reason and
   original coordinates; nothing else on any dead-letter topic.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from services.partnerships import consumers as partnerships_consumers
from services.programs import consumers as programs_consumers
from services.reporting import consumers as reporting_consumers
from shared import dlq
from shared.events.registry import EnterpriseRegistered, EnterpriseUpdated
from shared.events.topics import ENTERPRISES
from tests.faults.harness import CONSUMERS, Node, Rig
from tests.faults.load import Load
from tests.support.kafka import read_topic

REGISTRY_SOURCE = "/ikm/registry"
ROUTES = {
    "programs": programs_consumers.routes,
    "partnerships": partnerships_consumers.routes,
    "reporting": reporting_consumers.routes,
}
# the event types each consumer applies (and records in its inbox); it ignores the others
ROUTED = {service: set(routes.handlers) for service, routes in ROUTES.items()}
INBOX_HANDLER = {service: routes.name for service, routes in ROUTES.items()}
PROFILE_TYPES = {EnterpriseRegistered.ce_type(), EnterpriseUpdated.ce_type()}
REGISTRY_TYPE_PREFIX = "id.go.kemenperin.ikm.registry."


@dataclass(frozen=True)
class OutboxEvent:
    event_id: str
    nib: str
    version: int
    ce_type: str
    published: bool


@dataclass(frozen=True)
class EnterpriseRow:
    province: str
    workforce: int
    size_class: str | None
    version: int


@dataclass
class RegistryState:
    enterprises: dict[str, EnterpriseRow]
    events: dict[str, OutboxEvent]

    def profile_version(self) -> dict[str, int]:
        """Per NIB, the version of its last registered/updated event (what replicas keep)."""
        latest: dict[str, int] = {}
        for e in self.events.values():
            if e.ce_type in PROFILE_TYPES:
                latest[e.nib] = max(latest.get(e.nib, 0), e.version)
        return latest


async def _fetch(dsn: str, query: str, *args: object) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


async def registry_state(rig: Rig) -> RegistryState:
    dsn = rig.dsn("registry")
    rows = await _fetch(
        dsn, "SELECT nib, province_code, workforce, size_class, version FROM enterprises"
    )
    outbox = await _fetch(
        dsn,
        "SELECT event_id, key, ce_type, payload, "
        "NOT EXISTS (SELECT FROM outbox_pending p WHERE p.id = outbox.id) AS published "
        "FROM outbox WHERE topic = $1",
        ENTERPRISES.name,
    )
    return RegistryState(
        enterprises={
            r["nib"]: EnterpriseRow(
                r["province_code"], r["workforce"] or 0, r["size_class"], r["version"]
            )
            for r in rows
        },
        events={
            r["event_id"]: OutboxEvent(
                r["event_id"],
                r["key"],
                int(json.loads(r["payload"])["version"]),
                r["ce_type"],
                r["published"],
            )
            for r in outbox
        },
    )


async def inbox_table(dsn: str, service: str) -> str:
    if service != "reporting":
        return "inbox"
    live = await _fetch(dsn, "SELECT live FROM read_model_generation WHERE id = 1")
    return f"{live[0]['live'] if live else 'a'}_inbox"


async def applied_ids(rig: Rig, service: str) -> set[str]:
    dsn = rig.dsn(service)
    table = await inbox_table(dsn, service)
    rows = await _fetch(
        dsn,
        f"SELECT event_id FROM {table} WHERE handler = $1 AND source = $2",
        INBOX_HANDLER[service],
        REGISTRY_SOURCE,
    )
    return {r["event_id"] for r in rows}


async def backlog(rig: Rig, events: dict[str, str]) -> dict[str, int]:
    """Of ``events`` (ce_id -> ce_type), how many the relay has not published and each consumer
    has not applied (of the types it applies)."""
    missing = {}
    rows = await _fetch(
        rig.dsn("registry"),
        "SELECT count(*) AS n FROM outbox WHERE event_id = ANY($1::text[]) "
        "AND NOT EXISTS (SELECT FROM outbox_pending p WHERE p.id = outbox.id)",
        list(events),
    )
    missing["registry relay"] = len(events) - rows[0]["n"]
    for service in CONSUMERS:
        ids = [i for i, ce_type in events.items() if ce_type in ROUTED[service]]
        dsn = rig.dsn(service)
        table = await inbox_table(dsn, service)
        rows = await _fetch(
            dsn,
            f"SELECT count(*) AS n FROM {table} WHERE handler = $1 AND event_id = ANY($2::text[])",
            INBOX_HANDLER[service],
            ids,
        )
        missing[service] = len(ids) - rows[0]["n"]
    return missing


async def written_events(rig: Rig) -> dict[str, str]:
    """Every event the registry has written so far: ce_id -> ce_type."""
    rows = await _fetch(
        rig.dsn("registry"),
        "SELECT event_id, ce_type FROM outbox WHERE topic = $1",
        ENTERPRISES.name,
    )
    return {r["event_id"]: r["ce_type"] for r in rows}


async def wait_caught_up(
    rig: Rig, events: dict[str, str] | None = None, *, timeout_s: float = 120.0
) -> float:
    """Wait until the relay published and every consumer applied ``events`` (default: every
    event written so far, re-read each round); return the monotonic time it happened."""
    deadline = time.monotonic() + timeout_s
    while True:
        wanted = events if events is not None else await written_events(rig)
        missing = await backlog(rig, wanted)
        if not any(missing.values()):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(
                f"not caught up {timeout_s:.0f}s after the fault: still missing {missing} of "
                f"{len(wanted)} events\n{await _diagnose(rig)}"
            )
        await asyncio.sleep(0.25)


async def _diagnose(rig: Rig) -> str:
    lines = []
    try:
        letters = await dlq.read_dead_letters(rig.kafka, dlq.dead_letter_topics())
        reasons = Counter(f"{d.topic} {d.reason[:120]}" for d in letters)
        lines.append(f"dead letters: {dict(reasons) or 'none'}")
    except Exception as exc:
        lines.append(f"dead letters unreadable: {exc!r}")
    lines.append(await _groups(rig))
    for service, nodes in rig.nodes.items():
        for node in nodes:
            try:
                status = (await node.client.get("/status")).json()
                lines.append(f"{service} /status: {status}")
            except Exception as exc:
                lines.append(f"{service} /status unreadable: {exc!r}")
            if node.process is not None:
                lines.append(f"--- {service} (pid {node.process.pid}) log tail:")
                lines.append(node.process.tail(25))
    return "\n".join(lines)


async def _groups(rig: Rig) -> str:
    """Each consumer group's committed offsets on the enterprises topic, as the broker has them
    (read without joining the group)."""
    lines = []
    for service in CONSUMERS:
        group = rig.settings[service].resolved_consumer_group
        consumer = AIOKafkaConsumer(
            bootstrap_servers=rig.kafka.bootstrap_servers,
            group_id=group,
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            committed = [
                await consumer.committed(TopicPartition(ENTERPRISES.name, p)) for p in range(4)
            ]
            lines.append(f"group {group} committed offsets {committed}")
        except Exception as exc:
            lines.append(f"group {group}: offsets unreadable: {exc!r}")
        finally:
            await consumer.stop()
    return "\n".join(lines)


async def consumed(node: Node) -> Counter[str]:
    """``ikm_messages_consumed_total`` of registry events by outcome, as ``/metrics`` shows it
    (read from the runtime for an in-process node, which may have been stopped already)."""
    consumer = INBOX_HANDLER[node.service]
    if node.app is not None:
        text = node.runtime.metrics.render().decode()
    else:
        text = (await node.client.get("/metrics")).text
    outcomes: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "ikm_messages_consumed_total"
                and labels.get("consumer") == consumer
                and labels.get("event_type", "").startswith(REGISTRY_TYPE_PREFIX)
            ):
                outcomes[labels["outcome"]] += int(sample.value)
            elif (
                sample.name == "ikm_messages_consumed_total"
                and labels.get("consumer") == consumer
                and labels.get("outcome") == "dead_lettered"
            ):
                outcomes["dead_lettered"] += int(sample.value)
    return outcomes


@dataclass
class Poison:
    """Messages a test produced straight to the topic that must end as dead letters."""

    reasons: dict[str, str] = field(default_factory=dict)  # ce_id -> expected reason prefix


@dataclass
class Verdict:
    events: int = 0
    redelivered: int = 0
    dead_letters: int = 0
    notes: list[str] = field(default_factory=list)


async def verify(
    rig: Rig,
    load: Load,
    *,
    poison: Poison | None = None,
    whole_life: Iterable[Node] = (),
    no_redelivery: bool = False,
) -> Verdict:
    """Check everything the module docstring lists; fail with every problem found at once.

    ``whole_life``: consumer nodes that ran through the whole test without a restart, whose
    ``/metrics`` must show each event applied exactly once (summed over replicas of one service).
    ``no_redelivery``: the topic must hold each event exactly once (no exact duplicates either).
    """
    poison = poison or Poison()
    problems: list[str] = []
    verdict = Verdict()
    for service, nodes in rig.nodes.items():  # recovered by itself: every instance ready
        for node in nodes:
            if node.process is not None and node.process.process.poll() is not None:
                continue  # a replica the test stopped
            answer = await node.client.get("/readyz")
            if answer.status_code != 200:
                problems.append(f"{service} not ready: {answer.text}")
    state = await registry_state(rig)
    events = state.events
    verdict.events = len(events)

    # 1. nothing half-written in the registry
    versions: defaultdict[str, list[int]] = defaultdict(list)
    for e in events.values():
        versions[e.nib].append(e.version)
    for nib, row in state.enterprises.items():
        if sorted(versions.get(nib, [])) != list(range(1, row.version + 1)):
            problems.append(
                f"{nib} at version {row.version} has outbox events {sorted(versions.get(nib, []))}"
            )
    if orphans := set(versions) - set(state.enterprises):
        problems.append(f"outbox events for enterprises not in the register: {sorted(orphans)[:5]}")
    if unpublished := [e.event_id for e in events.values() if not e.published]:
        problems.append(f"{len(unpublished)} outbox events never published")

    # 2. accepted commands: their state and exactly their events
    have = {(e.nib, e.version) for e in events.values()}
    if lost := load.expected_events - have:
        problems.append(f"{len(lost)} events of accepted commands missing, e.g. {sorted(lost)[:5]}")
    for nib, known in load.enterprises.items():
        row = state.enterprises.get(nib)
        if row is None:
            problems.append(f"accepted registration {nib} is not in the register")
        elif not known.uncertain and (row.version, row.workforce) != (
            known.version,
            known.workforce,
        ):
            problems.append(
                f"{nib}: register holds version {row.version} workforce {row.workforce}, the "
                f"API answered version {known.version} workforce {known.workforce}"
            )
        elif row.version < known.version:
            problems.append(f"{nib}: register at version {row.version}, accepted {known.version}")
    maybe = load.uncertain_nibs - set(load.enterprises)
    committed_anyway = maybe & set(state.enterprises)
    if load.unexpected:
        problems.append(f"unexpected API answers: {load.unexpected[:5]}")
    unexplained = set(state.enterprises) - set(load.enterprises) - maybe
    if unexplained:
        problems.append(f"enterprises no command asked for: {sorted(unexplained)[:5]}")

    # 3. the topic: each event once (or exact redeliveries), in order per key
    records = await read_topic(rig.kafka.bootstrap_servers, ENTERPRISES.name, idle_s=1.0)
    by_id: defaultdict[str, list[object]] = defaultdict(list)
    order: defaultdict[str, list[tuple[int, int, int, str]]] = defaultdict(list)
    coordinates: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for r in records:
        headers = {k: v.decode(errors="replace") for k, v in r.headers or ()}
        ce_id = headers.get("ce_id", "")
        coordinates[ce_id].add((r.partition, r.offset))
        if ce_id in poison.reasons:
            continue
        by_id[ce_id].append((r.key, r.value, headers.get("ce_type")))
        key = (r.key or b"").decode()
        order[key].append((r.partition, r.offset, json.loads(r.value)["version"], ce_id))
    if set(by_id) != set(events):
        problems.append(
            f"topic holds {len(by_id)} distinct events, the outbox {len(events)}: "
            f"{len(set(events) - set(by_id))} never reached the topic, "
            f"{len(set(by_id) - set(events))} unknown to the outbox"
        )
    for ce_id, copies in by_id.items():
        if len(copies) > 1:
            verdict.redelivered += len(copies) - 1
            if any(c != copies[0] for c in copies):
                problems.append(f"{ce_id} appears {len(copies)} times with different contents")
    if no_redelivery and verdict.redelivered:
        problems.append(f"{verdict.redelivered} events published more than once")
    for key, seen in order.items():
        if len({p for p, *_ in seen}) != 1:
            problems.append(f"key {key} spread over partitions {sorted({p for p, *_ in seen})}")
        first: list[int] = []
        ids: set[str] = set()
        for _, _, version, ce_id in sorted(seen):
            if ce_id not in ids:
                ids.add(ce_id)
                first.append(version)
        if first != list(range(1, len(first) + 1)):
            problems.append(f"key {key}: versions in topic order {first}")

    # 4. every consumer applied every event (of the types it applies) exactly once
    routed = {
        service: {i for i, e in events.items() if e.ce_type in ROUTED[service]}
        for service in CONSUMERS
    }
    for service in CONSUMERS:
        applied = await applied_ids(rig, service)
        if applied != routed[service]:
            problems.append(
                f"{service}: inbox has {len(applied)} events, {len(routed[service])} expected "
                f"({len(routed[service] - applied)} not applied, "
                f"{len(applied - routed[service])} extra)"
            )
    profile = state.profile_version()
    programs = {
        r["nib"]: r
        for r in await _fetch(
            rig.dsn("programs"),
            "SELECT nib, profile_version, size_class, province_code FROM enterprise_replica",
        )
    }
    partnerships = {
        r["nib"]: r
        for r in await _fetch(
            rig.dsn("partnerships"), "SELECT nib, version, province_code FROM replica_enterprises"
        )
    }
    for nib, row in state.enterprises.items():
        replica = programs.get(nib)
        if replica is None or (replica["profile_version"], replica["size_class"]) != (
            profile[nib],
            row.size_class,
        ):
            problems.append(f"programs replica of {nib}: {replica and dict(replica)}")
        copy = partnerships.get(nib)
        if copy is None or copy["version"] != profile[nib]:
            problems.append(f"partnerships replica of {nib}: {copy and dict(copy)}")
    if len(programs) != len(state.enterprises) or len(partnerships) != len(state.enterprises):
        problems.append(
            f"replicas hold {len(programs)} (programs) and {len(partnerships)} (partnerships) "
            f"enterprises, the register {len(state.enterprises)}"
        )
    programs_client = rig.client("programs")
    for nib in sorted(state.enterprises)[:: max(1, len(state.enterprises) // 20)]:
        answer = await programs_client.get(f"/api/v1/enterprise-replica/{nib}")
        body = answer.json() if answer.status_code == 200 else {}
        if (body.get("version"), body.get("province_code")) != (
            profile[nib],
            state.enterprises[nib].province,
        ):
            problems.append(f"GET enterprise-replica/{nib}: {answer.status_code} {body}")
    reporting = rig.client("reporting")
    for group_by, key in (("province", "province_code"), ("size_class", "size_class")):
        kpis = (
            await reporting.get("/api/v1/kpis/enterprises", params={"group_by": group_by})
        ).json()
        got = {r[key]: (r["enterprises"], r["workforce"]) for r in kpis["rows"] if r["enterprises"]}
        want: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
        for row in state.enterprises.values():
            bucket = row.province if group_by == "province" else (row.size_class or "")
            want[bucket][0] += 1
            want[bucket][1] += row.workforce
        if got != {k: tuple(v) for k, v in want.items()}:
            problems.append(f"reporting KPIs by {group_by}: {got}, the register: {dict(want)}")
    per_service: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for node in whole_life:
        per_service[node.service] += await consumed(node)
    for service, outcomes in per_service.items():
        if outcomes["applied"] != len(routed[service]):
            problems.append(
                f"{service} /metrics: {outcomes['applied']} events applied, "
                f"{len(routed[service])} distinct events to apply ({dict(outcomes)})"
            )
        verdict.notes.append(f"{service} metrics {dict(outcomes)}")

    # 5. dead letters: the poison, from each consumer group, and nothing else
    letters = await dlq.read_dead_letters(rig.kafka, dlq.dead_letter_topics())
    verdict.dead_letters = len(letters)
    groups = {rig.settings[s].resolved_consumer_group for s in CONSUMERS}
    got_letters: defaultdict[str, set[str]] = defaultdict(set)
    for letter in letters:
        ce_id, h = letter.event_id, letter.headers
        expected = poison.reasons.get(ce_id)
        if expected is None:
            problems.append(f"unexpected dead letter {ce_id} on {letter.topic}: {letter.reason}")
            continue
        got_letters[ce_id].add(h.get("dlq_consumer_group", ""))
        if not letter.reason.startswith(expected):
            problems.append(f"dead letter {ce_id}: reason {letter.reason!r}, want {expected}…")
        original = (int(h["dlq_original_partition"]), int(h["dlq_original_offset"]))
        if h.get("dlq_original_topic") != ENTERPRISES.name or original not in coordinates[ce_id]:
            problems.append(f"dead letter {ce_id}: coordinates {h} not those of the original")
    for ce_id in poison.reasons:
        if got_letters.get(ce_id) != groups:
            problems.append(
                f"poison {ce_id} dead-lettered by {got_letters.get(ce_id)}, want {groups}"
            )
    by_group = Counter(letter.headers.get("dlq_consumer_group") for letter in letters)
    for service, outcomes in per_service.items():
        group = rig.settings[service].resolved_consumer_group
        if outcomes["dead_lettered"] != by_group[group]:
            problems.append(
                f"{service} /metrics: {outcomes['dead_lettered']} dead-lettered, "
                f"{by_group[group]} dead letters from {group} on the topics"
            )

    verdict.notes.append(
        f"{len(events)} events for {len(state.enterprises)} enterprises; "
        f"{verdict.redelivered} exact redeliveries on the topic; {len(letters)} dead letters; "
        f"{len(committed_anyway)} of {len(maybe)} unanswered registrations committed anyway"
    )
    assert not problems, "\n".join(problems[:40]) + f"\n({len(problems)} problems)"
    return verdict


async def recovery_after(rig: Rig, fault_end: float, *, timeout_s: float = 120.0) -> float:
    """Seconds from ``fault_end`` until every event written before it is applied everywhere."""
    written = await written_events(rig)
    return await wait_caught_up(rig, written, timeout_s=timeout_s) - fault_end
