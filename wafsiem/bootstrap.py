"""`wafsiem init`: index templates, buckets, queues and the header-hash key — idempotent.

Each step reports whether it ``created``, ``updated`` or found the thing ``exists``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import ClientError
from opensearchpy import RequestError
from pydantic import BaseModel

from wafsiem.errors import WafsiemError
from wafsiem.hash_key import ensure_hash_key
from wafsiem.settings import Settings
from wafsiem.state_index import ensure_state_index

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient
    from opensearchpy import OpenSearch

log = logging.getLogger(__name__)
TEMPLATE_SUFFIX = ".index-template.json"

Outcome = Literal["created", "updated", "exists"]


class InitStep(BaseModel):
    kind: Literal["index_template", "index", "bucket", "queue", "secret"]
    name: str
    outcome: Outcome


class InitReport(BaseModel):
    steps: list[InitStep]

    def names(self, outcome: Outcome) -> list[str]:
        return [f"{s.kind} {s.name}" for s in self.steps if s.outcome == outcome]


def templates_dir(settings: Settings | None = None) -> Path:
    """The `opensearch-templates/` folder: from settings, else the one in the source tree."""
    if settings is not None and settings.opensearch.templates_dir is not None:
        return settings.opensearch.templates_dir
    return Path(__file__).resolve().parents[1] / "opensearch-templates"


def load_index_templates(directory: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every ``<name>.index-template.json`` in the templates folder, by template name."""
    folder = directory or templates_dir()
    templates: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.glob(f"*{TEMPLATE_SUFFIX}")):
        templates[path.name.removesuffix(TEMPLATE_SUFFIX)] = json.loads(path.read_text())
    return templates


def _same_template(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    # OpenSearch returns settings normalised (strings, nested "index"); compare the parts
    # that we control and that come back verbatim.
    keys = ("index_patterns", "priority", "_meta")
    if any(existing.get(k) != wanted.get(k) for k in keys):
        return False
    return bool(
        existing.get("template", {}).get("mappings") == wanted.get("template", {}).get("mappings")
        and existing.get("template", {}).get("aliases", {})
        == wanted.get("template", {}).get("aliases", {})
    )


def install_index_templates(
    client: OpenSearch, templates: dict[str, dict[str, Any]], name_prefix: str = ""
) -> list[InitStep]:
    steps = []
    for name, body in templates.items():
        full_name = f"{name_prefix}{name}"
        current = client.indices.get_index_template(name=full_name, ignore=[404])
        found = [t["index_template"] for t in current.get("index_templates", [])]
        if found and _same_template(found[0], body):
            steps.append(InitStep(kind="index_template", name=full_name, outcome="exists"))
            continue
        client.indices.put_index_template(name=full_name, body=body)
        outcome: Outcome = "updated" if found else "created"
        steps.append(InitStep(kind="index_template", name=full_name, outcome=outcome))
        steps.extend(_add_fields_to_existing_indices(client, body))
    return steps


def _add_fields_to_existing_indices(client: OpenSearch, body: dict[str, Any]) -> list[InitStep]:
    """A template applies to new indices only: add its (new) fields to the indices that
    already match it, so a strict mapping does not refuse documents that use them.
    A field whose type changed cannot be updated in place; that index keeps its mapping
    (logged) and the next daily index gets the new one."""
    properties = body.get("template", {}).get("mappings", {}).get("properties")
    if not properties:
        return []
    steps = []
    for pattern in body.get("index_patterns", []):
        existing = client.indices.get(index=pattern, params={"allow_no_indices": "true"})
        for index in sorted(existing):
            try:
                client.indices.put_mapping(index=index, body={"properties": properties})
            except RequestError as exc:
                log.warning("index %s keeps its mapping: %s", index, exc.info)
                continue
            steps.append(InitStep(kind="index", name=index, outcome="updated"))
    return steps


def ensure_bucket(s3: S3Client, bucket: str) -> InitStep:
    try:
        s3.head_bucket(Bucket=bucket)
        return InitStep(kind="bucket", name=bucket, outcome="exists")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
    s3.create_bucket(Bucket=bucket)
    return InitStep(kind="bucket", name=bucket, outcome="created")


def _queue_url(sqs: SQSClient, name: str) -> str | None:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if "NonExistentQueue" in code or code == "QueueDoesNotExist":
            return None
        raise


def ensure_queue(
    sqs: SQSClient, name: str, dead_letter_name: str, max_receive_count: int
) -> list[InitStep]:
    """The notification queue with a redrive policy to its dead-letter queue."""
    steps = []
    dlq_url = _queue_url(sqs, dead_letter_name)
    if dlq_url is None:
        dlq_url = sqs.create_queue(QueueName=dead_letter_name)["QueueUrl"]
        steps.append(InitStep(kind="queue", name=dead_letter_name, outcome="created"))
    else:
        steps.append(InitStep(kind="queue", name=dead_letter_name, outcome="exists"))
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    attributes = {
        "VisibilityTimeout": "120",
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        ),
    }
    url = _queue_url(sqs, name)
    if url is None:
        sqs.create_queue(QueueName=name, Attributes=attributes)  # type: ignore[arg-type]
        steps.append(InitStep(kind="queue", name=name, outcome="created"))
        return steps
    current = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(current.get("RedrivePolicy", "{}") or "{}")
    if redrive.get("deadLetterTargetArn") == dlq_arn and str(redrive.get("maxReceiveCount")) == str(
        max_receive_count
    ):
        steps.append(InitStep(kind="queue", name=name, outcome="exists"))
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
        steps.append(InitStep(kind="queue", name=name, outcome="updated"))
    return steps


def initialise(
    settings: Settings, opensearch: OpenSearch, s3: S3Client, sqs: SQSClient
) -> InitReport:
    outcome, where = ensure_hash_key(settings)  # first: it needs no service
    key_step = InitStep(kind="secret", name=f"header-hash key {where}", outcome=outcome)
    folder = templates_dir(settings)
    templates = load_index_templates(folder)
    if not templates:
        raise WafsiemError(f"no *{TEMPLATE_SUFFIX} files in {folder}")
    steps = install_index_templates(opensearch, templates)
    state = settings.opensearch.state_index
    created = ensure_state_index(opensearch, state)
    steps.append(InitStep(kind="index", name=state, outcome="created" if created else "exists"))
    steps.append(ensure_bucket(s3, settings.s3.bucket))
    if settings.cold_uri.startswith("s3://"):
        cold_bucket = settings.cold_uri.removeprefix("s3://").split("/", 1)[0]
        if cold_bucket != settings.s3.bucket:
            steps.append(ensure_bucket(s3, cold_bucket))
    steps.extend(
        ensure_queue(
            sqs,
            settings.sqs.queue_name,
            settings.sqs.dead_letter_queue_name,
            settings.sqs.max_receive_count,
        )
    )
    return InitReport(steps=[key_step, *steps])
