"""The Dockerfile (multi-stage, non-root, one image for every service, a HEALTHCHECK, no dev
dependencies) and the script that takes the runtime part of requirements.lock for it."""

from __future__ import annotations

import importlib.util
import re
import tomllib
from types import ModuleType

import pytest

from tests.deploy.support import CONTAINER_PORT, DEPLOY, DOCKERFILE, REPO

LOCK = REPO / "requirements.lock"
PYPROJECT = REPO / "pyproject.toml"


def runtime_requirements() -> ModuleType:
    path = DEPLOY / "docker" / "runtime_requirements.py"
    spec = importlib.util.spec_from_file_location("runtime_requirements", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_the_image_is_built_in_stages_and_runs_as_a_non_root_user() -> None:
    build, final = stages()[0], stages()[-1]
    assert len(stages()) >= 2
    assert build[0][1].endswith(" AS build")
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) >= 10000
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert copies == ["--from=build /opt/ikm /opt/ikm"], "only the built environment"
    assert not [rest for keyword, rest in final if keyword == "RUN" and "pip" in rest]


def test_one_image_for_every_service_with_a_healthcheck() -> None:
    final = dict(stages()[-1])
    assert final["ENTRYPOINT"] == '["ikm"]', "the command picks the service: ikm serve <service>"
    assert final["EXPOSE"] == str(CONTAINER_PORT)
    healthcheck = final["HEALTHCHECK"]
    assert f"http://127.0.0.1:{CONTAINER_PORT}/healthz" in healthcheck
    assert "--timeout=" in healthcheck and "--interval=" in healthcheck


def test_dependencies_come_from_the_lock_without_the_dev_tools() -> None:
    build = " ".join(rest for _, rest in stages()[0])
    assert "runtime_requirements.py requirements.lock pyproject.toml" in build
    assert "uv pip sync" in build and "--strict" in build
    assert "--no-deps" in build, "the project itself adds no unlocked dependency"
    uv = re.search(r"uv==([\d.]+)", build)
    assert uv is not None, "the installer is pinned"


def lock_entries() -> dict[str, tuple[str, set[str]]]:
    module = runtime_requirements()
    entries: dict[str, tuple[str, set[str]]] = module.parse_lock(LOCK.read_text())
    return entries


def test_the_runtime_lock_keeps_every_runtime_dependency_and_no_dev_tool() -> None:
    module = runtime_requirements()
    pins = module.runtime_pins(LOCK.read_text(), PYPROJECT.read_text())
    names = {module.requirement_name(pin) for pin in pins}
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    runtime = {module.requirement_name(r) for r in project["dependencies"]}
    dev = {module.requirement_name(r) for r in project["optional-dependencies"]["dev"]}
    assert runtime <= names
    assert not (dev - runtime) & names, "dev tools in the image"
    lock_lines = {line.strip() for line in LOCK.read_text().splitlines()}
    assert set(pins) <= lock_lines, "exactly the locked versions"
    entries = lock_entries()
    for name, (_, parents) in entries.items():
        if parents & names:
            assert name in names, f"{name} is needed by {parents & names} but left out"


def test_the_runtime_lock_follows_the_via_annotations() -> None:
    module = runtime_requirements()
    lock = """\
app-dep==1.0
    # via ikm-platform (pyproject.toml)
shared-dep==2.0
    # via
    #   app-dep
    #   pytest
pytest==8.0
    # via ikm-platform (pyproject.toml)
pluggy==1.0
    # via pytest
"""
    pyproject = '[project]\ndependencies = ["app_dep[extra]>=1"]\n'
    assert module.runtime_pins(lock, pyproject) == ["app-dep==1.0", "shared-dep==2.0"]
    with pytest.raises(SystemExit, match="make lock"):
        module.runtime_pins(lock, '[project]\ndependencies = ["missing"]\n')


def test_the_compose_and_kubernetes_commands_exist_in_the_cli() -> None:
    from typer.main import get_command

    from cli.main import app

    commands = set(get_command(app).commands)  # type: ignore[attr-defined]
    assert {"serve", "migrate", "topics", "status", "replay", "dlq"} <= commands
