"""An ingest target of its own per test: unique daily-index prefix and dead-letter index."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ingest.bulk import BulkIndexer
from ingest.service import IngestTarget
from wafsiem.bootstrap import load_index_templates
from wafsiem.schema import index_template


@pytest.fixture
def target(opensearch: Any, unique: str) -> Iterator[IngestTarget]:
    prefix = f"{unique}-waf-logs"
    deadletter = f"{unique}-waf-deadletter"
    opensearch.indices.put_index_template(name=prefix, body=index_template(prefix=prefix))
    dl_template = load_index_templates()["waf-deadletter"]
    dl_template["index_patterns"] = [f"{deadletter}*"]
    opensearch.indices.put_index_template(name=deadletter, body=dl_template)
    yield IngestTarget(index_prefix=prefix, deadletter_index=deadletter)
    opensearch.indices.delete(index=f"{unique}-*", ignore=[404])
    for name in (prefix, deadletter):
        opensearch.indices.delete_index_template(name=name, ignore=[404])


@pytest.fixture
def indexer(opensearch: Any) -> BulkIndexer:
    return BulkIndexer(opensearch, max_bytes=256 * 1024, concurrency=2)


def count(opensearch: Any, index: str) -> int:
    opensearch.indices.refresh(index=index, ignore_unavailable=True)
    return int(opensearch.count(index=index, ignore_unavailable=True)["count"])
