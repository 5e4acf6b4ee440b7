"""One parsed WAF record (a dict) -> a nested schema document.

The hot path: plain dict work, no pydantic, caches for the repeated parts (web ACL ARNs,
client addresses). Type drift is tolerated everywhere: ``-`` / ``"null"`` placeholders
become absent, numbers may arrive as strings, optional lists may be missing or null.

``event.id`` is the first 32 hex digits (128 bits) of the SHA-256 digest of the record's
bytes as received (surrounding whitespace excluded), computed *before* sensitive header
values are replaced: the same record gets the same id whatever the hash key, and the
S3 and Firehose copies of a record (the same bytes) share it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any

import orjson

from ingest.parser.options import ParserOptions
from ingest.parser.rules import (
    action_response,
    add_rule_fields,
    as_int,
    as_text,
    match_details,
    rate_based_rules,
)

_MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_URL_PARTS = (("uri", "path"), ("args", "query"), ("fragment", "fragment"), ("scheme", "scheme"))
_PLACEHOLDERS = frozenset(("-", "null", ""))
_SECONDS_PER_DAY = 86_400
_sha256 = hashlib.sha256
_IPV4 = re.compile(
    r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}",
    re.ASCII,  # \d is [0-9] only: "١.٢.٣.٤" is not an address
).fullmatch
_dumps = orjson.dumps


class RecordError(Exception):
    """The record cannot become a document; ``reason`` is a reject reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


_STR_ONLY = frozenset((str,))
_SHA256_BLOCK = 64
_IPAD = bytes((x ^ 0x36) for x in range(256))
_OPAD = bytes((x ^ 0x5C) for x in range(256))
_hasher_cache: dict[tuple[bytes, frozenset[str]], _HeaderHasher] = {}
_webacl_cache: dict[str, dict[str, Any]] = {}
_ip_cache: dict[str, str | None] = {}


def _webacl_parts(webacl_id: str) -> dict[str, Any]:
    """``arn:aws:wafv2:<region>:<account>:<global|regional>/webacl/<name>/<id>``."""
    parts = _webacl_cache.get(webacl_id)
    if parts is not None:
        return parts
    webacl: dict[str, str] = {}
    cloud: dict[str, Any] = {}
    if webacl_id.startswith("arn:"):
        webacl["arn"] = webacl_id
        fields = webacl_id.split(":", 5)
        if len(fields) == 6:
            region, account, resource = fields[3], fields[4], fields[5]
            if region:
                cloud["region"] = region
            if account:
                cloud["account"] = {"id": account}
            path = resource.split("/")
            webacl["scope"] = "CLOUDFRONT" if path[0] == "global" else "REGIONAL"
            if len(path) >= 3 and path[1] == "webacl":
                webacl["name"] = path[2]
            if len(path) >= 4 and path[3]:
                webacl["id"] = path[3]
    else:
        webacl["id"] = webacl_id
    parts = {"webacl": webacl, "cloud": cloud}
    if len(_webacl_cache) > 10_000:
        _webacl_cache.clear()
    _webacl_cache[webacl_id] = parts
    return parts


def _client_ip(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    if _IPV4(value):
        return value
    cached = _ip_cache.get(value, "")
    if cached != "":
        return cached
    try:
        address = ipaddress.ip_address(value.strip())
        # an IPv4-mapped IPv6 address is the IPv4 address (as OpenSearch's ip type has it)
        mapped = address.ipv4_mapped if address.version == 6 else None
        normalised: str | None = str(mapped or address)
    except ValueError:
        normalised = None
    if len(_ip_cache) > 100_000:
        _ip_cache.clear()
    _ip_cache[value] = normalised
    return normalised


def _timestamp_ms(value: Any) -> int:
    number = as_int(value)
    if number is None:
        if value is None:
            raise RecordError("missing_timestamp", "no timestamp")
        raise RecordError("missing_timestamp", f"timestamp is not epoch ms: {str(value)[:64]}")
    if not 0 <= number <= _MAX_TIMESTAMP_MS:
        raise RecordError("missing_timestamp", f"timestamp out of range: {number}")
    return number


_last_second: list[Any] = [-1, ""]


_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))


def iso_timestamp(ms: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` of epoch milliseconds (fast, UTC)."""
    seconds = ms // 1000
    last = _last_second
    if last[0] != seconds:  # records come in time order: reuse the second's prefix
        days, rest = divmod(seconds, _SECONDS_PER_DAY)
        hour, rest = divmod(rest, 3600)
        minute, second = divmod(rest, 60)
        last[1] = f"{_civil_date(days)}T{hour:02d}:{minute:02d}:{second:02d}"
        last[0] = seconds
    return last[1] + _MILLIS[ms - seconds * 1000]


_date_cache: dict[int, str] = {}


def _civil_date(days: int) -> str:
    text = _date_cache.get(days)
    if text is None:
        # Howard Hinnant's days -> civil algorithm (proleptic Gregorian, UTC).
        z = days + 719_468
        era = z // 146_097
        doe = z - era * 146_097
        yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
        doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
        mp = (5 * doy + 2) // 153
        day = doy - (153 * mp + 2) // 5 + 1
        month = mp + 3 if mp < 10 else mp - 9
        year = yoe + era * 400 + (1 if month <= 2 else 0)
        text = f"{year:04d}-{month:02d}-{day:02d}"
        if len(_date_cache) > 4096:
            _date_cache.clear()
        _date_cache[days] = text
    return text


class _HeaderHasher:
    """HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104)."""

    __slots__ = ("inner", "names", "outer")

    def __init__(self, options: ParserOptions) -> None:
        key = options.hash_key
        if len(key) > _SHA256_BLOCK:
            key = _sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self.inner = _sha256(key.translate(_IPAD))
        self.outer = _sha256(key.translate(_OPAD))
        self.names = options.sensitive_headers

    def hash_value(self, value: str) -> str:
        inner = self.inner.copy()
        inner.update(value.encode("utf-8", "surrogatepass"))
        outer = self.outer.copy()
        outer.update(inner.digest())
        return "hmac-sha256:" + outer.hexdigest()[:32]

    def hide(self, name: str, value: Any) -> Any:
        if name.lower() in self.names and isinstance(value, str):
            return self.hash_value(value)
        return value


def header_hasher(options: ParserOptions) -> _HeaderHasher:
    """The (cached) header hasher of ``options``."""
    key = (options.hash_key, options.sensitive_headers)
    hasher = _hasher_cache.get(key)
    if hasher is None:
        if len(_hasher_cache) > 64:
            _hasher_cache.clear()
        hasher = _hasher_cache[key] = _HeaderHasher(options)
    return hasher


def _headers(entries: Any, hasher: _HeaderHasher) -> tuple[dict[str, Any], bool]:
    """Headers by lower-cased name (repeated names -> list); hashes sensitive values in
    place in ``entries``. Returns (headers, whether anything was replaced)."""
    if not entries or entries.__class__ is not list:
        return {}, False
    try:  # fast path: well-formed entries, string values, no repeated names
        headers = {entry["name"].lower(): entry["value"] for entry in entries}
        if len(headers) != len(entries) or not set(map(type, headers.values())) <= _STR_ONLY:
            raise TypeError
    except (TypeError, KeyError, AttributeError):
        return _headers_slow(entries, hasher)
    hidden = hasher.names.intersection(headers)
    if not hidden:
        return headers, False
    for entry in entries:
        lower = entry["name"].lower()
        if lower in hidden:
            entry["value"] = headers[lower] = hasher.hash_value(entry["value"])
    return headers, True


def _headers_slow(entries: list[Any], hasher: _HeaderHasher) -> tuple[dict[str, Any], bool]:
    headers: dict[str, Any] = {}
    replaced = False
    sensitive = hasher.names
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        name = entry.get("name")
        if not isinstance(name, str):
            continue
        lower = name.lower()
        value = entry.get("value")
        if not isinstance(value, str):
            value = "" if value is None else str(value)
        if lower in sensitive:
            value = hasher.hash_value(value)
            entry["value"] = value
            replaced = True
        existing = headers.get(lower)
        if existing is None:
            headers[lower] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            headers[lower] = [existing, value]
    return headers, replaced


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def _split_host(host: str) -> tuple[str, int | None]:
    host = host.strip().lower()
    if host.startswith("["):  # [v6]:port
        end = host.find("]")
        if end != -1:
            port = as_int(host[end + 2 :]) if host[end + 1 : end + 2] == ":" else None
            return host[1:end], port
    if host.count(":") == 1:
        name, _, port_text = host.partition(":")
        port = as_int(port_text)
        if port is not None and 0 <= port <= 65535:
            return name, port
        return name, None
    return host, None


def build_document(
    record: dict[str, Any], raw: bytes, options: ParserOptions
) -> tuple[str, int, dict[str, Any]]:
    """(event id, @timestamp ms, nested document) of one record; raises RecordError."""
    timestamp = _timestamp_ms(record.get("timestamp"))
    action = as_text(record.get("action"))
    if action is None:
        raise RecordError("missing_action", "no action")
    request = record.get("httpRequest")
    if not isinstance(request, dict):
        raise RecordError("missing_http_request", "no httpRequest object")
    client_ip = _client_ip(request.get("clientIp"))
    if client_ip is None:
        raise RecordError(
            "invalid_client_ip", f"clientIp is not an address: {str(request.get('clientIp'))[:64]}"
        )
    event_id = _sha256(raw).hexdigest()[:32]
    hasher = header_hasher(options)

    headers, replaced = _headers(request.get("headers"), hasher)
    terminating: dict[str, Any] = {}
    waf: dict[str, Any] = {"action": action, "terminating_rule": terminating}
    doc: dict[str, Any] = {"@timestamp": iso_timestamp(timestamp), "event": {"id": event_id}}
    doc["waf"] = waf

    version = as_int(record.get("formatVersion"))
    if version is not None and -(2**31) <= version < 2**31:
        waf["format_version"] = version
    webacl_id = as_text(record.get("webaclId"))
    if webacl_id is not None:
        parts = _webacl_parts(webacl_id)
        waf["webacl"] = dict(parts["webacl"])
        cloud = parts["cloud"]
        if cloud:
            doc["cloud"] = {
                key: dict(value) if isinstance(value, dict) else value
                for key, value in cloud.items()
            }
    get = record.get
    text = get("terminatingRuleId")
    if text.__class__ is str and text:
        terminating["id"] = text
    text = get("terminatingRuleType")
    if text.__class__ is str and text:
        terminating["type"] = text
    match = match_details(record.get("terminatingRuleMatchDetails"))
    if match is not None:
        terminating["match"] = match
    add_rule_fields(record, waf)
    if not terminating:
        del waf["terminating_rule"]

    labels = record.get("labels")
    if labels and isinstance(labels, list):
        names = [
            item["name"] for item in labels if isinstance(item, dict) and as_text(item.get("name"))
        ]
        if names:
            waf["labels"] = names
    rate_rules = rate_based_rules(record.get("rateBasedRuleList"), hasher.hide)
    rate_replaced = False
    if rate_rules is not None:
        waf["rate_based_rules"] = rate_rules
        rate_replaced = _hide_rate_headers(record, hasher)
    _add_http_source(record, waf)
    code = as_int(record.get("responseCodeSent"))
    if code is not None and -(2**31) <= code < 2**31:
        waf["response_code_sent"] = code
    inserted, inserted_replaced = _headers(record.get("requestHeadersInserted"), hasher)
    if inserted:
        waf["request_headers_inserted"] = inserted
    for key, target in (("captchaResponse", "captcha"), ("challengeResponse", "challenge")):
        response = action_response(record, key)
        if response is not None:
            waf[target] = response
    oversize = record.get("oversizeFields")
    if oversize:
        if isinstance(oversize, str):
            waf["oversize_fields"] = [oversize]
        elif isinstance(oversize, list):
            kept = [item for item in oversize if isinstance(item, str)]
            if kept:
                waf["oversize_fields"] = kept

    source: dict[str, Any] = {"ip": client_ip}
    doc["source"] = source
    asn = as_int(record.get("clientAsn"))
    if asn is not None and 0 <= asn < 2**63:
        source["as"] = {"number": asn}
    country = request.get("country")
    if isinstance(country, str) and country not in _PLACEHOLDERS:
        source["geo"] = {"country_iso_code": country}

    _add_url_and_http(record, request, headers, doc)
    ja3 = as_text(record.get("ja3Fingerprint"))
    ja4 = as_text(record.get("ja4Fingerprint"))
    if ja3 is not None or ja4 is not None:
        client: dict[str, str] = {}
        if ja3 is not None:
            client["ja3"] = ja3
        if ja4 is not None:
            client["ja4"] = ja4
        doc["tls"] = {"client": client}

    if options.keep_original:
        if replaced or inserted_replaced or rate_replaced:
            doc["event"]["original"] = _dumps(record).decode("utf-8")
        else:
            doc["event"]["original"] = raw.decode("utf-8")
    return event_id, timestamp, doc


def _hide_rate_headers(record: dict[str, Any], hasher: _HeaderHasher) -> bool:
    """Hash sensitive HEADER custom values of rate-based rules in the record itself."""
    replaced = False
    for rule in record.get("rateBasedRuleList") or ():
        if not isinstance(rule, dict) or not isinstance(rule.get("customValues"), list):
            continue
        for item in rule["customValues"]:
            if (
                isinstance(item, dict)
                and item.get("key") == "HEADER"
                and isinstance(item.get("name"), str)
                and item["name"].lower() in hasher.names
                and isinstance(item.get("value"), str)
            ):
                item["value"] = hasher.hash_value(item["value"])
                replaced = True
    return replaced


def _add_http_source(record: dict[str, Any], waf: dict[str, Any]) -> None:
    http_source: dict[str, str] = {}
    name = record.get("httpSourceName")
    if isinstance(name, str) and name not in _PLACEHOLDERS:
        http_source["name"] = name
    source_id = record.get("httpSourceId")
    if isinstance(source_id, str) and source_id not in _PLACEHOLDERS:
        http_source["id"] = source_id
    if http_source:
        waf["http_source"] = http_source
    tenant = as_text(record.get("cfDistributionTenantId"))
    if tenant is not None:
        waf["distribution_tenant_id"] = tenant


def _add_url_and_http(
    record: dict[str, Any], request: dict[str, Any], headers: dict[str, Any], doc: dict[str, Any]
) -> None:
    url: dict[str, Any] = {}
    host = as_text(request.get("host")) or _first(headers.get("host"))
    if isinstance(host, str) and host:
        domain, port = _split_host(host)
        if domain:
            url["domain"] = domain
        if port is not None:
            url["port"] = port
    get = request.get
    for key, target in _URL_PARTS:
        text = get(key)
        if text.__class__ is str and text:
            url[target] = text
    if url:
        doc["url"] = url

    http_request: dict[str, Any] = {}
    http: dict[str, Any] = {"request": http_request}
    method = as_text(request.get("httpMethod"))
    if method is not None:
        http_request["method"] = method
    version = as_text(request.get("httpVersion"))
    if version is not None:
        http["version"] = version
    request_id = request.get("requestId")
    if isinstance(request_id, str) and request_id not in _PLACEHOLDERS:
        http_request["id"] = request_id
    if headers:
        http_request["headers"] = headers
        referrer = _first(headers.get("referer"))
        if referrer:
            http_request["referrer"] = referrer
        agent = _first(headers.get("user-agent"))
        if agent:
            doc["user_agent"] = {"original": agent}
    body: dict[str, int] = {}
    size = as_int(record.get("requestBodySize"))
    if size is not None and 0 <= size < 2**63:
        body["bytes"] = size
    inspected = as_int(record.get("requestBodySizeInspectedByWAF"))
    if inspected is not None and 0 <= inspected < 2**63:
        body["inspected_bytes"] = inspected
    if body:
        http_request["body"] = body
    if http_request or "version" in http:
        if not http_request:
            del http["request"]
        doc["http"] = http
