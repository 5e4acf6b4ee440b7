"""Settings: one pydantic-settings model, nested per capability.

Environment variables use the prefix ``WAFSIEM_`` and ``__`` for nesting
(``WAFSIEM_OPENSEARCH__URL``). An optional TOML file (``--config`` or
``WAFSIEM_CONFIG``) supplies values under the environment. Nothing is built at import
time: call :func:`get_settings`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

CONFIG_ENV = "WAFSIEM_CONFIG"
DEFAULT_HASH_KEY = "wafsiem-default-header-hash-key"  # public: `wafsiem init` replaces it
HASH_KEY_FILE = "parser-hash-key"  # in state_dir, written by `wafsiem init` (mode 0600)


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "wafsiem"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "wafsiem"


class OpenSearchSettings(BaseModel):
    url: str = "http://127.0.0.1:9200"
    username: str | None = None
    password: SecretStr | None = None
    verify_certs: bool = True
    timeout_seconds: float = 60.0
    index_prefix: str = Field(
        default="waf-logs",
        description="daily hot indices are <prefix>-YYYY.MM.DD, searched by the alias <prefix>",
    )
    deadletter_index: str = "waf-deadletter"
    audit_index: str = "wafsiem-audit"
    templates_dir: Path | None = Field(
        default=None,
        description="folder of *.index-template.json; default: opensearch-templates/ of the source",
    )
    state_index: str = Field(
        default="wafsiem-state", description="checkpoints, tiering ledger and leases"
    )


class AwsCredentials(BaseModel):
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class S3Settings(AwsCredentials):
    endpoint_url: str | None = None
    bucket: str = Field(default="wafsiem-logs", description="bucket `wafsiem init` creates")


class SQSSettings(AwsCredentials):
    endpoint_url: str | None = None
    queue_name: str = "wafsiem-notifications"
    dead_letter_queue_name: str = "wafsiem-notifications-dlq"
    max_receive_count: int = Field(default=5, ge=1)


class WafSettings(AwsCredentials):
    endpoint_url: str | None = None


class ColdSettings(BaseModel):
    uri: str = Field(
        default="",
        description="cold tier root: a local directory or s3://bucket/prefix; "
        "empty means <state_dir>/cold",
    )


class TieringSettings(BaseModel):
    hot_days: int = Field(default=7, ge=0)


class FirehoseSettings(BaseModel):
    access_key: SecretStr | None = None
    max_body_bytes: int = Field(default=64 * 1024 * 1024, gt=0)
    max_concurrent_requests: int = Field(
        default=4,
        ge=1,
        description="deliveries read and ingested at once; more are answered 503 with "
        "Retry-After (Firehose retries), so memory stays about this many bodies",
    )
    retry_after_seconds: int = Field(default=5, ge=1, description="Retry-After of that 503")


class ParserSettings(BaseModel):
    sensitive_headers: list[str] = Field(
        default_factory=lambda: ["authorization", "cookie", "set-cookie", "x-api-key"]
    )
    hash_key: SecretStr = Field(
        default=SecretStr(DEFAULT_HASH_KEY),
        description="key of the keyed hash that replaces sensitive header values; unset, "
        "the one `wafsiem init` generated in <state_dir>/parser-hash-key",
    )
    native: bool = Field(
        default=True,
        description="use the native fast path (package wafsiem-native) when installed",
    )
    max_record_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="a longer record is dead-lettered as `oversized` (a prefix, its size and "
        "SHA-256), never held whole",
    )

    @field_validator("sensitive_headers")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [name.lower() for name in value]


class S3PollSettings(BaseModel):
    """`wafsiem ingest s3`: the lookback window and the retry of failed keys."""

    lookback_hours: float = Field(
        default=3.0,
        gt=0,
        description="every pass re-lists this many hours of a stream's folders (late files)",
    )
    retry_base_seconds: float = Field(
        default=60.0, ge=0, description="a failed key is retried after this, then doubling"
    )
    retry_max_seconds: float = Field(default=6 * 3600.0, ge=0, description="backoff cap")
    max_attempts: int = Field(
        default=10, ge=1, description="reads of a failed key before it is given up (reported)"
    )
    max_failed_keys: int = Field(
        default=1000, ge=1, description="failed keys kept per source; more stay unacknowledged"
    )
    save_interval_seconds: float = Field(
        default=5.0, ge=0, description="checkpoint written at most this often during a pass"
    )


class IngestSettings(BaseModel):
    bulk_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    bulk_concurrency: int = Field(default=2, ge=1)
    deadletter_raw_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="raw bytes kept in a dead letter; a longer record keeps this prefix "
        "(its full size and SHA-256 are recorded)",
    )
    s3: S3PollSettings = Field(default_factory=S3PollSettings)


class QuerySettings(BaseModel):
    max_range_days: int = Field(default=400, ge=1, description="longest from..to range")
    default_limit: int = Field(default=100, ge=1)
    max_limit: int = Field(default=1000, ge=1, description="cap on events per page")
    max_top_size: int = Field(default=1000, ge=1, description="cap on top buckets")
    max_timeline_buckets: int = Field(default=20_000, ge=1)
    cold_threads: int | None = Field(default=None, ge=1, description="DuckDB threads")


class DetectorSettings(BaseModel):
    """The false-positive detector (``rules_admin.detector``); see docs/detector.md."""

    apply: bool = Field(default=False, description="write overrides (default: dry run)")
    allow_rules: list[str] = Field(
        default_factory=list,
        description="`Rule` or `Rule:SubRule` the detector may switch; `*` for any; empty: none",
    )
    protected_rules: list[str] = Field(
        default_factory=list, description="`Rule` or `Rule:SubRule` never touched"
    )
    interval_seconds: float = Field(
        default=60.0, ge=0, description="how often `wafsiem serve` runs it; 0 disables"
    )
    window_minutes: int = Field(default=5, ge=1, description="the window judged")
    baseline_minutes: int = Field(default=60, ge=1, description="the window before it")
    ttl_minutes: int = Field(default=24 * 60, ge=1, description="automatic overrides expire")
    max_overrides_per_hour: int = Field(default=3, ge=0)
    cooldown_minutes: int = Field(
        default=60, ge=0, description="no new override of the same rule within this"
    )
    # a spike
    min_blocks: int = Field(default=10, ge=1)
    min_spike_ratio: float = Field(default=5.0, ge=1)
    # breadth
    min_client_ips: int = Field(default=10, ge=1)
    broad_client_ips: int = Field(default=50, ge=1)
    broad_countries: int = Field(default=5, ge=1)
    min_known_client_share: float = Field(
        default=0.5, ge=0, le=1, description="blocked IPs also allowed lately, when narrow"
    )
    # customers, not attackers
    max_blocks_per_ip: float = Field(default=10.0, gt=0)
    max_top_ip_share: float = Field(default=0.25, ge=0, le=1)
    min_browser_share: float = Field(default=0.8, ge=0, le=1)
    max_payload_share: float = Field(default=0.05, ge=0, le=1)
    max_scanner_path_share: float = Field(default=0.05, ge=0, le=1)
    max_other_rule_ip_share: float = Field(default=0.1, ge=0, le=1)
    max_top_ja4_share: float = Field(default=0.8, ge=0, le=1)


class RulesSettings(BaseModel):
    """Rule overrides through WAFv2 (``rules_admin``)."""

    update_min_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        description="at most one UpdateWebACL per this many seconds per (account, region)",
    )
    lock_retries: int = Field(
        default=5, ge=1, description="UpdateWebACL attempts on WAFOptimisticLockException"
    )
    lock_backoff_seconds: float = Field(
        default=0.2, ge=0, description="base of the jittered exponential backoff"
    )
    ttl_check_seconds: float = Field(
        default=30.0,
        ge=0,
        description="how often `wafsiem serve` reverts expired overrides; 0 disables the loop",
    )
    default_ttl_minutes: int = Field(
        default=24 * 60,
        ge=1,
        description="TTL of an override when none is given (every override expires)",
    )
    max_ttl_minutes: int = Field(default=7 * 24 * 60, ge=1, description="longest TTL allowed")
    protected_rules: list[str] = Field(
        default_factory=list,
        description="`Rule` or `Rule:SubRule` no override may touch unless an admin forces "
        "it; DETECTOR__PROTECTED_RULES are protected too",
    )
    max_overrides_per_hour: int = Field(
        default=20,
        ge=0,
        description="overrides written per hour by everyone together (all processes); "
        "an admin's force passes it",
    )
    verify_attempts: int = Field(
        default=3, ge=1, description="read-backs after UpdateWebACL before it is unverified"
    )
    verify_interval_seconds: float = Field(default=1.0, ge=0)
    settle_after_seconds: float = Field(
        default=60.0,
        ge=0,
        description="reconcile calls an unverified write not applied only after this long "
        "(GetWebACL is eventually consistent)",
    )


class LogSettings(BaseModel):
    """Logs of ``wafsiem serve`` and the long-running loops (``wafsiem.logs``)."""

    format: Literal["auto", "json", "text"] = Field(
        default="auto", description="json: one object a line; auto: text on a terminal, else json"
    )
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


Scope = Literal["read", "write", "admin"]


def _read_only() -> list[Scope]:
    return ["read"]


class ApiKey(BaseModel):
    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 hex of the key")
    scopes: list[Scope] = Field(default_factory=_read_only)


class ApiSettings(BaseModel):
    keys: list[ApiKey] = Field(default_factory=list)
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token that may read /metrics (besides any key with `read`)",
    )
    host: str = "127.0.0.1"
    port: int = 8080
    limit_concurrency: int = Field(
        default=100, ge=1, description="uvicorn limit_concurrency of `wafsiem serve` (503 past it)"
    )


class StackSettings(BaseModel):
    """Ports and sizing of the local stack (`wafsiem stack`)."""

    opensearch_port: int = 9200
    opensearch_transport_port: int = 9300
    opensearch_heap: str = "2g"
    opensearch_user: str = Field(
        default="nobody", description="OpenSearch runs as this user when wafsiem runs as root"
    )
    root_runtime_dir: str = Field(
        default="/var/tmp",  # noqa: S108 (a fixed, documented place, not a temp file)
        description="where OpenSearch's files live when it must run as opensearch_user",
    )
    s3_port: int = 9000
    sqs_port: int = 9324
    waf_port: int = 5000
    start_timeout_seconds: float = 180.0
    access_key_id: str = "wafsiem-local"
    secret_access_key: SecretStr = SecretStr("wafsiem-local-secret")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WAFSIEM_",
        env_nested_delimiter="__",
        extra="ignore",
        toml_file=None,
    )

    state_dir: Path = Field(default_factory=_default_state_dir)
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    sqs: SQSSettings = Field(default_factory=SQSSettings)
    waf: WafSettings = Field(default_factory=WafSettings)
    cold: ColdSettings = Field(default_factory=ColdSettings)
    tiering: TieringSettings = Field(default_factory=TieringSettings)
    firehose: FirehoseSettings = Field(default_factory=FirehoseSettings)
    parser: ParserSettings = Field(default_factory=ParserSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    query: QuerySettings = Field(default_factory=QuerySettings)
    detector: DetectorSettings = Field(default_factory=DetectorSettings)
    rules: RulesSettings = Field(default_factory=RulesSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    stack: StackSettings = Field(default_factory=StackSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_path = os.environ.get(CONFIG_ENV)
        if config_path:
            path = Path(config_path)
            if not path.is_file():
                raise FileNotFoundError(f"config file {path} ({CONFIG_ENV}) does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @model_validator(mode="after")
    def _generated_hash_key(self) -> Settings:
        """No hash key set: the one `wafsiem init` stored in the state dir, if any."""
        if "hash_key" not in self.parser.model_fields_set:
            path = self.state_dir / HASH_KEY_FILE
            if path.is_file():
                key = path.read_text(encoding="utf-8").strip()
                if key:
                    self.parser.hash_key = SecretStr(key)
        return self

    @property
    def cold_uri(self) -> str:
        return self.cold.uri or str(self.state_dir / "cold")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The effective settings, built on first use from env and the optional TOML file."""
    return Settings()


def reset_settings() -> None:
    """Forget the built settings (after the environment changed, e.g. in tests)."""
    get_settings.cache_clear()


def masked(settings: Settings) -> dict[str, Any]:
    """Settings as plain JSON-able data with every secret replaced by ``**********``."""
    return settings.model_dump(mode="json")
