"""The one schema definition and what it yields."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from wafsiem.schema import (
    FIELDS,
    arrow_schema,
    document_model,
    flatten_document,
    index_template,
    opensearch_mapping,
    schema_markdown,
    stale_generated_files,
    validate_document,
)
from wafsiem.schema.generated import generated_files, write_generated_files


def _prop(mapping: dict, dotted: str) -> dict:
    node = mapping
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node["properties"][part]
    return node["properties"][parts[-1]]


def test_generated_files_are_up_to_date() -> None:
    stale = stale_generated_files()
    assert not stale, f"regenerate with `python -m wafsiem.schema --write`: {stale}"


def test_stale_file_is_detected_and_rewritten(tmp_path) -> None:
    write_generated_files(tmp_path)
    assert stale_generated_files(tmp_path) == []
    target = tmp_path / next(iter(generated_files()))
    target.write_text(target.read_text() + " ")
    assert stale_generated_files(tmp_path) == [next(iter(generated_files()))]
    assert write_generated_files(tmp_path) == [next(iter(generated_files()))]


def test_design_fields_are_present() -> None:
    names = {spec.name for spec in FIELDS}
    design = {
        "@timestamp", "event.id", "event.original", "waf.action", "waf.webacl.arn",
        "waf.webacl.name", "waf.webacl.scope", "cloud.account.id", "cloud.region",
        "waf.terminating_rule.id", "waf.terminating_rule.type", "waf.terminating_rule.group",
        "waf.terminating_rule.group_rule", "waf.terminating_rule.match", "waf.counted_rules",
        "waf.labels", "waf.rate_based_rules", "waf.http_source.name", "waf.http_source.id",
        "waf.response_code_sent", "waf.captcha.response_code", "waf.captcha.solve_timestamp",
        "waf.captcha.failure_reason", "waf.challenge.response_code",
        "waf.challenge.failure_reason", "waf.oversize_fields", "source.ip",
        "source.as.number", "source.geo.country_iso_code", "url.domain", "url.path",
        "url.query", "url.fragment", "url.scheme", "http.request.method", "http.version",
        "http.request.id", "http.request.headers", "user_agent.original",
        "http.request.referrer", "http.request.body.bytes",
        "http.request.body.inspected_bytes", "tls.client.ja3", "tls.client.ja4",
        "waf.request_headers_inserted",
    }  # fmt: skip
    assert design <= names
    assert len(names) == len(FIELDS)


def test_opensearch_mapping_types() -> None:
    mapping = opensearch_mapping()
    assert mapping["dynamic"] == "false"
    assert _prop(mapping, "@timestamp") == {
        "type": "date",
        "format": "strict_date_optional_time||epoch_millis",
    }
    original = _prop(mapping, "event.original")
    assert original["index"] is False
    assert _prop(mapping, "http.request.headers") == {"type": "flat_object"}
    assert _prop(mapping, "waf.request_headers_inserted") == {"type": "flat_object"}
    assert _prop(mapping, "source.ip") == {"type": "ip"}
    assert _prop(mapping, "source.as.number") == {"type": "long"}
    assert _prop(mapping, "waf.response_code_sent") == {"type": "integer"}
    assert _prop(mapping, "waf.action")["type"] == "keyword"
    rate = _prop(mapping, "waf.rate_based_rules")
    assert rate["type"] == "object"
    assert rate["properties"]["evaluation_window_sec"] == {"type": "integer"}
    assert rate["properties"]["custom_values"]["properties"]["value"]["type"] == "keyword"
    groups = _prop(mapping, "waf.rule_groups")
    assert "overridden_action" in groups["properties"]["non_terminating_rules"]["properties"]


def test_index_template() -> None:
    template = index_template()
    assert template["index_patterns"] == ["waf-logs-*"]
    settings = template["template"]["settings"]
    assert settings["number_of_shards"] == 1
    assert settings["number_of_replicas"] == 0
    assert settings["codec"] == "best_compression"
    assert template["template"]["aliases"] == {"waf-logs": {}}
    assert template["template"]["mappings"] == opensearch_mapping()
    other = index_template(prefix="test-waf")
    assert other["index_patterns"] == ["test-waf-*"]
    assert other["template"]["aliases"] == {"test-waf": {}}


def test_arrow_schema_is_flat_with_dotted_names() -> None:
    schema = arrow_schema()
    assert schema.names == [spec.name for spec in FIELDS]
    assert schema.field("@timestamp").type == pa.timestamp("ms", tz="UTC")
    assert schema.field("waf.action").type == pa.string()
    assert schema.field("waf.counted_rules").type == pa.list_(pa.string())
    assert schema.field("waf.labels").type == pa.list_(pa.string())
    assert schema.field("http.request.headers").type == pa.string()
    assert schema.field("waf.rate_based_rules").type == pa.string()
    assert schema.field("source.as.number").type == pa.int64()
    assert schema.field("waf.response_code_sent").type == pa.int32()


def test_markdown_lists_every_field() -> None:
    text = schema_markdown()
    for spec in FIELDS:
        assert f"`{spec.name}`" in text


def test_model_rejects_unknown_fields() -> None:
    model = document_model()
    assert model.__name__ == "WafDocument"
    validate_document({"@timestamp": "2024-01-01T00:00:00.000Z", "waf": {"action": "BLOCK"}})
    with pytest.raises(ValidationError):
        validate_document({"waf": {"nope": 1}})


def test_flatten_document_builds_an_arrow_table() -> None:
    doc = {
        "@timestamp": "2024-06-01T12:00:00.123Z",
        "event": {"id": "abc"},
        "waf": {"action": "BLOCK", "labels": ["a", "b"], "rate_based_rules": [{"id": "r"}]},
        "http": {"request": {"headers": {"host": "x", "accept": ["a", "b"]}}},
        "source": {"ip": "10.0.0.1"},
    }
    row = flatten_document(doc)
    assert row["@timestamp"] == 1717243200123
    assert row["waf.action"] == "BLOCK"
    assert row["waf.rate_based_rules"] == '[{"id":"r"}]'
    assert row["http.request.headers"] == '{"host":"x","accept":["a","b"]}'
    assert row["url.domain"] is None
    table = pa.Table.from_pylist([row], schema=arrow_schema())
    assert table.column("@timestamp")[0].as_py().isoformat() == "2024-06-01T12:00:00.123000+00:00"
    assert table.column("waf.labels").to_pylist() == [["a", "b"]]
