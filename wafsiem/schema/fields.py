"""The one definition of a wafsiem document: a list of field specs.

Every other view of the schema (the pydantic model, the Arrow schema, the OpenSearch
mapping and ``docs/schema.md``) is derived from :data:`FIELDS`. Field names are ECS-style
dotted paths; documents nest them (``{"waf": {"action": ...}}``), Arrow/Parquet uses the
dotted name as a flat column name (``"waf.action"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FieldType = Literal[
    "keyword",
    "date",
    "ip",
    "long",
    "integer",
    "boolean",
    "flat_object",
    "object",
    "stored",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the document.

    ``properties`` (objects only) declares the indexed sub-fields of an object as
    ``{"sub.path": type}``; any other key inside the object stays in ``_source`` only.
    """

    name: str
    type: FieldType
    source: str
    description: str
    multi: bool = False
    properties: dict[str, FieldType] = field(default_factory=dict)
    ignore_above: int | None = None


_MATCH: dict[str, FieldType] = {
    "condition_type": "keyword",
    "location": "keyword",
    "matched_data": "keyword",
    "matched_field_name": "keyword",
    "sensitivity_level": "keyword",
}
_RULE: dict[str, FieldType] = {
    "id": "keyword",
    "action": "keyword",
    "overridden_action": "keyword",
    **{f"match.{k}": v for k, v in _MATCH.items()},
}


_RULE_INDEXED: dict[str, FieldType] = {
    "id": "keyword",
    "action": "keyword",
    "overridden_action": "keyword",
}


def _prefixed(prefix: str, props: dict[str, FieldType]) -> dict[str, FieldType]:
    return {f"{prefix}.{k}": v for k, v in props.items()}


FIELDS: list[FieldSpec] = [
    FieldSpec("@timestamp", "date", "timestamp", "When AWS WAF received the request (UTC, ms)."),
    FieldSpec(
        "event.id",
        "keyword",
        "(derived)",
        "First 32 hex digits of the SHA-256 of the record bytes as received, "
        "taken before sensitive headers are hashed; the OpenSearch `_id`.",
    ),
    FieldSpec(
        "event.original",
        "stored",
        "(whole record)",
        "The record as received; re-serialised only when sensitive header values were "
        "replaced by their keyed hash. Stored, not indexed.",
    ),
    FieldSpec(
        "waf.action", "keyword", "action", "Terminating action: ALLOW, BLOCK, CAPTCHA, CHALLENGE."
    ),
    FieldSpec("waf.format_version", "integer", "formatVersion", "Log format version."),
    FieldSpec("waf.webacl.arn", "keyword", "webaclId", "Web ACL ARN."),
    FieldSpec("waf.webacl.name", "keyword", "webaclId", "Web ACL name, from the ARN."),
    FieldSpec(
        "waf.webacl.id", "keyword", "webaclId", "Web ACL id (the GUID at the end of the ARN)."
    ),
    FieldSpec(
        "waf.webacl.scope",
        "keyword",
        "webaclId",
        "REGIONAL, or CLOUDFRONT for `global/webacl` ARNs.",
    ),
    FieldSpec("cloud.account.id", "keyword", "webaclId", "AWS account of the web ACL."),
    FieldSpec(
        "cloud.region", "keyword", "webaclId", "Region of the web ACL (us-east-1 for CloudFront)."
    ),
    FieldSpec(
        "waf.terminating_rule.id",
        "keyword",
        "terminatingRuleId",
        "Rule that terminated inspection, or Default_Action.",
    ),
    FieldSpec(
        "waf.terminating_rule.type",
        "keyword",
        "terminatingRuleType",
        "REGULAR, RATE_BASED, GROUP or MANAGED_RULE_GROUP.",
    ),
    FieldSpec(
        "waf.terminating_rule.group",
        "keyword",
        "ruleGroupList[].ruleGroupId",
        "The ruleGroupId of the group whose terminatingRule is set (and not overridden to COUNT).",
    ),
    FieldSpec(
        "waf.terminating_rule.group_rule",
        "keyword",
        "ruleGroupList[].terminatingRule.ruleId",
        "That group's terminating rule, e.g. SizeRestrictions_BODY.",
    ),
    FieldSpec(
        "waf.terminating_rule.match",
        "object",
        "terminatingRuleMatchDetails",
        "Match details of the terminating rule (SQLi/XSS/regex): list of objects with "
        "condition_type, location, matched_data, matched_field_name, sensitivity_level.",
        multi=True,
        properties=dict(_MATCH),
    ),
    FieldSpec(
        "waf.counted_rules",
        "keyword",
        "nonTerminatingMatchingRules, ruleGroupList[]",
        "Every rule that matched with COUNT (action COUNT, overriddenAction COUNT, or excluded): "
        "top-level rules by ruleId, rules inside a group as `GroupName:RuleId`.",
        multi=True,
    ),
    FieldSpec(
        "waf.excluded_rules",
        "keyword",
        "ruleGroupList[].excludedRules",
        "Rules excluded inside rule groups, as `GroupName:RuleId`.",
        multi=True,
    ),
    FieldSpec(
        "waf.non_terminating_rules",
        "object",
        "nonTerminatingMatchingRules",
        "Top-level non-terminating matches: id, action, overridden_action, match "
        "(match details kept in `_source`, not indexed).",
        multi=True,
        properties=dict(_RULE_INDEXED),
    ),
    FieldSpec(
        "waf.rule_groups",
        "object",
        "ruleGroupList",
        "Rule groups that acted on the request: id, terminating_rule, "
        "non_terminating_rules, excluded_rules (id, exclusion_type).",
        multi=True,
        # Every evaluated group is listed on every record, so indexing each sub-field is
        # what costs most when indexing; rule ids are indexed, match details stay in
        # _source (the terminating match is indexed as waf.terminating_rule.match).
        properties={
            "id": "keyword",
            **_prefixed("terminating_rule", _RULE_INDEXED),
            **_prefixed("non_terminating_rules", _RULE_INDEXED),
            "excluded_rules.id": "keyword",
        },
    ),
    FieldSpec("waf.labels", "keyword", "labels[].name", "Labels on the request.", multi=True),
    FieldSpec(
        "waf.rate_based_rules",
        "object",
        "rateBasedRuleList",
        "Rate-based rules that acted on the request: id, name, limit_key, max_rate_allowed, "
        "evaluation_window_sec (integer seconds), limit_value, custom_values (key, name, value).",
        multi=True,
        properties={
            "id": "keyword",
            "name": "keyword",
            "limit_key": "keyword",
            "max_rate_allowed": "long",
            "evaluation_window_sec": "integer",
            "limit_value": "keyword",
            "custom_values.key": "keyword",
            "custom_values.name": "keyword",
            "custom_values.value": "keyword",
        },
    ),
    FieldSpec(
        "waf.http_source.name",
        "keyword",
        "httpSourceName",
        "CF, APIGW, ALB, APPSYNC, COGNITOIDP, APPRUNNER, VERIFIED_ACCESS (`-` becomes absent).",
    ),
    FieldSpec(
        "waf.http_source.id",
        "keyword",
        "httpSourceId",
        "Id of the protected resource (`-` becomes absent).",
    ),
    FieldSpec(
        "waf.distribution_tenant_id",
        "keyword",
        "cfDistributionTenantId",
        "CloudFront distribution tenant.",
    ),
    FieldSpec(
        "waf.response_code_sent", "integer", "responseCodeSent", "Status code of a custom response."
    ),
    FieldSpec(
        "waf.request_headers_inserted",
        "flat_object",
        "requestHeadersInserted",
        "Headers inserted by custom request handling, by lower-cased name.",
    ),
    FieldSpec(
        "waf.captcha.response_code",
        "integer",
        "captchaResponse.responseCode",
        "CAPTCHA response code (405 when terminating).",
    ),
    FieldSpec(
        "waf.captcha.solve_timestamp",
        "date",
        "captchaResponse.solveTimestamp",
        "When the CAPTCHA was last solved (0 becomes absent).",
    ),
    FieldSpec(
        "waf.captcha.failure_reason",
        "keyword",
        "captchaResponse.failureReason",
        "e.g. TOKEN_MISSING, TOKEN_EXPIRED.",
    ),
    FieldSpec(
        "waf.challenge.response_code",
        "integer",
        "challengeResponse.responseCode",
        "Challenge response code (202 when terminating).",
    ),
    FieldSpec(
        "waf.challenge.solve_timestamp",
        "date",
        "challengeResponse.solveTimestamp",
        "When the challenge was last solved (0 becomes absent).",
    ),
    FieldSpec(
        "waf.challenge.failure_reason",
        "keyword",
        "challengeResponse.failureReason",
        "e.g. TOKEN_MISSING.",
    ),
    FieldSpec(
        "waf.oversize_fields",
        "keyword",
        "oversizeFields",
        "Request parts over the inspection limit.",
        multi=True,
    ),
    FieldSpec(
        "source.ip",
        "ip",
        "httpRequest.clientIp",
        "Client address (IPv4 or IPv6; an IPv4-mapped IPv6 address is written as IPv4).",
    ),
    FieldSpec("source.as.number", "long", "clientAsn", "Client autonomous system number."),
    FieldSpec(
        "source.geo.country_iso_code",
        "keyword",
        "httpRequest.country",
        "Client country (`-` becomes absent).",
    ),
    FieldSpec(
        "url.domain", "keyword", "httpRequest.host, Host header", "Host, lower-cased, without port."
    ),
    FieldSpec(
        "url.port", "integer", "httpRequest.host, Host header", "Port given in the host, if any."
    ),
    FieldSpec("url.path", "keyword", "httpRequest.uri", "Request path.", ignore_above=8191),
    FieldSpec(
        "url.query",
        "keyword",
        "httpRequest.args",
        "Query string (empty becomes absent).",
        ignore_above=8191,
    ),
    FieldSpec(
        "url.fragment", "keyword", "httpRequest.fragment", "Fragment (empty becomes absent)."
    ),
    FieldSpec("url.scheme", "keyword", "httpRequest.scheme", "http or https."),
    FieldSpec("http.request.method", "keyword", "httpRequest.httpMethod", "HTTP method."),
    FieldSpec("http.version", "keyword", "httpRequest.httpVersion", "e.g. HTTP/2.0."),
    FieldSpec(
        "http.request.id",
        "keyword",
        "httpRequest.requestId",
        "Request id of the host service (`null` becomes absent).",
    ),
    FieldSpec(
        "http.request.headers",
        "flat_object",
        "httpRequest.headers",
        "Headers by lower-cased name; a repeated name keeps every value as a list. "
        "Sensitive headers hold `hmac-sha256:<32 hex>`.",
    ),
    FieldSpec("user_agent.original", "keyword", "User-Agent header", "User agent."),
    FieldSpec("http.request.referrer", "keyword", "Referer header", "Referrer.", ignore_above=8191),
    FieldSpec("http.request.body.bytes", "long", "requestBodySize", "Request body size."),
    FieldSpec(
        "http.request.body.inspected_bytes",
        "long",
        "requestBodySizeInspectedByWAF",
        "Body bytes AWS WAF inspected.",
    ),
    FieldSpec("tls.client.ja3", "keyword", "ja3Fingerprint", "JA3 fingerprint."),
    FieldSpec("tls.client.ja4", "keyword", "ja4Fingerprint", "JA4 fingerprint."),
]

FIELDS_BY_NAME: dict[str, FieldSpec] = {spec.name: spec for spec in FIELDS}
