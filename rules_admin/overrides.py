"""Rule overrides: switch a rule (or a rule group, or one rule inside a group) to COUNT,
revert it exactly, revert it automatically when its TTL passes — every attempt audited.

Every path (API, CLI, triage page, detector) comes here, so the guardrails live here
(:mod:`rules_admin.guardrails`): protected rules, a TTL on every override, the hourly
caps and the detector's cooldown held across processes. A write whose effect is not
confirmed is recorded ``unverified`` and treated as in force (listed, revertible,
expired) until :meth:`OverrideService.reconcile` reads the web ACL and settles it
(:mod:`rules_admin.reconcile`); :meth:`OverrideService.maintain` (reconcile, then expire)
is what the TTL loop, the detector and ``wafsiem rules expire`` run.

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

from rules_admin.audit import IN_FORCE, STALE_CLAIM, TARGET_FIELDS, AuditLog, iso, now_utc
from rules_admin.guardrails import (
    GuardrailRefusal,
    Limits,
    OverrideBudget,
    check_protected,
    checked_ttl,
)
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
from rules_admin.webacl_model import UnsupportedWebAcl, check_carriable
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
# stages of an override whose UpdateWebACL may have been sent
IN_FLIGHT = ("writing", "written", "verified")


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
        self.budget = OverrideBudget(
            opensearch,
            settings.opensearch.state_index,
            Limits.from_settings(settings),
            scope=settings.opensearch.audit_index,
        )
        self.sleep = sleep
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
        force: bool = False,
        admin: bool = False,
        automatic: bool = False,
    ) -> dict[str, Any]:
        """Switch the target to COUNT; returns the audit record (result applied,
        unverified, dry_run or unchanged). Raises :class:`OverrideError` (audited) when
        refused or failed. ``force`` passes the protected list and the hourly cap, for
        an ``admin`` only; ``automatic`` (the detector) adds its cap and cooldown."""
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
                "forced": bool(force and admin),
                "automatic": automatic,
                "evidence": evidence or {},
            }
        )
        try:
            return self._override(record, rule, sub_rule or None, force=force, admin=admin)
        except OverrideError:
            raise
        except Exception as exc:
            if record.get("stage") not in IN_FLIGHT:
                raise self._refusal_or_failure(record, exc) from exc
            # the write may have been made: in force until reconcile reads it back
            log.exception("override %s: outcome unknown after the write", record["id"])
            message = f"{type(exc).__name__}: {exc}"
            try:
                return self.audit.finish(
                    record, result="unverified", state="active", status=message
                )
            except Exception:  # the stored intent (stage writing) is reconcile's to settle
                log.exception("could not record override %s as unverified", record["id"])
            raise OverrideError(
                f"the write's outcome is unknown ({message}); `wafsiem rules reconcile` "
                "settles it from the stored intent",
                502,
                record,
            ) from exc

    def _refusal_or_failure(self, record: dict[str, Any], exc: Exception) -> OverrideError:
        """The audited error of an override refused or failed before anything was sent."""
        if isinstance(exc, GuardrailRefusal):
            return self._fail(record, "refused", exc.message, exc.status, guardrail=exc.guardrail)
        if isinstance(exc, WafsiemError):
            result = "refused" if exc.status in (404, 422) else "failed"
            return self._fail(record, result, exc.message, exc.status)
        if isinstance(exc, WebAclError):
            return self._fail(record, "refused", str(exc), 422)
        log.exception("override %s failed", record["id"])
        return self._fail(record, "failed", f"{type(exc).__name__}: {exc}", 502)

    def _override(
        self, record: dict[str, Any], rule: str, sub_rule: str | None, *, force: bool, admin: bool
    ) -> dict[str, Any]:
        if record["action"] not in ACTIONS:
            raise WafsiemError(
                f"action {record['action']!r} is not supported (only COUNT)", status=422
            )
        if not record["reason"].strip():
            raise WafsiemError("a reason is required", status=422)
        record["ttl_minutes"] = checked_ttl(self.settings, record["ttl_minutes"])
        ref = parse_webacl_arn(record["webacl"])
        record.update(self._ref_fields(ref))
        forced_past = check_protected(self.settings, rule, sub_rule, force=force, admin=admin)
        if forced_past:
            record["protected_by"] = forced_past
        client = self.client(ref.region)
        response = get_webacl(client, ref)
        check_carriable(response)
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
        if record["dry_run"]:
            return self.audit.finish(
                record,
                result="dry_run",
                after=first.after,
                lock_token=response["LockToken"],
                diff=diff(first.before, first.after, target_label(rule, sub_rule)),
            )
        now = now_utc()
        grant = self.budget.take(
            now,
            f"{ref.arn}#{target_label(rule, sub_rule)}",
            record["actor"],
            automatic=record["automatic"],
            force=record["forced"],
        )
        # the intent, durable before anything is sent: reconcile can settle it even if
        # this process dies during the write
        try:
            self.audit.finish(
                record,
                stage="writing",
                after=first.after,
                grant=grant,
                expires_at=iso(now + timedelta(minutes=record["ttl_minutes"])),
            )
        except Exception:
            record["stage"] = "not_sent"
            self.budget.release(grant)
            raise
        try:
            outcome = self.writer.write(
                client, ref, response, lambda acl: apply_override(acl, rule, sub_rule)
            )
        except Exception:
            record["stage"] = "not_sent"  # the writer raises only when nothing was applied
            self.budget.release(grant)
            raise
        fields = self._outcome_fields(outcome)
        if not outcome.written:
            self.budget.release(grant)
            return self.audit.finish(
                record, result="unchanged", **fields, status=outcome.change.reason
            )
        expected = slot_of(outcome.change.after, outcome.change.located.shape, sub_rule)
        problem = self._verify(client, ref, rule, sub_rule, expected)
        if problem:  # in force until reconcile reads it back
            return self.audit.finish(
                record,
                result="unverified",
                state="active",
                stage="written",
                status="; ".join(filter(None, (outcome.uncertain, problem))),
                **fields,
            )
        if outcome.uncertain:  # e.g. a timeout, and the read-back shows it applied
            fields["status"] = f"{outcome.uncertain}; the read-back shows it applied"
        return self.audit.finish(
            record, result="applied", state="active", stage="verified", **fields
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
        try:
            return self._claimed_revert(record, *found, actor=actor, expired=expired)
        except OverrideError:
            raise
        except Exception as exc:  # e.g. OpenSearch failing mid-way: never left pending
            log.exception("revert %s failed", record["id"])
            raise self._fail(record, "failed", f"{type(exc).__name__}: {exc}", 502) from exc

    def _claimed_revert(
        self,
        record: dict[str, Any],
        original: dict[str, Any],
        seq_no: int,
        term: int,
        *,
        actor: str,
        expired: bool,
    ) -> dict[str, Any]:
        override_id = original["id"]
        record.update({k: original.get(k) for k in TARGET_FIELDS})
        if original.get("result") not in IN_FORCE:
            raise self._fail(
                record,
                "refused",
                f"override {override_id} was never applied (result {original.get('result')})"
                + (
                    "; its write was interrupted: `wafsiem rules reconcile` settles it first"
                    if original.get("result") == "pending" and original.get("after")
                    else ""
                ),
                409,
            )
        state = original.get("state") or ("active" if original.get("after") else None)
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
        except UnsupportedWebAcl as exc:  # nothing sent; revert / TTL retry once fixed
            self.audit.finish(original, state="active", revert_error=str(exc))
            raise self._fail(record, "refused", str(exc), 422) from exc
        except WebAclError as exc:  # SlotChanged, or the rule is gone: a human must look
            self.audit.finish(original, state="conflict", revert_error=str(exc))
            raise self._fail(record, "refused", str(exc), 409) from exc
        except Exception as exc:
            self.audit.finish(original, state="active")
            if isinstance(exc, WafsiemError):
                raise self._fail(record, "failed", exc.message, exc.status) from exc
            log.exception("revert %s failed", record["id"])
            raise self._fail(record, "failed", f"{type(exc).__name__}: {exc}", 502) from exc
        if done["result"] == "unverified":  # in force until reconcile reads it back
            self.audit.finish(original, state="active", revert_pending=done["id"])
            return done
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
        check_carriable(response)

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
            status = "; ".join(filter(None, (outcome.uncertain, problem)))
            return self.audit.finish(record, result="unverified", status=status, **fields)
        return self.audit.finish(record, result="reverted", **fields)

    def revert_expired(self, now: datetime) -> list[dict[str, Any]]:
        """Revert every override in force whose ``expires_at`` is at or before ``now``
        (applied or unverified: a rule possibly left in COUNT expires all the same)."""
        due = self.audit.search(
            filters={"kind": "override", "result": IN_FORCE, "state": ["active", "reverting"]},
            expires_before=now,
            limit=500,
        )
        stale = iso(now - STALE_CLAIM)  # a revert whose process died: take it over
        due = [d for d in due if d.get("state") == "active" or d.get("updated", "") < stale]
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
            except Exception as exc:  # one broken record does not stop the round
                log.exception("TTL revert of %s failed", doc["id"])
                error = f"{type(exc).__name__}: {exc}"
                outcomes.append({"override_id": doc["id"], "result": "error", "error": error})
        return outcomes

    def reconcile(self, now: datetime) -> list[dict[str, Any]]:
        """Settle every write whose effect is unknown by reading its web ACL again."""
        from rules_admin.reconcile import reconcile

        return reconcile(self, now)

    def maintain(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """Reconcile, then revert what has expired (the TTL loop, the detector and
        ``wafsiem rules expire`` run this). One failing part does not stop the other."""
        out: dict[str, list[dict[str, Any]]] = {"reconciled": [], "expired": []}
        try:
            out["reconciled"] = self.reconcile(now)
        except Exception as exc:  # expiry must still run
            log.exception("reconcile failed")
            out["reconciled"] = [{"result": "error", "error": f"{type(exc).__name__}: {exc}"}]
        out["expired"] = self.revert_expired(now)
        return out

    # -- reading ----------------------------------------------------------------------

    def list_overrides(self, state: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Applied overrides, newest first; ``state`` active | reverting | conflict |
        reverted | expired."""
        filters: dict[str, str | list[str]] = {"kind": "override", "result": IN_FORCE}
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
                "result": IN_FORCE,
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
                        "result",
                    )
                }
                for o in active
            ],
        }

    # -- helpers ----------------------------------------------------------------------

    def _verify(
        self, client: Any, ref: WebAclRef, rule: str, sub_rule: str | None, expected: Any
    ) -> str | None:
        """None when a read-back ACL holds ``expected`` in the slot, else the problem
        (read ``rules.verify_attempts`` times: GetWebACL is eventually consistent)."""
        cfg = self.settings.rules
        problem = None
        for attempt in range(cfg.verify_attempts):
            if attempt:
                self.sleep(cfg.verify_interval_seconds)
            try:
                acl = get_webacl(client, ref)["WebACL"]
                found = locate(acl, rule, sub_rule).slot
            except (WebAclError, WafsiemError) as exc:
                problem = f"verify: {exc}"
                continue
            if found == expected:
                return None
            label = target_label(rule, sub_rule)
            problem = f"verify: {label} reads back {found!r}, expected {expected!r}"
        return problem

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
