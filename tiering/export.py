"""Read a whole daily index with a point in time and ``search_after``.

One slice per primary shard (``slice`` + PIT) when the index has several, each slice on
its own thread; within a slice the next page is fetched while the current one is
converted. Pages come sorted by ``@timestamp`` then ``event.id`` (unique), so
``search_after`` never skips or repeats a document.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import OpenSearch

from tiering.parquet_io import IdDigest

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
    created = client.create_pit(index=index, params={"keep_alive": KEEP_ALIVE})
    pit_id: str = created["pit_id"]

    def run(slice_id: int) -> None:
        pit = {"id": pit_id}
        digest = IdDigest()
        rows = pages = 0
        for hits in _prefetched(_pages(client, pit, slice_id, count, page_size, source)):
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
        client.delete_pit(body={"pit_id": [pit_id]}, ignore=[404])
    return stats
