"""Read a whole daily index with a point in time and ``search_after``.

One slice per primary shard (``slice`` + PIT) when the index has several, each slice on
its own thread; within a slice the next page is fetched while the current one is
converted. Pages come sorted by ``@timestamp`` then ``event.id`` (unique), so
``search_after`` never skips or repeats a document.

Pages (tens of MB of JSON each) are decoded with orjson by a private copy of the caller's
client (same hosts, connection options and retries), so other users of the client keep
its default serializer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from opensearchpy import JSONSerializer, OpenSearch

from tiering.models import ManifestFile
from tiering.parquet_io import IdDigest, PartWriter, table_from_sources

PAGE_SIZE = 5000
KEEP_ALIVE = "5m"
SORT = [{"@timestamp": "asc"}, {"event.id": "asc"}]
FILTER_PATH = "pit_id,hits.hits._id,hits.hits._source,hits.hits.sort"

Hit = dict[str, Any]
# called on the slice's thread with (slice id, the page's hits)
PageSink = Callable[[int, list[Hit]], None]


@dataclass
class ExportStats:
    rows: int = 0
    pages: int = 0
    slices: int = 1
    digest: IdDigest = field(default_factory=IdDigest)


class _OrjsonSerializer(JSONSerializer):
    """Decodes responses with orjson (bodies are still encoded by the JSON serializer)."""

    def loads(self, s: str | bytes) -> Any:
        return orjson.loads(s)


def page_client(client: OpenSearch) -> OpenSearch:
    """A client like ``client`` (hosts, connection options, retries) that decodes
    responses with orjson; close it when done."""
    transport = client.transport
    return OpenSearch(
        hosts=transport.hosts,
        connection_class=transport.connection_class,
        serializer=_OrjsonSerializer(),
        max_retries=transport.max_retries,
        retry_on_status=transport.retry_on_status,
        retry_on_timeout=transport.retry_on_timeout,
        pool_maxsize=transport.pool_maxsize,
        **transport.kwargs,
    )


def primary_shards(client: OpenSearch, index: str) -> int:
    found = client.indices.get_settings(index=index, name="index.number_of_shards")
    return int(next(iter(found.values()))["settings"]["index"]["number_of_shards"])


def index_count(client: OpenSearch, index: str) -> int:
    client.indices.refresh(index=index)
    return int(client.count(index=index)["count"])


def _pages(
    client: OpenSearch,
    pit: dict[str, str],
    slice_id: int,
    slices: int,
    page_size: int,
    source: bool,
) -> Iterator[list[Hit]]:
    after: list[Any] | None = None
    while True:
        body: dict[str, Any] = {
            "pit": {"id": pit["id"], "keep_alive": KEEP_ALIVE},
            "size": page_size,
            "sort": SORT,
            "track_total_hits": False,
        }
        if not source:
            body["_source"] = False
        if slices > 1:
            body["slice"] = {"id": slice_id, "max": slices}
        if after is not None:
            body["search_after"] = after
        response = client.search(body=body, filter_path=FILTER_PATH)
        pit["id"] = response.get("pit_id", pit["id"])
        hits: list[Hit] = response.get("hits", {}).get("hits", [])
        if not hits:
            return
        yield hits
        if len(hits) < page_size:
            return
        after = hits[-1]["sort"]


_DONE = object()


def _prefetched(pages: Iterator[list[Hit]], depth: int = 2) -> Iterator[list[Hit]]:
    """Fetch the next pages on a helper thread while the caller works on this one."""
    box: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        box.put(page, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put(_DONE)
        except BaseException as exc:  # handed to the consumer
            box.put(exc)

    thread = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    thread.start()
    try:
        while True:
            item = box.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=30)


def export_index(
    client: OpenSearch,
    index: str,
    sink: PageSink,
    *,
    page_size: int = PAGE_SIZE,
    slices: int | None = None,
    source: bool = True,
    on_page: Callable[[int], None] | None = None,
) -> ExportStats:
    """Feed every document of ``index`` to ``sink`` page by page; returns the count and
    the set digest of the ``_id`` values OpenSearch returned."""
    count = slices or primary_shards(client, index)
    stats = ExportStats(slices=count)
    lock = threading.Lock()
    pages_client = page_client(client)
    try:
        created = client.create_pit(index=index, params={"keep_alive": KEEP_ALIVE})
    except BaseException:
        pages_client.close()
        raise
    pit_id: str = created["pit_id"]

    def run(slice_id: int) -> None:
        pit = {"id": pit_id}
        digest = IdDigest()
        rows = pages = 0
        for hits in _prefetched(_pages(pages_client, pit, slice_id, count, page_size, source)):
            sink(slice_id, hits)
            digest.update(h["_id"] for h in hits)
            rows += len(hits)
            pages += 1
            if on_page is not None:
                on_page(len(hits))
        with lock:
            stats.rows += rows
            stats.pages += pages
            stats.digest.merge(digest)

    try:
        if count == 1:
            run(0)
        else:
            with ThreadPoolExecutor(count, thread_name_prefix="export-slice") as pool:
                for future in [pool.submit(run, n) for n in range(count)]:
                    future.result()
    finally:
        pages_client.close()
        client.delete_pit(body={"pit_id": [pit_id]}, ignore=[404])
    return stats


def export_to_parquet(
    client: OpenSearch,
    index: str,
    new_writer: Callable[[int], PartWriter],
    *,
    page_size: int = PAGE_SIZE,
    on_page: Callable[[int], None] | None = None,
    before_page: Callable[[], None] | None = None,
) -> tuple[ExportStats, list[ManifestFile]]:
    """Export ``index`` into Parquet parts, one :class:`PartWriter` per slice
    (``new_writer(slice id)``); returns the export stats and the files written, in slice
    order. On any error the unfinished parts are removed."""
    writers: dict[int, PartWriter] = {}
    lock = threading.Lock()

    def sink(slice_id: int, hits: list[Hit]) -> None:
        if before_page is not None:
            before_page()
        with lock:
            writer = writers.get(slice_id)
            if writer is None:
                writer = writers[slice_id] = new_writer(slice_id)
        writer.write(table_from_sources([h["_source"] for h in hits]))

    try:
        stats = export_index(client, index, sink, page_size=page_size, on_page=on_page)
        files = [f for _, w in sorted(writers.items()) for f in w.close()]
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    return stats, files
