"""Request and response models of the override and audit routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rules_admin.audit import Result as AuditResult
from rules_admin.audit import State as OverrideState

NAME_PATTERN = r"^[\w\-]+$"  # WAFv2 rule names: letters, digits, _ and -


class OverrideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webacl: str = Field(
        min_length=20, max_length=2048, description="web ACL ARN (regional/… or global/…)"
    )
    rule: str = Field(min_length=1, max_length=128, pattern=NAME_PATTERN)
    sub_rule: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        pattern=NAME_PATTERN,
        description="a rule inside the rule group `rule` references",
    )
    action: Literal["COUNT"] = "COUNT"
    reason: str = Field(min_length=3, max_length=2000)
    ttl_minutes: int | None = Field(
        default=None,
        ge=1,
        description="revert automatically after this (default rules.default_ttl_minutes, "
        "at most rules.max_ttl_minutes)",
    )
    dry_run: bool = Field(default=False, description="show the diff, write nothing")
    force: bool = Field(
        default=False,
        description="pass the protected-rule list and the hourly cap (a key with the "
        "`admin` scope only)",
    )


class AuditRecord(BaseModel):
    """One attempt (override or revert) as stored in the audit index."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str
    kind: Literal["override", "revert"]
    timestamp: str | None = Field(default=None, alias="@timestamp")
    updated: str | None = None
    actor: str
    reason: str
    result: AuditResult
    webacl: str | None = None
    rule: str | None = None
    sub_rule: str | None = None
    action: str | None = None
    state: OverrideState | None = None
    error: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    diff: str | None = None
    lock_token: str | None = None
    next_lock_token: str | None = None
    expires_at: str | None = None
    evidence: dict[str, Any] | None = None


class OverrideResponse(BaseModel):
    result: AuditResult
    message: str
    record: AuditRecord


class ErrorResponse(BaseModel):
    detail: str
    record: AuditRecord | None = None


class OverrideList(BaseModel):
    overrides: list[AuditRecord]


class AuditList(BaseModel):
    records: list[AuditRecord]


def outcome_message(record: dict[str, Any]) -> str:
    """One line for people: what happened to which rule."""
    target = record.get("rule") or "?"
    if record.get("sub_rule"):
        target = f"{target}:{record['sub_rule']}"
    result = record.get("result")
    if record.get("kind") == "revert":
        if result == "reverted":
            return (
                f"{target} reverted to its previous action (override {record.get('override_id')})"
            )
        if result == "unverified":
            return (
                f"revert of {record.get('override_id')} sent but not confirmed "
                f"({record.get('status')}); reconcile settles it"
            )
        return f"revert of {record.get('override_id')}: {result}"
    if result == "applied":
        until = f" until {record['expires_at']}" if record.get("expires_at") else ""
        return f"{target} is now COUNT{until} (override {record['id']})"
    if result == "unverified":
        return (
            f"{target}: UpdateWebACL was sent but its effect is not confirmed "
            f"({record.get('status')}); treated as in force until reconcile settles it "
            f"(override {record['id']}, revertible, expires {record.get('expires_at')})"
        )
    if result == "not_applied":
        return f"{target}: the write did not take effect; the rule is as it was"
    if result == "dry_run":
        return f"dry run: {target} would become COUNT; nothing written"
    if result == "unchanged":
        return f"{target}: {record.get('status') or 'already COUNT'}; nothing written"
    return f"{target}: {result}: {record.get('error')}"


# -- triage --------------------------------------------------------------------------------


class ValueCount(BaseModel):
    value: str | None
    count: int


class TopClient(BaseModel):
    ip: str | None
    count: int
    share: float = Field(description="the address's share of the rule's blocks in the window")


class TriageRule(BaseModel):
    webacl: str | None = Field(description="web ACL name")
    webacl_arn: str
    rule: str | None = Field(description="terminating rule (the web ACL's rule name)")
    sub_rule: str | None = Field(description="the rule inside the group, when a group blocked")
    blocks: int
    baseline_blocks: int
    spike_ratio: float | None = Field(
        description="blocks per second in the window over blocks per second in the "
        "baseline; null when the baseline has none"
    )
    client_ips: int = Field(description="distinct source.ip")
    countries: int = Field(description="distinct source.geo.country_iso_code")
    top_client_ip: TopClient | None
    top_hosts: list[ValueCount]
    top_paths: list[ValueCount]
    sample_request_ids: list[str]


class TriageResult(BaseModel):
    filter: dict[str, Any]
    baseline: dict[str, str] = Field(description="from/to of the baseline window")
    total_blocks: int
    rules: list[TriageRule]
