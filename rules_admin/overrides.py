"""Rule overrides: switch a rule (or a rule group, or one rule inside a group) to COUNT,
revert it exactly, revert it automatically when its TTL passes — every attempt audited.

The service takes its clients as arguments: a WAFv2 client factory per region (CLOUDFRONT
web ACLs are always reached through us-east-1), the OpenSearch client, the settings.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from opensearchpy import OpenSearch

from rules_admin.audit import TARGET_FIELDS, AuditLog, iso, now_utc
from rules_admin.managed_rules import SubRuleResolver
from rules_admin.webacl import (
    Change,
    WebAclError,
    WebAclRef,
    apply_override,
    describe_rules,
    diff,
    locate,
    parse_webacl_arn,
    revert_override,
    slot_of,
    target_label,
)
from rules_admin.writer import (
    UpdateRateLimiter,
    WebAclWriter,
    WriteOutcome,
    get_webacl,
)
from wafsiem.errors import WafsiemError
from wafsiem.settings import Settings

log = logging.getLogger(__name__)

WafClientFactory = Callable[[str], Any]
ACTIONS = ("COUNT",)
STALE_CLAIM = timedelta(minutes=10)  # a "reverting" claim older than this may be taken over


class OverrideError(WafsiemError):
    """A refused or failed attempt; ``record`` is its audit record."""

    def __init__(self, message: str, status: int, record: dict[str, Any] | None) -> None:
        super().__init__(message, status=status)
        self.record = record


class OverrideService:
    def __init__(
        self,
        wafv2_for_region: WafClientFactory,
        opensearch: OpenSearch,
        settings: Settings,
        *,
        rate_limiter: UpdateRateLimiter | None = None,
        resolver: SubRuleResolver | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        cfg = settings.rules
        self.settings = settings
        self.wafv2_for_region = wafv2_for_region
        self.audit = AuditLog(opensearch, settings.opensearch.audit_index)
        self.resolver = resolver or SubRuleResolver()
        self.writer = WebAclWriter(
            rate_limiter or UpdateRateLimiter(cfg.update_min_interval_seconds, sleep=sleep),
            cfg.lock_retries,
            cfg.lock_backoff_seconds,
            sleep,
        )
        self._clients: dict[str, Any] = {}

    def client(self, region: str) -> Any:
        if region not in self._clients:
            self._clients[region] = self.wafv2_for_region(region)
        return self._clients[region]

    # -- override ---------------------------------------------------------------------

    def override(
        self,
        webacl_arn: str,
        rule: str,
        sub_rule: str | None = None,
        action: str = "COUNT",
        *,
        reason: str,
        actor: str,
        ttl_minutes: int | None = None,
        dry_run: bool = False,
        evidence: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Switch the target to COUNT; returns the audit record (result applied, dry_run
        or unchanged). Raises :class:`OverrideError` (audited) when refused or failed."""
        if ttl_minutes is None:
            ttl_minutes = self.settings.rules.default_ttl_minutes
        record = self.audit.start(
            {
                "kind": "override",
                "actor": actor,
                "reason": reason,
                "webacl": webacl_arn,
                "rule": rule,
                "sub_rule": sub_rule or None,
                "action": action,
                "dry_run": dry_run,
                "ttl_minutes": ttl_minutes,
                "evidence": evidence or {},
            }
        )
        try:
            return self._override(record, webacl_arn, rule, sub_rule or None, action, dry_run)
        except OverrideError:
            raise
        except WafsiemError as exc:
            result = "refused" if exc.status in (404, 422) else "failed"
            raise self._fail(record, result, exc.message, exc.status) from exc
        except WebAclError as exc:
            raise self._fail(record, "refused", str(exc), 422) from exc
        except Exception as exc:
            log.exception("override %s failed", record["id"])
            raise self._fail(record, "failed", f"{type(exc).__name__}: {exc}", 502) from exc

    def _override(
        self,
        record: dict[str, Any],
        webacl_arn: str,
        rule: str,
        sub_rule: str | None,
        action: str,
        dry_run: bool,
    ) -> dict[str, Any]:
        if action not in ACTIONS:
            raise WafsiemError(f"action {action!r} is not supported (only COUNT)", status=422)
        if not record["reason"].strip():
            raise WafsiemError("a reason is required", status=422)
        ttl = record["ttl_minutes"]
        if ttl is not None and not 1 <= ttl <= self.settings.rules.max_ttl_minutes:
            raise WafsiemError(
                f"ttl_minutes must be 1..{self.settings.rules.max_ttl_minutes}", status=422
            )
        ref = parse_webacl_arn(webacl_arn)
        record.update(self._ref_fields(ref))
        client = self.client(ref.region)
        response = get_webacl(client, ref)
        first = apply_override(response["WebACL"], rule, sub_rule)
        record.update(shape=first.located.shape, before=first.before)
        if first.located.group is not None and sub_rule is not None:
            record["validation"] = self.resolver.check(
                client, first.located.group, ref.scope, rule, sub_rule
            )
        if not first.changed:
            return self.audit.finish(
                record,
                result="unchanged",
                after=first.after,
                lock_token=response["LockToken"],
                status=first.reason,
            )
        if dry_run:
            return self.audit.finish(
                record,
                result="dry_run",
                after=first.after,
                lock_token=response["LockToken"],
                diff=diff(first.before, first.after, target_label(rule, sub_rule)),
            )
        outcome = self.writer.write(
            client, ref, response, lambda acl: apply_override(acl, rule, sub_rule)
        )
        fields = self._outcome_fields(outcome)
        if not outcome.written:
            return self.audit.finish(
                record, result="unchanged", **fields, status=outcome.change.reason
            )
        expected = slot_of(outcome.change.after, outcome.change.located.shape, sub_rule)
        problem = self._verify(client, ref, rule, sub_rule, expected)
        if problem:
            raise self._fail(record, "verify_failed", problem, 502, **fields)
        expires = None
        if record["ttl_minutes"]:
            expires = iso(now_utc() + timedelta(minutes=record["ttl_minutes"]))
        return self.audit.finish(
            record, result="applied", state="active", expires_at=expires, **fields
        )

    # -- revert -----------------------------------------------------------------------

    def revert(
        self, override_id: str, *, actor: str, reason: str, expired: bool = False
    ) -> dict[str, Any]:
        """Put the recorded previous action back; returns the revert's audit record."""
        found = self.audit.get(override_id)
        record = self.audit.start(
            {
                "kind": "revert",
                "override_id": override_id,
                "actor": actor,
                "reason": reason,
                "dry_run": False,
            }
        )
        if found is None or found[0].get("kind") != "override":
            raise self._fail(record, "refused", f"no override {override_id!r}", 404)
        original, seq_no, term = found
        record.update({k: original.get(k) for k in TARGET_FIELDS})
        if original.get("result") != "applied":
            raise self._fail(
                record,
                "refused",
                f"override {override_id} was never applied (result {original.get('result')})",
                409,
            )
        state = original.get("state")
        stale = state == "reverting" and original.get("updated", "") < iso(now_utc() - STALE_CLAIM)
        if state not in ("active", "conflict") and not stale:
            raise self._fail(record, "refused", f"override {override_id} is {state}", 409)
        if not self.audit.compare_and_set(original, seq_no, term, state="reverting"):
            raise self._fail(record, "refused", f"override {override_id} is being reverted", 409)
        try:
            done = self._revert(record, original)
        except OverrideError:
            self.audit.finish(original, state="active")
            raise
        except WebAclError as exc:  # SlotChanged, or the rule is gone: a human must look
            self.audit.finish(original, state="conflict", revert_error=str(exc))
            raise self._fail(record, "refused", str(exc), 409) from exc
        except Exception as exc:
            self.audit.finish(original, state="active")
            if isinstance(exc, WafsiemError):
                raise self._fail(record, "failed", exc.message, exc.status) from exc
            log.exception("revert %s failed", record["id"])
            raise self._fail(record, "failed", f"{type(exc).__name__}: {exc}", 502) from exc
        self.audit.finish(
            original,
            state="expired" if expired else "reverted",
            reverted_at=done["updated"],
            reverted_by=actor,
            revert_id=done["id"],
        )
        return done

    def _revert(self, record: dict[str, Any], original: dict[str, Any]) -> dict[str, Any]:
        ref = parse_webacl_arn(original["webacl"])
        rule, sub_rule = original["rule"], original.get("sub_rule")
        client = self.client(ref.region)
        response = get_webacl(client, ref)

        def compute(acl: dict[str, Any]) -> Change:
            return revert_override(acl, rule, sub_rule, original["before"], original["after"])

        outcome = self.writer.write(client, ref, response, compute)
        fields = self._outcome_fields(outcome)
        if not outcome.written:
            return self.audit.finish(
                record, result="reverted", **fields, status=outcome.change.reason
            )
        expected = slot_of(original["before"], original["shape"], sub_rule)
        problem = self._verify(client, ref, rule, sub_rule, expected)
        if problem:
            raise self._fail(record, "verify_failed", problem, 502, **fields)
        return self.audit.finish(record, result="reverted", **fields)

    def revert_expired(self, now: datetime) -> list[dict[str, Any]]:
        """Revert every active override whose ``expires_at`` is at or before ``now``."""
        due = self.audit.search(
            filters={"kind": "override", "result": "applied", "state": "active"},
            expires_before=now,
            limit=500,
        )
        outcomes: list[dict[str, Any]] = []
        for doc in due:
            try:
                done = self.revert(
                    doc["id"],
                    actor="ttl",
                    reason=f"TTL expired (expires_at {doc['expires_at']})",
                    expired=True,
                )
                outcomes.append({"override_id": doc["id"], "result": done["result"]})
            except OverrideError as exc:
                log.warning("TTL revert of %s: %s", doc["id"], exc.message)
                outcomes.append({"override_id": doc["id"], "result": "error", "error": exc.message})
        return outcomes

    # -- reading ----------------------------------------------------------------------

    def list_overrides(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Applied overrides, newest first; ``state`` active | reverting | conflict |
        reverted | expired."""
        filters: dict[str, str | list[str]] = {"kind": "override", "result": "applied"}
        if state:
            filters["state"] = state
        return self.audit.search(filters=filters, limit=limit)

    def audit_records(self, limit: int = 100, **filters: str) -> list[dict[str, Any]]:
        return self.audit.search(filters={k: v for k, v in filters.items() if v}, limit=limit)

    def show(self, webacl_arn: str) -> dict[str, Any]:
        """The web ACL's rules, their actions, and the overrides wafsiem holds in place."""
        try:
            ref = parse_webacl_arn(webacl_arn)
        except WebAclError as exc:
            raise WafsiemError(str(exc), status=422) from exc
        response = get_webacl(self.client(ref.region), ref)
        active = self.audit.search(
            filters={
                "kind": "override",
                "result": "applied",
                "webacl": ref.arn,
                "state": ["active", "reverting"],
            },
        )
        return {
            "webacl": ref.arn,
            "name": ref.name,
            "scope": ref.scope,
            "region": ref.region,
            "lock_token": response["LockToken"],
            "rules": describe_rules(response["WebACL"]),
            "overrides": [
                {
                    k: o.get(k)
                    for k in (
                        "id",
                        "rule",
                        "sub_rule",
                        "actor",
                        "reason",
                        "@timestamp",
                        "expires_at",
                        "state",
                    )
                }
                for o in active
            ],
        }

    # -- helpers ----------------------------------------------------------------------

    def _verify(
        self, client: Any, ref: WebAclRef, rule: str, sub_rule: str | None, expected: Any
    ) -> str | None:
        """None when the read-back ACL holds ``expected`` in the slot, else the problem."""
        acl = get_webacl(client, ref)["WebACL"]
        try:
            found = locate(acl, rule, sub_rule).slot
        except WebAclError as exc:
            return f"verify: {exc}"
        if found != expected:
            label = target_label(rule, sub_rule)
            return f"verify: {label} reads back {found!r}, expected {expected!r}"
        return None

    @staticmethod
    def _ref_fields(ref: WebAclRef) -> dict[str, Any]:
        return {
            "webacl": ref.arn,
            "webacl_name": ref.name,
            "scope": ref.scope,
            "region": ref.region,
            "account": ref.account,
        }

    @staticmethod
    def _outcome_fields(outcome: WriteOutcome) -> dict[str, Any]:
        return {
            "before": outcome.change.before,
            "after": outcome.change.after,
            "lock_token": outcome.lock_token,
            "next_lock_token": outcome.next_lock_token,
            "attempts": outcome.attempts,
        }

    def _fail(
        self, record: dict[str, Any], result: str, message: str, status: int, **fields: Any
    ) -> OverrideError:
        try:
            self.audit.finish(record, result=result, error=message, **fields)
        except Exception:  # the AWS outcome is what the caller must hear about
            log.exception("could not write audit record %s", record["id"])
        return OverrideError(message, status, record)
