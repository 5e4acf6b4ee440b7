"""The parser against records published by another project's test suite.

The file lives outside the repository (``/work/shared/peer-vectors``) and is read from
there, never copied. The module is only collected where that file exists; where it is
expected (a checkout under /work) its absence is a failure, not a skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.conftest import parse_all
from wafsiem.schema import validate_document

PEER_VECTORS = Path("/work/shared/peer-vectors/otel-waf-valid_log_multi.json")
_EXPECTED_HERE = Path(__file__).resolve().is_relative_to("/work")

if not PEER_VECTORS.is_file() and not _EXPECTED_HERE:
    pytest.skip("peer vectors are only available on the /work machines", allow_module_level=True)


def test_peer_vectors_present() -> None:
    assert PEER_VECTORS.is_file(), f"{PEER_VECTORS} is missing"


def test_otel_valid_log_multi() -> None:
    docs, rejects, stats = parse_all(PEER_VECTORS.read_bytes())
    assert not rejects
    assert stats.records_in == stats.parsed == 2
    cloudfront, apigw = (d.doc for d in docs)
    for doc in (cloudfront, apigw):
        validate_document(doc)

    assert cloudfront["waf"]["webacl"]["scope"] == "CLOUDFRONT"
    assert cloudfront["cloud"]["region"] == "us-east-1"
    # httpRequest.host wins over a different Host header
    assert cloudfront["url"]["domain"] == "dsx88tsajqz63.cloudfront.net"
    assert cloudfront["http"]["request"]["headers"]["host"] == "dsx1234tsajqz63.cloudfront.net"
    assert cloudfront["url"]["scheme"] == "https"
    assert "fragment" not in cloudfront["url"]
    assert cloudfront["tls"]["client"]["ja4"] == "t13d1717h2_5b57614c22b0_3cbfd9057e0d"
    assert cloudfront["waf"]["labels"] == [
        "awswaf:clientip:geo:country:NL",
        "awswaf:clientip:geo:region:NL-NH",
    ]
    assert cloudfront["waf"]["rate_based_rules"][0]["evaluation_window_sec"] == 300

    (rule,) = apigw["waf"]["rate_based_rules"]
    assert rule["evaluation_window_sec"] == 120  # a string in the record
    assert rule["custom_values"] == [{"key": "HEADER", "name": "dogname", "value": "ella"}]
    assert apigw["waf"]["http_source"] == {"name": "APIGW", "id": "EXAMPLE11:rjvegx5guh:CanaryTest"}
    assert docs[0].index_name() == "waf-logs-2025.05.25"
    assert docs[1].index_name("x") == "x-2023.05.06"
