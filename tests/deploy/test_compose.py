"""docker-compose.yml: valid against the Compose Specification, and the single-host platform it
describes: Kafka in KRaft mode, a database and a user per service, Jaeger over OTLP, migrations
and topics before the services, healthchecks, restart policies and resource limits."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.deploy.support import (
    COMPOSE_FILE,
    CONTAINER_PORT,
    DEPLOY,
    SERVICES,
    compose,
    compose_environment,
    compose_platform_services,
)


def services() -> dict[str, dict]:
    return compose()["services"]


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_FILE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_kafka_is_apache_kafka_in_kraft_mode_without_auto_created_topics() -> None:
    kafka = services()["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = compose_environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in env
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_LOG_DIRS"] in kafka["volumes"][0], "the log directory is the volume"


def test_postgres_gets_one_database_and_one_user_per_service() -> None:
    postgres = services()["postgres"]
    script_mount = next(v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    source = script_mount.split(":")[0]
    script = (COMPOSE_FILE.parent / source).resolve()
    assert script.is_relative_to(DEPLOY / "compose") and script.exists()
    text = script.read_text(encoding="utf-8")
    loop = re.search(r"^for service in (.+); do$", text, re.MULTILINE)
    assert loop is not None and tuple(loop.group(1).split()) == SERVICES
    for statement in ('CREATE USER :"name"', 'CREATE DATABASE :"name" OWNER :"name"', "REVOKE"):
        assert statement in text
    env = compose_environment(postgres)
    for service in SERVICES:
        assert f"{service.upper()}_DB_PASSWORD" in env, "the init script reads the password"


def test_each_service_uses_its_own_database_and_user() -> None:
    for name, command, service in compose_platform_services():
        if command.service is None:
            continue
        url = compose_environment(service)[f"{command.service.upper()}_DATABASE_URL"]
        match = re.fullmatch(r"postgresql\+asyncpg://(\w+):[^@]+@postgres:5432/(\w+)", url)
        assert match is not None, f"{name}: {url}"
        assert match.groups() == (command.service, command.service), name


def test_jaeger_receives_otlp_from_every_service() -> None:
    jaeger = services()["jaeger"]
    assert jaeger["image"].startswith("jaegertracing/all-in-one:")
    assert compose_environment(jaeger).get("COLLECTOR_OTLP_ENABLED") == "true"
    for name, command, service in compose_platform_services():
        if command.verb == "serve":
            env = compose_environment(service)
            assert env["OTEL_TRACES_EXPORTER"] == "otlp", name
            assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318", name


def test_migrations_and_topics_finish_before_each_service_starts() -> None:
    all_services = services()
    served = {c.service: name for name, c, _ in compose_platform_services() if c.verb == "serve"}
    migrations = {c.service: n for n, c, _ in compose_platform_services() if c.verb == "migrate"}
    topics = [n for n, c, _ in compose_platform_services() if c.verb == "topics"]
    assert set(served) == set(migrations) == set(SERVICES)
    assert len(topics) == 1
    for service, name in served.items():
        depends = all_services[name]["depends_on"]
        done = {"condition": "service_completed_successfully"}
        assert depends[migrations[service]] == done, name
        assert depends[topics[0]] == done, name
        assert depends["kafka"] == {"condition": "service_healthy"}, name
    for name in migrations.values():
        assert all_services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert all_services[topics[0]]["depends_on"]["kafka"] == {"condition": "service_healthy"}


@pytest.mark.parametrize("service", SERVICES)
def test_services_have_healthchecks_restart_policies_limits_and_ports(service: str) -> None:
    definition = services()[service]
    test = " ".join(definition["healthcheck"]["test"])
    assert f"http://127.0.0.1:{CONTAINER_PORT}/readyz" in test
    assert definition["restart"] in ("unless-stopped", "always", "on-failure")
    limits = definition["deploy"]["resources"]["limits"]
    assert limits["cpus"] and limits["memory"]
    env = compose_environment(definition)
    assert env[f"{service.upper()}_PORT"] == str(CONTAINER_PORT)
    assert env[f"{service.upper()}_HOST"] == "0.0.0.0"
    host_port = 8001 + SERVICES.index(service)  # the service's default port: `ikm status` works
    assert definition["ports"] == [f"{host_port}:{CONTAINER_PORT}"]


def test_every_long_running_container_has_a_healthcheck_restart_policy_and_limits() -> None:
    for name, definition in services().items():
        one_shot = definition.get("restart") == "no"
        if one_shot:
            assert definition.get("healthcheck") == {"disable": True}, name
        else:
            assert definition["restart"] == "unless-stopped", name
            if name != "jaeger":  # its image has no shell or HTTP client to probe with
                assert definition["healthcheck"]["test"], name
        assert definition["deploy"]["resources"]["limits"]["memory"], name


def test_platform_containers_run_hardened() -> None:
    for name, _, definition in compose_platform_services():
        assert definition["read_only"] is True, name
        assert definition["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in definition["security_opt"], name
        assert "user" not in definition, f"{name}: the image's non-root user"
