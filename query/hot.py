"""The hot tier: OpenSearch daily indices, exact answers only.

Counts come from composite aggregations paged to the end (a ``terms`` aggregation over
several daily indices may miss a term on one shard; composite never does). The indices
are named explicitly — only the planner's hot days — so a day that is cold in the
ledger is never also counted from a leftover index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from opensearchpy import OpenSearch

from query import dsl
from query.filters import Filter

PAGE = 5_000
# Index names in the request line beyond this many bytes would pass OpenSearch's 4 KB
# HTTP line limit (about 200 days): then the prefix pattern is searched and the days are
# a ``terms`` filter on ``_index`` instead.
MAX_INDEX_LIST = 2_000

Key = tuple[str | None, ...]


@dataclass
class HotTier:
    client: OpenSearch
    prefix: str
    days: list[date]

    @property
    def names(self) -> list[str]:
        return [f"{self.prefix}-{day:%Y.%m.%d}" for day in self.days]

    @property
    def by_pattern(self) -> bool:
        return len(",".join(self.names)) > MAX_INDEX_LIST

    @property
    def indices(self) -> str:
        return f"{self.prefix}-*" if self.by_pattern else ",".join(self.names)

    def query(self, flt: Filter) -> dict[str, Any]:
        """The filter's DSL, limited to this tier's days when they are searched by pattern."""
        query = dsl.query(flt)
        if self.by_pattern:
            query["bool"]["filter"].append({"terms": {"_index": self.names}})
        return query

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.client.search(
            index=self.indices,
            body=body,
            params={"ignore_unavailable": "true", "allow_no_indices": "true"},
        )

    # --- events --------------------------------------------------------------------------

    def events(
        self,
        flt: Filter,
        limit: int,
        after: tuple[int, str] | None,
        source: list[str] | None,
    ) -> list[tuple[int, str, dict[str, Any]]]:
        """Up to ``limit`` documents older than ``after``, newest first, as
        ``(timestamp ms, event.id, document)``."""
        if not self.days:
            return []
        body: dict[str, Any] = {
            "query": self.query(flt),
            "size": limit,
            "sort": [{"@timestamp": "desc"}, {"event.id": "desc"}],
            "track_total_hits": False,
        }
        if source is not None:
            body["_source"] = {"includes": source}
        if after is not None:
            body["search_after"] = list(after)
        hits = self._search(body)["hits"]["hits"]
        return [(int(h["sort"][0]), str(h["sort"][1]), h["_source"]) for h in hits]

    # --- counts --------------------------------------------------------------------------

    def _composite(
        self,
        flt: Filter,
        sources: list[dict[str, Any]],
        restrict: dict[str, Any] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every bucket of the documents matching ``flt`` (and the ``restrict`` clause)."""
        if not self.days:
            return
        query = self.query(flt)
        if restrict is not None:
            query["bool"]["filter"].append(restrict)
        after: dict[str, Any] | None = None
        while True:
            composite: dict[str, Any] = {"size": PAGE, "sources": sources}
            if after is not None:
                composite["after"] = after
            body = {"query": query, "size": 0, "aggs": {"groups": {"composite": composite}}}
            result = self._search(body).get("aggregations", {}).get("groups")
            if not result:
                return
            yield from result["buckets"]
            after = result.get("after_key")
            if after is None or len(result["buckets"]) < PAGE:
                return

    @staticmethod
    def _sources(fields: tuple[str, ...], nullable_tail: bool) -> list[dict[str, Any]]:
        sources = []
        for i, field in enumerate(fields):
            terms: dict[str, Any] = {"field": field}
            if nullable_tail and i > 0:
                terms["missing_bucket"] = True
            sources.append({f"k{i}": {"terms": terms}})
        return sources

    def counts(self, flt: Filter, fields: tuple[str, ...]) -> dict[Key, int]:
        """Documents per key; the first field must be present, later ones may be absent."""
        sources = self._sources(fields, nullable_tail=True)
        return {
            tuple(b["key"][f"k{i}"] for i in range(len(fields))): int(b["doc_count"])
            for b in self._composite(flt, sources)
        }

    def ip_sets(self, flt: Filter, fields: tuple[str, ...], keys: list[Key]) -> dict[Key, set[str]]:
        """The set of ``source.ip`` for each of ``keys`` (for unions with the cold tier)."""
        sources = [
            *self._sources(fields, nullable_tail=True),
            {"ip": {"terms": {"field": "source.ip"}}},
        ]
        wanted = set(keys)
        found: dict[Key, set[str]] = {}
        firsts = sorted({k[0] for k in keys if k[0] is not None})
        for bucket in self._composite(flt, sources, {"terms": {fields[0]: firsts}}):
            key = tuple(bucket["key"][f"k{i}"] for i in range(len(fields)))
            if key in wanted:
                found.setdefault(key, set()).add(bucket["key"]["ip"])
        return found

    def values_among(self, flt: Filter, field: str, among: list[str]) -> set[str]:
        """Those of ``among`` that ``field`` holds in a document matching ``flt``."""
        sources = [{"v": {"terms": {"field": field}}}]
        buckets = self._composite(flt, sources, {"terms": {field: among}})
        return {str(b["key"]["v"]) for b in buckets}

    def total(self, flt: Filter) -> int:
        if not self.days:
            return 0
        return int(
            self.client.count(
                index=self.indices,
                body={"query": self.query(flt)},
                params={"ignore_unavailable": "true", "allow_no_indices": "true"},
            )["count"]
        )

    def timeline(self, flt: Filter, interval_ms: int) -> dict[tuple[int, str], int]:
        sources = [
            {
                "t": {
                    "date_histogram": {"field": "@timestamp", "fixed_interval": f"{interval_ms}ms"}
                }
            },
            {"a": {"terms": {"field": "waf.action"}}},
        ]
        return {
            (int(b["key"]["t"]), str(b["key"]["a"])): int(b["doc_count"])
            for b in self._composite(flt, sources)
        }
