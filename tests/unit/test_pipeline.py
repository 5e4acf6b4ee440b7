"""The bulk pipeline against a scripted client: shared bodies, in-order acknowledgement."""

from __future__ import annotations

import threading
from typing import Any

import orjson
import pytest

from ingest.bulk import BulkIndexer, BulkItem, BulkRejected, BulkUnavailable
from ingest.models import StreamReport
from ingest.pipeline import BulkPipeline, StreamTicket


class Client:
    def __init__(self, refuse: set[str] = frozenset(), dup: set[str] = frozenset(),  # type: ignore[assignment]
                 down: bool = False) -> None:  # fmt: skip
        self.refuse, self.dup, self.down = refuse, dup, down
        self.bodies: list[list[str]] = []
        self.lock = threading.Lock()

    def bulk(self, body: bytes, params: Any = None) -> dict[str, Any]:
        if self.down:
            from opensearchpy.exceptions import ConnectionError as OSConnectionError

            raise OSConnectionError("N/A", "refused", None)
        lines = body.splitlines()
        items = []
        ids = []
        for action_line in lines[::2]:
            op, meta = next(iter(orjson.loads(action_line).items()))
            ids.append(meta["_id"])
            if meta["_id"] in self.refuse:
                info = {"status": 400, "error": {"type": "mapper_parsing_exception"}}
            elif meta["_id"] in self.dup:
                info = {"status": 409}
            else:
                info = {"status": 201}
            items.append({op: info})
        with self.lock:
            self.bodies.append(ids)
        return {"items": items}


def _deadletter(ticket: StreamTicket, refused: BulkRejected) -> BulkItem:
    return BulkItem("dead", f"dl-{refused.item.id}", b"{}", op="index")


def _pipeline(client: Client, max_bytes: int = 10_000) -> BulkPipeline:
    indexer = BulkIndexer(client, max_bytes=max_bytes, concurrency=2, max_attempts=2,  # type: ignore[arg-type]
                          sleep=lambda _s: None)  # fmt: skip
    pipeline = BulkPipeline(indexer)
    pipeline.refused_handler = _deadletter
    return pipeline


def _feed(pipeline: BulkPipeline, name: str, n: int) -> StreamTicket:
    ticket = pipeline.open(StreamReport(origin=name, kind="file"))
    for i in range(n):
        pipeline.add(ticket, BulkItem("idx", f"{name}-{i}", b'{"x": 1}'))
    ticket.report.records_in = n
    pipeline.close(ticket)
    return ticket


def test_small_streams_share_bodies_and_finish_in_order() -> None:
    client = Client(dup={"b-1"})
    pipeline = _pipeline(client, max_bytes=5_000)
    finished: list[str] = []
    for name, n in (("a", 30), ("b", 3), ("c", 50), ("d", 1)):
        _feed(pipeline, name, n)
        finished += [t.report.origin for t in pipeline.finished()]
    finished += [t.report.origin for t in pipeline.drain()]
    pipeline.shutdown()
    assert finished == ["a", "b", "c", "d"]
    # bodies mix streams: fewer requests than streams would need alone
    assert any({i.split("-")[0] for i in body} >= {"a", "b"} for body in client.bodies)


def test_accounting_per_stream_with_refusals_and_duplicates() -> None:
    client = Client(refuse={"a-2", "b-0"}, dup={"a-3"})
    pipeline = _pipeline(client)
    tickets = [_feed(pipeline, "a", 5), _feed(pipeline, "b", 2)]
    done = list(pipeline.drain())
    pipeline.shutdown()
    assert [t.report.origin for t in done] == ["a", "b"]
    a, b = (t.report for t in tickets)
    assert (a.indexed, a.duplicates, a.dead_lettered) == (3, 1, 1)
    assert (b.indexed, b.duplicates, b.dead_lettered) == (1, 0, 1)
    assert a.rejected_by_reason == {"opensearch_rejected": 1}
    assert all(r.balanced for r in (a, b))
    assert any("dl-a-2" in body for body in client.bodies)


def test_nothing_is_reported_finished_when_opensearch_is_down() -> None:
    pipeline = _pipeline(Client(down=True))
    _feed(pipeline, "a", 3)
    with pytest.raises(BulkUnavailable):
        list(pipeline.drain())
    pipeline.shutdown()


def test_an_open_stream_is_never_reported() -> None:
    pipeline = _pipeline(Client())
    ticket = pipeline.open(StreamReport(origin="open", kind="file"))
    pipeline.add(ticket, BulkItem("idx", "x", b"{}"))
    pipeline._send()
    pipeline._collect(block=True)
    assert ticket.pending == 0 and not ticket.closed
    assert list(pipeline.finished()) == []  # all its items are in, but it is still open
    pipeline.close(ticket)
    assert [t.report.origin for t in pipeline.drain()] == ["open"]
    pipeline.shutdown()
