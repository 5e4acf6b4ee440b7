"""kill -9 at random moments, many times, then finish: nothing lost, nothing doubled."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

from ingest.parser import ParsedDocument, ParserOptions, parse_stream
from ingest.service import IngestTarget

from ..waf_records import BASE_MS, gz_ndjson, waf_record
from .ingest_fixtures import count, target

__all__ = ["target"]

OBJECTS = 24
PER_OBJECT = 250
KILLS = 8


def _put_source(s3: Any, bucket: str) -> set[str]:
    """Objects in the WAF layout; returns the event ids they must produce."""
    ids: set[str] = set()
    options = ParserOptions()
    for n in range(OBJECTS):
        minute = n * 5 % 60
        hour = 10 + n * 5 // 60
        records = [
            waf_record(n * PER_OBJECT + i, ts=BASE_MS + n * 300_000 + i) for i in range(PER_OBJECT)
        ]
        body = gz_ndjson(records)
        key = (
            f"AWSLogs/1/WAFLogs/eu-west-1/shop/2025/11/25/{hour:02d}/{minute:02d}/"
            f"1_waflogs_eu-west-1_shop_20251125T{hour:02d}{minute:02d}Z_{n:08x}.log.gz"
        )
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        ids |= {
            r.id for r in parse_stream(body, origin=key, options=options)
            if isinstance(r, ParsedDocument)
        }  # fmt: skip
    return ids


def _env(unique: str, target: IngestTarget) -> dict[str, str]:
    return os.environ | {
        "WAFSIEM_OPENSEARCH__INDEX_PREFIX": target.index_prefix,
        "WAFSIEM_OPENSEARCH__DEADLETTER_INDEX": target.deadletter_index,
        "WAFSIEM_OPENSEARCH__STATE_INDEX": f"{unique}-state",
        # small bulk bodies: many requests, so a kill lands between them
        "WAFSIEM_INGEST__BULK_BYTES": "65536",
    }


def _kill_repeatedly(argv: list[str], env: dict[str, str], seed: int) -> int:
    rng = random.Random(seed)
    finished_early = 0
    for _ in range(KILLS):
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(0.8, 3.5))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        else:
            finished_early += 1
        process.wait()
    return finished_early


def _ids_in(opensearch: Any, index: str) -> list[str]:
    opensearch.indices.refresh(index=index)
    hits = opensearch.search(
        index=index, body={"size": 10_000, "_source": ["event.id"], "query": {"match_all": {}}}
    )["hits"]["hits"]
    return [h["_source"]["event"]["id"] for h in hits]


def test_s3_ingest_survives_kill_9(
    s3: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget
) -> None:
    expected = _put_source(s3, bucket)
    assert len(expected) == OBJECTS * PER_OBJECT
    argv = [sys.executable, "-m", "wafsiem", "ingest", "s3", f"s3://{bucket}/AWSLogs/", "--json"]
    env = _env(unique, target)
    _kill_repeatedly(argv, env, seed=int(unique[1:], 16))

    final = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    report = json.loads(final.stdout)
    assert report["records_in"] == report["indexed"] + report["duplicates"]

    ids = _ids_in(opensearch, target.index_prefix)
    assert len(ids) == len(set(ids)), "a record was indexed twice"
    assert set(ids) == expected, f"lost {len(expected - set(ids))} records"
    assert count(opensearch, target.deadletter_index) == 0
    opensearch.indices.delete(index=f"{unique}-state", ignore=[404])


def test_sqs_ingest_survives_kill_9(
    s3: Any, sqs: Any, bucket: str, opensearch: Any, unique: str, target: IngestTarget
) -> None:
    expected = _put_source(s3, bucket)
    url = sqs.create_queue(QueueName=f"{unique}-crash")["QueueUrl"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            event = {
                "Records": [
                    {
                        "eventName": "ObjectCreated:Put",
                        "s3": {"bucket": {"name": bucket}, "object": {"key": obj["Key"]}},
                    }
                ]
            }
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    argv = [
        sys.executable, "-m", "wafsiem", "ingest", "sqs", url,
        "--wait", "1", "--visibility", "2", "--json",
    ]  # fmt: skip
    env = _env(unique, target)
    _kill_repeatedly(argv, env, seed=int(unique[1:], 16) + 1)
    time.sleep(2.5)  # messages a killed consumer held become visible again

    final = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert final.returncode == 0, final.stderr[-2000:]
    ids = _ids_in(opensearch, target.index_prefix)
    assert len(ids) == len(set(ids)), "a record was indexed twice"
    assert set(ids) == expected, f"lost {len(expected - set(ids))} records"
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
    sqs.delete_queue(QueueUrl=url)
