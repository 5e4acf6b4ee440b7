"""Filter -> OpenSearch query DSL.

Only structured leaf queries are built — ``term``, ``terms``, ``range``, ``prefix`` and
CIDR ``term`` on the ``ip`` field — and every user value is a JSON string value of one of
them, never parsed by OpenSearch as query syntax (no ``query_string``, no wildcard, no
script). Values go into the body as data; the body is serialised as JSON by the client.
"""

from __future__ import annotations

from typing import Any

from query.filters import FILTER_FIELDS, KEYWORD_WORDS, Filter, RuleRef

TIMESTAMP = "@timestamp"


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def range_clause(flt: Filter) -> dict[str, Any]:
    return {
        "range": {TIMESTAMP: {"gte": _ms(flt.start), "lt": _ms(flt.end), "format": "epoch_millis"}}
    }


def _terms(field: str, values: tuple[str, ...]) -> dict[str, Any]:
    if len(values) == 1:
        return {"term": {field: {"value": values[0]}}}
    return {"terms": {field: list(values)}}


def _any_of(clauses: list[dict[str, Any]]) -> dict[str, Any]:
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


def _rule(ref: RuleRef) -> dict[str, Any]:
    if ref.sub_rule is None:
        return _any_of(
            [
                {"term": {"waf.terminating_rule.id": {"value": ref.rule}}},
                {"term": {"waf.terminating_rule.group_rule": {"value": ref.rule}}},
            ]
        )
    return {
        "bool": {
            "filter": [
                {"term": {"waf.terminating_rule.id": {"value": ref.rule}}},
                {"term": {"waf.terminating_rule.group_rule": {"value": ref.sub_rule}}},
            ]
        }
    }


def filter_clauses(flt: Filter) -> list[dict[str, Any]]:
    """The filter's clauses (AND-ed), including the time range."""
    clauses: list[dict[str, Any]] = [range_clause(flt)]
    for word in (*KEYWORD_WORDS, "label"):  # a keyword array matches when any element does
        values: tuple[str, ...] = getattr(flt, word)
        if values:
            clauses.append(_terms(FILTER_FIELDS[word][0], values))
    if flt.webacl:
        clauses.append(
            _any_of([_terms("waf.webacl.arn", flt.webacl), _terms("waf.webacl.name", flt.webacl)])
        )
    if flt.rule:
        clauses.append(_any_of([_rule(ref) for ref in flt.rule]))
    if flt.client_ip:
        # a CIDR term on an ip field is a range over the address space; a bare address
        # is its /32 or /128. IPv4 documents are stored as IPv4-mapped IPv6, so
        # ::ffff:0:0/96 and 10.0.0.0/8 mean what they say for both families.
        clauses.append(
            _any_of([{"term": {"source.ip": {"value": str(net)}}} for net in flt.client_ip])
        )
    if flt.path_prefix:
        clauses.append(_any_of([{"prefix": {"url.path": {"value": p}}} for p in flt.path_prefix]))
    return clauses


def query(flt: Filter) -> dict[str, Any]:
    return {"bool": {"filter": filter_clauses(flt)}}
