"""The audit index: one document per override or revert attempt.

A change is never made without its record: :meth:`AuditLog.start` writes a ``pending``
document before any AWS call; before UpdateWebACL is sent the record holds the intended
``before`` / ``after`` and ``expires_at`` (``stage: writing``), so even a process that
dies mid-write leaves what reconcile needs; :meth:`AuditLog.finish` sets the result
(applied, unverified, not_applied, dry_run, unchanged, refused, failed, reverted; older
records may say verify_failed) with the rule before and after, the lock tokens and the
error. ``unverified``: UpdateWebACL was sent but its effect is not confirmed (a stale
read-back, a timeout): it counts as applied — listed, revertible, expired by its TTL —
until reconcile reads the web ACL and settles it. An applied override also carries its
lifecycle ``state`` (active → reverting → reverted | expired; conflict when someone
else changed the rule since, so a revert would undo their edit).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from opensearchpy import ConflictError, NotFoundError, OpenSearch

from wafsiem.state_index import ensure_small_index

Result = Literal[
    "pending",
    "applied",
    "dry_run",
    "unchanged",
    "refused",
    "failed",
    "reverted",
    "unverified",
    "not_applied",
    "verify_failed",
]
# an override in one of these may hold its rule in COUNT: listed, revertible, expired
IN_FORCE = ["applied", "unverified", "verify_failed"]
# a "reverting" claim older than this may be taken over; a pending write this old is over
STALE_CLAIM = timedelta(minutes=10)
State = Literal["active", "reverting", "conflict", "reverted", "expired"]
Kind = Literal["override", "revert"]

# what an override targets: copied onto its revert record
TARGET_FIELDS = (
    "webacl",
    "webacl_name",
    "scope",
    "region",
    "account",
    "rule",
    "sub_rule",
    "shape",
    "action",
)
_KEYWORDS = (
    "id",
    "kind",
    "actor",
    *TARGET_FIELDS,
    "result",
    "state",
    "lock_token",
    "next_lock_token",
    "override_id",
    "revert_id",
    "reverted_by",
    "validation",
    "status",
    "stage",
    "guardrail",
)
AUDIT_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        **{name: {"type": "keyword"} for name in _KEYWORDS},
        "@timestamp": {"type": "date"},
        "updated": {"type": "date"},
        "expires_at": {"type": "date"},
        "reverted_at": {"type": "date"},
        "reason": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 512}}},
        "error": {"type": "text"},
        "revert_error": {"type": "text"},
        "dry_run": {"type": "boolean"},
        "forced": {"type": "boolean"},
        "automatic": {"type": "boolean"},
        "attempts": {"type": "integer"},
        "ttl_minutes": {"type": "integer"},
        # Rule JSON and detector evidence are kept as given, not indexed.
        "before": {"type": "object", "enabled": False},
        "after": {"type": "object", "enabled": False},
        "evidence": {"type": "object", "enabled": False},
        "diff": {"type": "keyword", "index": False, "doc_values": False},
    },
}


def now_utc() -> datetime:
    return datetime.now(UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time as stored by :func:`iso` (``Z`` or an offset)."""
    return datetime.fromisoformat(text)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: audit times are timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ensure_audit_index(client: OpenSearch, index: str) -> bool:
    """Create the audit index with its explicit mapping when missing."""
    return ensure_small_index(client, index, AUDIT_MAPPING)


class AuditLog:
    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client = client
        self.index = index
        self._ensured = False

    def ensure(self) -> None:
        if not self._ensured:
            if not ensure_audit_index(self.client, self.index):
                # an index made by an older wafsiem: add the fields it lacks (additive)
                self.client.indices.put_mapping(
                    index=self.index, body={"properties": AUDIT_MAPPING["properties"]}
                )
            self._ensured = True

    def start(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write a new ``pending`` record (before anything is changed); returns it."""
        self.ensure()
        moment = iso(now_utc())
        doc = {
            "id": uuid.uuid4().hex,
            "@timestamp": moment,
            "updated": moment,
            "result": "pending",
            **record,
        }
        self.client.index(index=self.index, id=doc["id"], body=doc, refresh="true")
        return doc

    def finish(self, doc: dict[str, Any], **fields: Any) -> dict[str, Any]:
        """Set the outcome of an attempt (the whole document is rewritten)."""
        doc.update(fields)
        doc["updated"] = iso(now_utc())
        self.client.index(index=self.index, id=doc["id"], body=doc, refresh="true")
        return doc

    def get(self, record_id: str) -> tuple[dict[str, Any], int, int] | None:
        """The record, its sequence number and primary term; None when unknown."""
        self.ensure()
        try:
            hit = self.client.get(index=self.index, id=record_id)
        except NotFoundError:
            return None
        return hit["_source"], hit["_seq_no"], hit["_primary_term"]

    def compare_and_set(
        self, doc: dict[str, Any], seq_no: int, primary_term: int, **fields: Any
    ) -> bool:
        """Update ``doc`` only if nobody wrote it since it was read (claims a revert)."""
        updated = {**doc, **fields, "updated": iso(now_utc())}
        try:
            self.client.index(
                index=self.index,
                id=doc["id"],
                body=updated,
                params={"if_seq_no": seq_no, "if_primary_term": primary_term},
                refresh="true",
            )
        except ConflictError:
            return False
        doc.update(updated)
        return True

    def search(
        self,
        *,
        filters: dict[str, str | list[str]] | None = None,
        expires_before: datetime | None = None,
        since: datetime | None = None,
        limit: int = 100,
        exclude: dict[str, list[str]] | None = None,
    ) -> list[dict[str, Any]]:
        """Records newest first; ``filters`` are exact keyword matches (term/terms),
        ``exclude`` the values a record must not have."""
        self.ensure()
        clauses: list[dict[str, Any]] = []
        unwanted = [{"terms": {name: values}} for name, values in (exclude or {}).items()]
        for name, value in (filters or {}).items():
            if name not in _KEYWORDS:
                raise ValueError(f"cannot filter the audit index on {name!r}")
            if isinstance(value, list):
                clauses.append({"terms": {name: value}})
            else:
                clauses.append({"term": {name: value}})
        if expires_before is not None:
            clauses.append({"range": {"expires_at": {"lte": iso(expires_before)}}})
        if since is not None:
            clauses.append({"range": {"@timestamp": {"gte": iso(since)}}})
        body = {
            "size": limit,
            "query": {"bool": {"filter": clauses, "must_not": unwanted}},
            "sort": [{"@timestamp": {"order": "desc"}}, {"id": {"order": "desc"}}],
        }
        response = self.client.search(index=self.index, body=body)
        return [hit["_source"] for hit in response["hits"]["hits"]]
