"""BulkIndexer logic against a scripted client: only failed items are retried."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from ingest.bulk import BulkIndexer, BulkItem, BulkUnavailable, batches


class ScriptedClient:
    """Answers each bulk request item by item from ``statuses[id]`` (a list consumed per try)."""

    def __init__(self, statuses: dict[str, list[int]], failures: list[Exception] = ()) -> None:  # type: ignore[assignment]
        self.statuses = statuses
        self.failures = list(failures)
        self.sent: list[list[str]] = []
        self.lock = threading.Lock()

    def bulk(self, body: bytes, params: Any = None) -> dict[str, Any]:
        with self.lock:
            if self.failures:
                raise self.failures.pop(0)
            lines = body.splitlines()
            ids = [orjson.loads(a)["create"]["_id"] for a in lines[::2]]
            self.sent.append(ids)
            items = []
            for doc_id in ids:
                script = self.statuses.get(doc_id, [201])
                status = script.pop(0) if len(script) > 1 else script[0]
                info: dict[str, Any] = {"_id": doc_id, "status": status}
                if status >= 400 and status != 409:
                    info["error"] = {"type": "mapper_parsing_exception", "reason": "bad field"}
                items.append({"create": info})
            return {"errors": True, "items": items}


def _items(n: int) -> list[BulkItem]:
    return [BulkItem("idx", f"id{i}", b'{"a":1}') for i in range(n)]


def test_only_failed_items_are_retried() -> None:
    client = ScriptedClient({"id1": [429, 201], "id3": [503, 503, 201], "id4": [409]})
    indexer = BulkIndexer(client, concurrency=1, sleep=lambda _s: None)  # type: ignore[arg-type]
    outcome = indexer.index(_items(5))
    assert (outcome.indexed, outcome.duplicates, outcome.rejected) == (4, 1, [])
    assert client.sent == [["id0", "id1", "id2", "id3", "id4"], ["id1", "id3"], ["id3"]]
    assert outcome.retried_items == 3


def test_refused_items_are_returned_not_retried() -> None:
    client = ScriptedClient({"id2": [400]})
    outcome = BulkIndexer(client, concurrency=1).index(_items(3))  # type: ignore[arg-type]
    assert outcome.indexed == 2
    assert [(r.item.id, r.status) for r in outcome.rejected] == [("id2", 400)]
    assert "mapper_parsing_exception" in outcome.rejected[0].reason
    assert len(client.sent) == 1


def test_whole_request_failures_are_retried_then_give_up() -> None:
    flaky = ScriptedClient(
        {}, [OSConnectionError("N/A", "refused", None), TransportError(502, "bad gateway")]
    )
    outcome = BulkIndexer(flaky, concurrency=1, sleep=lambda _s: None).index(_items(2))  # type: ignore[arg-type]
    assert outcome.indexed == 2

    down = ScriptedClient({}, [OSConnectionError("N/A", "refused", None)] * 3)
    indexer = BulkIndexer(down, concurrency=1, max_attempts=3, sleep=lambda _s: None)  # type: ignore[arg-type]
    with pytest.raises(BulkUnavailable, match="did not take 2 documents"):
        indexer.index(_items(2))


def test_a_client_error_on_the_request_is_not_retried() -> None:
    client = ScriptedClient({}, [TransportError(400, "illegal_argument_exception")])
    with pytest.raises(BulkUnavailable, match="refused the bulk request"):
        BulkIndexer(client, concurrency=1).index(_items(1))  # type: ignore[arg-type]


def test_batches_respect_the_byte_budget_and_keep_every_item() -> None:
    items = [BulkItem("i", f"{n}", b"x" * 100) for n in range(100)]
    groups = list(batches(items, max_bytes=1000))
    assert [i.id for g in groups for i in g] == [i.id for i in items]
    assert all(sum(len(i.lines()) for i in g) <= 1000 for g in groups)
    (only,) = batches([BulkItem("i", "big", b"x" * 5000)], max_bytes=1000)
    assert [i.id for i in only] == ["big"]


def test_concurrent_requests_account_for_everything() -> None:
    client = ScriptedClient({f"id{i}": [429, 201] for i in range(0, 400, 9)})
    indexer = BulkIndexer(client, max_bytes=2000, concurrency=3, sleep=lambda _s: None)  # type: ignore[arg-type]
    outcome = indexer.index(_items(400))
    assert outcome.indexed == 400
    assert len(client.sent) > 10
