"""Every container of the platform gets the settings it needs and nothing it does not read.

What a service reads is derived from its settings classes (prefix and fields, nested settings
included), so a new setting or a renamed one shows up here without editing this file. A
provided variable the service does not read (a typo, a removed setting) fails; so does a value
its settings reject, a secret given as plain text, and production settings unfit for Kafka.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tests.deploy.support import (
    CONTAINER_PORT,
    OVERLAYS,
    SERVICES,
    Command,
    compose_environment,
    compose_platform_services,
    load_settings,
    named,
    of_kind,
    platform_containers,
    render,
    resolved_env,
    secret_setting,
    settings_env,
)


def check_provided(where: str, command: Command, provided: set[str]) -> None:
    readable = command.readable()
    unknown = sorted(provided - readable.keys())
    assert not unknown, f"{where}: {unknown} are not read by `ikm {command.verb}` (typo?)"
    missing = sorted(command.must_provide() - provided)
    assert not missing, f"{where}: {missing} are not provided"


def check_values(where: str, command: Command, values: dict[str, str]) -> Any:
    try:
        return load_settings(command.settings, values)
    except ValidationError as exc:
        pytest.fail(f"{where}: {exc}")


def test_the_settings_derivation_sees_every_prefix() -> None:
    """Guards the derivation itself: the kernel's and each service's prefixes are all there."""
    for service in SERVICES:
        prefixes = {env.split("_", 1)[0] for env in Command("serve", service).readable()}
        assert {"IKM", "KAFKA", "OTEL", service.upper()} <= prefixes


# --- docker-compose.yml --------------------------------------------------------------------


def test_compose_provides_what_each_container_reads_and_nothing_else() -> None:
    checked = set()
    for name, command, definition in compose_platform_services():
        env = compose_environment(definition)
        check_provided(f"docker-compose.yml {name}", command, set(env))
        settings = check_values(f"docker-compose.yml {name}", command, env)
        if command.verb == "serve":
            assert settings.resolved_port == CONTAINER_PORT, name
        checked.add((command.verb, command.service))
    assert checked == {("topics", None)} | {
        (verb, s) for verb in ("serve", "migrate") for s in SERVICES
    }


def test_compose_kafka_settings_suit_apache_kafka() -> None:
    for name, command, definition in compose_platform_services():
        if command.verb == "migrate":
            continue
        settings = check_values(name, command, compose_environment(definition))
        kafka = getattr(settings, "kafka", settings)
        assert kafka.enable_idempotence, name
        assert kafka.session_timeout_ms >= 6000, f"{name}: Apache Kafka's minimum is 6000 ms"
        assert kafka.heartbeat_interval_ms * 3 <= kafka.session_timeout_ms, name


# --- the Kustomize overlays ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifests_provide_what_each_container_reads_and_nothing_else(overlay: str) -> None:
    objects = render(overlay)
    containers = platform_containers(objects)
    assert {(pc.command.verb, pc.service) for pc in containers} == {
        (verb, s) for verb in ("serve", "migrate") for s in SERVICES
    }, "a Deployment and a migration Job per service"
    for pc in containers:
        sources, values = resolved_env(pc, objects)
        check_provided(f"{overlay}: {pc.label}", pc.command, set(sources))
        settings = check_values(f"{overlay}: {pc.label}", pc.command, values)
        if pc.command.verb == "serve":
            assert settings.resolved_port == CONTAINER_PORT, pc.label


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_come_from_secrets_never_from_text(overlay: str) -> None:
    objects = render(overlay)
    for pc in platform_containers(objects):
        readable = pc.command.readable()
        sources, _ = resolved_env(pc, objects)
        for name, source in sources.items():
            if secret_setting(readable[name]):
                assert source.kind == "secret-key", f"{overlay}: {pc.label} {name} is {source}"
    secret_names = {
        env
        for service in SERVICES
        for env, s in settings_env(Command("serve", service).settings).items()
        if secret_setting(s)
    }
    for config in of_kind(objects, "ConfigMap"):
        leaked = secret_names & set(config.get("data") or {})
        assert not leaked, f"{overlay}: ConfigMap {config['metadata']['name']} holds {leaked}"


def test_production_renders_no_secret_and_no_password() -> None:
    """Production Secrets are created outside git (docs/operations.md, "Secrets")."""
    objects = render("production")
    assert not of_kind(objects, "Secret")
    for pc in platform_containers(objects):
        for variable in pc.container.get("env", []):
            value = str(variable.get("value", ""))
            assert "://" not in value or "@" not in value, f"{pc.label}: {variable['name']}"


def production_services() -> list[tuple[str, Any]]:
    """(container, its settings) of each production Deployment."""
    objects = render("production")
    found = []
    for pc in platform_containers(objects):
        if pc.command.verb == "serve":
            _, values = resolved_env(pc, objects)
            found.append((pc.label, load_settings(pc.command.settings, values)))
    assert len(found) == len(SERVICES)
    return found


def test_production_settings_are_fit_for_production() -> None:
    for label, settings in production_services():
        kafka = settings.kafka
        assert settings.platform.environment == "production", label
        assert kafka.enable_idempotence, label
        assert kafka.security_protocol == "SASL_SSL", label
        assert kafka.sasl_mechanism == "SCRAM-SHA-512", label
        assert kafka.session_timeout_ms >= 6000, label
        assert kafka.heartbeat_interval_ms * 3 <= kafka.session_timeout_ms, label
        assert settings.telemetry.traces_exporter == "otlp", label
        # the service's own start-up check for production credentials, where it has one
        auth = getattr(settings, "auth", None)
        if auth is not None and hasattr(auth, "check_fit_for"):
            auth.check_fit_for("production")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_settings_match_the_cluster_and_the_users(overlay: str) -> None:
    """Bootstrap address, listener, TLS, mechanism and credentials agree with the Strimzi
    resources: the right listener, the service's own KafkaUser and its generated Secret."""
    objects = render(overlay)
    (cluster,) = of_kind(objects, "Kafka")
    name = cluster["metadata"]["name"]
    listeners = {listener["port"]: listener for listener in cluster["spec"]["kafka"]["listeners"]}
    users = {user["metadata"]["name"] for user in of_kind(objects, "KafkaUser")}
    for pc in platform_containers(objects):
        if pc.command.verb != "serve":
            continue
        sources, values = resolved_env(pc, objects)
        kafka = load_settings(pc.command.settings, values).kafka
        host, port = kafka.bootstrap_servers.rsplit(":", 1)
        assert host == f"{name}-kafka-bootstrap", pc.label
        listener = listeners[int(port)]
        assert listener["type"] == "internal", pc.label
        assert listener["tls"] == (kafka.security_protocol == "SASL_SSL"), pc.label
        assert kafka.security_protocol in ("SASL_SSL", "SASL_PLAINTEXT"), pc.label
        assert listener["authentication"]["type"] == kafka.sasl_mechanism.lower(), pc.label
        assert kafka.sasl_username in users, f"{pc.label}: no KafkaUser {kafka.sasl_username}"
        assert kafka.sasl_username == f"ikm-{pc.service}", pc.label
        password = sources["KAFKA_SASL_PASSWORD"]
        assert (password.secret, password.key) == (kafka.sasl_username, "password"), pc.label
        if kafka.security_protocol == "SASL_SSL":
            mounts = {m["mountPath"]: m["name"] for m in pc.container["volumeMounts"]}
            directory = str(kafka.ssl_cafile.parent)
            assert directory in mounts, f"{pc.label}: {kafka.ssl_cafile} is not mounted"
            volume = next(
                v
                for v in pc.workload["spec"]["template"]["spec"]["volumes"]
                if v["name"] == mounts[directory]
            )
            assert volume["secret"]["secretName"] == f"{name}-cluster-ca-cert", pc.label


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_telemetry_goes_to_the_collector(overlay: str) -> None:
    objects = render(overlay)
    collector = named(objects, "Service", "otel-collector")
    ports = {p["port"] for p in collector["spec"]["ports"]}
    for pc in platform_containers(objects):
        if pc.command.verb != "serve":
            continue
        _, values = resolved_env(pc, objects)
        telemetry = load_settings(pc.command.settings, values).telemetry
        assert telemetry.traces_exporter == "otlp", pc.label
        assert telemetry.exporter_otlp_endpoint.startswith("http://otel-collector:"), pc.label
        assert int(telemetry.exporter_otlp_endpoint.rsplit(":", 1)[1]) in ports, pc.label


def test_dev_databases_are_the_services_own() -> None:
    """In dev the database URL is rendered: it names the service's own PostgreSQL, user and
    database, and that Service selects the pods the service's NetworkPolicy lets it reach."""
    objects = render("dev")
    for pc in platform_containers(objects):
        service = pc.service
        _, values = resolved_env(pc, objects)
        url = values[f"{service.upper()}_DATABASE_URL"]
        assert url.startswith(f"postgresql+asyncpg://{service}:"), pc.label
        assert url.endswith(f"@{service}-postgres:5432/{service}"), pc.label
        database = named(objects, "Service", f"{service}-postgres")
        policy = named(objects, "NetworkPolicy", service)
        allowed = [
            peer["podSelector"]["matchLabels"]
            for rule in policy["spec"]["egress"]
            for peer in rule.get("to", [])
            if any(p.get("port") == 5432 for p in rule.get("ports", []))
        ]
        assert allowed == [database["spec"]["selector"]], pc.label
