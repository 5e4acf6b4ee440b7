"""Hostile filter values are literals in OpenSearch too: the DSL of :mod:`query.dsl`
against a real index with the project's mapping matches exactly the documents that hold
the literal value (the same rows and expectations as the DuckDB unit test)."""

from __future__ import annotations

from typing import Any

import orjson

from query import dsl
from query.hot import HotTier
from wafsiem.schema import opensearch_mapping

from ..unit.test_query_translators import (
    DAY,
    WORDS,
    _document,
    _expected,
    _row_values,
    cases,
    flt_of,
)


def _index(opensearch: Any, prefix: str) -> list[str]:
    rows = _row_values()
    index = f"{prefix}-{DAY:%Y.%m.%d}"
    opensearch.indices.create(
        index=index,
        body={
            "settings": {"number_of_shards": 1, "number_of_replicas": 0},
            "mappings": opensearch_mapping(),
        },
    )
    lines = []
    for n, value in enumerate(rows):
        doc = _document(n, value)
        lines.append(orjson.dumps({"index": {"_index": index, "_id": doc["event"]["id"]}}))
        lines.append(orjson.dumps(doc))
    result = opensearch.bulk(body=b"\n".join(lines) + b"\n", refresh="true")
    assert not result["errors"], [i for i in result["items"] if i["index"].get("error")][:3]
    return rows


def test_opensearch_matches_only_the_literal_documents(opensearch: Any, index_name: str) -> None:
    rows = _index(opensearch, index_name)
    index = f"{index_name}-{DAY:%Y.%m.%d}"
    pairs = [(word, value) for word in WORDS for value in cases(word)]
    body: list[dict[str, Any]] = []
    for word, value in pairs:
        body.append({"index": index})
        body.append({"query": dsl.query(flt_of(word, value)), "size": 500, "_source": False})
    responses = opensearch.msearch(body=body)["responses"]
    assert len(responses) == len(pairs)
    wrong = []
    for (word, value), response in zip(pairs, responses, strict=True):
        assert "error" not in response, (word, value[:40], response.get("error"))
        found = {hit["_id"] for hit in response["hits"]["hits"]}
        expected = _expected(word, value, rows)
        if found != expected:
            wrong.append((word, value[:40], sorted(found ^ expected)[:5]))
    assert not wrong
    assert opensearch.count(index=index)["count"] == len(rows)  # nothing changed


def test_opensearch_wildcards_and_the_hot_tier(opensearch: Any, index_name: str) -> None:
    rows = _index(opensearch, index_name)
    tier = HotTier(opensearch, index_name, [DAY])

    def ids(word: str, value: str | list[str]) -> set[str]:
        found = tier.events(flt_of(word, value), 500, None, ["event.id"])
        return {ident for _, ident, _ in found}

    def starting(prefix: str) -> set[str]:
        return {f"e{n:04d}" for n, v in enumerate(rows) if v.startswith(prefix)}

    assert ids("path_prefix", "%") == starting("%") and len(starting("%")) == 3
    assert ids("path_prefix", "*") == starting("*")
    assert ids("path_prefix", ".*") == {f"e{rows.index('.*'):04d}"}
    assert ids("host", "*") == {f"e{rows.index('*'):04d}"}
    assert ids("host", "?") == {f"e{rows.index('?'):04d}"}
    assert ids("label", "[a-z]+") == {f"e{rows.index('[a-z]+'):04d}"}
    values = ["%", "' OR 1=1 --", '{"match_all":{}}', "\\"]
    flt = flt_of("host", values)
    assert tier.total(flt) == len(values)
    assert tier.counts(flt, ("url.domain",)) == {(v,): 1 for v in values}
