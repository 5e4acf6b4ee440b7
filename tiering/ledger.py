"""The tiering ledger: one document per day in the state index (``tiering:<prefix>:<day>``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from opensearchpy import OpenSearch

from tiering.models import LedgerEntry
from wafsiem.state_index import ensure_state_index

KIND = "tiering"


class Ledger:
    def __init__(self, client: OpenSearch, index: str, prefix: str) -> None:
        self.client = client
        self.index = index
        self.prefix = prefix

    def _doc_id(self, day: date) -> str:
        return f"{KIND}:{self.prefix}:{day.isoformat()}"

    def get(self, day: date) -> LedgerEntry | None:
        ensure_state_index(self.client, self.index)
        found = self.client.get(index=self.index, id=self._doc_id(day), ignore=[404])
        if not found.get("found"):
            return None
        return LedgerEntry.model_validate(found["_source"]["entry"])

    def put(self, entry: LedgerEntry) -> LedgerEntry:
        ensure_state_index(self.client, self.index)
        entry.updated = datetime.now(UTC)
        body: dict[str, Any] = {
            "kind": KIND,
            "source": self.prefix,
            "updated": entry.updated.isoformat(),
            "entry": entry.model_dump(mode="json"),
        }
        self.client.index(index=self.index, id=self._doc_id(entry.date), body=body)
        return entry

    def update(self, day: date, index: str, **changes: Any) -> LedgerEntry:
        entry = self.get(day) or LedgerEntry(date=day, state="hot", index=index)
        entry = entry.model_copy(update=changes)
        return self.put(entry)

    def all(self) -> list[LedgerEntry]:
        ensure_state_index(self.client, self.index)
        self.client.indices.refresh(index=self.index)
        query = {"bool": {"filter": [{"term": {"kind": KIND}}, {"term": {"source": self.prefix}}]}}
        # one document per day: 10,000 days is 27 years
        body: dict[str, Any] = {"size": 10_000, "query": query}
        hits = self.client.search(index=self.index, body=body)["hits"]["hits"]
        return sorted(
            (LedgerEntry.model_validate(h["_source"]["entry"]) for h in hits),
            key=lambda e: e.date,
        )
