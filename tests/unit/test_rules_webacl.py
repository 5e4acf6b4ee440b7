"""Pure web ACL logic: locate, override, exact revert, diff, UpdateWebACL spec, catalogue."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.generator.catalogue import MANAGED_GROUPS
from rules_admin.managed_rules import load_catalogue
from rules_admin.webacl import (
    SlotChanged,
    WebAclError,
    apply_override,
    describe_rules,
    diff,
    locate,
    parse_webacl_arn,
    revert_override,
)
from rules_admin.webacl_model import update_spec

VC = {"SampledRequestsEnabled": True, "CloudWatchMetricsEnabled": True, "MetricName": "m"}


def acl() -> dict[str, Any]:
    return {
        "Name": "shop",
        "Id": "abc-123",
        "ARN": "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/abc-123",
        "DefaultAction": {"Allow": {}},
        "Description": "",
        "VisibilityConfig": VC,
        "Capacity": 900,
        "LabelNamespace": "awswaf:123456789012:webacl:shop:",
        "Rules": [
            {
                "Name": "GeoBlock",
                "Priority": 0,
                "Action": {"Block": {"CustomResponse": {"ResponseCode": 451}}},
                "Statement": {"GeoMatchStatement": {"CountryCodes": ["KP"]}},
                "VisibilityConfig": VC,
            },
            {
                "Name": "AWS-AWSManagedRulesCommonRuleSet",
                "Priority": 1,
                "OverrideAction": {"None": {}},
                "Statement": {
                    "ManagedRuleGroupStatement": {
                        "VendorName": "AWS",
                        "Name": "AWSManagedRulesCommonRuleSet",
                        "ExcludedRules": [{"Name": "NoUserAgent_HEADER"}],
                        "RuleActionOverrides": [
                            {"Name": "GenericLFI_BODY", "ActionToUse": {"Captcha": {}}}
                        ],
                    }
                },
                "VisibilityConfig": VC,
            },
            {
                "Name": "Customer",
                "Priority": 2,
                "OverrideAction": {"None": {}},
                "Statement": {
                    "RuleGroupReferenceStatement": {
                        "ARN": "arn:aws:wafv2:eu-west-1:123456789012:regional/rulegroup/g/1"
                    }
                },
                "VisibilityConfig": VC,
            },
            {
                "Name": "AllowOffice",
                "Priority": 3,
                "Action": {"Allow": {}},
                "Statement": {"IPSetReferenceStatement": {"ARN": "arn:x"}},
                "VisibilityConfig": VC,
            },
        ],
    }


def group_statement(rules: list[dict[str, Any]], index: int = 1) -> dict[str, Any]:
    return rules[index]["Statement"]["ManagedRuleGroupStatement"]


def test_parse_arn_regional_and_cloudfront() -> None:
    ref = parse_webacl_arn("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/abc-123")
    assert (ref.scope, ref.region, ref.account, ref.name, ref.id) == (
        "REGIONAL",
        "eu-west-1",
        "123456789012",
        "shop",
        "abc-123",
    )
    cf = parse_webacl_arn("arn:aws:wafv2:us-east-1:123456789012:global/webacl/cdn/x-1")
    assert (cf.scope, cf.region) == ("CLOUDFRONT", "us-east-1")
    with pytest.raises(WebAclError):
        parse_webacl_arn("arn:aws:s3:::bucket")


def test_locate_three_shapes() -> None:
    web = acl()
    custom = locate(web, "GeoBlock")
    assert (custom.shape, custom.effective) == ("custom", "BLOCK")
    whole = locate(web, "AWS-AWSManagedRulesCommonRuleSet")
    assert (whole.shape, whole.effective, whole.slot) == ("rule_group", None, {"None": {}})
    sub = locate(web, "AWS-AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")
    assert (sub.shape, sub.slot, sub.effective) == ("group_rule", None, None)
    assert sub.group is not None and sub.group.name == "AWSManagedRulesCommonRuleSet"
    lfi = locate(web, "AWS-AWSManagedRulesCommonRuleSet", "GenericLFI_BODY")
    assert lfi.effective == "CAPTCHA"
    excluded = locate(web, "AWS-AWSManagedRulesCommonRuleSet", "NoUserAgent_HEADER")
    assert excluded.effective == "COUNT" and excluded.note == "listed in ExcludedRules"
    customer = locate(web, "Customer", "BlockXmlRpc")
    assert customer.group is not None and customer.group.kind == "customer"
    with pytest.raises(WebAclError, match="no rule 'Nope'"):
        locate(web, "Nope")
    with pytest.raises(WebAclError, match="not a rule group"):
        locate(web, "GeoBlock", "x")


def test_override_and_revert_custom_rule_exact() -> None:
    web = acl()
    change = apply_override(web, "GeoBlock")
    assert change.changed
    assert change.rules[0]["Action"] == {"Count": {}}
    assert change.before["Action"] == {"Block": {"CustomResponse": {"ResponseCode": 451}}}
    assert web["Rules"][0]["Action"]["Block"]  # input untouched
    web["Rules"] = change.rules
    back = revert_override(web, "GeoBlock", None, change.before, change.after)
    assert back.rules[0] == acl()["Rules"][0]


def test_override_and_revert_group_as_whole() -> None:
    web = acl()
    change = apply_override(web, "Customer")
    assert change.rules[2]["OverrideAction"] == {"Count": {}}
    web["Rules"] = change.rules
    back = revert_override(web, "Customer", None, change.before, change.after)
    assert back.rules[2]["OverrideAction"] == {"None": {}}


def test_sub_rule_entry_added_then_removed_with_the_list() -> None:
    web = acl()
    del group_statement(web["Rules"])["RuleActionOverrides"]
    change = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")
    assert group_statement(change.rules)["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}
    ]
    web["Rules"] = change.rules
    back = revert_override(
        web,
        "AWS-AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
        change.before,
        change.after,
    )
    assert "RuleActionOverrides" not in group_statement(back.rules)
    assert back.rules[1] == change.before


def test_sub_rule_existing_entry_replaced_in_place_and_restored() -> None:
    web = acl()
    change = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet", "GenericLFI_BODY")
    entries = group_statement(change.rules)["RuleActionOverrides"]
    assert entries == [{"Name": "GenericLFI_BODY", "ActionToUse": {"Count": {}}}]
    web["Rules"] = change.rules
    back = revert_override(
        web, "AWS-AWSManagedRulesCommonRuleSet", "GenericLFI_BODY", change.before, change.after
    )
    assert group_statement(back.rules)["RuleActionOverrides"] == [
        {"Name": "GenericLFI_BODY", "ActionToUse": {"Captcha": {}}}
    ]


def test_revert_keeps_other_edits_and_refuses_over_a_changed_slot() -> None:
    web = acl()
    change = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")
    web["Rules"] = copy.deepcopy(change.rules)
    # someone else adds another override in the same group: revert keeps it
    group_statement(web["Rules"])["RuleActionOverrides"].append(
        {"Name": "GenericRFI_BODY", "ActionToUse": {"Count": {}}}
    )
    back = revert_override(
        web,
        "AWS-AWSManagedRulesCommonRuleSet",
        "SizeRestrictions_BODY",
        change.before,
        change.after,
    )
    names = [e["Name"] for e in group_statement(back.rules)["RuleActionOverrides"]]
    assert names == ["GenericLFI_BODY", "GenericRFI_BODY"]
    # someone changes our entry to Block: revert refuses
    for entry in group_statement(web["Rules"])["RuleActionOverrides"]:
        if entry["Name"] == "SizeRestrictions_BODY":
            entry["ActionToUse"] = {"Block": {}}
    with pytest.raises(SlotChanged):
        revert_override(
            web,
            "AWS-AWSManagedRulesCommonRuleSet",
            "SizeRestrictions_BODY",
            change.before,
            change.after,
        )


def test_already_count_and_refusals() -> None:
    web = acl()
    excluded = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet", "NoUserAgent_HEADER")
    assert not excluded.changed and excluded.reason is not None
    assert excluded.reason.startswith("already COUNT")
    web["Rules"][1]["OverrideAction"] = {"Count": {}}
    whole = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet")
    assert not whole.changed
    inside = apply_override(web, "AWS-AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY")
    assert not inside.changed and "whole rule group" in (inside.reason or "")
    with pytest.raises(WebAclError, match="allows"):
        apply_override(web, "AllowOffice")


def test_diff_names_the_change() -> None:
    change = apply_override(acl(), "GeoBlock")
    text = diff(change.before, change.after, "GeoBlock")
    assert '-    "Block": {' in text and '+    "Count": {}' in text


def test_update_spec_complete_and_clean() -> None:
    web = acl()
    web["CustomResponseBodies"] = {"k": {"ContentType": "TEXT_PLAIN", "Content": "no"}}
    web["CaptchaConfig"] = {"ImmunityTimeProperty": {"ImmunityTime": 300}}
    web["ChallengeConfig"] = {"ImmunityTimeProperty": {"ImmunityTime": 300}}
    web["TokenDomains"] = ["example.com"]
    web["AssociationConfig"] = {
        "RequestBody": {"CLOUDFRONT": {"DefaultSizeInspectionLimit": "KB_16"}}
    }
    web["Rules"][0]["CaptchaConfig"] = None  # emulators return nulls
    spec = update_spec({"WebACL": web, "LockToken": "tok"}, "REGIONAL")
    assert spec["LockToken"] == "tok" and spec["Scope"] == "REGIONAL"
    assert set(spec) == {
        "Name",
        "Scope",
        "Id",
        "LockToken",
        "DefaultAction",
        "Rules",
        "VisibilityConfig",
        "CustomResponseBodies",
        "CaptchaConfig",
        "ChallengeConfig",
        "TokenDomains",
        "AssociationConfig",
    }  # no empty Description, no Capacity / LabelNamespace / ARN
    assert "CaptchaConfig" not in spec["Rules"][0]
    replaced = update_spec({"WebACL": web, "LockToken": "t"}, "REGIONAL", rules=[])
    assert replaced["Rules"] == []
    web["Description"] = "shop ACL"
    assert update_spec({"WebACL": web, "LockToken": "t"}, "CLOUDFRONT")["Description"] == "shop ACL"


def test_describe_rules() -> None:
    rows = {row["name"]: row for row in describe_rules(acl())}
    assert rows["GeoBlock"]["action"] == "BLOCK"
    crs = rows["AWS-AWSManagedRulesCommonRuleSet"]
    assert crs["rule_action_overrides"] == {"GenericLFI_BODY": "CAPTCHA"}
    assert crs["excluded_rules"] == ["NoUserAgent_HEADER"]
    assert rows["Customer"]["group_kind"] == "customer"


def test_catalogue_has_source_and_the_generator_rule_names() -> None:
    catalogue = load_catalogue()
    assert catalogue.source_url.startswith("https://docs.aws.amazon.com/waf/")
    assert catalogue.retrieved
    for group in (
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesSQLiRuleSet",
        "AWSManagedRulesLinuxRuleSet",
        "AWSManagedRulesUnixRuleSet",
        "AWSManagedRulesWindowsRuleSet",
        "AWSManagedRulesPHPRuleSet",
        "AWSManagedRulesWordPressRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
        "AWSManagedRulesAnonymousIpList",
        "AWSManagedRulesAdminProtectionRuleSet",
        "AWSManagedRulesBotControlRuleSet",
    ):
        assert catalogue.rules(group), group
    for name, group_def in MANAGED_GROUPS.items():
        known = catalogue.rules(name)
        assert known is not None, name
        missing = {sub.name for sub in group_def.rules} - known
        assert not missing, f"generator rules not in the catalogue for {name}: {missing}"


def test_rate_limiter_spaces_calls_per_account_and_region() -> None:
    from rules_admin.writer import UpdateRateLimiter

    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = UpdateRateLimiter(1.0, clock=lambda: now[0], sleep=sleep)
    a, b = ("111111111111", "eu-west-1"), ("111111111111", "us-east-1")
    assert limiter.wait(a) == 0
    assert limiter.wait(b) == 0  # another region: its own budget
    assert limiter.wait(a) == pytest.approx(1.0)
    now[0] += 5
    assert limiter.wait(a) == 0
    assert slept == [pytest.approx(1.0)]


def test_writer_retries_lock_conflicts_then_gives_up() -> None:
    from botocore.exceptions import ClientError

    from rules_admin.writer import LockExhausted, UpdateRateLimiter, WebAclWriter

    ref = parse_webacl_arn("arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/shop/abc-123")
    lock = ClientError({"Error": {"Code": "WAFOptimisticLockException"}}, "UpdateWebACL")

    class Fake:
        def __init__(self, conflicts: int) -> None:
            self.conflicts = conflicts
            self.tokens: list[str] = []
            self.reads = 0

        def get_web_acl(self, **_: Any) -> dict[str, Any]:
            self.reads += 1
            return {"WebACL": acl(), "LockToken": f"t{self.reads}"}

        def update_web_acl(self, **kwargs: Any) -> dict[str, Any]:
            self.tokens.append(kwargs["LockToken"])
            if self.conflicts:
                self.conflicts -= 1
                raise lock
            return {"NextLockToken": "next"}

    sleeps: list[float] = []
    writer = WebAclWriter(UpdateRateLimiter(0), 3, 0.1, sleeps.append)
    fake = Fake(conflicts=2)
    out = writer.write(
        fake, ref, {"WebACL": acl(), "LockToken": "t0"}, lambda web: apply_override(web, "GeoBlock")
    )
    assert out.written and out.attempts == 3 and out.next_lock_token == "next"
    assert fake.tokens == ["t0", "t1", "t2"]  # every retry uses a fresh read's token
    assert len(sleeps) == 2 and 0.05 <= sleeps[0] <= 0.15 and 0.1 <= sleeps[1] <= 0.3
    with pytest.raises(LockExhausted):
        writer.write(
            Fake(conflicts=10),
            ref,
            {"WebACL": acl(), "LockToken": "t0"},
            lambda web: apply_override(web, "GeoBlock"),
        )
