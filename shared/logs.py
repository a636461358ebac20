"""JSON log lines carrying the service name and the active trace and span ids."""

from __future__ import annotations

import logging
import sys
from typing import IO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter

from shared.settings import ServiceSettings


class _TraceContext(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        record.service = self.service
        record.trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else None
        record.span_id = format(span_context.span_id, "016x") if span_context.is_valid else None
        return True


def log_handler(stream: IO[str], service: str, fmt: str = "json") -> logging.Handler:
    """A handler writing one JSON object per line with service, trace and span ids, and any
    ``extra`` fields (``event_type``, ``ce_id``...)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_TraceContext(service))
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s "
                "%(service)s %(trace_id)s %(span_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s")
        )
    return handler


def configure_logging(settings: ServiceSettings) -> None:
    handler = log_handler(sys.stderr, f"ikm-{settings.service}", settings.platform.log_format)
    root = logging.getLogger()
    for existing in [h for h in root.handlers if getattr(h, "_ikm", False)]:
        root.removeHandler(existing)
    handler._ikm = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.platform.log_level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
