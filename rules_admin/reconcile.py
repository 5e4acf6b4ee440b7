"""Reconcile: settle every override or revert whose effect on the web ACL is unknown.

An UpdateWebACL can be sent and still leave us unsure what it did: the read-back was
stale, the call timed out after AWS applied it, or the process died between sending it
and recording the answer. Those records are in force (an override that may hold a rule
in COUNT can be reverted and expires by its TTL), and reconcile reads each one's web
ACL again and says what happened:

* an override ``unverified``, ``pending`` with its intent recorded (``stage: writing``),
  or ``verify_failed`` (older wafsiem): the slot holds what it wrote → ``applied``
  (state active, its TTL running); still the previous value → ``not_applied`` (only once
  ``rules.settle_after_seconds`` have passed: GetWebACL is eventually consistent);
  anything else → state ``conflict`` (someone changed it: a person must look);
* a ``pending`` override with no intent, older than the settle time: nothing was sent
  (the intent is written first) → ``failed``;
* an override whose revert is unverified (``revert_pending``): the previous value is
  back → ``reverted`` / ``expired``; still COUNT → active again (revert or TTL retries).

Every update is a compare-and-set on the record, so a concurrent revert or a second
reconcile never has its write undone. Runs on every ``wafsiem serve`` start, in its TTL
loop, in the detector, and as ``wafsiem rules reconcile``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from rules_admin.audit import IN_FORCE, STALE_CLAIM, iso, parse_iso
from rules_admin.webacl import WebAclError, locate, parse_webacl_arn, settle, slot_of
from rules_admin.writer import get_webacl
from wafsiem.errors import WafsiemError

if TYPE_CHECKING:
    from rules_admin.overrides import OverrideService

log = logging.getLogger(__name__)

UNSETTLED = ["pending", "unverified", "verify_failed"]
# a record in one of these states is past reconcile: reverted, expired, being reverted
# (a stale claim is the TTL's to take over), or left for a person (conflict)
SETTLED_STATES = ["reverting", "reverted", "expired", "conflict"]
LIMIT = 500


def _moment(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def reconcile(service: OverrideService, now: datetime) -> list[dict[str, Any]]:
    """One pass; returns an outcome per record looked at (``settled`` says how)."""
    audit = service.audit
    settle_after = timedelta(seconds=service.settings.rules.settle_after_seconds)
    docs = audit.search(
        filters={"kind": "override", "result": UNSETTLED},
        exclude={"state": SETTLED_STATES},
        limit=LIMIT,
    )
    active = audit.search(filters={"kind": "override", "state": "active"}, limit=LIMIT)
    docs += [d for d in active if d.get("revert_pending") and d not in docs]
    outcomes: list[dict[str, Any]] = _give_a_ttl(service, active, now)
    for doc in docs:
        try:
            outcome = _settle_one(service, doc["id"], now, settle_after)
        except (WafsiemError, WebAclError) as exc:
            message = exc.message if isinstance(exc, WafsiemError) else str(exc)
            log.warning("reconcile of %s: %s", doc["id"], message)
            outcome = {"override_id": doc["id"], "settled": "error", "error": message}
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _give_a_ttl(
    service: OverrideService, active: list[dict[str, Any]], now: datetime
) -> list[dict[str, Any]]:
    """Overrides in force without ``expires_at`` (made before every override had a TTL)
    get the default one from now, so none stays in COUNT for good."""
    outcomes = []
    ttl = timedelta(minutes=service.settings.rules.default_ttl_minutes)
    for doc in active:
        if doc.get("expires_at") or doc.get("result") not in IN_FORCE:
            continue
        found = service.audit.get(doc["id"])
        if found is None:
            continue
        base = {"override_id": doc["id"], "rule": doc.get("rule"), "sub_rule": doc.get("sub_rule")}
        fields = {"expires_at": iso(now + ttl)}
        outcomes.append(_store(service, found[0], found[1], found[2], base, "ttl_given", fields))
    return outcomes


def _settle_one(
    service: OverrideService, record_id: str, now: datetime, settle_after: timedelta
) -> dict[str, Any] | None:
    found = service.audit.get(record_id)  # fresh, with its sequence number
    if found is None:
        return None
    doc, seq_no, term = found
    if doc.get("state") in SETTLED_STATES:
        return None  # reverted, being reverted or left for a person meanwhile
    if doc.get("result") == "pending":  # a write that may still be running elsewhere
        settle_after = max(settle_after, STALE_CLAIM)
    age = now - (_moment(doc.get("updated")) or now)
    base = {"override_id": record_id, "rule": doc.get("rule"), "sub_rule": doc.get("sub_rule")}
    if doc.get("result") == "pending" and not doc.get("after"):
        if age < settle_after:
            return None  # an attempt still running
        abandoned = {"result": "failed", "error": "abandoned before UpdateWebACL was sent"}
        return _store(service, doc, seq_no, term, base, "never_sent", abandoned)
    ref = parse_webacl_arn(doc["webacl"])
    acl = get_webacl(service.client(ref.region), ref)["WebACL"]
    rule, sub_rule = doc["rule"], doc.get("sub_rule")
    if doc.get("revert_pending"):
        return _settle_revert(service, doc, seq_no, term, base, acl, now, settle_after)
    if doc.get("result") == "applied":
        return None  # settled meanwhile
    verdict = settle(acl, rule, sub_rule, doc["before"], doc["after"], doc["shape"])
    if verdict == "applied":
        fields: dict[str, Any] = {
            "result": "applied",
            "state": "active",
            "stage": "verified",
            "verified_at": iso(now),
        }
        if not doc.get("expires_at"):  # an older record: give it the default TTL
            ttl = doc.get("ttl_minutes") or service.settings.rules.default_ttl_minutes
            fields["expires_at"] = iso(now + timedelta(minutes=ttl))
        return _store(service, doc, seq_no, term, base, "applied", fields)
    if verdict == "not_applied":
        if age < settle_after:
            return {**base, "settled": "waiting", "seconds": round(age.total_seconds(), 1)}
        unapplied: dict[str, Any] = {"result": "not_applied", "state": None, "stage": "settled"}
        outcome = _store(service, doc, seq_no, term, base, "not_applied", unapplied)
        if outcome["settled"] == "not_applied" and doc.get("grant"):
            service.budget.release(doc["grant"])  # it never counted against the cap
        return outcome
    now_slot = _slot_text(acl, rule, sub_rule)
    changed: dict[str, Any] = {
        # listed and revertible by a person who has looked (it may hold the rule)
        "result": "unverified" if doc.get("result") == "pending" else doc.get("result"),
        "state": "conflict",
        "revert_error": f"changed by someone else since the write: the slot now holds {now_slot}",
    }
    return _store(service, doc, seq_no, term, base, "changed", changed)


def _settle_revert(
    service: OverrideService,
    doc: dict[str, Any],
    seq_no: int,
    term: int,
    base: dict[str, Any],
    acl: dict[str, Any],
    now: datetime,
    settle_after: timedelta,
) -> dict[str, Any] | None:
    rule, sub_rule = doc["rule"], doc.get("sub_rule")
    verdict = settle(acl, rule, sub_rule, doc["after"], doc["before"], doc["shape"])
    revert_id = doc["revert_pending"]
    revert = service.audit.get(revert_id)
    if verdict == "applied":  # the previous value is back: the revert took effect
        expired = revert is not None and revert[0].get("actor") == "ttl"
        fields: dict[str, Any] = {
            "state": "expired" if expired else "reverted",
            "revert_pending": None,
            "revert_id": revert_id,
            "reverted_at": revert[0].get("updated") if revert else None,
        }
        if revert is not None:
            service.audit.finish(revert[0], result="reverted", stage="verified")
        return _store(service, doc, seq_no, term, base, "reverted", fields)
    if verdict == "not_applied":  # still what the override wrote
        sent = _moment(revert[0].get("updated")) if revert else None
        age = now - (sent or now)
        if revert is not None and age < settle_after:  # GetWebACL may lag: not yet
            return {**base, "settled": "waiting", "seconds": round(age.total_seconds(), 1)}
        if revert is not None:
            service.audit.finish(revert[0], result="not_applied", stage="settled")
        fields = {"revert_pending": None}  # in force again: revert or the TTL retries
        return _store(service, doc, seq_no, term, base, "revert_not_applied", fields)
    if revert is not None:
        service.audit.finish(revert[0], result="failed", error="the rule changed meanwhile")
    fields = {"state": "conflict", "revert_pending": None}
    return _store(service, doc, seq_no, term, base, "changed", fields)


def _slot_text(acl: dict[str, Any], rule: str, sub_rule: str | None) -> str:
    try:
        located = locate(acl, rule, sub_rule)
    except WebAclError as exc:
        return f"nothing ({exc})"
    return repr(slot_of(located.rule, located.shape, sub_rule))


def _store(
    service: OverrideService,
    doc: dict[str, Any],
    seq_no: int,
    term: int,
    base: dict[str, Any],
    settled: str,
    fields: dict[str, Any],
) -> dict[str, Any]:
    fields = {**fields, "settled": settled}
    if not service.audit.compare_and_set(doc, seq_no, term, **fields):
        return {**base, "settled": "raced", "detail": "the record changed meanwhile; next pass"}
    log.info("reconcile: override %s %s", doc["id"], settled)
    return {**base, "settled": settled}
