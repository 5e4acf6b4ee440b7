"""Assemble one raw AWS WAFv2 log record (the JSON AWS writes), serialised.

Field names and order follow AWS's "Log fields for web ACL traffic":

    timestamp, formatVersion, webaclId, terminatingRuleId, terminatingRuleType, action,
    terminatingRuleMatchDetails, httpSourceName, httpSourceId, ruleGroupList,
    rateBasedRuleList, nonTerminatingMatchingRules, requestHeadersInserted,
    responseCodeSent, httpRequest{clientIp, country, headers, uri, args, httpVersion,
    httpMethod, requestId, fragment, scheme, host}, labels, captchaResponse /
    challengeResponse, requestBodySize, requestBodySizeInspectedByWAF, oversizeFields,
    ja3Fingerprint, ja4Fingerprint

A record is the concatenation of pre-serialised pieces (every piece made by
``orjson.dumps``, so escaping is orjson's): the verdict gives the rule parts, the domain
the source and host, the client its address, headers and TLS fingerprints, the page its
URI and query string. Only the timestamp, request id and a few numbers are formatted
per record.
"""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass

import orjson

from ingest.generator.engine import Verdict
from ingest.generator.pages import uri_piece
from ingest.generator.population import Client, header
from ingest.generator.topology import Domain

_METHODS = {
    m: orjson.dumps(m) + b',"requestId":"'
    for m in ("GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "PROPFIND")
}
_EMPTY_DETAILS = b"[]"


@dataclass(slots=True)
class Request:
    """The variable parts of one request (everything the verdict does not decide)."""

    ts: int
    domain: Domain
    client: Client
    method: str
    uri: str
    args: str
    body: int = 0
    content_type: str = ""
    referer: bytes = b""  # leading-comma header fragment
    cookie: bool = False
    extra_headers: bytes = b""  # leading-comma header fragment
    details: object = None  # terminatingRuleMatchDetails (list) for the intended rule
    details_for: tuple[str, str | None] | None = None


class RecordBuilder:
    def __init__(self) -> None:
        self._content: dict[tuple[str, int], bytes] = {}
        self._second = -1
        self._prefix = ""

    def request_id(self, rng: random.Random, source: str, ts: int) -> str:
        """ALB: an X-Amzn-Trace-Id root; CloudFront: a 56-character base64 id; API Gateway:
        a UUID."""
        if source == "ALB":
            second = ts // 1000
            if second != self._second:
                self._second = second
                self._prefix = "1-%08x-" % second  # noqa: UP031 (faster than a format spec)
            return self._prefix + rng.getrandbits(96).to_bytes(12, "big").hex()
        if source == "CF":
            return base64.b64encode(rng.getrandbits(320).to_bytes(40, "big")).decode()
        h = rng.getrandbits(128).to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def content_headers(self, content_type: str, size: int) -> bytes:
        key = (content_type, size)
        found = self._content.get(key)
        if found is None:
            found = (
                b","
                + header("content-type", content_type)
                + b","
                + header("content-length", str(size))
            )
            if len(self._content) < 200_000:
                self._content[key] = found
        return found

    def assemble(
        self,
        rng: random.Random,
        ts: int,
        domain: Domain,
        client: Client,
        method: str,
        uri: bytes,
        verdict: Verdict,
        referer: bytes = b"",
        cookie: bool = False,
        body: int = 0,
        content_type: str = "",
        extra_headers: bytes = b"",
        details: bytes = _EMPTY_DETAILS,
    ) -> bytes:
        """One serialised record; ``uri`` is a :func:`uri_piece`."""
        tail = b""
        if verdict.token is not None:
            tail = (
                b',"%sResponse":{"responseCode":%d,"solveTimestamp":0,'
                b'"failureReason":"TOKEN_MISSING"}'
                % (verdict.token.encode(), verdict.response_code or 0)
            )
        elif verdict.solved is not None:
            tail = b',"%sResponse":{"responseCode":0,"solveTimestamp":%d}' % (
                verdict.solved.encode(),
                ts // 1000 - 60 - ts % 1700,
            )
        if body:
            limit = domain.acl.body_limit
            tail += b',"requestBodySize":%d,"requestBodySizeInspectedByWAF":%d' % (
                body,
                body if body < limit else limit,
            )
            if body > limit:
                tail += b',"oversizeFields":["REQUEST_BODY"]'
        return b"".join(
            (
                b'{"timestamp":%d' % ts,
                verdict.head,
                details,
                domain.source_piece,
                verdict.tail,
                client.ip_piece,
                domain.host_header_h1 if client.capitalised else domain.host_header,
                client.headers,
                referer,
                client.cookie if cookie else b"",
                self.content_headers(content_type, body) if body else b"",
                extra_headers,
                uri,
                client.version_piece,
                _METHODS.get(method) or orjson.dumps(method) + b',"requestId":"',
                self.request_id(rng, domain.acl.source_name, ts).encode(),
                b'"',
                domain.host_piece,
                verdict.labels_prefix,
                client.geo_piece if verdict.geo else b"",
                verdict.labels_suffix,
                tail,
                client.tls_piece,
            )
        )

    def build(self, rng: random.Random, req: Request, verdict: Verdict) -> bytes:
        details = _EMPTY_DETAILS
        if req.details is not None and req.details_for == verdict.key:
            details = orjson.dumps(req.details)
        return self.assemble(
            rng,
            req.ts,
            req.domain,
            req.client,
            req.method,
            uri_piece(req.uri, req.args),
            verdict,
            req.referer,
            req.cookie,
            req.body,
            req.content_type,
            req.extra_headers,
            details,
        )
