"""The published event contract: a JSON Schema per event type, an AsyncAPI 3 document, and the
compatibility rules a new schema must keep within one ``ce_type`` version.

Subscribers in other ministries code against these files, never against our Python.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.events import EVENT_TYPES, Event
from shared.events.topics import ALL_TOPICS, Topic

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
CLOUDEVENTS_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 attributes in Kafka binary mode, plus W3C trace context.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {
            "type": "string",
            "description": "Unique per event; deduplicate on ce_source + ce_id",
        },
        "ce_source": {"type": "string", "examples": ["/ikm/registry"]},
        "ce_type": {"type": "string", "description": "Event type and version"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "Aggregate id, equal to the Kafka key"},
        "ce_dataschema": {"type": "string", "description": "Id of the event's JSON Schema"},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context"},
        "tracestate": {"type": "string"},
    },
}


def event_schema(event: type[Event]) -> dict[str, Any]:
    schema = event.model_json_schema(mode="serialization")
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": event.dataschema(),
        "title": event.event_name(),
        "x-ce-type": event.ce_type(),
        "x-topic": event.topic.name,
        "x-key": event.topic.key,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def schemas() -> dict[str, dict[str, Any]]:
    return {event.ce_type(): event_schema(event) for event in EVENT_TYPES}


def _events_on(topic: Topic) -> list[type[Event]]:
    return [e for e in EVENT_TYPES if e.topic is topic]


def asyncapi() -> dict[str, Any]:
    """AsyncAPI 3.0: every public topic, its key, CloudEvents headers and each message type."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in ALL_TOPICS:
        if not topic.public:
            continue
        channel_id = topic.name.replace(".", "-")
        refs = {}
        for event in _events_on(topic):
            message_id = event.ce_type().replace(".", "-")
            messages[message_id] = {
                "name": event.ce_type(),
                "title": event.event_name(),
                "summary": (event.__doc__ or "").strip().splitlines()[0] if event.__doc__ else "",
                "contentType": "application/json",
                "headers": CLOUDEVENTS_HEADERS,
                "payload": {"$ref": f"schemas/{event.ce_type()}.json"},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": f"{topic.key} (aggregate id)"}
                    }
                },
            }
            refs[message_id] = {"$ref": f"#/components/messages/{message_id}"}
        channels[channel_id] = {
            "address": topic.name,
            "description": f"{topic.description} Key: {topic.key}; written only by "
            f"{topic.owner}; dead letters of our own consumers go to {topic.dead_letter}.",
            "messages": refs,
        }
        operations[f"receive-{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Subscribe to {topic.name}",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IKM Platform events",
            "version": "1.0.0",
            "description": (
                "Events of the Ministry of Industry's IKM platform. At-least-once delivery: "
                "deduplicate on ce_source + ce_id. Events of one aggregate share a key and stay "
                "in order on one partition. Versions live in ce_type; within a version only "
                "optional fields are added."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export(directory: Path) -> list[Path]:
    (directory / "schemas").mkdir(parents=True, exist_ok=True)
    written = []
    for ce_type, schema in schemas().items():
        path = directory / "schemas" / f"{ce_type}.json"
        path.write_text(render(schema))
        written.append(path)
    path = directory / "asyncapi.json"
    path.write_text(render(asyncapi()))
    written.append(path)
    return written


# --- compatibility ---------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = root.get("$defs", {}).get(name, {})
    if "anyOf" in schema and len(schema["anyOf"]) == 2 and {"type": "null"} in schema["anyOf"]:
        other = next(s for s in schema["anyOf"] if s != {"type": "null"})
        return {**_resolve(other, root), "nullable": True}
    return schema


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    if schema.get("nullable"):
        kinds.add("null")
    if "integer" in kinds:
        kinds.add("number")
    return kinds


def breaking_changes(
    old: dict[str, Any], new: dict[str, Any], path: str = "", roots: tuple[Any, Any] | None = None
) -> Iterator[str]:
    """What a consumer of ``old`` would trip over in data valid against ``new``."""
    old_root, new_root = roots or (old, new)
    old, new = _resolve(old, old_root), _resolve(new, new_root)
    where = path or "(root)"
    old_types, new_types = _types(old), _types(new)
    if old_types and new_types and not new_types <= old_types:
        yield f"{where}: type changed from {sorted(old_types)} to {sorted(new_types)}"
        return
    if "enum" in old and "enum" in new and set(old["enum"]) - set(new["enum"]):
        yield f"{where}: enum narrowed, removed {sorted(set(old['enum']) - set(new['enum']))}"
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props:
        if name not in new_props:
            yield f"{path}.{name}".lstrip(".") + ": field removed (or renamed)"
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        label = f"{path}.{name}".lstrip(".")
        if name in old_props:
            yield f"{label}: became required"
        else:
            yield f"{label}: new required field"
    for name in old_props.keys() & new_props.keys():
        yield from breaking_changes(
            old_props[name], new_props[name], f"{path}.{name}".lstrip("."), (old_root, new_root)
        )
    if "items" in old and "items" in new:
        yield from breaking_changes(old["items"], new["items"], f"{path}[]", (old_root, new_root))


def check(directory: Path) -> tuple[list[str], list[str]]:
    """(breaking changes, stale files) of the code's contract against the committed one.

    A removed ``ce_type`` is breaking; a new one (e.g. ``.v2`` beside ``.v1``) is fine.
    """
    breaking, stale = [], []
    committed = {
        path.name.removesuffix(".json"): json.loads(path.read_text())
        for path in sorted((directory / "schemas").glob("*.json"))
    }
    current = schemas()
    for ce_type, old in committed.items():
        if ce_type not in current:
            breaking.append(f"{ce_type}: event type removed; publish a new version beside it")
            continue
        breaking += [f"{ce_type}: {problem}" for problem in breaking_changes(old, current[ce_type])]
        if render(old) != render(current[ce_type]):
            stale.append(ce_type)
    stale += [ce_type for ce_type in current if ce_type not in committed]
    asyncapi_path = directory / "asyncapi.json"
    if not asyncapi_path.exists() or asyncapi_path.read_text() != render(asyncapi()):
        stale.append("asyncapi.json")
    return breaking, stale


def html_page() -> str:
    """A plain, dependency-free reading of the AsyncAPI document for people."""
    from html import escape

    document = asyncapi()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>IKM Platform events</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;"
        "padding:0 1rem;color:#1b2733}code{background:#eef2f5;padding:0 .25rem}"
        "section{border-top:1px solid #d5dde3;padding:.5rem 0}</style></head><body>",
        f"<h1>{escape(document['info']['title'])} {escape(document['info']['version'])}</h1>",
        f"<p>{escape(document['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/asyncapi.json'>asyncapi.json</a>; headers: CloudEvents "
        "1.0 binary mode (<code>ce_*</code>), value: JSON.</p>",
    ]
    messages = document["components"]["messages"]
    for channel in document["channels"].values():
        parts.append(f"<section><h2><code>{escape(channel['address'])}</code></h2>")
        parts.append(f"<p>{escape(channel['description'])}</p><ul>")
        for ref in channel["messages"].values():
            message = messages[ref["$ref"].rsplit("/", 1)[-1]]
            name = escape(message["name"])
            parts.append(
                f"<li><a href='/contracts/schemas/{name}.json'><code>{name}</code></a> — "
                f"{escape(message['summary'])}</li>"
            )
        parts.append("</ul></section>")
    parts.append("</body></html>")
    return "".join(parts)
