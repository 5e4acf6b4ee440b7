"""The UpdateWebACL request is derived from botocore's WAFv2 model, never from a list.

A web ACL is generated with *every* member botocore's model gives ``WebACL``
(DataProtectionConfig, OnSourceDDoSProtectionConfig, ApplicationConfig and whatever comes
next); botocore's ``Stubber`` validates both the GetWebACL answer and our UpdateWebACL
request against the real model. A local HTTP server plays AWS answering with a field the
installed model does not know, through botocore's real parser.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.stub import Stubber

from rules_admin.webacl import WebAclError, apply_override, find_rule, parse_webacl_arn
from rules_admin.webacl_model import (
    UNMODELLED,
    UnsupportedWebAcl,
    carried_settings,
    check_carriable,
    update_spec,
)
from rules_admin.writer import UpdateRateLimiter, WebAclWriter, get_webacl

ARN = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/shop/abc-123"
MODEL = botocore.session.get_session().get_service_model("wafv2")


def example(shape: Shape, depth: int = 0) -> Any:
    """A model-valid value with every member of every structure (bounded depth)."""
    if isinstance(shape, StructureShape):
        members = shape.members.items()
        if depth > 6:  # deep recursive statements: required members only
            members = ((n, s) for n, s in members if n in shape.required_members)
        if shape.metadata.get("union"):  # exactly one member
            name, member = next(iter(shape.members.items()))
            return {name: example(member, depth + 1)}
        return {name: example(member, depth + 1) for name, member in members}
    if isinstance(shape, ListShape):
        return [example(shape.member, depth + 1)]
    if isinstance(shape, MapShape):
        return {"k": example(shape.value, depth + 1)}
    kind = shape.type_name
    if "enum" in shape.metadata:
        return shape.metadata["enum"][0]
    if kind == "string":
        return "x" * max(1, int(shape.metadata.get("min", 1)))
    if kind in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if kind in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if kind == "boolean":
        return False
    if kind == "blob":
        return b"x"
    if kind == "timestamp":
        return "2026-01-01T00:00:00Z"
    raise AssertionError(f"no example for {kind}")


def full_webacl() -> dict[str, Any]:
    """Every WebACL member of the model, with one custom rule we can override."""
    acl = example(MODEL.shape_for("WebACL"))
    acl.update(
        Name="shop",
        Id="abc-123",
        ManagedByFirewallManager=False,
        PreProcessFirewallManagerRuleGroups=[],
        PostProcessFirewallManagerRuleGroups=[],
        Description="shop ACL",
        Rules=[
            {
                "Name": "GeoBlock",
                "Priority": 0,
                "Action": {"Block": {}},
                "Statement": {"GeoMatchStatement": {"CountryCodes": ["KP"]}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "geo",
                },
            }
        ],
    )
    return acl


def stubbed_client() -> tuple[Any, Stubber]:
    client = botocore.session.get_session().create_client(
        "wafv2", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    return client, Stubber(client)


def test_the_settings_aws_added_since_the_hand_kept_list_are_carried() -> None:
    carried = set(carried_settings())
    assert {"DataProtectionConfig", "OnSourceDDoSProtectionConfig", "ApplicationConfig"} <= (
        carried
    )
    update = set(MODEL.operation_model("UpdateWebACL").input_shape.members)
    webacl = set(MODEL.shape_for("WebACL").members)
    assert carried == (update & webacl) - {"Name", "Id", "Scope", "LockToken"}


def test_an_override_write_carries_every_model_setting_exactly() -> None:
    """Through the writer, against botocore's model: the request holds every setting
    the ACL had, unchanged, and only the overridden rule differs."""
    acl = full_webacl()
    client, stubber = stubbed_client()
    response = {"WebACL": acl, "LockToken": "tok-1"}
    stubber.add_response("get_web_acl", copy.deepcopy(response))  # validated vs the model
    update = set(MODEL.operation_model("UpdateWebACL").input_shape.members)
    expected = {k: copy.deepcopy(v) for k, v in acl.items() if k in update}
    expected.update(Scope="REGIONAL", LockToken="tok-1")
    expected["Rules"][0]["Action"] = {"Count": {}}
    stubber.add_response("update_web_acl", {"NextLockToken": "tok-2"}, expected_params=expected)
    ref = parse_webacl_arn(ARN)
    writer = WebAclWriter(UpdateRateLimiter(0, sleep=lambda _: None), 3, 0.0)
    with stubber:
        read = get_webacl(client, ref)
        outcome = writer.write(client, ref, read, lambda a: apply_override(a, "GeoBlock"))
    stubber.assert_no_pending_responses()
    assert outcome.written and outcome.next_lock_token == "tok-2"
    for setting in ("DataProtectionConfig", "OnSourceDDoSProtectionConfig", "ApplicationConfig"):
        assert expected[setting] == acl[setting]


def test_a_setting_without_a_place_in_update_web_acl_is_refused() -> None:
    acl = full_webacl()
    acl["SomethingNew"] = {"Enabled": True}  # a member a newer model might add
    with pytest.raises(UnsupportedWebAcl, match="SomethingNew"):
        update_spec({"WebACL": acl, "LockToken": "t"}, "REGIONAL")


def test_firewall_manager_web_acls_are_refused_with_where_to_change_them() -> None:
    acl = full_webacl()
    acl["ManagedByFirewallManager"] = True
    with pytest.raises(UnsupportedWebAcl, match="Firewall Manager security policy"):
        check_carriable({"WebACL": acl, "LockToken": "t"})
    acl = full_webacl()
    acl["PreProcessFirewallManagerRuleGroups"] = [{"Name": "fms-baseline"}]
    with pytest.raises(WebAclError, match="pre-process"):
        find_rule(acl, "fms-baseline")


# -- a field the installed model does not know ---------------------------------------------


class _FakeWaf(BaseHTTPRequestHandler):
    """Answers GetWebACL with ``answer``; records every operation asked for."""

    answer: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        type(self).asked.append(operation)
        body = json.dumps(self.answer if operation == "GetWebACL" else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_waf() -> Iterator[tuple[Any, type[_FakeWaf]]]:
    handler = type("Handler", (_FakeWaf,), {"answer": {}, "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = botocore.session.get_session().create_client(
        "wafv2",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{server.server_address[1]}",
        aws_access_key_id="k",
        aws_secret_access_key="s",
    )
    yield client, handler
    server.shutdown()


def test_a_raw_field_botocore_drops_is_named_and_nothing_is_written(
    fake_waf: tuple[Any, type[_FakeWaf]],
) -> None:
    client, handler = fake_waf
    acl = full_webacl()
    acl["DataProtectionConfig"] = {"DataProtections": []}
    acl["FutureProtection"] = {"Mode": "ON"}  # not in the installed model
    handler.answer = {"WebACL": acl, "LockToken": "tok"}
    ref = parse_webacl_arn(ARN)
    read = get_webacl(client, ref)
    assert "FutureProtection" not in read["WebACL"]  # botocore's parser dropped it
    assert read[UNMODELLED] == ["WebACL.FutureProtection"]
    writer = WebAclWriter(UpdateRateLimiter(0, sleep=lambda _: None), 3, 0.0)
    with pytest.raises(UnsupportedWebAcl, match=r"WebACL\.FutureProtection"):
        writer.write(client, ref, read, lambda a: apply_override(a, "GeoBlock"))
    assert handler.asked == ["GetWebACL"]


def test_a_model_complete_answer_passes(fake_waf: tuple[Any, type[_FakeWaf]]) -> None:
    client, handler = fake_waf
    handler.answer = {"WebACL": full_webacl(), "LockToken": "tok"}
    read = get_webacl(client, parse_webacl_arn(ARN))
    assert read[UNMODELLED] == []
    check_carriable(read)


def test_an_update_member_get_web_acl_does_not_return_refuses_every_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rules_admin import webacl_model

    assert webacl_model.unsourced_update_members() == ()  # today's model
    monkeypatch.setattr(webacl_model, "unsourced_update_members", lambda: ("WriteOnlyThing",))
    with pytest.raises(UnsupportedWebAcl, match="WriteOnlyThing"):
        check_carriable({"WebACL": full_webacl(), "LockToken": "t"})
