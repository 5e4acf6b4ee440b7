"""The rule evaluation model: overrides, termination, group lists, labels, tokens."""

from __future__ import annotations

import orjson

from ingest.generator.catalogue import (
    BOT_CONTROL,
    CRS,
    R_BOT,
    R_CAPTCHA,
    R_CRS,
    R_GEO,
    R_RATE_LOGIN,
    R_SQLI,
    build_acls,
)
from ingest.generator.engine import Engine

ACLS = {a.name: a for a in build_acls("111122223333", "444455556666")}


def test_default_allow_lists_every_group() -> None:
    engine = Engine(list(ACLS.values()))
    acl = ACLS["shop-eu-prod"]
    v = engine.verdict(acl)
    assert (v.action, v.terminating_rule_id, v.terminating_rule_type) == (
        "ALLOW",
        "Default_Action",
        "REGULAR",
    )
    groups = orjson.loads(v.rule_group_list)
    expected = [r.group.group_id for r in acl.rules if r.group is not None]
    assert [g["ruleGroupId"] for g in groups] == expected
    assert all(g["terminatingRule"] is None for g in groups)
    assert v.geo  # the geo match statement ran
    assert engine.verdict(acl) is v  # cached


def test_terminating_sub_rule_stops_evaluation() -> None:
    engine = Engine(list(ACLS.values()))
    v = engine.verdict(ACLS["shop-eu-prod"], ((R_CRS, "SizeRestrictions_BODY"),))
    assert (v.action, v.terminating_rule_type, v.group, v.sub_rule) == (
        "BLOCK",
        "MANAGED_RULE_GROUP",
        CRS.group_id,
        "SizeRestrictions_BODY",
    )
    groups = orjson.loads(v.rule_group_list)
    assert groups[-1]["ruleGroupId"] == CRS.group_id
    assert groups[-1]["terminatingRule"] == {
        "ruleId": "SizeRestrictions_BODY",
        "action": "BLOCK",
        "ruleMatchDetails": None,
    }
    assert "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body" in v.labels


def test_override_to_count_lets_the_request_through() -> None:
    engine = Engine(list(ACLS.values()))
    v = engine.verdict(ACLS["shop-us-prod"], ((R_CRS, "SizeRestrictions_BODY"),))
    assert v.action == "ALLOW"
    crs = next(g for g in orjson.loads(v.rule_group_list) if g["ruleGroupId"] == CRS.group_id)
    assert crs["nonTerminatingMatchingRules"] == [
        {
            "ruleId": "SizeRestrictions_BODY",
            "action": "COUNT",
            "overriddenAction": "BLOCK",
            "ruleMatchDetails": [],
        }
    ]
    assert f"{R_CRS}:SizeRestrictions_BODY" in v.counted
    assert "awswaf:managed:aws:core-rule-set:SizeRestrictions_Body" in v.labels


def test_first_matching_rule_wins_and_later_groups_are_absent() -> None:
    engine = Engine(list(ACLS.values()))
    v = engine.verdict(
        ACLS["shop-eu-prod"], ((R_SQLI, "SQLi_QUERYARGUMENTS"), (R_CRS, "UserAgent_BadBots_HEADER"))
    )
    assert v.sub_rule == "UserAgent_BadBots_HEADER"
    assert BOT_CONTROL.group_id not in v.rule_group_list.decode()


def test_rate_based_and_geo_rules() -> None:
    engine = Engine(list(ACLS.values()))
    rate = engine.verdict(ACLS["shop-eu-prod"], ((R_RATE_LOGIN, None),))
    assert (rate.action, rate.terminating_rule_type) == ("BLOCK", "RATE_BASED")
    assert orjson.loads(rate.rate_based)[0]["evaluationWindowSec"] == "300"
    assert orjson.loads(rate.rule_group_list) == [] and not rate.geo
    geo = engine.verdict(ACLS["shop-eu-prod"], ((R_GEO, None),))
    assert (geo.terminating_rule_id, geo.geo) == (R_GEO, True)


def test_matches_for_missing_rules_are_ignored() -> None:
    engine = Engine(list(ACLS.values()))
    v = engine.verdict(ACLS["public-api"], ((R_BOT, "CategoryHttpLibrary"),))
    assert v.action == "ALLOW" and not v.labels


def test_captcha_token_missing_terminates_valid_token_passes() -> None:
    engine = Engine(list(ACLS.values()))
    acl = ACLS["shop-eu-prod"]
    missing = engine.verdict(acl, ((R_CAPTCHA, None),), token_valid=False)
    assert (missing.action, missing.response_code, missing.token) == ("CAPTCHA", 405, "captcha")
    solved = engine.verdict(acl, ((R_CAPTCHA, None),), token_valid=True)
    assert solved.action == "ALLOW" and solved.solved == "captcha"
    assert orjson.loads(solved.non_terminating)[0]["action"] == "CAPTCHA"


def test_verdict_pieces_make_valid_json() -> None:
    engine = Engine(list(ACLS.values()))
    v = engine.verdict(ACLS["corp-web"], ((R_CRS, "CrossSiteScripting_BODY"),))
    document = (
        b'{"timestamp":1' + v.head + b"[]" + b',"httpSourceName":"CF"' + v.tail + b'"1.2.3.4"}}'
    )
    record = orjson.loads(document)
    assert record["terminatingRuleId"] == R_CRS and record["httpRequest"]["clientIp"] == "1.2.3.4"
