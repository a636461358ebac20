"""What the deployment tests read: the compose file, the rendered Kustomize overlays, and the
settings each service reads, derived from its settings classes (never listed by hand)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings

from cli.catalog import SERVICES as SERVICE_ENTRIES
from shared.settings import KafkaSettings, ServiceSettings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "overlays").glob("*/kustomization.yaml"))
SERVICES = tuple(entry.name for entry in SERVICE_ENTRIES)
CONTAINER_PORT = 8000  # every service listens on it inside its container (Dockerfile)

Manifest = dict[str, Any]


# --- settings -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One environment variable a settings class reads."""

    env: str
    owner: type[BaseSettings]
    field: str
    required: bool
    secret: bool


def settings_class(service: str) -> type[ServiceSettings]:
    module = import_module(f"services.{service}.settings")
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, ServiceSettings)
        and value is not ServiceSettings
        and getattr(value, "service", None) == service
    ]
    assert len(found) == 1, f"services/{service}/settings.py: one ServiceSettings subclass"
    return found[0]


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_is_secret(arg) for arg in typing.get_args(annotation))


def _nested_settings(annotation: Any) -> type[BaseSettings] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
        return annotation
    return None


def settings_env(cls: type[BaseSettings]) -> dict[str, Setting]:
    """Every variable ``cls`` reads: its fields under its ``env_prefix``, and the fields of the
    settings it nests (built by default factories, which read their own prefixes)."""
    prefix = cls.model_config.get("env_prefix", "")
    if cls.model_config.get("case_sensitive"):
        raise NotImplementedError(f"{cls.__name__}: case-sensitive settings")
    found: dict[str, Setting] = {}
    for name, field in cls.model_fields.items():
        nested = _nested_settings(field.annotation)
        if nested is not None:
            found.update(settings_env(nested))
            continue
        if field.validation_alias is not None or field.alias is not None:
            raise NotImplementedError(f"{cls.__name__}.{name}: aliased settings")
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            raise NotImplementedError(f"{cls.__name__}.{name}: a model read from JSON")
        env = f"{prefix}{name}".upper()
        found[env] = Setting(env, cls, name, field.is_required(), _is_secret(field.annotation))
    return found


def secret_setting(setting: Setting) -> bool:
    """SecretStr fields, and database URLs (they carry the password)."""
    return setting.secret or setting.field == "database_url"


@dataclass(frozen=True)
class Command:
    """What a container of the platform's image runs: ``ikm <verb> [service]``."""

    verb: str
    service: str | None

    @property
    def settings(self) -> type[BaseSettings]:
        if self.service is not None:
            return settings_class(self.service)
        assert self.verb == "topics", f"unexpected command {self}"
        return KafkaSettings

    def readable(self) -> dict[str, Setting]:
        return settings_env(self.settings)

    def must_provide(self) -> set[str]:
        """Required settings, and those without which a container would quietly run the
        embedded-run defaults (a SQLite file, a broker on 127.0.0.1, listening on 127.0.0.1)."""
        readable = self.readable()
        needed = {env for env, s in readable.items() if s.required}
        prefix = f"{self.service.upper()}_" if self.service else ""
        if self.verb in ("serve", "migrate"):
            needed.add(f"{prefix}DATABASE_URL")
        if self.verb in ("serve", "topics"):
            needed.add("KAFKA_BOOTSTRAP_SERVERS")
        if self.verb == "serve":
            needed |= {f"{prefix}HOST", f"{prefix}PORT"}
        assert needed <= readable.keys(), f"{self}: {sorted(needed - readable.keys())} unknown"
        return needed


def parse_command(args: list[str] | None) -> Command | None:
    if not args:
        return None
    verb, *rest = (str(a) for a in args)
    if verb in ("serve", "migrate") and len(rest) == 1 and rest[0] in SERVICES:
        return Command(verb, rest[0])
    if verb == "topics" and not rest:
        return Command(verb, None)
    return None


def placeholder(setting: Setting) -> str:
    """A value for a variable whose value lives in a Secret."""
    if setting.field == "database_url":
        return "postgresql+asyncpg://user:secret@db:5432/db"
    return "secret-value"


def load_settings(cls: type[BaseSettings], env: Mapping[str, str]) -> Any:
    """``cls`` built from exactly ``env``, as the container would build it."""
    with mock.patch.dict(os.environ, dict(env), clear=True):
        return cls()


# --- compose ------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: object) -> str:
    """Compose's ``${VAR:-default}`` with no .env file: the default."""
    text = str(value)
    text = _INTERPOLATION.sub(lambda m: m.group("default") or "", text)
    return text.replace("$$", "$")


@cache
def compose() -> Manifest:
    loaded: Manifest = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    return loaded


def compose_environment(service: Manifest) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(k): interpolate(v) for k, v in environment.items()}


def compose_platform_services() -> Iterator[tuple[str, Command, Manifest]]:
    for name, service in compose()["services"].items():
        command = parse_command(service.get("command"))
        if command is not None:
            yield name, command, service


# --- kustomize ----------------------------------------------------------------------------


def kubectl() -> str:
    binary = os.environ.get("KUBECTL") or shutil.which("kubectl")
    if not binary:
        pytest.skip("kubectl is not installed (CI installs it: see .ci/run)")
    return binary


@cache
def _render(directory: str) -> tuple[Manifest, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", directory],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{result.stderr}")
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def render(overlay: str) -> list[Manifest]:
    """The objects ``kubectl kustomize deploy/overlays/<overlay>`` renders (``base`` too)."""
    directory = DEPLOY / "base" if overlay == "base" else DEPLOY / "overlays" / overlay
    return list(_render(str(directory)))


def of_kind(objects: list[Manifest], kind: str) -> list[Manifest]:
    return [o for o in objects if o.get("kind") == kind]


def named(objects: list[Manifest], kind: str, name: str) -> Manifest:
    matches = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


@dataclass(frozen=True)
class EnvSource:
    """Where a container's variable comes from."""

    kind: str  # literal | configmap | secret-key | secret
    value: str | None = None
    secret: str | None = None
    key: str | None = None


def container_env(container: Manifest, objects: list[Manifest]) -> dict[str, EnvSource]:
    """Every variable a container gets, from ``envFrom`` and ``env`` (which wins)."""
    env: dict[str, EnvSource] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            config = named(objects, "ConfigMap", source["configMapRef"]["name"])
            for key, value in (config.get("data") or {}).items():
                env[prefix + key] = EnvSource("configmap", value=str(value))
        elif "secretRef" in source:
            name = source["secretRef"]["name"]
            rendered = [s for s in of_kind(objects, "Secret") if s["metadata"]["name"] == name]
            assert rendered, (
                f"envFrom secretRef {name!r} is not in the manifests: which variables it sets "
                "cannot be checked; reference each secret value with secretKeyRef"
            )
            for key in {**rendered[0].get("data", {}), **rendered[0].get("stringData", {})}:
                env[prefix + key] = EnvSource("secret", secret=name, key=key)
        else:
            raise AssertionError(f"unexpected envFrom source {source}")
    for variable in container.get("env", []):
        name = variable["name"]
        if "value" in variable:
            env[name] = EnvSource("literal", value=str(variable["value"]))
            continue
        value_from = variable.get("valueFrom", {})
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            env[name] = EnvSource("secret-key", secret=ref["name"], key=ref["key"])
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            data = named(objects, "ConfigMap", ref["name"]).get("data") or {}
            assert ref["key"] in data, f"{name}: ConfigMap {ref['name']} has no {ref['key']}"
            env[name] = EnvSource("configmap", value=str(data[ref["key"]]))
        else:
            raise AssertionError(f"{name}: unexpected valueFrom {value_from}")
    return env


@dataclass(frozen=True)
class PlatformContainer:
    workload: Manifest
    container: Manifest
    command: Command

    @property
    def service(self) -> str:
        assert self.command.service is not None, f"{self.command} runs no single service"
        return self.command.service

    @property
    def label(self) -> str:
        return (
            f"{self.workload['kind']} {self.workload['metadata']['name']}/{self.container['name']}"
        )


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


def platform_image(image: str) -> bool:
    return image.rsplit("/", 1)[-1].split(":")[0].split("@")[0] == "ikm-platform"


def platform_containers(objects: list[Manifest]) -> list[PlatformContainer]:
    """The containers of the platform's image, each with the ``ikm`` command it runs."""
    found = []
    for workload in objects:
        if workload.get("kind") not in WORKLOAD_KINDS:
            continue
        spec = workload["spec"]
        if workload["kind"] == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        pod = spec["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            if not platform_image(container["image"]):
                continue
            command = parse_command(container.get("args"))
            assert command is not None and not container.get("command"), (
                f"{workload['metadata']['name']}/{container['name']} runs "
                f"{container.get('command')} {container.get('args')}: not an ikm command "
                "these tests know how to check"
            )
            found.append(PlatformContainer(workload, container, command))
    return found


def resolved_env(
    pc: PlatformContainer, objects: list[Manifest]
) -> tuple[dict[str, EnvSource], dict[str, str]]:
    """The container's variables and the values its settings would see (secrets as
    placeholders, or their value when the Secret is rendered, as in dev)."""
    sources = container_env(pc.container, objects)
    readable = pc.command.readable()
    values: dict[str, str] = {}
    for name, source in sources.items():
        if source.value is not None:
            values[name] = source.value
            continue
        rendered = [s for s in of_kind(objects, "Secret") if s["metadata"]["name"] == source.secret]
        if rendered and source.key in rendered[0].get("data", {}):
            values[name] = base64.b64decode(rendered[0]["data"][source.key]).decode()
        elif name in readable:
            values[name] = placeholder(readable[name])
    return sources, values
