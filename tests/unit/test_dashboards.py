"""opensearch-templates/dashboards.ndjson: OpenSearch Dashboards saved objects that import.

No Dashboards server runs here, so the file is checked the way the import API reads it:
one JSON object per line with type, id and attributes; JSON-in-string attributes parse;
every reference (dashboard panels, visualization index) resolves to an object in the
file; every aggregated field exists in the schema's OpenSearch mapping with a type that
can be aggregated (never ``text``, a disabled object or ``flat_object``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from wafsiem.schema import FIELDS, index_template, opensearch_mapping

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "opensearch-templates" / "dashboards.ndjson"
AGGREGATABLE = {"keyword", "ip", "date", "long", "integer", "boolean"}
INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"
# what the issue asks the dashboard to show: a field each
WANTED = {
    "waf.terminating_rule.id",
    "source.ip",
    "url.path",
    "source.geo.country_iso_code",
    "url.domain",
    "waf.labels",
}


def load() -> list[dict[str, Any]]:
    lines = [line for line in DASHBOARDS.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def by_key() -> dict[tuple[str, str], dict[str, Any]]:
    return {(obj["type"], obj["id"]): obj for obj in load()}


def mapping_type(field: str) -> str | None:
    """The mapped type of a dotted field in the index template's mapping, or None."""
    node: dict[str, Any] = {"properties": opensearch_mapping()["properties"]}
    for part in field.split("."):
        props = node.get("properties")
        if props is None or part not in props:
            return None
        node = props[part]
    mapped = node.get("type", "object")
    if node.get("index") is False or node.get("enabled") is False:
        return None
    return str(mapped)


def visualizations() -> list[dict[str, Any]]:
    return [obj for obj in load() if obj["type"] == "visualization"]


def test_every_object_has_type_id_attributes_and_unique_ids() -> None:
    objects = load()
    assert objects
    for obj in objects:
        assert obj.keys() >= {"type", "id", "attributes", "references"}, obj.get("id")
        assert obj["type"] in {"index-pattern", "visualization", "dashboard"}
        assert isinstance(obj["attributes"], dict) and obj["attributes"].get("title")
        assert re.fullmatch(r"[a-z0-9-]+", obj["id"]), obj["id"]
    assert len(by_key()) == len(objects), "duplicate (type, id)"
    assert sum(obj["type"] == "dashboard" for obj in objects) == 1


def test_index_pattern_is_the_daily_indices() -> None:
    patterns = [obj for obj in load() if obj["type"] == "index-pattern"]
    assert len(patterns) == 1
    attributes = patterns[0]["attributes"]
    assert attributes["title"] == "waf-logs-*"
    assert index_template()["index_patterns"] == [attributes["title"]]
    assert attributes["timeFieldName"] == "@timestamp"
    assert mapping_type("@timestamp") == "date"


def test_json_in_string_attributes_parse() -> None:
    for obj in load():
        attributes = obj["attributes"]
        for name in ("visState", "uiStateJSON", "panelsJSON", "optionsJSON"):
            if name in attributes:
                json.loads(attributes[name])
        meta = attributes.get("kibanaSavedObjectMeta")
        if meta is not None:
            json.loads(meta["searchSourceJSON"])


def test_every_reference_resolves_and_every_ref_name_is_declared() -> None:
    objects = by_key()
    for obj in objects.values():
        names = [ref["name"] for ref in obj["references"]]
        assert len(names) == len(set(names)), obj["id"]
        for ref in obj["references"]:
            assert (ref["type"], ref["id"]) in objects, f"{obj['id']} -> {ref}"
        attributes = obj["attributes"]
        if obj["type"] == "dashboard":
            panels = json.loads(attributes["panelsJSON"])
            assert panels
            for panel in panels:
                assert panel["panelRefName"] in names, panel
                assert set(panel["gridData"]) >= {"x", "y", "w", "h", "i"}
            assert len({p["panelIndex"] for p in panels}) == len(panels)
            panel_refs = {p["panelRefName"] for p in panels}
            assert {r["name"] for r in obj["references"]} == panel_refs
        if obj["type"] == "visualization":
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            assert source["indexRefName"] in names
            index_ref = next(r for r in obj["references"] if r["name"] == source["indexRefName"])
            assert index_ref["type"] == "index-pattern"


def test_the_dashboard_shows_every_visualization() -> None:
    dashboard = next(obj for obj in load() if obj["type"] == "dashboard")
    shown = {ref["id"] for ref in dashboard["references"] if ref["type"] == "visualization"}
    assert shown == {obj["id"] for obj in visualizations()}


def _aggregated_fields(vis: dict[str, Any]) -> list[str]:
    state = json.loads(vis["attributes"]["visState"])
    assert state["title"] == vis["attributes"]["title"]
    return [agg["params"]["field"] for agg in state["aggs"] if "field" in agg.get("params", {})]


@pytest.mark.parametrize("vis_id", [obj["id"] for obj in visualizations()])
def test_aggregated_fields_exist_in_the_schema_and_are_aggregatable(vis_id: str) -> None:
    vis = by_key()[("visualization", vis_id)]
    fields = _aggregated_fields(vis)
    assert fields, f"{vis_id} aggregates no field"
    names = {spec.name for spec in FIELDS} | {
        f"{spec.name}.{sub}" for spec in FIELDS for sub in spec.properties
    }
    for field in fields:
        assert field in names, f"{vis_id}: {field} is not a schema field"
        assert mapping_type(field) in AGGREGATABLE, f"{vis_id}: {field} is not aggregatable"


def test_query_fields_exist_in_the_schema() -> None:
    for obj in load():
        meta = obj["attributes"].get("kibanaSavedObjectMeta")
        if not meta:
            continue
        query = json.loads(meta["searchSourceJSON"])["query"]
        assert query["language"] == "kuery"
        for field in re.findall(r"([@\w.]+)\s*:", query["query"]):
            assert mapping_type(field) is not None, f"{obj['id']}: {field}"


def test_the_issue_fields_each_have_a_visualization() -> None:
    used = {field for vis in visualizations() for field in _aggregated_fields(vis)}
    assert used >= WANTED | {"@timestamp"}
