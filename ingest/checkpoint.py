"""Durable checkpoints for polled sources, kept in the OpenSearch state index.

A checkpoint is one document per source (``checkpoint:s3://bucket/prefix``) holding, for
each stream prefix under the source, the last object key fully ingested, and the keys
that could not be read with the reason. It is written only after OpenSearch holds every
record of that object, so a restart resumes where the last run stopped and at worst
re-reads one object (whose documents then count as duplicates, never twice).
"""

from __future__ import annotations

from datetime import UTC, datetime

from opensearchpy import OpenSearch
from pydantic import BaseModel, Field

from wafsiem.state_index import ensure_state_index


class Checkpoint(BaseModel):
    source: str
    positions: dict[str, str] = Field(
        default_factory=dict, description="stream prefix -> last key fully ingested"
    )
    failed: dict[str, str] = Field(
        default_factory=dict, description="object key -> why it could not be read"
    )
    updated: datetime | None = None

    def done(self, stream: str, key: str) -> bool:
        last = self.positions.get(stream)
        return last is not None and key <= last


class CheckpointStore:
    """Reads and writes checkpoints in ``index`` (realtime GET: no refresh needed)."""

    def __init__(self, client: OpenSearch, index: str) -> None:
        self.client = client
        self.index = index

    @staticmethod
    def _doc_id(source: str) -> str:
        return f"checkpoint:{source}"

    def load(self, source: str) -> Checkpoint:
        ensure_state_index(self.client, self.index)
        found = self.client.get(index=self.index, id=self._doc_id(source), ignore=[404])
        if not found.get("found"):
            return Checkpoint(source=source)
        body = found["_source"]
        return Checkpoint(
            source=source,
            positions=body.get("positions", {}),
            failed=body.get("failed", {}),
            updated=body.get("updated"),
        )

    def save(self, checkpoint: Checkpoint) -> None:
        checkpoint.updated = datetime.now(UTC)
        body = {
            "kind": "checkpoint",
            "source": checkpoint.source,
            "positions": checkpoint.positions,
            "failed": checkpoint.failed,
            "updated": checkpoint.updated.isoformat(),
        }
        self.client.index(index=self.index, id=self._doc_id(checkpoint.source), body=body)

    def reset(self, source: str) -> None:
        self.client.delete(index=self.index, id=self._doc_id(source), ignore=[404])
