"""Topics and Kafka identities agree with the code.

The topic registry (shared/events/topics.py) says which topics exist and who owns each; the
services' composition roots say what each consumes (recorded by building each app offline).
From these: one KafkaTopic per topic and dead-letter topic, with the partition count compose
uses; and for each KafkaUser exactly the ACLs its role needs, nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib import import_module

import pytest

from shared.events.topics import ALL_TOPICS, all_topic_names, topics_owned_by
from shared.runtime import ServiceRuntime
from tests.deploy.support import (
    OVERLAYS,
    SERVICES,
    Manifest,
    compose_environment,
    compose_platform_services,
    load_settings,
    of_kind,
    platform_containers,
    render,
    resolved_env,
    settings_class,
    settings_env,
)

# Strimzi's KafkaUser ACL vocabulary (kafka.strimzi.io/v1beta2 AclRule)
ACL_OPERATIONS = {
    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
    "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All",
}  # fmt: skip
ACL_RESOURCES = {"topic", "group", "cluster", "transactionalId"}
TOPIC_PREFIX = "ikm."
DEAD_LETTER_RETENTION_MS = range(7 * 24 * 3600 * 1000, 366 * 24 * 3600 * 1000)

Acl = tuple[str, str, str, str]  # resource type, name, pattern type, operation


@pytest.fixture(scope="module")
def consumed() -> dict[str, set[str]]:
    """The topics each service subscribes to, as its composition root wires them."""
    seen: dict[str, set[str]] = {service: set() for service in SERVICES}
    original = ServiceRuntime.consume

    def recording(self, routes, *topics, **kwargs):  # type: ignore[no-untyped-def]
        seen[self.name] |= {t.name for t in topics}
        return original(self, routes, *topics, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ServiceRuntime, "consume", recording)
        for service in SERVICES:
            cls = settings_class(service)
            for variable in settings_env(cls):  # build them as the code defines them
                patch.delenv(variable, raising=False)
            settings = cls(database_url="sqlite+aiosqlite:///:memory:")
            import_module(f"services.{service}.app").create_app(settings)
    return seen


def test_topic_names_follow_the_platform_prefix() -> None:
    assert all(name.startswith(TOPIC_PREFIX) for name in all_topic_names())


def compose_partitions() -> int:
    values = {
        compose_environment(definition).get("KAFKA_TOPIC_PARTITIONS")
        for _, command, definition in compose_platform_services()
        if command.verb != "migrate"
    }
    assert len(values) == 1 and None not in values, f"one partition count in compose: {values}"
    return int(values.pop())  # type: ignore[arg-type]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_is_a_kafka_topic(overlay: str) -> None:
    topics = {
        t["spec"].get("topicName", t["metadata"]["name"]): t
        for t in of_kind(render(overlay), "KafkaTopic")
    }
    assert sorted(topics) == sorted(all_topic_names())
    partitions = compose_partitions()
    for name, topic in topics.items():
        spec = topic["spec"]
        assert set(spec) <= {"topicName", "partitions", "replicas", "config"}, name
        assert spec["partitions"] == partitions, f"{name}: compose creates {partitions}"
        assert spec["replicas"] == 3, name
        assert spec["config"]["min.insync.replicas"] == "2", name
        retention = int(spec["config"]["retention.ms"])
        if name.endswith(".dlq"):
            assert retention in DEAD_LETTER_RETENTION_MS, name
        else:
            assert retention == -1, f"{name}: the read models are rebuilt from offset 0"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_create_topics_like_the_kafka_topics(overlay: str) -> None:
    """The services create missing topics themselves at start-up (shared/runtime.py): with
    the same partitions and replication factor as the KafkaTopics."""
    objects = render(overlay)
    for pc in platform_containers(objects):
        _, values = resolved_env(pc, objects)
        kafka = load_settings(pc.command.settings, values).kafka
        assert kafka.topic_partitions == compose_partitions(), pc.label
        assert kafka.topic_replication_factor == 3, pc.label


def acls(user: Manifest) -> set[Acl]:
    spec = user["spec"]
    assert spec["authentication"] == {"type": "scram-sha-512"}
    assert spec["authorization"]["type"] == "simple"
    found: set[Acl] = set()
    for rule in spec["authorization"]["acls"]:
        assert set(rule) <= {"resource", "operations", "host", "type"}, rule
        assert rule.get("type", "allow") == "allow" and rule.get("host", "*") == "*", rule
        resource = rule["resource"]
        assert set(resource) <= {"type", "name", "patternType"}, rule
        assert resource["type"] in ACL_RESOURCES, rule
        pattern = resource.get("patternType", "literal")
        assert pattern in ("literal", "prefix"), rule
        assert set(rule["operations"]) <= ACL_OPERATIONS, rule
        for operation in rule["operations"]:
            found.add((resource["type"], resource["name"], pattern, operation))
    return found


def topic_acls(names: Iterator[str] | list[str] | set[str], *operations: str) -> set[Acl]:
    return {("topic", name, "literal", op) for name in names for op in operations}


def users(overlay: str) -> dict[str, Manifest]:
    return {u["metadata"]["name"]: u for u in of_kind(render(overlay), "KafkaUser")}


def consumer_groups(overlay: str) -> dict[str, str]:
    objects = render(overlay)
    groups = {}
    for pc in platform_containers(objects):
        if pc.command.verb == "serve":
            _, values = resolved_env(pc, objects)
            settings = load_settings(pc.command.settings, values)
            groups[pc.service] = settings.resolved_consumer_group
    return groups


def test_the_recorded_subscriptions_are_plausible(consumed: dict[str, set[str]]) -> None:
    public = {t.name for t in ALL_TOPICS if t.public}
    assert consumed["reporting"] == public
    for service, topics in consumed.items():
        assert topics <= public, f"{service} consumes a private topic"
        assert not topics & {t.name for t in topics_owned_by(service)}, service


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_each_service_writes_only_its_own_topics(
    overlay: str, service: str, consumed: dict[str, set[str]]
) -> None:
    user = users(overlay)[f"ikm-{service}"]
    owned = {t.name for t in topics_owned_by(service)}
    reads = consumed[service]
    expected = (
        topic_acls(owned, "Write", "Create", "Describe")
        | topic_acls(reads, "Read", "Describe")
        | topic_acls({f"{name}.dlq" for name in reads}, "Write", "Describe")
        | {("group", consumer_groups(overlay)[service], "literal", "Read")}
        # metadata only: the start-up check that every platform topic exists
        | {("topic", TOPIC_PREFIX, "prefix", "Describe")}
    )
    assert acls(user) == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_external_subscribers_read_public_topics_under_their_own_group_prefix(
    overlay: str,
) -> None:
    public = {t.name for t in ALL_TOPICS if t.public}
    expected = topic_acls(public, "Read", "Describe") | {("group", "external-", "prefix", "Read")}
    assert acls(users(overlay)["external-subscriber"]) == expected


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operators_read_dead_letters_and_only_the_redrive_user_writes_them_back(
    overlay: str,
) -> None:
    every = users(overlay)
    dead_letters = {t.dead_letter for t in ALL_TOPICS}
    assert acls(every["ikm-operator"]) == topic_acls(dead_letters, "Read", "Describe")
    assert acls(every["ikm-redrive"]) == topic_acls(dead_letters, "Read", "Describe") | topic_acls(
        {t.name for t in ALL_TOPICS}, "Write", "Describe"
    )
    known = {f"ikm-{s}" for s in SERVICES} | {"external-subscriber", "ikm-operator", "ikm-redrive"}
    assert set(every) == known, "a new Kafka identity needs its own test"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_nobody_but_the_owner_and_the_redrive_user_writes_an_event_topic(overlay: str) -> None:
    owners = {t.name: t.owner for t in ALL_TOPICS}
    for name, user in users(overlay).items():
        for kind, resource, pattern, operation in acls(user):
            if kind != "topic" or operation not in ("Write", "Create", "All", "Alter"):
                continue
            assert pattern == "literal", f"{name}: {operation} on a prefix"
            if resource in owners and name != "ikm-redrive":
                assert name == f"ikm-{owners[resource]}", f"{name} writes {resource}"


def test_consumer_groups_are_the_defaults_the_users_allow() -> None:
    for service in SERVICES:
        assert load_settings(settings_class(service), {}).resolved_consumer_group == (
            f"ikm-{service}"
        )
