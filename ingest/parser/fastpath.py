"""The fast path of :func:`ingest.parser.transform.build_document`.

:func:`build_fast` gives exactly the document ``build_document`` gives (same keys, same
values, same key order, so the same bytes once serialised), with less Python work per
record: the common, well-typed shape of each field is handled inline (one class check,
no helper call), and anything else goes to the same careful helper the general path uses.

It returns ``None``, having changed nothing, when a required field (timestamp, action,
httpRequest, clientIp) is not in its usual shape (an int in range, a non-empty str, a
dict, an address): the caller then runs the general path, which accepts the field or
raises the right :class:`~ingest.parser.transform.RecordError`. Past those checks it
never gives up, so the record's header values are hashed in place at most once.

Per-stream state (:class:`FastContext`): the header hasher and small bounded caches of the
web ACL ARN parts and of the Host -> (domain, port) split.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson

from ingest.parser.options import ParserOptions
from ingest.parser.rules import (
    action_response,
    add_rule_fields,
    as_int,
    match_details,
    rate_based_rules,
)
from ingest.parser.transform import (
    _IPV4,
    _MAX_TIMESTAMP_MS,
    _MILLIS,
    _PLACEHOLDERS,
    _client_ip,
    _headers,
    _headers_slow,
    _hide_rate_headers,
    _last_second,
    _sha256,
    _split_host,
    _webacl_parts,
    header_hasher,
    iso_timestamp,
)

_dumps = orjson.dumps
_join = "".join
_INT32_MIN = -(2**31)
_INT32_END = 2**31
_INT64_END = 2**63
_CACHE_LIMIT = 1024

# (webacl object to copy, cloud.region or None, cloud.account.id or None)
WebaclParts = tuple[dict[str, str], str | None, str | None]
_NAME = itemgetter("name")
_SHA256_EMPTY = _sha256()


class FastContext:
    """What :func:`build_fast` needs, resolved once per stream (not shared between
    streams, so the caches are bounded by the stream and by ``_CACHE_LIMIT``)."""

    __slots__ = ("hasher", "hosts", "keep_original", "lower_names", "sensitive", "webacls")

    def __init__(self, options: ParserOptions) -> None:
        self.hasher = header_hasher(options)
        self.sensitive = self.hasher.names
        self.keep_original = options.keep_original
        self.webacls: dict[str, WebaclParts] = {}
        self.hosts: dict[str, tuple[str, int | None]] = {}
        self.lower_names: dict[str, str] = {}

    def lower_name(self, name: str) -> str:
        """``name.lower()``, remembered (header names repeat from record to record)."""
        lower = name.lower()  # AttributeError unless a str
        if len(self.lower_names) >= _CACHE_LIMIT:
            self.lower_names.clear()
        self.lower_names[name] = lower
        return lower

    def webacl(self, webacl_id: str) -> WebaclParts:
        parts = _webacl_parts(webacl_id)
        cloud = parts["cloud"]
        account = cloud.get("account")
        entry: WebaclParts = (
            dict(parts["webacl"]),
            cloud.get("region"),
            account["id"] if account is not None else None,
        )
        if len(self.webacls) >= _CACHE_LIMIT:
            self.webacls.clear()
        self.webacls[webacl_id] = entry
        return entry

    def host(self, host: str) -> tuple[str, int | None]:
        split = _split_host(host)
        if len(self.hosts) >= _CACHE_LIMIT:
            self.hosts.clear()
        self.hosts[host] = split
        return split


def build_fast(
    record: dict[str, Any], raw: bytes, ctx: FastContext
) -> tuple[str, int, dict[str, Any]] | None:
    """(event id, @timestamp ms, document) like ``build_document``, or None (see module
    doc) when the general path must decide."""
    get = record.get
    timestamp = get("timestamp")
    if timestamp.__class__ is not int or not 0 <= timestamp <= _MAX_TIMESTAMP_MS:
        return None
    action = get("action")
    if action.__class__ is not str or not action:
        return None
    request = get("httpRequest")
    if request.__class__ is not dict:
        return None
    rget = request.get
    client_ip = rget("clientIp")
    if client_ip.__class__ is not str or _IPV4(client_ip) is None:
        client_ip = _client_ip(client_ip)
        if client_ip is None:
            return None

    # -- past this point the fast path always finishes --
    digest = _SHA256_EMPTY.copy()  # cheaper than a new OpenSSL context per record
    digest.update(raw)
    event_id = digest.hexdigest()[:32]
    hasher = ctx.hasher
    replaced = False
    entries = rget("headers")
    if entries.__class__ is list and entries:
        headers = {}
        lower_names = ctx.lower_names
        try:  # well-formed entries, string values, no repeated names
            for entry in entries:
                name = entry["name"]
                lower = lower_names.get(name)  # TypeError if unhashable
                if lower is None:
                    lower = ctx.lower_name(name)  # AttributeError unless a str
                headers[lower] = entry["value"]
            _join(headers.values())  # TypeError unless every value is a str
            if len(headers) != len(entries):
                raise TypeError
        except (TypeError, KeyError, AttributeError):
            headers, replaced = _headers_slow(entries, hasher)
        else:
            if not ctx.sensitive.isdisjoint(headers):
                hidden = ctx.sensitive.intersection(headers)
                hash_value = hasher.hash_value
                for entry in entries:
                    lower = lower_names.get(entry["name"]) or entry["name"].lower()
                    if lower in hidden:
                        entry["value"] = headers[lower] = hash_value(entry["value"])
                replaced = True
    else:
        headers = {}

    terminating: dict[str, Any] = {}
    text = get("terminatingRuleId")
    if text.__class__ is str and text:
        terminating["id"] = text
    text = get("terminatingRuleType")
    if text.__class__ is str and text:
        terminating["type"] = text
    value = get("terminatingRuleMatchDetails")
    if value:
        match = match_details(value)
        if match is not None:
            terminating["match"] = match
    waf: dict[str, Any] = {"action": action, "terminating_rule": terminating}

    value = get("formatVersion")
    if value is not None:
        if value.__class__ is not int:
            value = as_int(value)
        if value is not None and _INT32_MIN <= value < _INT32_END:
            waf["format_version"] = value
    cloud: dict[str, Any] | None = None
    webacl_id = get("webaclId")
    if webacl_id.__class__ is str and webacl_id:
        parts = ctx.webacls.get(webacl_id)
        if parts is None:
            parts = ctx.webacl(webacl_id)
        waf["webacl"] = parts[0].copy()
        region, account = parts[1], parts[2]
        if region is not None:
            if account is not None:
                cloud = {"region": region, "account": {"id": account}}
            else:
                cloud = {"region": region}
        elif account is not None:
            cloud = {"account": {"id": account}}

    non_terminating = get("nonTerminatingMatchingRules")
    if non_terminating or get("ruleGroupList"):
        add_rule_fields(record, waf)
    if not terminating:
        del waf["terminating_rule"]

    labels = get("labels")
    if labels and labels.__class__ is list:
        try:  # every label a {"name": non-empty str}
            names = list(map(_NAME, labels))
            _join(names)  # TypeError unless every name is a str
            if "" in names:
                raise TypeError
        except (TypeError, KeyError):
            names = [
                item["name"]
                for item in labels
                if item.__class__ is dict and (name := item.get("name")).__class__ is str and name
            ]
        if names:
            waf["labels"] = names
    rate_replaced = False
    value = get("rateBasedRuleList")
    if value:
        rate_rules = rate_based_rules(value, hasher.hide)
        if rate_rules is not None:
            waf["rate_based_rules"] = rate_rules
            rate_replaced = _hide_rate_headers(record, hasher)

    name = get("httpSourceName")
    if name.__class__ is not str or name in _PLACEHOLDERS:
        name = None
    source_id = get("httpSourceId")
    if source_id.__class__ is not str or source_id in _PLACEHOLDERS:
        source_id = None
    if name is not None:
        waf["http_source"] = (
            {"name": name} if source_id is None else {"name": name, "id": source_id}
        )
    elif source_id is not None:
        waf["http_source"] = {"id": source_id}
    text = get("cfDistributionTenantId")
    if text.__class__ is str and text:
        waf["distribution_tenant_id"] = text
    value = get("responseCodeSent")
    if value is not None:
        if value.__class__ is not int:
            value = as_int(value)
        if value is not None and _INT32_MIN <= value < _INT32_END:
            waf["response_code_sent"] = value
    inserted_replaced = False
    value = get("requestHeadersInserted")
    if value:
        inserted, inserted_replaced = _headers(value, hasher)
        if inserted:
            waf["request_headers_inserted"] = inserted
    if non_terminating or get("captchaResponse").__class__ is dict:
        response = action_response(record, "captchaResponse")
        if response is not None:
            waf["captcha"] = response
    if non_terminating or get("challengeResponse").__class__ is dict:
        response = action_response(record, "challengeResponse")
        if response is not None:
            waf["challenge"] = response
    oversize = get("oversizeFields")
    if oversize:
        if oversize.__class__ is str:
            waf["oversize_fields"] = [oversize]
        elif oversize.__class__ is list:
            kept = [item for item in oversize if item.__class__ is str]
            if kept:
                waf["oversize_fields"] = kept

    if ctx.keep_original:
        if replaced or inserted_replaced or rate_replaced:
            event = {"id": event_id, "original": _dumps(record).decode("utf-8")}
        else:
            event = {"id": event_id, "original": raw.decode("utf-8")}
    else:
        event = {"id": event_id}
    seconds = timestamp // 1000
    last = _last_second
    if last[0] == seconds:
        stamp = last[1] + _MILLIS[timestamp - seconds * 1000]
    else:
        stamp = iso_timestamp(timestamp)
    doc: dict[str, Any] = {"@timestamp": stamp, "event": event, "waf": waf}
    if cloud is not None:
        doc["cloud"] = cloud

    source: dict[str, Any] = {"ip": client_ip}
    value = get("clientAsn")
    if value is not None:
        if value.__class__ is not int:
            value = as_int(value)
        if value is not None and 0 <= value < _INT64_END:
            source["as"] = {"number": value}
    country = rget("country")
    if country.__class__ is str and country not in _PLACEHOLDERS:
        source["geo"] = {"country_iso_code": country}
    doc["source"] = source

    url: dict[str, Any] = {}
    host = rget("host")
    if host.__class__ is not str or not host:
        host = headers.get("host")
        if host.__class__ is list:
            host = host[0]
    if host.__class__ is str and host:
        split = ctx.hosts.get(host)
        if split is None:
            split = ctx.host(host)
        if split[0]:
            url["domain"] = split[0]
        if split[1] is not None:
            url["port"] = split[1]
    text = rget("uri")
    if text.__class__ is str and text:
        url["path"] = text
    text = rget("args")
    if text.__class__ is str and text:
        url["query"] = text
    text = rget("fragment")
    if text.__class__ is str and text:
        url["fragment"] = text
    text = rget("scheme")
    if text.__class__ is str and text:
        url["scheme"] = text
    if url:
        doc["url"] = url

    http_request: dict[str, Any] = {}
    text = rget("httpMethod")
    if text.__class__ is str and text:
        http_request["method"] = text
    text = rget("requestId")
    if text.__class__ is str and text not in _PLACEHOLDERS:
        http_request["id"] = text
    if headers:
        http_request["headers"] = headers
        text = headers.get("referer")
        if text.__class__ is list:
            text = text[0]
        if text:
            http_request["referrer"] = text
        text = headers.get("user-agent")
        if text.__class__ is list:
            text = text[0]
        if text:
            doc["user_agent"] = {"original": text}
    size = get("requestBodySize")
    if size is not None and size.__class__ is not int:
        size = as_int(size)
    if size is not None and not 0 <= size < _INT64_END:
        size = None
    inspected = get("requestBodySizeInspectedByWAF")
    if inspected is not None and inspected.__class__ is not int:
        inspected = as_int(inspected)
    if inspected is not None and not 0 <= inspected < _INT64_END:
        inspected = None
    if size is not None:
        http_request["body"] = (
            {"bytes": size} if inspected is None else {"bytes": size, "inspected_bytes": inspected}
        )
    elif inspected is not None:
        http_request["body"] = {"inspected_bytes": inspected}
    version = rget("httpVersion")
    if version.__class__ is str and version:
        doc["http"] = (
            {"request": http_request, "version": version} if http_request else {"version": version}
        )
    elif http_request:
        doc["http"] = {"request": http_request}

    ja3 = get("ja3Fingerprint")
    if ja3.__class__ is not str or not ja3:
        ja3 = None
    ja4 = get("ja4Fingerprint")
    if ja4.__class__ is not str or not ja4:
        ja4 = None
    if ja3 is not None:
        doc["tls"] = {"client": {"ja3": ja3} if ja4 is None else {"ja3": ja3, "ja4": ja4}}
    elif ja4 is not None:
        doc["tls"] = {"client": {"ja4": ja4}}
    return event_id, timestamp, doc
