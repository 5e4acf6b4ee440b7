"""Parser throughput: parse + transform + serialise to _bulk lines, one core.

Prints records/s, MB/s and the ratio to bare ``orjson.loads`` of the same records in the
same run. The input is generated here from a few realistic templates with varied values
(~1.5 KB per record); nothing else is needed.

    python benchmarks/parse.py [--records 200000] [--gzip] [--repeat 3]

Both parser paths are timed when ``wafsiem-native`` is installed: ``native`` (the Rust
fast path, what ingest uses) and ``python`` (``WAFSIEM_PARSER__NATIVE=false``).
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

# benchmarks/ingest.py is named like the `ingest` package: keep this folder off the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
_ROOT = str(_HERE.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from ingest.parser import ParserOptions, ParseStats, Reject, parse_stream  # noqa: E402
from ingest.parser.native import native_available  # noqa: E402

WEBACLS = [
    "arn:aws:wafv2:us-east-1:111122223333:global/webacl/edge-main/3f1c9d2e-0b7a-4c1e-9a55-1d2f3e4a5b6c",
    "arn:aws:wafv2:eu-west-1:111122223333:regional/webacl/api-prod/8a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d",
]
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "curl/8.5.0",
    "python-requests/2.31.0",
]
PATHS = ["/", "/checkout", "/api/v1/cart", "/login", "/static/app.js", "/search", "/wp-login.php"]


def _headers(rng: random.Random, host: str) -> list[dict[str, str]]:
    headers = [
        {"name": "Host", "value": host},
        {"name": "User-Agent", "value": rng.choice(UAS)},
        {
            "name": "Accept",
            "value": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        },
        {"name": "Accept-Language", "value": "en-US,en;q=0.9"},
        {"name": "Accept-Encoding", "value": "gzip, deflate, br"},
        {"name": "Referer", "value": f"https://{host}/"},
        {"name": "X-Forwarded-For", "value": f"203.0.113.{rng.randint(1, 254)}"},
        {"name": "sec-fetch-site", "value": "same-origin"},
    ]
    if rng.random() < 0.6:
        headers.append(
            {"name": "Cookie", "value": f"session={rng.getrandbits(128):032x}; theme=dark"}
        )
    return headers


def make_record(rng: random.Random, index: int) -> dict[str, Any]:
    host = f"shop{rng.randint(1, 300)}.example.com"
    kind = rng.random()
    record: dict[str, Any] = {
        "timestamp": 1_717_200_000_000 + index * 37,
        "formatVersion": 1,
        "webaclId": rng.choice(WEBACLS),
        "terminatingRuleId": "Default_Action",
        "terminatingRuleType": "REGULAR",
        "action": "ALLOW",
        "terminatingRuleMatchDetails": [],
        "httpSourceName": rng.choice(["CF", "ALB", "APIGW"]),
        "httpSourceId": f"E{rng.getrandbits(40):010X}",
        "ruleGroupList": [],
        "rateBasedRuleList": [],
        "nonTerminatingMatchingRules": [],
        "requestHeadersInserted": None,
        "responseCodeSent": None,
        "httpRequest": {
            "clientIp": ".".join(
                str(rng.randint(low, high))
                for low, high in ((1, 223), (0, 255), (0, 255), (1, 254))
            ),
            "country": rng.choice(["US", "DE", "FR", "NL", "BR", "-"]),
            "headers": _headers(rng, host),
            "uri": rng.choice(PATHS),
            "args": rng.choice(["", "q=shoes&page=2", "id=10%20AND%201=1"]),
            "httpVersion": "HTTP/2.0",
            "httpMethod": rng.choice(["GET", "GET", "POST"]),
            "requestId": f"{rng.getrandbits(160):040x}==",
            "fragment": "",
            "scheme": "https",
            "host": host,
        },
        "labels": [{"name": "awswaf:clientip:geo:country:US"}],
        "ja3Fingerprint": f"{rng.getrandbits(128):032x}",
        "ja4Fingerprint": f"t13d1516h2_{rng.getrandbits(48):012x}_{rng.getrandbits(48):012x}",
        "requestBodySize": rng.randint(0, 4000),
        "requestBodySizeInspectedByWAF": rng.randint(0, 4000),
    }
    if kind < 0.2:
        record.update(
            terminatingRuleId="AWS-AWSManagedRulesCommonRuleSet",
            terminatingRuleType="MANAGED_RULE_GROUP",
            action="BLOCK",
            ruleGroupList=[
                {
                    "ruleGroupId": "AWS#AWSManagedRulesCommonRuleSet",
                    "terminatingRule": {
                        "ruleId": "SizeRestrictions_BODY",
                        "action": "BLOCK",
                        "ruleMatchDetails": None,
                    },
                    "nonTerminatingMatchingRules": [
                        {
                            "ruleId": "NoUserAgent_HEADER",
                            "action": "COUNT",
                            "overriddenAction": "BLOCK",
                        }
                    ],
                    "excludedRules": None,
                }
            ],
        )
    elif kind < 0.3:
        record.update(
            terminatingRuleId="RateLimit",
            terminatingRuleType="RATE_BASED",
            action="BLOCK",
            rateBasedRuleList=[
                {
                    "rateBasedRuleId": "arn:aws:wafv2:us-east-1:111122223333:global/ipset/x/y",
                    "rateBasedRuleName": "RateLimit",
                    "limitKey": "IP",
                    "maxRateAllowed": 2000,
                    "evaluationWindowSec": rng.choice([300, "300"]),
                    "limitValue": record["httpRequest"]["clientIp"],
                }
            ],
        )
    return record


def _machine() -> str:
    memory, cpu = "", platform.processor() or platform.machine()
    try:
        kib = int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1])
        memory = f", {kib / 2**20:.0f} GB RAM"
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except (OSError, ValueError, IndexError):
        pass
    return (
        f"machine: {os.cpu_count()} CPUs ({cpu}){memory}, {platform.platform()}, "
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"orjson {orjson.__version__}"
    )


def _time_parse(payload: bytes, options: ParserOptions, records: int) -> tuple[float, int]:
    stats = ParseStats()
    out_bytes = 0
    start = time.perf_counter()
    for result in parse_stream(payload, origin="bench", options=options, stats=stats):
        if isinstance(result, Reject):
            continue
        out_bytes += len(result.bulk_lines("waf-logs"))
    seconds = time.perf_counter() - start
    assert stats.parsed == records, stats
    return seconds, out_bytes


def _time_loads(lines: list[bytes]) -> float:
    loads = orjson.loads
    start = time.perf_counter()
    for line in lines:
        loads(line)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--gzip", action="store_true", help="also time a gzip copy")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="timed runs of each measurement; the median is reported (default 3)",
    )
    args = parser.parse_args()
    repeat = max(1, args.repeat)

    rng = random.Random(args.seed)
    lines = [orjson.dumps(make_record(rng, i)) for i in range(args.records)]
    data = b"\n".join(lines) + b"\n"
    megabytes = len(data) / 1e6
    print(_machine())
    print(
        f"input: {args.records} records, {megabytes:.1f} MB, "
        f"{len(data) / args.records:.0f} B/record; median of {repeat} run(s)"
    )

    inputs = [("plain", data)]
    if args.gzip:
        inputs.append(("gzip", gzip.compress(data, compresslevel=6)))
    variants = [("native", ParserOptions())] if native_available() else []
    variants.append(("python", ParserOptions(native=False)))
    if len(variants) == 1:
        print("wafsiem-native is not installed: pure Python only (pip install ./native)")
    for (label, payload), (path, options) in itertools.product(inputs, variants):
        label = f"{label} {path}"
        runs = []
        loads_runs = []
        for _ in range(repeat):  # interleaved, so both see the same machine load
            loads_runs.append(_time_loads(lines))
            runs.append(_time_parse(payload, options, args.records))
        seconds, out_bytes = sorted(runs)[len(runs) // 2]
        loads_seconds = statistics.median(loads_runs)
        rate = args.records / seconds
        spread = ", ".join(f"{args.records / run:,.0f}" for run, _ in runs)
        print(
            f"{label:>12}: {rate:,.0f} records/s, {megabytes / seconds:.1f} MB/s in, "
            f"{out_bytes / 1e6 / seconds:.1f} MB/s bulk out; "
            f"bare orjson.loads {args.records / loads_seconds:,.0f} records/s; "
            f"ratio parse/loads = {seconds / loads_seconds:.1f}x slower "
            f"(runs: {spread} records/s)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
