"""Replay dead letters after a parser (or mapping) fix: ``wafsiem ingest replay-deadletters``.

Each dead letter's raw bytes are parsed again with today's parser and the documents are
bulk-indexed with the ``create`` op and their deterministic ``event.id``, exactly as
ingest does. A dead letter leaves the dead-letter index only once OpenSearch has
acknowledged every one of its documents (written, or already there: a duplicate); only
then is it deleted. A record that fails again stays, with its new reason and the
attempt count under ``replay``. A crash between the index and the delete therefore leaves
the dead letter in place, and the next run finds its documents as duplicates and deletes
it: nothing is lost, nothing is written twice.

Some dead letters cannot be replayed exactly and stay where they are, counted as
``not_replayable``: those whose stored raw bytes are not the original bytes — sensitive
headers redacted (``raw.redacted``), a bounded prefix of an oversized record
(``raw.truncated``), or bytes whose length / SHA-256 differ from the recorded ones.

Accounting, as ingest: ``read == indexed + duplicates + still_dead`` where
``still_dead`` = failed again + not replayable.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from opensearchpy import OpenSearch
from pydantic import BaseModel, Field

from ingest.bulk import BulkIndexer, BulkItem, BulkOutcome, batches
from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from ingest.parser.models import day_suffix
from ingest.service import IngestTarget
from wafsiem.errors import WafsiemError

NOT_REPLAYABLE = "not_replayable"
PAGE_SIZE = 100  # dead letters per scroll page: each may carry up to ~1 MiB of raw bytes
SCROLL_KEEP_ALIVE = "5m"

REPLAY_MAPPING: dict[str, Any] = {
    "properties": {
        "attempts": {"type": "integer"},
        "last_at": {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
        "first_reason": {"type": "keyword"},
    }
}


class ReplayFilter(BaseModel):
    """Which dead letters: by current ``reason`` and by when they were dead-lettered."""

    reason: str | None = None
    start: datetime | None = Field(default=None, description="@timestamp >= start")
    end: datetime | None = Field(default=None, description="@timestamp < end")

    def query(self) -> dict[str, Any]:
        clauses: list[dict[str, Any]] = []
        if self.reason:
            clauses.append({"term": {"reason": self.reason}})
        bounds: dict[str, str] = {}
        if self.start is not None:
            bounds["gte"] = self.start.astimezone(UTC).isoformat()
        if self.end is not None:
            bounds["lt"] = self.end.astimezone(UTC).isoformat()
        if bounds:
            clauses.append({"range": {"@timestamp": bounds}})
        return {"bool": {"filter": clauses}} if clauses else {"match_all": {}}


class ReplayReport(BaseModel):
    """Every dead letter read is indexed, a duplicate, or still dead."""

    read: int = 0
    indexed: int = Field(default=0, description="dead letters now indexed (and deleted)")
    duplicates: int = Field(default=0, description="already indexed (and now deleted)")
    still_dead: int = Field(default=0, description="failed again or not replayable: kept")
    not_replayable: int = Field(default=0, description="raw bytes redacted or truncated")
    failed_by_reason: dict[str, int] = Field(default_factory=dict)
    documents_indexed: int = 0
    documents_duplicate: int = 0
    deleted: int = 0
    seconds: float = 0.0

    @property
    def balanced(self) -> bool:
        return self.read == self.indexed + self.duplicates + self.still_dead


@dataclass
class _Plan:
    """One dead letter and what replaying it produced."""

    hit: dict[str, Any]
    items: list[BulkItem] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    failure: tuple[str, str] | None = None  # (reason, detail) when it fails again
    not_replayable: str | None = None  # why the raw bytes are not the original

    @property
    def source(self) -> dict[str, Any]:
        return self.hit.get("_source") or {}


def _decode_raw(source: dict[str, Any]) -> tuple[bytes | None, str | None]:
    """The stored raw bytes, or why they are not the record's original bytes."""
    raw = source.get("raw") or {}
    for flag in ("redacted", "truncated"):
        if raw.get(flag) or source.get(flag):
            return None, f"raw bytes were {flag} when dead-lettered"
    try:
        data = base64.b64decode(raw.get("base64") or "", validate=True)
    except (binascii.Error, ValueError):
        return None, "raw bytes are not valid base64"
    for name in ("bytes", "original_bytes"):  # these always describe the record received
        size = raw.get(name)
        if size is not None and int(size) != len(data):
            return None, f"raw bytes hold {len(data)} of the record's {size} bytes"
    digest = hashlib.sha256(data).hexdigest()
    for name in ("sha256", "original_sha256"):
        if raw.get(name) and raw[name] != digest:
            return None, "raw bytes differ from the original (SHA-256 mismatch)"
    return data, None


def _timestamp_ms(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _rejected_document(
    plan: _Plan, data: bytes, options: ParserOptions, target: IngestTarget
) -> bool:
    """An ``opensearch_rejected`` dead letter holds the document OpenSearch refused, not
    the WAF record: re-parse its ``event.original`` when that is the exact record (its
    SHA-256 is the ``event.id``), else offer the stored document again as it is."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("event"), dict):
        return False
    event_id = doc["event"].get("id") or (plan.source.get("event") or {}).get("id")
    if not event_id or "@timestamp" not in doc:
        return False
    original = doc["event"].get("original")
    if isinstance(original, str):
        exact = original.encode("utf-8")
        if hashlib.sha256(exact).hexdigest()[:32] == event_id:
            _parse_into(plan, exact, options, target)
            return True
    try:
        index = f"{target.index_prefix}-{day_suffix(_timestamp_ms(doc['@timestamp']))}"
    except (ValueError, OverflowError, OSError):
        return False
    plan.items.append(BulkItem(index, str(event_id), data))
    return True


def _parse_into(plan: _Plan, data: bytes, options: ParserOptions, target: IngestTarget) -> None:
    origin = str((plan.source.get("origin") or {}).get("name") or "deadletter")
    for result in parse_stream(data, origin=origin, options=options):
        if isinstance(result, ParsedDocument):
            plan.items.append(
                BulkItem(result.index_name(target.index_prefix), result.id, result.source_bytes())
            )
        elif plan.failure is None:
            plan.failure = (result.reason, result.detail)
    if not plan.items and plan.failure is None:
        plan.failure = ("no_record", "the raw bytes hold no record")


def plan_replay(hit: dict[str, Any], options: ParserOptions, target: IngestTarget) -> _Plan:
    """Parse one dead letter again: the documents to index, or why it stays."""
    plan = _Plan(hit)
    data, why = _decode_raw(plan.source)
    if data is None:
        plan.not_replayable = why
        return plan
    if plan.source.get("reason") == "opensearch_rejected" and _rejected_document(
        plan, data, options, target
    ):
        return plan
    _parse_into(plan, data, options, target)
    return plan


def _index(plans: list[_Plan], indexer: BulkIndexer, outcome: BulkOutcome) -> None:
    """Index every document of the page; statuses land on their plans (acknowledged)."""
    owners: list[tuple[_Plan, BulkItem]] = [(p, i) for p in plans for i in p.items]
    by_item = {id(item): plan for plan, item in owners}
    for batch in batches((item for _, item in owners), indexer.max_bytes):
        for item, status in zip(batch, indexer.send_batch(batch, outcome), strict=True):
            by_item[id(item)].statuses.append(status)


def _settle(plan: _Plan, report: ReplayReport) -> str:
    """``indexed``, ``duplicate`` or ``dead`` — and the report counts it."""
    report.read += 1
    if plan.not_replayable is not None:
        report.not_replayable += 1
        report.still_dead += 1
        return "dead"
    refused = [(s, r) for s, r in plan.statuses if s not in (200, 201, 409)]
    written = sum(1 for s, _ in plan.statuses if s in (200, 201))
    report.documents_indexed += written
    report.documents_duplicate += sum(1 for s, _ in plan.statuses if s == 409)
    if refused and plan.failure is None:
        status, reason = refused[0]
        plan.failure = ("opensearch_rejected", f"HTTP {status}: {reason}")
    if plan.failure is not None:
        report.still_dead += 1
        name = plan.failure[0]
        report.failed_by_reason[name] = report.failed_by_reason.get(name, 0) + 1
        return "dead"
    if written:
        report.indexed += 1
        return "indexed"
    report.duplicates += 1
    return "duplicate"


def _still_dead_update(plan: _Plan, now: datetime) -> dict[str, Any]:
    source = plan.source
    previous = source.get("replay") or {}
    first = previous.get("first_reason") or source.get("reason")
    if plan.not_replayable is not None:
        reason, detail = NOT_REPLAYABLE, f"{plan.not_replayable}; first reason: {first}"
    else:
        reason, detail = plan.failure or ("unknown", "")
    return {
        "reason": reason,
        "detail": detail[:8000],
        "replay": {
            "attempts": int(previous.get("attempts") or 0) + 1,
            "last_at": now.isoformat(timespec="milliseconds"),
            "first_reason": first,
        },
    }


def _update_deadletters(client: OpenSearch, done: list[tuple[_Plan, str]], now: datetime) -> int:
    """Delete the resolved dead letters, update those still dead; returns deletions."""
    lines: list[bytes] = []
    for plan, outcome in done:
        meta = {"_index": plan.hit["_index"], "_id": plan.hit["_id"]}
        if outcome == "dead":
            lines.append(orjson.dumps({"update": meta}))
            lines.append(orjson.dumps({"doc": _still_dead_update(plan, now)}))
        else:
            lines.append(orjson.dumps({"delete": meta}))
    if not lines:
        return 0
    response = client.bulk(body=b"\n".join(lines) + b"\n")
    deleted = 0
    problems: list[str] = []
    for item in response.get("items", []):
        op, info = next(iter(item.items()))
        status = int(info.get("status", 0))
        if op == "delete" and status in (200, 404):
            deleted += status == 200
        elif op == "update" and status < 300:
            continue
        else:
            problems.append(f"{op} {info.get('_id')}: HTTP {status} {info.get('error')}")
    if problems:  # the records are safe (indexed, or still dead-lettered); say so
        raise WafsiemError(
            f"{len(problems)} dead-letter updates failed: {problems[0]}",
            hint="run replay-deadletters again: indexed records are found as duplicates",
        )
    return deleted


def ensure_replay_mapping(client: OpenSearch, deadletter_index: str) -> bool:
    """Add the ``replay`` fields to an existing dead-letter index (strict mapping);
    False when the index does not exist (nothing to replay)."""
    if not client.indices.exists(index=deadletter_index):
        return False
    client.indices.put_mapping(
        index=deadletter_index, body={"properties": {"replay": REPLAY_MAPPING}}
    )
    return True


def replay_deadletters(
    client: OpenSearch,
    *,
    indexer: BulkIndexer,
    options: ParserOptions,
    target: IngestTarget,
    selection: ReplayFilter | None = None,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[ReplayReport, int], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> ReplayReport:
    """Replay the selected dead letters page by page (a scroll: a stable snapshot while
    the index changes under it). ``on_page(report, total)`` after each page."""
    report = ReplayReport()
    started = time.monotonic()
    selection = selection or ReplayFilter()
    if not ensure_replay_mapping(client, target.deadletter_index):
        return report
    client.indices.refresh(index=target.deadletter_index)
    response = client.search(
        index=target.deadletter_index,
        body={
            "query": selection.query(),
            "sort": ["_doc"],
            "size": page_size,
            "track_total_hits": True,
        },
        params={"scroll": SCROLL_KEEP_ALIVE},
    )
    scroll_id = response.get("_scroll_id")
    total = int(response["hits"]["total"]["value"])
    outcome = BulkOutcome()
    try:
        while hits := response["hits"]["hits"]:
            plans = [plan_replay(hit, options, target) for hit in hits]
            _index(plans, indexer, outcome)  # acknowledged before any delete below
            done = [(plan, _settle(plan, report)) for plan in plans]
            report.deleted += _update_deadletters(client, done, now())
            if on_page is not None:
                on_page(report, total)
            response = client.scroll(
                body={"scroll_id": scroll_id}, params={"scroll": SCROLL_KEEP_ALIVE}
            )
            scroll_id = response.get("_scroll_id", scroll_id)
    finally:
        if scroll_id:
            client.clear_scroll(body={"scroll_id": scroll_id}, ignore=[404])
    report.seconds = time.monotonic() - started
    return report
