"""The demo's options, its remembered plan, and the report it prints (pydantic)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

FP_SCENARIO = "fp-size-body"
ATTACK_SCENARIO = "sqli-scanner"


class DemoOptions(BaseModel):
    """What to generate and how; the defaults fit in a few minutes on two cores."""

    days: int = Field(default=3, ge=2, le=31, description="UTC days of traffic, today included")
    rps: float = Field(default=1.0, gt=0, le=200, description="baseline requests per second")
    hot_days: int = Field(default=1, ge=0, description="days kept hot besides today")
    domains: int = Field(default=279, ge=1, le=20_000)
    seed: int = 7
    fp_intensity: float = Field(default=0.5, gt=0, le=10)
    webacl_suffix: str = Field(default="", description="appended to web ACL names (tests)")

    @model_validator(mode="after")
    def _both_tiers(self) -> DemoOptions:
        if self.hot_days > self.days - 2:
            raise ValueError(
                f"hot_days {self.hot_days} leaves no older day to tier among {self.days} days "
                f"(need hot_days <= days - 2)"
            )
        return self


class DemoPlan(BaseModel):
    """When the scenarios happen. Kept in ``<state_dir>/demo/plan.json`` so a second run
    generates exactly the same traffic (and so adds nothing)."""

    onset: datetime  # the false-positive spike and the attack start here
    seed: int
    rps: float
    domains: int
    fp_intensity: float
    scenarios: list[str]  # ScenarioSpec texts with absolute times
    created: datetime

    def matches(self, options: DemoOptions) -> bool:
        return (
            self.seed == options.seed
            and self.rps == options.rps
            and self.domains == options.domains
            and self.fp_intensity == options.fp_intensity
        )


Path_ = Literal["s3+sqs", "firehose"]


class DayIngest(BaseModel):
    date: date
    path: Path_
    action: Literal["ingested", "skipped_cold"] = "ingested"
    objects: int = 0  # S3 objects (and notifications) or Firehose requests
    records_sent: int = 0
    records_read: int = 0
    indexed: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    seconds: float = 0.0


class TierFigures(BaseModel):
    days: int = 0
    records: int = 0
    bytes: int = 0


class TierDay(BaseModel):
    date: date
    state: str
    records: int | None
    bytes_hot: int | None
    bytes_cold: int | None


class RuleFigure(BaseModel):
    rule: str
    blocks: int
    client_ips: int


Status = Literal["made", "already_in_place", "held_back", "failed", "dry_run"]


class OverrideFigure(BaseModel):
    """An override the detector made (``made``), or found in place from an earlier run."""

    webacl: str  # the generator's name, as in the logs
    webacl_arn: str  # the ARN in the WAFv2 API
    rule: str
    sub_rule: str | None
    status: Status
    override_id: str | None = None
    at: datetime | None = None
    expires_at: str | None = None
    reason: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    waf_action: str | None = None  # what the WAFv2 API says now, read back
    error: str | None = None


class LeftAlone(BaseModel):
    """A spiking rule the detector judged an attack: it keeps blocking."""

    webacl: str
    rule: str
    sub_rule: str | None
    verdict: str
    blocks: int
    reasons: list[str]
    waf_action: str | None = None  # read back from the WAFv2 API


class DemoReport(BaseModel):
    started: datetime
    finished: datetime | None = None
    seconds: float = 0.0
    window: dict[str, datetime]
    options: DemoOptions
    plan: DemoPlan
    plan_reused: bool
    notes: list[str] = Field(default_factory=list)
    webacls: dict[str, str] = Field(default_factory=dict)  # generator name -> WAFv2 ARN
    ingest: list[DayIngest] = Field(default_factory=list)
    tiering: list[dict[str, Any]] = Field(default_factory=list)
    tiers: dict[str, TierFigures] = Field(default_factory=dict)
    tier_days: list[TierDay] = Field(default_factory=list)
    top_blocked_rules: list[RuleFigure] = Field(default_factory=list)
    detector_at: datetime | None = None
    overrides: list[OverrideFigure] = Field(default_factory=list)
    left_alone: list[LeftAlone] = Field(default_factory=list)
    serving: dict[str, str] | None = None
