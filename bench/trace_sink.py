"""A stand-in for the OpenTelemetry Collector: receives OTLP/HTTP trace exports and counts them.

``bench.run --export-traces`` starts it as a process of its own and points the services at it,
so the benchmark measures what the services spend exporting every span, as they do in
production (`OTEL_TRACES_EXPORTER=otlp`), without a collector installed. It decodes each export
as the collector would and keeps only counts: spans and bytes per service.

    python -m bench.trace_sink --port 4318     # GET /stats for the counts
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

EXPORT_PATH = "/v1/traces"


@dataclass
class Received:
    spans: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)
    exports: int = 0

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        self.exports += 1
        for resource_spans in request.resource_spans:
            service = next(
                (
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                ),
                "unknown",
            )
            self.spans[service] += sum(len(s.spans) for s in resource_spans.scope_spans)
            self.bytes[service] += resource_spans.ByteSize()

    def as_dict(self) -> dict[str, Any]:
        return {"exports": self.exports, "spans": dict(self.spans), "bytes": dict(self.bytes)}


def application() -> web.Application:
    received = Received()

    async def export(request: web.Request) -> web.Response:
        if request.content_type != "application/x-protobuf":
            raise web.HTTPUnsupportedMediaType(text="OTLP/HTTP in protobuf only")
        received.add(await request.read())
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def stats(_: web.Request) -> web.Response:
        return web.json_response(received.as_dict())

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"pid": os.getpid()})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post(EXPORT_PATH, export)
    app.router.add_get("/stats", stats)
    app.router.add_get("/ready", ready)
    return app


class TraceSink:
    """The sink as a process of its own, so its CPU is counted apart from the services'."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> TraceSink:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                *(sys.executable, "-m", "bench.trace_sink", "--port", str(self.port)),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        try:
            await self._wait_listening(self.process)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _wait_listening(self, process: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + 30
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the trace sink exited; see {self.log_path}")
            with contextlib.suppress(aiohttp.ClientConnectionError):
                # its own answer, not that of another process already on the port
                if await self._get("/ready") == {"pid": process.pid}:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"the trace sink did not listen; see {self.log_path}")
            await asyncio.sleep(0.1)

    async def __aexit__(self, *_: object) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    async def received(self) -> dict[str, Any]:
        """Exports, and spans and bytes per ``service.name``, received so far."""
        return await self._get("/stats")

    async def _get(self, path: str) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as client,
            client.get(f"{self.endpoint}{path}") as answer,
        ):
            answer.raise_for_status()
            result: dict[str, Any] = await answer.json()
            return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Count OTLP/HTTP trace exports")
    parser.add_argument("--port", type=int, default=4318)
    web.run_app(application(), host="127.0.0.1", port=parser.parse_args().port, print=None)
