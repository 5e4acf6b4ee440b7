"""The state index: small documents the jobs keep (ingest checkpoints, tiering ledger,
leases). Shared by the capabilities, so it lives in the core."""

from __future__ import annotations

from typing import Any

from opensearchpy import OpenSearch

STATE_MAPPING: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "kind": {"type": "keyword"},
        "source": {"type": "keyword"},
        "updated": {"type": "date"},
    },
}


def ensure_small_index(client: OpenSearch, index: str, mapping: dict[str, Any]) -> bool:
    """Create a one-shard index with ``mapping`` when missing; True when this call did."""
    created = False
    if not client.indices.exists(index=index):
        response = client.indices.create(
            index=index,
            body={
                "settings": {"number_of_shards": 1, "number_of_replicas": 0},
                "mappings": mapping,
            },
            ignore=[400],  # created concurrently: resource_already_exists_exception
        )
        created = bool(response.get("acknowledged"))
    # an index another request has just created exists before its shard can answer
    # (a search then gets 503): wait until its primary is allocated
    client.cluster.health(index=index, wait_for_status="yellow", request_timeout=40)
    return created


def ensure_state_index(client: OpenSearch, index: str) -> bool:
    """Create the state index when missing; True when this call created it."""
    return ensure_small_index(client, index, STATE_MAPPING)
