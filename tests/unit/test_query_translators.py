"""Hostile filter values stay literals in both translators (query.dsl, query.sql).

Each value is checked three ways: the SQL text never carries it (only ``?`` placeholders,
the same text as for a harmless value), the OpenSearch DSL carries it only as the value of
a ``term``/``terms``/``prefix`` leaf, and the SQL run by DuckDB over real Parquet (written
and opened the way the cold tier does) matches exactly the rows holding the literal value.
Invalid filters are a :class:`FilterError` (422) naming the filter.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from query import dsl, sql
from query.cold import ColdTier
from query.filters import (
    MAX_PREFIX_BYTES,
    MAX_VALUE_LENGTH,
    MAX_VALUES,
    FilterError,
    build_filter,
)
from tiering.cold_read import cold_connection
from tiering.manifest import write_manifest
from tiering.models import Manifest
from tiering.parquet_io import PartWriter, id_digest, new_run_id, sort_table, table_from_sources
from tiering.store import LocalStore
from wafsiem.schema import SCHEMA_VERSION

DAY = date(2025, 11, 20)
NOW = datetime(2025, 11, 21, tzinfo=UTC)
WINDOW = {"from": "2025-11-20T00:00:00Z", "to": "2025-11-21T00:00:00Z"}

HOSTILE = [
    "'",
    '"',
    "''",
    "' OR 1=1 --",
    "' OR '1'='1",
    "x'); DROP TABLE t; --",
    "x'; DROP TABLE waf_logs; --",
    "1; SELECT * FROM read_csv('/etc/passwd')",
    "%",
    "_",
    "%' --",
    "a%b_c",
    '{"match_all":{}}',
    '"}},{"match_all":{}}',
    '"}}]},"query":{"match_all":{}},"x":{"y":"',
    "*",
    "?",
    "$1",
    ".*",
    "a*",
    "/a?c",
    "[a-z]+",
    "(?i)ADMIN",
    "~1",
    "\\",
    "\\\\",
    "\\'",
    '\\"',
    "a\\",
    "\\u0027",
    "%27",
    "/*",
    "*/",
    "--",
    ";",
    "NULL",
    " leading and trailing ",
    "tab\tnew\nline\rcr",
    "ünï©ødé/größe/日本/🛡️",
    "e\u0301",  # combining accent
    "\u202eevil",  # right-to-left override
    "zero\u200bwidth",
    "x" * 900,
]
LONG = "y" * 4000  # longer than a prefix may be: host, label, ... only
# the words whose values are kept verbatim (action and method are upper-cased)
WORDS = ("host", "path_prefix", "label", "rule", "webacl", "ja4", "country")
FORBIDDEN_DSL = {
    "query_string",
    "simple_query_string",
    "wildcard",
    "regexp",
    "fuzzy",
    "match",
    "match_phrase",
    "match_phrase_prefix",
    "match_bool_prefix",
    "multi_match",
    "script",
    "script_score",
    "intervals",
    "span_multi",
}
ALLOWED_DSL = {"bool", "filter", "should", "minimum_should_match", "term", "terms", "prefix"}
SQL_LITERALS = {"'.'", "':'"}  # the only string literals: source.ip parsing (constants)


def flt_of(word: str, values: str | list[str]) -> Any:
    return build_filter({**WINDOW, word: values}, now=NOW)


def cases(word: str) -> list[str]:
    """The values to try with ``word`` (``':'`` would split a rule into Rule:SubRule)."""
    values = [*HOSTILE, "benign", *([] if word == "path_prefix" else [LONG])]
    return [v for v in values if not (word == "rule" and ":" in v)]


# --- the SQL text ------------------------------------------------------------------------


def _sql_checks(statement: str, params: list[Any]) -> None:
    assert statement.count("?") == len(params)
    literals = set(re.findall(r"'[^']*'", statement))
    assert literals <= SQL_LITERALS, literals
    assert "--" not in statement and ";" not in statement and "/*" not in statement


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("value", [*HOSTILE, LONG], ids=range(len(HOSTILE) + 1))
def test_sql_text_never_holds_the_value(word: str, value: str) -> None:
    if word == "path_prefix" and value == LONG:  # longer is refused (test_bad_filters_...)
        value = LONG[:MAX_PREFIX_BYTES]
    split = word == "rule" and ":" in value  # Rule:SubRule
    statement, params = sql.where(flt_of(word, value))
    benign, benign_params = sql.where(flt_of(word, "benign:benign" if split else "benign"))
    assert statement == benign  # the text depends on the filter's shape, never on a value
    assert len(params) == len(benign_params)
    _sql_checks(statement, params)
    if value not in benign:
        assert value not in statement
    flat = [p for param in params for p in (param if isinstance(param, list) else [param])]
    assert all(part in flat for part in value.partition(":")[::2]) if split else value in flat


def test_sql_many_values_and_every_word_at_once() -> None:
    raw: dict[str, object] = {w: HOSTILE[:20] for w in WORDS if w != "rule"}
    raw["rule"] = [v for v in HOSTILE[:20] if ":" not in v]
    raw["client_ip"] = ["10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.1"]
    raw["action"], raw["method"] = ["block", "' OR 1=1 --"], ["get", "x'); DROP TABLE t; --"]
    statement, params = sql.where(build_filter({**WINDOW, **raw}, now=NOW))
    _sql_checks(statement, params)
    for value in HOSTILE[:20]:
        if len(value) > 2:
            assert value not in statement


def test_sql_column_names_are_checked() -> None:
    assert sql.col("url.path") == '"url.path"'
    for bad in ('url.path"; DROP TABLE t; --', "a b", "x'", ""):
        with pytest.raises(ValueError):
            sql.col(bad)


# --- the DSL -----------------------------------------------------------------------------


def _leaves(node: Any, out: list[tuple[str, str, Any]], parent: str = "") -> None:
    """Every (query type, field, value) leaf; fails on anything but the allowed shapes."""
    if isinstance(node, list):
        for item in node:
            _leaves(item, out, parent)
        return
    assert isinstance(node, dict), node
    for key, child in node.items():
        assert key not in FORBIDDEN_DSL, key
        if key in ("term", "prefix"):
            ((field, spec),) = child.items()
            assert set(spec) == {"value"}, spec
            out.append((key, field, spec["value"]))
        elif key == "terms":
            ((field, values),) = child.items()
            assert isinstance(values, list)
            out.extend(("terms", field, v) for v in values)
        elif key == "range":
            ((field, spec),) = child.items()
            assert field == "@timestamp"
            assert {type(v) for k, v in spec.items() if k != "format"} == {int}
        elif key == "minimum_should_match":
            assert child == 1
        else:
            assert key in ALLOWED_DSL, key
            _leaves(child, out, key)


def _keys(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield key
            yield from _keys(child)
    elif isinstance(node, list):
        for item in node:
            yield from _keys(item)


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("value", [*HOSTILE, LONG], ids=range(len(HOSTILE) + 1))
def test_dsl_holds_the_value_only_as_a_leaf_value(word: str, value: str) -> None:
    if word == "path_prefix" and value == LONG:  # longer is refused (test_bad_filters_...)
        value = LONG[:MAX_PREFIX_BYTES]
    flt = flt_of(word, value)
    body = dsl.query(flt)
    assert json.loads(json.dumps(body)) == body  # plain JSON data
    leaves: list[tuple[str, str, Any]] = []
    _leaves(body, leaves)
    assert value not in set(_keys(body))
    kinds = {kind for kind, _, v in leaves if v == value}
    if word == "rule" and ":" in value:
        rule, _, sub = value.partition(":")
        kinds = {kind for kind, _, v in leaves if v in (rule, sub)}
    assert kinds == ({"prefix"} if word == "path_prefix" else {"term"}), leaves
    # the same tree as for a harmless value, the value swapped in as data
    benign = dsl.query(flt_of(word, "benign"))
    if word != "rule" or ":" not in value:
        assert json.dumps(body) == json.dumps(benign).replace('"benign"', json.dumps(value))


def test_dsl_many_values_use_terms() -> None:
    body = dsl.query(flt_of("host", HOSTILE[:5]))
    leaves: list[tuple[str, str, Any]] = []
    _leaves(body, leaves)
    assert [(k, f) for k, f, v in leaves if v in HOSTILE[:5]] == [("terms", "url.domain")] * 5


def test_rule_sub_rule_hostile() -> None:
    flt = flt_of("rule", "' OR 1=1 --:x'); DROP TABLE t; --")
    assert (flt.rule[0].rule, flt.rule[0].sub_rule) == ("' OR 1=1 --", "x'); DROP TABLE t; --")
    statement, params = sql.where(flt)
    _sql_checks(statement, params)
    assert params[-2:] == ["' OR 1=1 --", "x'); DROP TABLE t; --"]
    leaves: list[tuple[str, str, Any]] = []
    _leaves(dsl.query(flt), leaves)
    assert ("term", "waf.terminating_rule.id", "' OR 1=1 --") in leaves
    assert ("term", "waf.terminating_rule.group_rule", "x'); DROP TABLE t; --") in leaves


# --- behaviour: DuckDB over Parquet written and opened as the cold tier does -------------

SPECIAL = ["/index.html", "/", "a", "A", "anything", "1", "x", "/x'", "benign", "ADMIN"]


def _row_values() -> list[str]:
    return list(dict.fromkeys([*HOSTILE, LONG, *SPECIAL]))


def _document(n: int, value: str) -> dict[str, Any]:
    stamp = datetime(2025, 11, 20, 12, tzinfo=UTC) + timedelta(seconds=n)
    return {
        "@timestamp": int(stamp.timestamp() * 1000),
        "event": {"id": f"e{n:04d}"},
        "waf": {
            "action": "BLOCK",
            "labels": [value, "common:label"],
            "terminating_rule": {"id": value, "group_rule": f"sub{n}"},
            "webacl": {"name": value, "arn": f"arn:aws:wafv2:us-east-1:1:regional/webacl/w{n}/x"},
        },
        "source": {"ip": f"192.0.2.{n % 250}", "geo": {"country_iso_code": value}},
        "url": {"domain": value, "path": value + "/tail"},
        "http": {"request": {"method": "GET"}},
        "tls": {"client": {"ja4": value}},
    }


# word -> which rows the filter must match (Python semantics of a literal value)
def _expected(word: str, value: str, rows: list[str]) -> set[str]:
    if word == "path_prefix":
        return {f"e{n:04d}" for n, v in enumerate(rows) if (v + "/tail").startswith(value)}
    return {f"e{n:04d}" for n, v in enumerate(rows) if v == value}


@pytest.fixture(scope="module")
def cold_store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(Path(tmp_path_factory.mktemp("cold")))
    docs = [_document(n, v) for n, v in enumerate(_row_values())]
    table = sort_table(table_from_sources(docs))
    run_id = new_run_id()
    writer = PartWriter(store, DAY, run_id, "s0")
    writer.write(table)
    files = writer.close()
    write_manifest(
        store,
        Manifest(
            date=DAY,
            files=files,
            rows=table.num_rows,
            digest=id_digest(d["event"]["id"] for d in docs),
            schema_version=SCHEMA_VERSION,
            created=datetime.now(UTC),
            run_id=run_id,
        ),
    )
    return store


@pytest.fixture(scope="module")
def cold_view(cold_store: LocalStore) -> Iterator[Any]:
    view = cold_connection(cold_store, days=[DAY], threads=1)
    sql.register_functions(view.connection)
    yield view.connection
    view.connection.close()


def _matched(con: Any, flt: Any) -> set[str]:
    where, params = sql.where(flt)
    rows = con.execute(f'SELECT "event.id" FROM waf_logs WHERE {where}', params).fetchall()
    return {r[0] for r in rows}


@pytest.mark.parametrize("word", WORDS)
def test_duckdb_matches_only_the_literal_rows(cold_view: Any, word: str) -> None:
    rows = _row_values()
    total = cold_view.execute("SELECT count(*) FROM waf_logs").fetchone()[0]
    assert total == len(rows)
    for value in cases(word):
        expected = _expected(word, value, rows)
        assert expected, value
        assert _matched(cold_view, flt_of(word, value)) == expected, (word, value)
        if word == "rule" and value in rows:  # Rule:SubRule: both parts must match
            n = rows.index(value)
            assert _matched(cold_view, flt_of(word, f"{value}:sub{n}")) == {f"e{n:04d}"}
            assert _matched(cold_view, flt_of(word, f"{value}:sub{n + 1}")) == set()
    # nothing was dropped or changed by the statements above
    assert cold_view.execute("SELECT count(*) FROM waf_logs").fetchone()[0] == total


def test_duckdb_wildcard_characters_are_literal(cold_view: Any) -> None:
    rows = _row_values()

    def starting(prefix: str) -> set[str]:
        return {f"e{n:04d}" for n, v in enumerate(rows) if v.startswith(prefix)}

    # only the paths that start with a literal % ("%", "%' --", "%27"), not LIKE's "any"
    assert _matched(cold_view, flt_of("path_prefix", "%")) == starting("%")
    assert len(starting("%")) == 3
    assert _matched(cold_view, flt_of("path_prefix", "_")) == {f"e{rows.index('_'):04d}"}
    assert _matched(cold_view, flt_of("path_prefix", ".*")) == {f"e{rows.index('.*'):04d}"}
    assert _matched(cold_view, flt_of("path_prefix", "*")) == starting("*")
    assert _matched(cold_view, flt_of("host", "*")) == {f"e{rows.index('*'):04d}"}
    assert _matched(cold_view, flt_of("host", ".*")) == {f"e{rows.index('.*'):04d}"}
    assert _matched(cold_view, flt_of("label", "?")) == {f"e{rows.index('?'):04d}"}
    # `'` is a prefix of the other values that start with a quote, and nothing else
    assert len(starting("'")) > 1
    assert _matched(cold_view, flt_of("path_prefix", "'")) == starting("'")
    # the label every row has still matches every row (list membership, not a pattern)
    assert len(_matched(cold_view, flt_of("label", "common:label"))) == len(rows)


def test_duckdb_many_values_and_the_service_tier(cold_store: LocalStore, cold_view: Any) -> None:
    rows = _row_values()
    values = ["%", "' OR 1=1 --", '{"match_all":{}}', "\\"]
    expected = set().union(*(_expected("host", v, rows) for v in values))
    flt = flt_of("host", values)
    assert _matched(cold_view, flt) == expected
    with ColdTier(cold_store, [DAY], threads=1) as tier:
        assert tier.total(flt) == len(expected)
        counts = tier.counts(flt, ("url.domain",))
        assert counts == {(v,): 1 for v in values}


# --- invalid filters ---------------------------------------------------------------------


def _error(raw: Mapping[str, object], **kwargs: Any) -> FilterError:
    with pytest.raises(FilterError) as caught:
        build_filter(raw, now=NOW, **kwargs)
    assert caught.value.status == 422
    return caught.value


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ({"bogus": "x"}, "bogus"),
        ({"path": "/x"}, "path"),
        ({"client_ip": "10.0.0.0/33"}, "client_ip"),
        ({"client_ip": "10.0.0.0/8/8"}, "client_ip"),
        ({"client_ip": "1.2.3.256"}, "client_ip"),
        ({"client_ip": "' OR 1=1 --"}, "client_ip"),
        ({"client_ip": "*"}, "client_ip"),
        ({"client_ip": "2001:db8::g"}, "client_ip"),
        ({"client_ip": ["10.0.0.1", "nope"]}, "client_ip"),
        ({"from": "2025-11-20T10:00:00Z", "to": "2025-11-20T09:00:00Z"}, "to"),
        ({"from": "2025-11-20T10:00:00Z", "to": "2025-11-20T10:00:00Z"}, "from"),
        ({"from": "-24x"}, "from"),
        ({"from": "-h"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "' OR 1=1 --"}, "to"),
        ({"from": "-9999999d"}, "from"),
        ({"from": "-999999w"}, "from"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "from"),
        ({"to": "9999-12-31T23:59:59-01:00"}, "to"),
        ({"rule": ":SubRule"}, "rule"),
        ({"rule": "Rule:"}, "rule"),
        ({"rule": ":"}, "rule"),
        ({"host": ""}, "host"),
        ({"label": ["a", ""]}, "label"),
        ({"host": "x" * (MAX_VALUE_LENGTH + 1)}, "host"),
        ({"path_prefix": "/" * (MAX_PREFIX_BYTES + 1)}, "path_prefix"),
        ({"path_prefix": "ü" * (MAX_PREFIX_BYTES // 2 + 1)}, "path_prefix"),
        ({"label": [f"l{n}" for n in range(MAX_VALUES + 1)]}, "label"),
        ({"host": 5}, "host"),
        ({"host": [5]}, "host"),
        ({"host": {"a": 1}}, "host"),
        ({"host": "bad\udcffbytes"}, "host"),  # an undecodable argv byte
    ],
)
def test_bad_filters_name_the_filter(raw: dict[str, object], names: str) -> None:
    error = _error({**WINDOW, **raw} if not {"from", "to"} & set(raw) else raw)
    assert names in str(error)


def test_range_over_the_maximum() -> None:
    raw = {"from": "2025-01-01T00:00:00Z", "to": "2025-11-20T00:00:00Z"}
    error = _error(raw, max_range=timedelta(days=30))
    assert "from/to" in str(error) and "30 days" in str(error)
    build_filter(raw, now=NOW, max_range=timedelta(days=400))  # within it: fine


def test_relative_times_and_limits_accepted() -> None:
    flt = build_filter({"from": "-7d", "to": "now"}, now=NOW)
    assert (flt.start, flt.end) == (NOW - timedelta(days=7), NOW)
    assert flt.start.tzinfo is not None
    build_filter({**WINDOW, "host": "x" * MAX_VALUE_LENGTH}, now=NOW)
    build_filter({**WINDOW, "path_prefix": "ü" * (MAX_PREFIX_BYTES // 2)}, now=NOW)
    build_filter({**WINDOW, "label": [f"l{n}" for n in range(MAX_VALUES)]}, now=NOW)
    assert build_filter({**WINDOW, "rule": "R:S"}, now=NOW).rule[0].sub_rule == "S"
