"""Each real service answers and does its job through the clients wafsiem builds."""

from __future__ import annotations

from typing import Any


def test_opensearch_is_2_19(opensearch: Any) -> None:
    version = opensearch.info()["version"]["number"]
    assert version.startswith("2.19."), version


def test_opensearch_indexes_and_searches(opensearch: Any, index_name: str) -> None:
    opensearch.indices.create(
        index=index_name,
        body={"mappings": {"properties": {"waf": {"properties": {"action": {"type": "keyword"}}}}}},
    )
    opensearch.index(
        index=index_name,
        id="doc-1",
        body={"waf": {"action": "BLOCK"}, "url": {"path": "/checkout"}},
        refresh=True,
    )
    opensearch.index(index=index_name, id="doc-2", body={"waf": {"action": "ALLOW"}}, refresh=True)
    hits = opensearch.search(index=index_name, body={"query": {"term": {"waf.action": "BLOCK"}}})[
        "hits"
    ]["hits"]
    assert [h["_id"] for h in hits] == ["doc-1"]
    assert hits[0]["_source"]["url"]["path"] == "/checkout"


def test_s3_put_and_get(s3: Any, bucket: str) -> None:
    body = b"\x1f\x8b binary \x00 payload"
    s3.put_object(Bucket=bucket, Key="AWSLogs/a b/ü.log.gz", Body=body)
    assert s3.get_object(Bucket=bucket, Key="AWSLogs/a b/ü.log.gz")["Body"].read() == body
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["AWSLogs/a b/ü.log.gz"]


def test_sqs_send_and_receive(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=f"test-{unique}")["QueueUrl"]
    try:
        sqs.send_message(QueueUrl=url, MessageBody='{"Records": []}')
        messages = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
        assert [m["Body"] for m in messages] == ['{"Records": []}']
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_wafv2_create_and_read_web_acl(wafv2: Any, unique: str) -> None:
    created = wafv2.create_web_acl(
        Name=f"acl-{unique}",
        Scope="REGIONAL",
        DefaultAction={"Allow": {}},
        VisibilityConfig={
            "SampledRequestsEnabled": True,
            "CloudWatchMetricsEnabled": True,
            "MetricName": unique,
        },
        Rules=[
            {
                "Name": "AWS-AWSManagedRulesCommonRuleSet",
                "Priority": 1,
                "Statement": {
                    "ManagedRuleGroupStatement": {
                        "VendorName": "AWS",
                        "Name": "AWSManagedRulesCommonRuleSet",
                    }
                },
                "OverrideAction": {"None": {}},
                "VisibilityConfig": {
                    "SampledRequestsEnabled": True,
                    "CloudWatchMetricsEnabled": True,
                    "MetricName": "crs",
                },
            }
        ],
    )["Summary"]
    acl = wafv2.get_web_acl(Name=created["Name"], Scope="REGIONAL", Id=created["Id"])
    assert acl["WebACL"]["ARN"] == created["ARN"]
    assert [r["Name"] for r in acl["WebACL"]["Rules"]] == ["AWS-AWSManagedRulesCommonRuleSet"]
    assert acl["LockToken"]
