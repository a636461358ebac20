"""The four services, as the command line starts them."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module

from fastapi import FastAPI

from shared.settings import ServiceSettings


@dataclass(frozen=True)
class ServiceEntry:
    name: str

    @property
    def app_factory(self) -> str:
        return f"services.{self.name}.app:create_app"

    def settings(self) -> ServiceSettings:
        module = import_module(f"services.{self.name}.settings")
        cls = getattr(module, f"{self.name.capitalize()}Settings")
        settings: ServiceSettings = cls()
        return settings

    def create_app(self, settings: ServiceSettings) -> FastAPI:
        """The service's app from its composition root, not started."""
        app: FastAPI = import_module(f"services.{self.name}.app").create_app(settings)
        return app


SERVICES = tuple(ServiceEntry(n) for n in ("registry", "programs", "partnerships", "reporting"))


def entries(names: list[str] | None) -> tuple[ServiceEntry, ...]:
    if not names:
        return SERVICES
    unknown = set(names) - {s.name for s in SERVICES}
    if unknown:
        raise SystemExit(f"unknown service(s): {', '.join(sorted(unknown))}")
    return tuple(s for s in SERVICES if s.name in names)
