"""An example subscriber of the IKM Platform's events, using nothing of the platform's code.

It needs only a Kafka client and the published JSON Schemas (``contracts/schemas``):

    pip install -r requirements.txt
    python consume.py --bootstrap kafka:9092 --group external-bps \
        --topic ikm.registry.enterprises --schemas ../../contracts/schemas

What a real subscriber must do, and this one shows:
- read CloudEvents from Kafka headers (binary mode): ``ce_type`` says what the value is;
- validate the value against the schema of its ``ce_type``;
- deduplicate on ``ce_source`` + ``ce_id`` (delivery is at least once), and remember what it
  applied in the same local transaction as its effect, before committing the Kafka offset;
- ignore event types it does not know (a newer version may appear beside the old one).
Each applied event is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer
from jsonschema import Draft202012Validator


def load_validators(directory: Path) -> dict[str, Draft202012Validator]:
    return {
        path.name.removesuffix(".json"): Draft202012Validator(json.loads(path.read_text()))
        for path in directory.glob("*.json")
    }


def open_store(path: str) -> sqlite3.Connection:
    store = sqlite3.connect(path)
    store.execute(
        "CREATE TABLE IF NOT EXISTS applied (source TEXT, id TEXT, PRIMARY KEY (source, id))"
    )
    return store


async def consume(args: argparse.Namespace) -> int:
    validators = load_validators(Path(args.schemas))
    store = open_store(args.store)
    consumer = AIOKafkaConsumer(
        *args.topic,
        bootstrap_servers=args.bootstrap,
        group_id=args.group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=args.session_timeout_ms,
        heartbeat_interval_ms=max(args.session_timeout_ms // 5, 100),
    )
    await consumer.start()
    applied = 0
    last_message = time.monotonic()
    try:
        while applied < args.max_messages:
            batch = await consumer.getmany(timeout_ms=500)
            if not batch:
                if time.monotonic() - last_message > args.idle_exit_s:
                    break
                continue
            last_message = time.monotonic()
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    ce_type, ce_id = headers.get("ce_type", ""), headers.get("ce_id", "")
                    source = headers.get("ce_source", "")
                    validator = validators.get(ce_type)
                    if validator is None:
                        print(f"skipping unknown type {ce_type}", file=sys.stderr)
                        continue
                    data = json.loads(record.value)
                    errors = sorted(validator.iter_errors(data), key=str)
                    if errors:
                        print(f"invalid {ce_type} {ce_id}: {errors[0].message}", file=sys.stderr)
                        continue
                    with store:  # the dedupe record and the effect commit together
                        seen = store.execute(
                            "SELECT 1 FROM applied WHERE source = ? AND id = ?", (source, ce_id)
                        ).fetchone()
                        if seen:
                            continue
                        store.execute("INSERT INTO applied VALUES (?, ?)", (source, ce_id))
                        print(
                            json.dumps(
                                {
                                    "type": ce_type,
                                    "id": ce_id,
                                    "key": record.key.decode(),
                                    "data": data,
                                }
                            ),
                            flush=True,
                        )
                    applied += 1
            await consumer.commit()  # only after the local commit
    finally:
        await consumer.stop()
        store.close()
    return applied


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True, help="must start with your granted prefix")
    parser.add_argument("--topic", action="append", required=True)
    parser.add_argument("--schemas", required=True, help="directory of the published schemas")
    parser.add_argument("--store", default="applied.sqlite3", help="local dedupe store")
    parser.add_argument("--max-messages", type=int, default=sys.maxsize)
    parser.add_argument("--idle-exit-s", type=float, default=float("inf"))
    parser.add_argument("--session-timeout-ms", type=int, default=10_000)
    asyncio.run(consume(parser.parse_args()))


if __name__ == "__main__":
    main()
