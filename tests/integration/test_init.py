"""`wafsiem init` creates what is missing, says what already existed, and is idempotent."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from wafsiem.bootstrap import (
    ensure_bucket,
    ensure_queue,
    initialise,
    install_index_templates,
    load_index_templates,
)
from wafsiem.settings import DEFAULT_HASH_KEY, Settings


def _unique_templates(unique: str) -> dict[str, dict[str, Any]]:
    templates = load_index_templates()
    for body in templates.values():
        body["index_patterns"] = [f"{unique}-{p}" for p in body["index_patterns"]]
        aliases = body.get("template", {}).get("aliases")
        if aliases:
            body["template"]["aliases"] = {f"{unique}-{a}": v for a, v in aliases.items()}
    return templates


def test_templates_installed_once_and_applied(opensearch: Any, unique: str) -> None:
    templates = _unique_templates(unique)
    assert "waf-deadletter" in templates
    prefix = f"{unique}-"
    try:
        first = install_index_templates(opensearch, templates, name_prefix=prefix)
        assert {s.outcome for s in first} == {"created"}
        second = install_index_templates(opensearch, templates, name_prefix=prefix)
        assert {s.outcome for s in second} == {"exists"}

        # a changed template is updated, not duplicated
        templates["waf-deadletter"]["priority"] = 101
        third = install_index_templates(opensearch, templates, name_prefix=prefix)
        outcomes = {s.name: s.outcome for s in third}
        assert outcomes[f"{prefix}waf-deadletter"] == "updated"

        # the dead-letter mapping applies to a new index of that pattern
        index = f"{unique}-waf-deadletter"
        opensearch.index(
            index=index,
            body={"reason": "not_json", "raw": {"base64": "AAE=", "bytes": 2}},
            refresh=True,
        )
        mapping = opensearch.indices.get_mapping(index=index)[index]["mappings"]
        assert mapping["properties"]["reason"]["type"] == "keyword"
        assert mapping["properties"]["raw"]["properties"]["base64"]["type"] == "binary"

        # a field a newer template adds reaches the existing strict index too
        raw = templates["waf-deadletter"]["template"]["mappings"]["properties"]["raw"]
        raw["properties"]["added_later"] = {"type": "keyword"}
        fourth = install_index_templates(opensearch, templates, name_prefix=prefix)
        assert ("index", index, "updated") in {(s.kind, s.name, s.outcome) for s in fourth}
        opensearch.index(
            index=index, body={"reason": "x", "raw": {"added_later": "yes"}}, refresh=True
        )  # strict mapping: refused (400) had the field not been added
    finally:
        opensearch.indices.delete(index=f"{unique}-*", ignore=[404])
        for name in templates:
            opensearch.indices.delete_index_template(name=f"{prefix}{name}", ignore=[404])


def test_bucket_created_then_exists(s3: Any, unique: str) -> None:
    name = f"init-{unique}"
    try:
        assert ensure_bucket(s3, name).outcome == "created"
        assert ensure_bucket(s3, name).outcome == "exists"
    finally:
        s3.delete_bucket(Bucket=name)


def test_queue_with_redrive_created_then_exists(sqs: Any, unique: str) -> None:
    name, dlq = f"init-{unique}", f"init-{unique}-dlq"
    try:
        first = ensure_queue(sqs, name, dlq, max_receive_count=3)
        assert [(s.name, s.outcome) for s in first] == [(dlq, "created"), (name, "created")]
        second = ensure_queue(sqs, name, dlq, max_receive_count=3)
        assert {s.outcome for s in second} == {"exists"}
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert policy["deadLetterTargetArn"].endswith(dlq)
        assert int(policy["maxReceiveCount"]) == 3
        # a changed receive count is applied to the existing queue
        third = ensure_queue(sqs, name, dlq, max_receive_count=4)
        assert [s.outcome for s in third] == ["exists", "updated"]
    finally:
        for queue in (name, dlq):
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)


def test_initialise_generates_the_header_hash_key_once(
    settings: Settings,
    opensearch: Any,
    s3: Any,
    sqs: Any,
    unique: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No key set: `wafsiem init` stores a random one in the state dir (0600), the
    settings read it from there, and a second init keeps it."""
    monkeypatch.delenv("WAFSIEM_PARSER__HASH_KEY", raising=False)
    folder = tmp_path / "templates"
    folder.mkdir()
    templates = _unique_templates(unique)
    for name, body in templates.items():
        (folder / f"{unique}-{name}.index-template.json").write_text(json.dumps(body))
    state_dir = tmp_path / "state"
    mine = Settings(  # the session's endpoints and credentials (secrets stay SecretStr)
        state_dir=state_dir,
        opensearch={
            **settings.opensearch.model_dump(),
            "templates_dir": folder,
            "state_index": f"{unique}-state",
        },
        s3={**settings.s3.model_dump(), "bucket": f"init-{unique}"},
        sqs={
            **settings.sqs.model_dump(),
            "queue_name": f"init-{unique}",
            "dead_letter_queue_name": f"init-{unique}-dlq",
        },
        cold={"uri": str(tmp_path / "cold")},
    )
    assert mine.parser.hash_key.get_secret_value() == DEFAULT_HASH_KEY
    try:
        first = initialise(mine, opensearch, s3, sqs)
        keyfile = state_dir / "parser-hash-key"
        assert first.steps[0].kind == "secret" and first.steps[0].outcome == "created"
        assert str(keyfile) in first.steps[0].name
        assert stat.S_IMODE(keyfile.stat().st_mode) == 0o600
        key = keyfile.read_text().strip()
        assert key and key != DEFAULT_HASH_KEY

        again = Settings(state_dir=state_dir)
        assert again.parser.hash_key.get_secret_value() == key
        second = initialise(mine, opensearch, s3, sqs)
        assert second.steps[0].outcome == "exists"
        assert keyfile.read_text().strip() == key
    finally:
        for name in templates:
            opensearch.indices.delete_index_template(name=f"{unique}-{name}", ignore=[404])
        opensearch.indices.delete(index=f"{unique}-state", ignore=[404])
        s3.delete_bucket(Bucket=f"init-{unique}")
        for queue in (f"init-{unique}", f"init-{unique}-dlq"):
            url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
            sqs.delete_queue(QueueUrl=url)
