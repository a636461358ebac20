"""Settings every service shares; each service adds its own under its prefix (``REGISTRY_``...)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.auth import AuthSettings

Environment = Literal["development", "test", "production"]


class PlatformSettings(BaseSettings):
    """``IKM_*``: where the platform runs."""

    model_config = SettingsConfigDict(env_prefix="IKM_", extra="ignore")

    environment: Environment = "development"
    data_dir: Path = Path(".ikm")
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"


class KafkaSettings(BaseSettings):
    """``KAFKA_*``: the broker connection.

    The defaults suit the embedded broker; Apache Kafka deployments set idempotence on and
    the longer session timeouts Kafka requires (its minimum session timeout is 6000 ms).
    """

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    enable_idempotence: bool = False
    session_timeout_ms: int = 2000
    heartbeat_interval_ms: int = 400
    # How long a fetch waits for data before returning empty. Kafka's 500 ms default is the
    # floor of command-to-report latency on a broker that doesn't answer a waiting fetch as
    # soon as data arrives (the embedded one); an empty fetch costs little.
    fetch_max_wait_ms: int = 50
    topic_partitions: int = 4
    topic_replication_factor: int = 1
    security_protocol: Literal["PLAINTEXT", "SASL_SSL", "SASL_PLAINTEXT", "SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None


class TelemetrySettings(BaseSettings):
    """``OTEL_*``: the standard OpenTelemetry variable names, so collectors' docs apply as-is."""

    model_config = SettingsConfigDict(env_prefix="OTEL_", extra="ignore")

    traces_exporter: Literal["otlp", "console", "none"] = "none"
    exporter_otlp_endpoint: str = "http://127.0.0.1:4318"


class ServiceSettings(BaseSettings):
    """Base of each service's settings; a subclass sets ``service`` and its env prefix."""

    service: ClassVar[str]
    default_port: ClassVar[int]

    model_config = SettingsConfigDict(extra="ignore")

    database_url: str | None = None
    # PostgreSQL connections kept open, and how many more a burst may open (closed after use:
    # opening one costs more than waiting for one). Four services at 16 + 4, with the outbox
    # relays' own 2 + 1 in the three services that publish, stay within PostgreSQL's default
    # of 100 connections.
    database_pool_size: int = 16
    database_max_overflow: int = 4
    host: str = "127.0.0.1"
    port: int | None = None
    consumer_group: str | None = None
    # Up to this many events per consumer transaction and per relay claim. Only a backlog fills
    # them (at a steady rate of commands a batch holds a few events), so larger batches cost
    # latency nothing and spread each transaction's statements, plans and commit over more
    # events: 500 -> 2,000 took an import of 100,000 from 8,209-8,383 to 9,568-9,580
    # enterprises/s, PostgreSQL from 0.077 to 0.060 ms of CPU per enterprise, for 5-13 MB more
    # peak memory per service.
    consumer_batch_size: int = 2000
    relay_batch_size: int = 2000
    relay_poll_interval_s: float = 1.0
    # Backpressure: a bulk command waits while more events than this wait in the outbox (so
    # an import cannot run ahead of what the other services have seen), and answers 503 with
    # Retry-After if the relay has not caught up within the wait.
    relay_max_backlog: int = 20_000
    relay_max_wait_s: float = 30.0

    platform: PlatformSettings = Field(default_factory=PlatformSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        path = (self.platform.data_dir / f"{self.service}.db").resolve()
        return f"sqlite+aiosqlite:///{path}"

    @property
    def resolved_port(self) -> int:
        return self.port if self.port is not None else self.default_port

    @property
    def resolved_consumer_group(self) -> str:
        return self.consumer_group or f"ikm-{self.service}"

    @property
    def source(self) -> str:
        """The CloudEvents ``source`` of every event this service emits."""
        return f"/ikm/{self.service}"
