"""The WAF record schema: one definition yielding the pydantic model, the Arrow schema
and the OpenSearch mapping.

``python -m wafsiem.schema --write`` regenerates
``opensearch-templates/waf-logs.index-template.json`` and ``docs/schema.md``.
"""

from __future__ import annotations

from wafsiem.schema.fields import FIELDS, FIELDS_BY_NAME, SCHEMA_VERSION, FieldSpec, FieldType
from wafsiem.schema.generated import (
    generated_files,
    repository_root,
    stale_generated_files,
    write_generated_files,
)
from wafsiem.schema.model import document_model, flatten_document, validate_document
from wafsiem.schema.render import (
    arrow_schema,
    index_template,
    opensearch_mapping,
    schema_markdown,
)

__all__ = [
    "FIELDS",
    "FIELDS_BY_NAME",
    "SCHEMA_VERSION",
    "FieldSpec",
    "FieldType",
    "arrow_schema",
    "document_model",
    "flatten_document",
    "generated_files",
    "index_template",
    "opensearch_mapping",
    "repository_root",
    "schema_markdown",
    "stale_generated_files",
    "validate_document",
    "write_generated_files",
]
