"""Options, scenario specs, ground truth and the run summary (pydantic)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

Layout = Literal["waf-s3", "firehose"]
Kind = Literal["baseline", "attack", "false_positive"]

_OFFSET = re.compile(r"^\+(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_time(value: str, base: datetime | None = None) -> datetime:
    """ISO 8601 (``Z`` or offset; naive means UTC) or ``+30m`` relative to ``base``."""
    text = value.strip()
    match = _OFFSET.match(text)
    if match:
        if base is None:
            raise ValueError(f"relative time {value!r} needs a start time")
        return base + timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {value!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class ScenarioSpec(BaseModel):
    """One scenario instance. CLI form: ``NAME[@TIME][,intensity=X][,minutes=M]`` where
    TIME is ISO 8601 or ``+30m`` after ``--start``."""

    name: str
    start: datetime | None = None
    intensity: float = Field(default=1.0, gt=0, le=100)
    minutes: float | None = Field(default=None, gt=0)

    @classmethod
    def parse(cls, text: str, base: datetime | None = None) -> ScenarioSpec:
        head, *options = [part.strip() for part in text.split(",")]
        name, _, when = head.partition("@")
        values: dict[str, object] = {"name": name.strip()}
        if when:
            values["start"] = parse_time(when, base)
        for option in options:
            key, sep, raw = option.partition("=")
            key = key.strip().lower()
            if not sep or key not in ("intensity", "minutes"):
                raise ValueError(f"scenario option {option!r}: expected intensity=X or minutes=M")
            try:
                values[key] = float(raw)
            except ValueError as exc:
                raise ValueError(f"scenario option {option!r}: not a number") from exc
        return cls.model_validate(values)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("scenario start must be timezone-aware")
        return value


class GenerateOptions(BaseModel):
    start: datetime
    hours: float = Field(default=1.0, gt=0, le=24 * 31)
    rps: float = Field(default=100.0, ge=0)
    domains: int = Field(default=279, ge=1, le=20_000)
    seed: int = 1
    layout: Layout = "waf-s3"
    newlines: bool = True
    scenarios: list[ScenarioSpec] = Field(default_factory=list)
    compress_level: int = Field(default=3, ge=0, le=9)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        return value.astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


class RuleCount(BaseModel):
    rule: str  # terminatingRuleId (web ACL rule name, or Default_Action)
    rule_type: str
    group: str | None = None  # ruleGroupId when a group terminated
    sub_rule: str | None = None
    action: str
    records: int


class ScenarioTruth(BaseModel):
    id: str
    name: str
    kind: Kind
    description: str = ""
    webacl_name: str | None = None
    webacl_arn: str | None = None
    rule: str | None = None
    rule_type: str | None = None
    group: str | None = None
    sub_rule: str | None = None
    label: str | None = None
    action: str | None = None
    expected_response: str | None = None  # "override_to_count" for false positives
    start: datetime
    end: datetime
    intensity: float = 1.0
    records: int = 0
    records_by_action: dict[str, int] = Field(default_factory=dict)
    rules: list[RuleCount] = Field(default_factory=list)
    matched_records: int = 0  # records the intended rule terminated
    distinct_client_ips: int = 0
    client_ips: list[str] = Field(default_factory=list)  # all when <= 100, else a sample
    countries: list[str] = Field(default_factory=list)
    hosts: list[str] = Field(default_factory=list)
    paths: list[str] = Field(default_factory=list)


class GroundTruth(BaseModel):
    generator: str = "wafsiem generate"
    seed: int
    start: datetime
    end: datetime
    rps: float
    domains: int
    layout: str
    webacls: list[dict[str, str]]
    scenarios: list[ScenarioTruth]


class GenerateSummary(BaseModel):
    records: int
    files: int
    bytes: int  # written (compressed for files; request bodies for Firehose HTTP)
    bytes_uncompressed: int
    requests: int = 0  # Firehose HTTP requests
    seconds: float
    records_per_second: float
    out: str | None
    layout: str | None
    firehose_url: str | None = None
    start: datetime
    end: datetime
    scenarios: dict[str, int]  # scenario id -> records
    ground_truth: str | None
    truth: list[ScenarioTruth] = Field(default_factory=list)
